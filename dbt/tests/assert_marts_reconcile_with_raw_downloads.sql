{#
  Reconciliation against raw: for every week written by the latest build, the
  sum of `downloads` in every weekly mart equals the number of raw download
  rows of that week. Reads raw directly (not through staging) so the check is
  independent of the classification logic, with literal bounds on the raw
  `timestamp` so BigQuery only scans the rebuilt weeks' partitions.
  Returns one row per (mart, week) that does not reconcile.
#}
-- depends_on: {{ ref('int_downloads_rolled_up_weekly') }}
{%- set weekly_marts = [
    'package_downloads_weekly',
    'package_python_versions_weekly',
    'package_installers_weekly',
    'package_systems_weekly',
    'package_countries_weekly',
    'package_versions_weekly',
    'package_file_types_weekly',
    'package_version_lines_weekly',
    'pypi_downloads_weekly',
] %}
{#- Declared up front: the refs below are only rendered at execution time. #}
-- depends_on: {{ source('pypi', 'file_downloads') }}
{%- for mart in weekly_marts %}
-- depends_on: {{ ref(mart) }}
{%- endfor %}
{%- set first_week, last_week = none, none %}
{#- Before the first build (`dbt compile`, `dbt docs generate` on a fresh clone)
    the rollup does not exist yet, and querying it would fail the command. #}
{%- if execute and load_relation(ref('int_downloads_rolled_up_weekly')) is not none %}
  {%- set latest = latest_rollup_weeks() %}
  {%- if latest is not none %}
    {%- set first_week, last_week = latest %}
  {%- endif %}
{%- endif %}

{%- if first_week is none %}
select 'no week built' as mart, cast(null as date) as week_start, 0 as mart_downloads, 0 as raw_downloads
where 1 = 0
{%- else %}
{%- set end_exclusive = last_week + modules.datetime.timedelta(days=7) %}

with raw_weekly as (

    select
        {{ iso_week_start(adapter.quote('timestamp')) }} as week_start,
        count(*) as raw_downloads
    from {{ source('pypi', 'file_downloads') }}
    where {{ raw_partition_filter(adapter.quote('timestamp'), first_week, end_exclusive) }}
    group by 1

),

{#- Dimension marts have no rows for package-weeks below the breakdown
    threshold: those package-weeks' downloads (package_downloads_weekly) are
    added back, so every mart still reconciles exactly. #}
without_breakdown as (

    select week_start, sum(downloads) as downloads
    from {{ ref('package_downloads_weekly') }}
    where week_start between {{ date_literal(first_week) }} and {{ date_literal(last_week) }}
        and downloads < {{ breakdown_min_downloads() }}
    group by week_start

),

{% for mart in weekly_marts %}
{{ mart }}_weekly as (

    select
        '{{ mart }}' as mart,
        week_start,
        sum(downloads) as mart_downloads
    from (
        select week_start, downloads
        from {{ ref(mart) }}
        where week_start between {{ date_literal(first_week) }} and {{ date_literal(last_week) }}
        {%- if mart not in ('package_downloads_weekly', 'pypi_downloads_weekly') %}
        union all
        select week_start, downloads from without_breakdown
        {%- endif %}
    ) as counted
    group by week_start

),

{{ mart }}_compared as (

    select
        '{{ mart }}' as mart,
        coalesce(raw_weekly.week_start, {{ mart }}_weekly.week_start) as week_start,
        coalesce({{ mart }}_weekly.mart_downloads, 0) as mart_downloads,
        coalesce(raw_weekly.raw_downloads, 0) as raw_downloads
    from raw_weekly
    full outer join {{ mart }}_weekly
        on raw_weekly.week_start = {{ mart }}_weekly.week_start

),

{% endfor %}
final as (

    {% for mart in weekly_marts %}
    select * from {{ mart }}_compared
    {{ 'union all' if not loop.last }}
    {% endfor %}

)

select * from final
where mart_downloads != raw_downloads
{%- endif %}
