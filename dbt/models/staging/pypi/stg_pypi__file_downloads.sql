{#
  One row per download in the run's window, renamed, typed and classified.
  Ephemeral: it is inlined into the single model that reads it, so the literal
  filter on the raw `timestamp` below sits directly on the raw scan and
  BigQuery prunes partitions.
  The window is read in parts (raw_window_parts): BigQuery bills every column
  a scan references over every partition it reads, so the days after PyPI
  stopped logging `.metadata` requests are read without `file.filename`,
  whose test cannot match there.
#}

with renamed as (

    {%- for part in raw_window_parts() %}
    {%- if not loop.first %}

    union all
    {% endif %}

    select
        {{ adapter.quote('timestamp') }} as downloaded_at,
        coalesce(project, file.project) as project_name,
        nullif(trim(country_code), '') as country_code,
        {% if part['reads_file_name'] -%}
        file.filename like '%.metadata' as is_metadata_file,
        {%- else -%}
        false as is_metadata_file,
        {%- endif %}
        nullif(trim(file.version), '') as package_version,
        nullif(trim(file.type), '') as file_type,
        nullif(trim(details.installer.name), '') as installer_name,
        details.python as python_full_version,
        nullif(trim(details.system.name), '') as system_name,
        details.ci as is_ci

    from {{ source('pypi', 'file_downloads') }}
    where {{ part['filter'] }}
    {%- endfor %}

),

classified as (

    select
        downloaded_at,
        {{ iso_week_start('downloaded_at') }} as week_start,
        coalesce({{ normalize_package_name('project_name') }}, 'unknown') as package_name,
        coalesce({{ python_minor_version('python_full_version') }}, 'unknown') as python_version,
        coalesce(installer_name, 'unknown') as installer,
        coalesce(system_name, 'unknown') as system,
        coalesce(country_code, 'unknown') as country_code,
        coalesce(package_version, 'unknown') as version,
        coalesce(file_type, 'unknown') as file_type,
        -- Disjoint categories, first match wins: metadata > mirror > ci > user.
        case
            when is_metadata_file then 'metadata'
            when lower(installer_name) in (
                {%- for name in mirror_installers() %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor -%}
            ) then 'mirror'
            when is_ci then 'ci'
            else 'user'
        end as download_category

    from renamed

),

final as (

    select * from classified

)

select * from final
