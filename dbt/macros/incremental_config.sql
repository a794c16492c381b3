{#
  How weekly models replace the weeks of a run. Both strategies overwrite
  whole weeks, so re-running a window (late rows, backfills) is idempotent.
#}
{% macro weekly_incremental_config(cluster_by) %}
  {{ return(adapter.dispatch('weekly_incremental_config', 'pypi_trends')(cluster_by)) }}
{% endmacro %}

{% macro default__weekly_incremental_config(cluster_by) %}
  {#- DuckDB: delete the run's weeks, then insert them. -#}
  {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': 'week_start'}) }}
{% endmacro %}

{% macro bigquery__weekly_incremental_config(cluster_by) %}
  {#- BigQuery: replace the run's week partitions (DATE, day granularity, one
      per week) atomically; clustering keeps reads of one dimension or one
      package cheap. -#}
  {{ return({
      'materialized': 'incremental',
      'incremental_strategy': 'insert_overwrite',
      'partition_by': {'field': 'week_start', 'data_type': 'date', 'granularity': 'day'},
      'cluster_by': cluster_by,
  }) }}
{% endmacro %}


{#
  The core weekly mart (package_downloads_weekly): what the API reads one
  package's series from, and the exporter's biggest presorted table.
#}
{% macro core_weekly_mart_config(cluster_by) %}
  {{ return(adapter.dispatch('core_weekly_mart_config', 'pypi_trends')(cluster_by)) }}
{% endmacro %}

{% macro default__core_weekly_mart_config(cluster_by) %}
  {#- DuckDB: a table rebuilt from the rollup's 'total' rows every run and
      stored in grain order (package_name, week_start), so the exporter
      copies it without a sort (its presorted path). An incremental
      delete+insert would break that order: the run's weeks sit at the end of
      every package's run of rows. Rebuilding costs one filtered scan of the
      rollup and one sort of the mart's rows. -#}
  {{ return({'materialized': 'table'}) }}
{% endmacro %}

{% macro bigquery__core_weekly_mart_config(cluster_by) %}
  {#- BigQuery has no storage order to keep: replace the run's weeks like
      every other weekly mart. -#}
  {{ return(bigquery__weekly_incremental_config(cluster_by)) }}
{% endmacro %}
