{#
  The fewest downloads a package-week needs to get rows in the dimension
  marts: var `breakdown_min_downloads` when set, else 2000 on BigQuery (all of
  PyPI: most package-weeks are tiny and their breakdowns would be most of the
  exported file, docs/architecture.md) and 0 (every package-week) on the
  sample. The marts' YAML repeats this rule in their `meta`, which the
  exporter writes into the file's _meta.
#}
{% macro breakdown_min_downloads() %}
  {%- set value = var('breakdown_min_downloads', none) -%}
  {%- if value is not none -%}{{ return(value | int) }}{%- endif -%}
  {{ return(adapter.dispatch('breakdown_min_downloads', 'pypi_trends')()) }}
{% endmacro %}

{% macro default__breakdown_min_downloads() %}
  {{ return(0) }}
{% endmacro %}

{% macro bigquery__breakdown_min_downloads() %}
  {{ return(2000) }}
{% endmacro %}
