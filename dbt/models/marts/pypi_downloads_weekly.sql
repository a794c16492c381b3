with package_weeks as (

    select * from {{ ref('package_downloads_weekly') }}

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
