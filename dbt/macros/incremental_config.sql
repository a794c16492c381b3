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
