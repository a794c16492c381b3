{#
  Version strings read as PEP 440 versions, in SQL that runs unchanged on
  DuckDB and BigQuery: both engines use RE2, so every pattern below is shared
  and only the call of the regular-expression functions is dispatched
  (regex_matches / regex_extract). Patterns use `[.]` rather than an escaped
  dot and never a quote, so one literal works in both dialects.

  Versions are compared lower-cased and trimmed, as PEP 440 normalisation
  does (`1.0RC1` is `1.0rc1`).
#}

{# True when `value` contains a match of the RE2 `pattern`. #}
{% macro regex_matches(value, pattern) -%}
  {{ return(adapter.dispatch('regex_matches', 'pypi_trends')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(value, pattern) -%}
  regexp_matches({{ value }}, '{{ pattern }}')
{%- endmacro %}

{% macro bigquery__regex_matches(value, pattern) -%}
  regexp_contains({{ value }}, r'{{ pattern }}')
{%- endmacro %}


{# The first capture group of the RE2 `pattern` (exactly one group), NULL when there is no match. #}
{% macro regex_extract(value, pattern) -%}
  {{ return(adapter.dispatch('regex_extract', 'pypi_trends')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_extract(value, pattern) -%}
  {#- DuckDB returns '' rather than NULL when the pattern does not match. -#}
  nullif(regexp_extract({{ value }}, '{{ pattern }}', 1), '')
{%- endmacro %}

{% macro bigquery__regex_extract(value, pattern) -%}
  regexp_extract({{ value }}, r'{{ pattern }}')
{%- endmacro %}


{#- The leading release numbers: optional `v` and epoch (`1!`), then N(.N)*. -#}
{% macro pep440_release_prefix_pattern() -%}
^v?(?:[0-9]+!)?
{%- endmacro %}

{#- A whole valid PEP 440 version (the grammar of its appendix B, lower case):
    release, then optional pre, post, dev and local segments. -#}
{% macro pep440_version_pattern() -%}
{{ pep440_release_prefix_pattern() }}[0-9]+(?:[.][0-9]+)*(?:[-_.]?(?:alpha|a|beta|b|preview|pre|c|rc)[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?(?:[+][a-z0-9]+(?:[-_.][a-z0-9]+)*)?$
{%- endmacro %}


{#
  What kind of release a version string is, from the string alone:
    'pre-release'  a pre-release or development release (1.0.0rc1, 0.1.dev3);
    'major'        every number after the first is 0 (3.0, 2.0.0);
    'minor'        every number after the second is 0 (2.32, 2.32.0);
    'patch'        anything else (2.32.3, 2024.8.30), and post-releases
                   (1.0.post1), which correct an existing release;
    'unknown'      not a PEP 440 version (NULL, legacy or garbage strings).
  Calendar versions follow the same rule: 2024.8.30 is a 'patch', 2024.1.0 a 'minor'.
#}
{% macro pep440_release_kind(version) -%}
  {%- set v = "lower(trim(" ~ version ~ "))" -%}
  {%- set release = pep440_release_prefix_pattern() ~ "[0-9]+(?:[.][0-9]+)*" -%}
  case
    when {{ version }} is null or not {{ regex_matches(v, pep440_version_pattern()) }} then 'unknown'
    {#- On a valid version, a pre-release letter right after the release or
        `dev` before any local part can only be a pre or dev segment. #}
    when {{ regex_matches(v, release ~ "[-_.]?(?:alpha|a|beta|b|preview|pre|c|rc)|^[^+]*dev") }} then 'pre-release'
    {#- Not a pre-release, so an `r` here is `r`/`rev`/`post`, never `rc`. #}
    when {{ regex_matches(v, release ~ "(?:-[0-9]|[-_.]?(?:post|rev|r))") }} then 'patch'
    when {{ regex_matches(v, pep440_release_prefix_pattern() ~ "[0-9]+(?:[.]0+)*(?:$|[+])") }} then 'major'
    when {{ regex_matches(v, pep440_release_prefix_pattern() ~ "[0-9]+[.][0-9]+(?:[.]0+)*(?:$|[+])") }} then 'minor'
    else 'patch'
  end
{%- endmacro %}


{#
  The release line of a version: its first two release numbers without
  leading zeros ('2.32.3' -> '2.32', '2024.08.30' -> '2024.8', '5' -> '5.0'),
  read from the leading numbers even when the rest is not PEP 440
  ('1.2.3-foo' -> '1.2'); the epoch is dropped. 'unknown' when the string
  does not start with a number (and for NULL).
#}
{% macro release_line(version) -%}
  {%- set v = "lower(trim(" ~ version ~ "))" -%}
  coalesce(
    {{ regex_extract(v, pep440_release_prefix_pattern() ~ "0*([0-9]+)") }}
      || '.'
      || coalesce({{ regex_extract(v, pep440_release_prefix_pattern() ~ "[0-9]+[.]0*([0-9]+)") }}, '0'),
    'unknown'
  )
{%- endmacro %}


{#
  The home page URL in a `project_urls` array (entries "Label, URL"): the
  first entry labelled Homepage / Home page / Home (PEP 753 label
  normalisation: case, spaces and punctuation ignored) whose URL is http(s);
  NULL when there is none.
#}
{% macro project_urls_home_page(project_urls) -%}
  {{ return(adapter.dispatch('project_urls_home_page', 'pypi_trends')(project_urls)) }}
{%- endmacro %}

{% macro home_page_entry_pattern() -%}
^[^a-z0-9,]*home[^a-z0-9,]*(?:page)?[^a-z0-9,]*,[ ]*https?://
{%- endmacro %}

{% macro default__project_urls_home_page(project_urls) -%}
  trim({{ regex_extract(
      "list_filter(" ~ project_urls ~ ", lambda u: " ~ regex_matches("lower(u)", home_page_entry_pattern()) ~ ")[1]",
      "^[^,]*,(.*)$") }})
{%- endmacro %}

{% macro bigquery__project_urls_home_page(project_urls) -%}
  (
    select trim({{ regex_extract('u', '^[^,]*,(.*)$') }})
    from unnest({{ project_urls }}) as u with offset as position
    where {{ regex_matches('lower(u)', home_page_entry_pattern()) }}
    order by position
    limit 1
  )
{%- endmacro %}
