{#
  The order a build stores a table's rows in, on DuckDB.

  DuckDB keeps a `create table ... as` in its query's order. Every exported
  mart is stored in its grain (key) order, the order the exporter writes
  SQLite in, so the exporter copies it without a sort (its presorted path,
  exports/sources.py): a sort in the exporter runs under its small memory cap,
  through Parquet staging, on the export's critical path; here it runs once,
  with dbt's memory, in the run that changed the rows.
  `packages` and `package_downloads_weekly` are rebuilt each run (a `table`).
  The dimension marts stay incremental (only the run's weeks are ranked and
  folded again): their delete+insert appends the run's weeks at the end,
  which breaks the grain order, so `storage_resort` rewrites the table in
  grain order after the insert (one sort of the mart's rows, cheaper than
  ranking every week again; the whole rewrite also leaves no per-row delete
  information behind, which the exporter's scans would otherwise load).
  The rewrite is a `create or replace ... as`: the column types stay, the
  contract's NOT NULL constraints are checked by the data tests from then on.
  `pypi_downloads_weekly` (one row a week) is stored by `week_start`, which
  is its grain, and incremental appends keep it. The rollup is not exported
  and is left unsorted. BigQuery has no storage order (partitioning and
  clustering do this job there): nothing is added for it.
#}
{% macro storage_order(columns) %}
  {{ return(adapter.dispatch('storage_order', 'pypi_trends')(columns)) }}
{% endmacro %}

{% macro default__storage_order(columns) %}
order by {{ columns | join(', ') }}
{% endmacro %}

{% macro bigquery__storage_order(columns) %}
{% endmacro %}


{#
  Rewrite the current model's table in the given order: a post-hook of the
  incremental dimension marts (their delete+insert appends the run's weeks at
  the end). Nothing on BigQuery (an empty hook is skipped).
#}
{% macro storage_resort(columns) %}
  {{ return(adapter.dispatch('storage_resort', 'pypi_trends')(columns)) }}
{% endmacro %}

{% macro default__storage_resort(columns) %}
create or replace table {{ this }} as select * from {{ this }} order by {{ columns | join(', ') }}
{% endmacro %}

{% macro bigquery__storage_resort(columns) %}
{% endmacro %}
