{#
  The order a build stores a table's rows in, on DuckDB.

  DuckDB keeps a `create table ... as` in its query's order. The incremental
  weekly marts are stored by `week_start` first, so an incremental run's
  `delete+insert` touches only their last row groups; the dimension marts
  then by `package_name`, so inside each week a package range is one slice
  that DuckDB's zonemaps find without a full scan (the exporter sorts them in
  package ranges, exports/sources.py). Deletes spread over every row group (as in a
  table stored in hash order) make every later scan load per-row delete
  information for the whole table (bytes per row, kept in memory while the
  file is attached), which can outgrow the exporter's small memory cap. The
  rollup is not exported and is left unsorted: sorting it in a full refresh
  costs about what its pruning saves in an incremental run.
  Incremental runs insert their (few) rows in the same order after deleting
  the tail, so the week order survives them.
  `packages` and the core mart `package_downloads_weekly` are rebuilt each
  run on DuckDB and stored by their key, so the exporter copies them without
  a sort. BigQuery has no storage order (partitioning and clustering do this
  job there): nothing is added for it.
#}
{% macro storage_order(columns) %}
  {{ return(adapter.dispatch('storage_order', 'pypi_trends')(columns)) }}
{% endmacro %}

{% macro default__storage_order(columns) %}
order by {{ columns | join(', ') }}
{% endmacro %}

{% macro bigquery__storage_order(columns) %}
{% endmacro %}
