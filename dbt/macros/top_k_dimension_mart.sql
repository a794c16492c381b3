{#
  Body of a per-dimension weekly mart: the rollup rows of one dimension, with
  per (package, week) the top `top_k` values by downloads kept and the rest
  summed into 'other'. Ties are broken by value so the result is deterministic.
  Nothing is dropped, so the counts of a package-week add up exactly to its
  package_downloads_weekly row. Incremental by week: a run rebuilds only the
  weeks the rollup rewrote (folding is per package-week, so this is exact).

  `value_sql`, when given, is an SQL expression of `dimension_value` mapping
  each rollup value to a coarser one (versions to release lines); the mapped
  values are summed per package-week before the top K is chosen.
#}
{% macro top_k_dimension_mart(dimension, column_name, value_sql=none) %}
{{ config(**weekly_incremental_config(cluster_by=['package_name'])) }}

with rollup as (

    select * from {{ ref('int_downloads_rolled_up_weekly') }}
    where dimension = '{{ dimension }}'
        and {{ weekly_mart_window_filter() }}

),

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

    from rollup

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

    select * from rollup

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
{{ storage_order(['week_start', 'package_name']) }}

{% endmacro %}
