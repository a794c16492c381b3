{#
  How weekly models replace the weeks of a run. Every strategy leaves each
  week of the run exactly as the model computed it, so re-running a window
  (late rows, backfills) is idempotent.

  keep_unchanged_rows (DuckDB only): instead of deleting the run's weeks and
  inserting them again, delete only the rows that changed or vanished and
  insert only the new or changed ones (strategy `replace_changed_rows`
  below). An incremental run re-counts the lookback week, whose rows are
  usually unchanged; a full refresh stores rows in hash order, so deleting
  one week touches every row group of a table and the next checkpoint pays
  for it (measured on the demo sample: about 2 s of CPU per run for the
  marts). Not for the rollup: its loaded_at changes on every row it writes.
#}
{% macro weekly_incremental_config(cluster_by, keep_unchanged_rows=false) %}
  {{ return(adapter.dispatch('weekly_incremental_config', 'pypi_trends')(cluster_by, keep_unchanged_rows)) }}
{% endmacro %}

{% macro default__weekly_incremental_config(cluster_by, keep_unchanged_rows) %}
  {#- DuckDB: replace the run's weeks (unique_key names the week column). -#}
  {{ return({
      'materialized': 'incremental',
      'incremental_strategy': 'replace_changed_rows' if keep_unchanged_rows else 'delete+insert',
      'unique_key': 'week_start',
  }) }}
{% endmacro %}

{% macro bigquery__weekly_incremental_config(cluster_by, keep_unchanged_rows) %}
  {#- BigQuery: replace the run's week partitions (DATE, day granularity, one
      per week) atomically; clustering keeps reads of one dimension or one
      package cheap. Partitions are replaced whole, so there is nothing to
      keep. -#}
  {{ return({
      'materialized': 'incremental',
      'incremental_strategy': 'insert_overwrite',
      'partition_by': {'field': 'week_start', 'data_type': 'date', 'granularity': 'day'},
      'cluster_by': cluster_by,
  }) }}
{% endmacro %}


{#
  Custom incremental strategy (DuckDB): make the weeks present in the new
  rows (unique_key = the week column) equal to the new rows, touching only
  the rows that differ. NULL-safe comparison of every column; the marts'
  grain is unique, so the result is the same as delete+insert.
#}
{% macro get_incremental_replace_changed_rows_sql(arg_dict) %}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set source = arg_dict['temp_relation'] -%}
  {%- set week = arg_dict['unique_key'] -%}
  {%- set columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
  {%- set columns_csv = get_quoted_csv(columns) -%}
  {%- if not week or week is not string -%}
    {{ exceptions.raise_compiler_error("replace_changed_rows needs unique_key set to the week column") }}
  {%- endif %}

delete from {{ target }} as old_rows
where old_rows.{{ week }} in (select distinct {{ week }} from {{ source }})
    and not exists (
        select 1 from {{ source }} as new_rows
        where
        {%- for column in columns %}
            new_rows.{{ adapter.quote(column) }} is not distinct from old_rows.{{ adapter.quote(column) }}{{ ' and' if not loop.last }}
        {%- endfor %}
    );

insert into {{ target }} ({{ columns_csv }})
select {{ columns_csv }} from {{ source }}
except
select {{ columns_csv }} from {{ target }}
where {{ week }} in (select distinct {{ week }} from {{ source }})

{% endmacro %}
