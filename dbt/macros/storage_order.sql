{#
  The order a build stores a table's rows in, on DuckDB.

  DuckDB keeps a `create table ... as` in its query's order and prunes scans
  with per-row-group min/max. The weekly tables are stored by `week_start`, so
  an incremental run's `delete+insert` touches only the last row groups:
  - its reads of the newest weeks of the rollup skip every older row group;
  - its deletes stay there too. Deletes spread over every row group (as in a
    table stored in hash order) make every later scan load per-row delete
    information for the whole table (8 bytes a row, kept in memory while the
    file is attached), which alone outgrew the exporter's 40 MB cap on the
    demo warehouse.
  Incremental runs insert their (few) rows in the same order after deleting
  the tail, so the week order survives them.
  `packages` is rebuilt each run and stored by its key. BigQuery has no
  storage order (partitioning and clustering do this job there): nothing is
  added for it.
#}
{% macro storage_order(columns) %}
  {{ return(adapter.dispatch('storage_order', 'pypi_trends')(columns)) }}
{% endmacro %}

{% macro default__storage_order(columns) %}
order by {{ columns | join(', ') }}
{% endmacro %}

{% macro bigquery__storage_order(columns) %}
{% endmacro %}
