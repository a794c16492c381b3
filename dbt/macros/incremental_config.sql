{#
  How the weekly rollup replaces the weeks of a run. Both strategies overwrite
  whole weeks, so re-running a window (late rows, backfills) is idempotent.
#}
{% macro weekly_rollup_config() %}
  {{ return(adapter.dispatch('weekly_rollup_config', 'pypi_trends')()) }}
{% endmacro %}

{% macro default__weekly_rollup_config() %}
  {#- DuckDB: delete the run's weeks, then insert them. -#}
  {{ return({'incremental_strategy': 'delete+insert', 'unique_key': 'week_start'}) }}
{% endmacro %}

{% macro bigquery__weekly_rollup_config() %}
  {#- BigQuery: replace the run's week partitions (DATE, day granularity, one
      per week) atomically. Clustered by dimension first, so each mart (which
      reads one dimension) and the reconciliation bounds scan only its blocks,
      then by package for per-package reads. -#}
  {{ return({
      'incremental_strategy': 'insert_overwrite',
      'partition_by': {'field': 'week_start', 'data_type': 'date', 'granularity': 'day'},
      'cluster_by': ['dimension', 'package_name'],
  }) }}
{% endmacro %}
