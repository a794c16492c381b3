{#
  Row-level expressions used by the staging models. Each one is dispatched so
  the only SQL that differs between DuckDB (default__) and BigQuery
  (bigquery__) lives here.
#}

{# PEP 503 normalised name: lower case, every run of "-", "_" or "." -> "-". #}
{% macro normalize_package_name(name) -%}
  {{ return(adapter.dispatch('normalize_package_name', 'pypi_trends')(name)) }}
{%- endmacro %}

{% macro default__normalize_package_name(name) -%}
  {#- A name without '_', '.' or '--' has nothing for the regular expression
      to replace (every run of separators is a single '-'): lower() alone
      gives the same result at about a third of the cost per row, and the
      download logs' names are normalised already. -#}
  case
    when not (contains({{ name }}, '_') or contains({{ name }}, '.') or contains({{ name }}, '--'))
      then lower({{ name }})
    else regexp_replace(lower({{ name }}), '[-_.]+', '-', 'g')
  end
{%- endmacro %}

{% macro bigquery__normalize_package_name(name) -%}
  regexp_replace(lower({{ name }}), r'[-_.]+', '-')
{%- endmacro %}


{# "major.minor" of a Python version string ('3.10.12' -> '3.10'), NULL when it has none. #}
{% macro python_minor_version(version) -%}
  {{ return(adapter.dispatch('python_minor_version', 'pypi_trends')(version)) }}
{%- endmacro %}

{% macro default__python_minor_version(version) -%}
  {#- DuckDB returns '' rather than NULL when the pattern does not match. -#}
  nullif(regexp_extract({{ version }}, '^([0-9]+[.][0-9]+)', 1), '')
{%- endmacro %}

{% macro bigquery__python_minor_version(version) -%}
  regexp_extract({{ version }}, r'^([0-9]+[.][0-9]+)')
{%- endmacro %}


{# Monday (UTC) of the ISO week of a timestamp, as a DATE. #}
{% macro iso_week_start(ts) -%}
  {{ return(adapter.dispatch('iso_week_start', 'pypi_trends')(ts)) }}
{%- endmacro %}

{% macro default__iso_week_start(ts) -%}
  {#- Whole weeks since Monday 0001-01-01 from the UTC epoch microseconds:
      integer arithmetic, the same Monday as cast(date_trunc('week', ts) as
      date) in UTC for any time after year 1, but far cheaper on
      TIMESTAMP WITH TIME ZONE, whose date_trunc goes through ICU time zone
      conversion per row (the costliest expression of the raw scan otherwise).
      62135596800000000 us separate 0001-01-01 from 1970-01-01; a week is
      604800000000 us. -#}
  date '0001-01-01' + cast(7 * ((epoch_us({{ ts }}) + 62135596800000000) // 604800000000) as integer)
{%- endmacro %}

{% macro bigquery__iso_week_start(ts) -%}
  date_trunc(date({{ ts }}), isoweek)
{%- endmacro %}


{# Whole days from one DATE to another (later minus earlier). #}
{% macro days_between(earlier, later) -%}
  {{ return(adapter.dispatch('days_between', 'pypi_trends')(earlier, later)) }}
{%- endmacro %}

{% macro default__days_between(earlier, later) -%}
  date_diff('day', {{ earlier }}, {{ later }})
{%- endmacro %}

{% macro bigquery__days_between(earlier, later) -%}
  date_diff({{ later }}, {{ earlier }}, day)
{%- endmacro %}


{# A DATE literal from a python date or an ISO string. #}
{% macro date_literal(value) -%}
  date '{{ value }}'
{%- endmacro %}


{# A TIMESTAMP literal at midnight UTC of a date: a constant BigQuery can prune with. #}
{% macro midnight_utc_literal(value) -%}
  timestamp '{{ value }} 00:00:00'
{%- endmacro %}


{# Installers of mirroring tools: their downloads are not people installing packages. #}
{% macro mirror_installers() -%}
  {{ return(['bandersnatch', 'z3c.pypimirror', 'artifactory', 'devpi', 'nexus', 'pep381client']) }}
{%- endmacro %}


{#
  Aggregate: the given columns of the group's first row in `order_by`, as one
  STRUCT (fields named like the columns), so every field comes from the same
  row. Cheaper than a row_number() window over the whole input.
#}
{% macro first_row_struct(columns, order_by) -%}
  {{ return(adapter.dispatch('first_row_struct', 'pypi_trends')(columns, order_by)) }}
{%- endmacro %}

{% macro default__first_row_struct(columns, order_by) -%}
  first(struct_pack({% for column in columns %}{{ column }} := {{ column }}{{ ', ' if not loop.last }}{% endfor %}) order by {{ order_by }})
{%- endmacro %}

{% macro bigquery__first_row_struct(columns, order_by) -%}
  {#- A STRUCT is never NULL, so array_agg cannot fail on a NULL element.
      Fields are named explicitly: BigQuery would infer the same names from
      the columns, but SQL translated to other engines (the BigQuery emulator
      of tests/test_bigquery_emulator.py) gets anonymous fields. -#}
  array_agg(struct({% for column in columns %}{{ column }} as {{ column }}{{ ', ' if not loop.last }}{% endfor %}) order by {{ order_by }} limit 1)[offset(0)]
{%- endmacro %}
