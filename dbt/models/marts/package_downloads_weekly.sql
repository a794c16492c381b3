{#- BigQuery: incremental by week (only the weeks the rollup rewrote are
    rebuilt). DuckDB: rebuilt and stored in grain order (macros/incremental_config.sql). -#}
{{ config(**core_weekly_mart_config(cluster_by=['package_name'])) }}

with rollup as (

    select * from {{ ref('int_downloads_rolled_up_weekly') }}
    where dimension = 'total'
        and {{ weekly_mart_window_filter() }}

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
{{ storage_order(['package_name', 'week_start']) }}
