{#- Incremental by week like the other weekly marts: a run re-aggregates only
    the weeks the rollup rewrote instead of every package-week of history. -#}
{{ config(**weekly_incremental_config(cluster_by=none)) }}
-- depends_on: {{ ref('int_downloads_rolled_up_weekly') }}

with package_weeks as (

    select * from {{ ref('package_downloads_weekly') }}
    where {{ weekly_mart_window_filter() }}

),

weekly_totals as (

    select
        week_start,
        cast(sum(downloads) as bigint) as downloads,
        cast(sum(downloads_ci) as bigint) as downloads_ci,
        cast(sum(downloads_mirror) as bigint) as downloads_mirror,
        cast(sum(downloads_metadata) as bigint) as downloads_metadata,
        -- One package_downloads_weekly row per package downloaded that week.
        count(*) as packages

    from package_weeks
    group by week_start

),

final as (

    select * from weekly_totals

)

select * from final
{{ storage_order(['week_start']) }}
