{# One row per uploaded file with the release metadata the marts describe packages with. #}

with source as (

    select * from {{ source('pypi', 'distribution_metadata') }}

),

renamed as (

    select
        {{ normalize_package_name('name') }} as package_name,
        name as display_name,
        version,
        nullif(trim(summary), '') as summary,
        -- The declared home page when it is a URL (old uploads often say
        -- 'UNKNOWN'), else the Homepage entry of project_urls; never made up.
        coalesce(
            case when {{ regex_matches('lower(trim(home_page))', '^https?://[^ ]+$') }} then trim(home_page) end,
            {{ project_urls_home_page('project_urls') }}
        ) as home_page,
        upload_time as uploaded_at

    from source
    where name is not null

),

final as (

    select * from renamed

)

select * from final
