{#
  Body of a per-dimension weekly mart: the rollup rows of one dimension, with
  per (package, week) the top `top_k` values by downloads kept and the rest
  summed into 'other'. Only package-weeks with at least
  `breakdown_min_downloads` downloads (default 0: all) get rows: at PyPI's
  scale most package-weeks are tiny and their breakdowns are most of the file. Ties are broken by value so the result is deterministic.
  Nothing is dropped, so the counts of a package-week add up exactly to its
  package_downloads_weekly row. Incremental by week: a run rebuilds only the
  weeks the rollup rewrote (folding is per package-week, so this is exact).

  `value_sql`, when given, is an SQL expression of `dimension_value` mapping
  each rollup value to a coarser one (versions to release lines); the mapped
  values are summed per package-week before the top K is chosen.
#}
{% macro top_k_dimension_mart(dimension, column_name, value_sql=none) %}
{{ config(**weekly_incremental_config(cluster_by=['package_name'])) }}
{#- DuckDB: stored in grain order after every run, the first build included
    (macros/storage_order.sql). -#}
{{ config(post_hook="{{ storage_resort(['package_name', 'week_start', '" ~ column_name ~ "']) }}") }}

with rollup as (

    select * from {{ ref('int_downloads_rolled_up_weekly') }}
    where dimension = '{{ dimension }}'
        and {{ weekly_mart_window_filter() }}

),
{%- if breakdown_min_downloads() > 0 %}

broken_down_weeks as (

    {#- Package-weeks with enough downloads to get a breakdown (the file's
        _meta.breakdown_min_downloads says which threshold it was built with). #}
    select package_name, week_start
    from {{ ref('int_downloads_rolled_up_weekly') }}
    where dimension = 'total'
        and downloads >= {{ breakdown_min_downloads() }}
        and {{ weekly_mart_window_filter() }}

),

eligible as (

    select rollup.*
    from rollup
    inner join broken_down_weeks
        on rollup.package_name = broken_down_weeks.package_name
        and rollup.week_start = broken_down_weeks.week_start

),
{%- else %}

eligible as (

    select * from rollup

),
{%- endif %}

{%- if value_sql %}

mapped as (

    select
        package_name,
        week_start,
        {{ value_sql }} as dimension_value,
        downloads,
        downloads_ci,
        downloads_mirror,
        downloads_metadata

    from eligible

),

valued as (

    select
        package_name,
        week_start,
        dimension_value,
        sum(downloads) as downloads,
        sum(downloads_ci) as downloads_ci,
        sum(downloads_mirror) as downloads_mirror,
        sum(downloads_metadata) as downloads_metadata

    from mapped
    group by package_name, week_start, dimension_value

),
{%- else %}

valued as (

    select * from eligible

),
{%- endif %}

ranked as (

    select
        *,
        row_number() over (
            partition by package_name, week_start
            order by downloads desc, dimension_value
        ) as value_rank

    from valued

),

folded as (

    select
        package_name,
        week_start,
        case
            when value_rank <= {{ var('top_k') | int }} then dimension_value
            else 'other'
        end as {{ column_name }},
        downloads,
        downloads_ci,
        downloads_mirror,
        downloads_metadata

    from ranked

),

final as (

    select
        package_name,
        week_start,
        {{ column_name }},
        cast(sum(downloads) as bigint) as downloads,
        cast(sum(downloads_ci) as bigint) as downloads_ci,
        cast(sum(downloads_mirror) as bigint) as downloads_mirror,
        cast(sum(downloads_metadata) as bigint) as downloads_metadata

    from folded
    group by package_name, week_start, {{ column_name }}

)

select * from final

{% endmacro %}
