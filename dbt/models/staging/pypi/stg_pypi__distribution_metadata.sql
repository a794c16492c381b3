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
        upload_time as uploaded_at

    from source
    where name is not null

),

final as (

    select * from renamed

)

select * from final
