with rollup as (

    select * from {{ ref('int_downloads_rolled_up_weekly') }}
    where dimension = 'total'

),

final as (

    select
        package_name,
        week_start,
        downloads,
        downloads_ci,
        downloads_mirror,
        downloads_metadata

    from rollup

)

select * from final
