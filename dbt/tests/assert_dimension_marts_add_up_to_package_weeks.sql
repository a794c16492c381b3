{#
  Top-K folding never loses a download: for every package-week, each
  dimension mart's four counts sum exactly to the package_downloads_weekly row,
  for every package-week with at least `breakdown_min_downloads` downloads;
  a package-week below it has no row in any dimension mart.
  Returns one row per (mart, package, week) that differs.
#}
{%- set dimension_marts = [
    'package_python_versions_weekly',
    'package_installers_weekly',
    'package_systems_weekly',
    'package_countries_weekly',
    'package_versions_weekly',
    'package_file_types_weekly',
    'package_version_lines_weekly',
] %}
{%- set counts = ['downloads', 'downloads_ci', 'downloads_mirror', 'downloads_metadata'] %}

with package_weeks as (

    select * from {{ ref('package_downloads_weekly') }}
    where downloads >= {{ breakdown_min_downloads() }}

),

{% for mart in dimension_marts %}
{{ mart }}_summed as (

    select
        package_name,
        week_start,
        {%- for count in counts %}
        sum({{ count }}) as {{ count }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref(mart) }}
    group by package_name, week_start

),

{{ mart }}_differences as (

    select
        '{{ mart }}' as mart,
        coalesce(package_weeks.package_name, {{ mart }}_summed.package_name) as package_name,
        coalesce(package_weeks.week_start, {{ mart }}_summed.week_start) as week_start
    from package_weeks
    full outer join {{ mart }}_summed
        on package_weeks.package_name = {{ mart }}_summed.package_name
        and package_weeks.week_start = {{ mart }}_summed.week_start
    where
        {%- for count in counts %}
        coalesce(package_weeks.{{ count }}, -1) != coalesce({{ mart }}_summed.{{ count }}, -1)
        {{- ' or' if not loop.last }}
        {%- endfor %}

),

{% endfor %}
final as (

    {% for mart in dimension_marts %}
    select * from {{ mart }}_differences
    {{ 'union all' if not loop.last }}
    {% endfor %}

)

select * from final
