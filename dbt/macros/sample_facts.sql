{#
  on-run-end: copy the local sample's `_SUCCESS` record (its options and how
  far its counts are scaled down from the real counts it was calibrated on)
  into the warehouse as `raw_sample_facts`, so the exporter can state it in
  the file's `_meta` (`sample_scale`) with the lineage of this very build.
  Production reads the real BigQuery tables: nothing to record there.
#}
{% macro record_sample_facts() %}
  {{ return(adapter.dispatch('record_sample_facts', 'pypi_trends')()) }}
{% endmacro %}

{% macro default__record_sample_facts() %}
  {%- set raw_dir = env_var('PYPI_TRENDS_RAW_DIR', 'data/raw') -%}
  create or replace table {{ target.schema }}.raw_sample_facts as
  select * from read_json_auto('{{ raw_dir }}/_SUCCESS')
{% endmacro %}

{% macro bigquery__record_sample_facts() %}
{% endmacro %}
