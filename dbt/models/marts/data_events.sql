{#- The hand-kept seed of log events, typed for the export. -#}

with events as (

    select * from {{ ref('pypi_log_events') }}

),

final as (

    select
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(scope as string) as scope,
        cast(effect as string) as effect,
        cast(title as string) as title,
        cast(description as string) as description,
        cast(source as string) as source

    from events

)

select * from final
{{ storage_order(['scope', 'start_date']) }}
