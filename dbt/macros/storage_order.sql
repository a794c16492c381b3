{#
  The order a build stores a table's rows in, on DuckDB.

  DuckDB keeps a `create table ... as` in its query's order. The incremental
  weekly marts are stored by `week_start` first, so an incremental run's
  `delete+insert` touches only their last row groups; the dimension marts
  then by `package_name`, so inside each week a package range is one slice
  that DuckDB's zonemaps find without a full scan (the exporter sorts them in
  package ranges, exports/sources.py). Deletes spread over every row group (as in a
  table stored in hash order) make every later scan load per-row delete
  information for the whole table (8 bytes a row, kept in memory while the
  file is attached), which alone outgrew the exporter's 40 MB cap on the demo
  warehouse. The rollup is not exported and is left unsorted: sorting its
  11M demo rows cost more in a full refresh (rollup 20.1 s against 19.1 s)
  than its pruning saved in an incremental run (run phase 2.05 s against
  2.23 s), both within one run's noise.
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
