with package_weeks as (

    select * from {{ ref('package_downloads_weekly') }}

),

releases as (

    select * from {{ ref('stg_pypi__distribution_metadata') }}

),

last_complete_week as (

    -- The newest week of the whole data set, not of each package.
    select max(week_start) as week_start from package_weeks

),

weeks_ago as (

    select
        package_weeks.package_name,
        package_weeks.week_start,
        package_weeks.downloads,
        {{ days_between('package_weeks.week_start', 'last_complete_week.week_start') }} as days_before_last

    from package_weeks
    cross join last_complete_week

),

download_totals as (

    select
        package_name,
        min(week_start) as first_download_week,
        max(week_start) as last_download_week,
        cast(sum(downloads) as bigint) as downloads_total,
        cast(sum(case when days_before_last = 0 then downloads else 0 end) as bigint) as downloads_last_week,
        cast(sum(case when days_before_last between 0 and 27 then downloads else 0 end) as bigint)
            as downloads_last_4_weeks,
        cast(sum(case when days_before_last between 28 and 55 then downloads else 0 end) as bigint)
            as downloads_prev_4_weeks

    from weeks_ago
    group by package_name

),

latest_releases as (

    -- One aggregate per package instead of a window over every upload: the
    -- newest upload (ties by version, then by the values themselves, so the
    -- pick is deterministic) read as one struct so its fields come from one row.
    select
        package_name,
        {{ first_row_struct(
            ['display_name', 'summary', 'version', 'home_page'],
            'uploaded_at desc, version desc, display_name desc, summary desc, home_page desc'
        ) }} as latest_upload

    from releases
    group by package_name

),

first_releases as (

    select
        package_name,
        -- The date of the earliest upload: casting after min() is the same
        -- (the cast is monotonic) and casts one value per package.
        cast(min(uploaded_at) as date) as first_release_date

    from releases
    group by package_name

),

joined as (

    select
        download_totals.package_name,
        coalesce(latest_releases.latest_upload.display_name, download_totals.package_name) as display_name,
        latest_releases.latest_upload.summary,
        latest_releases.latest_upload.version as latest_version,
        latest_releases.latest_upload.home_page,
        {%- if var('project_page_url_prefix') %}
        -- Only for packages the upload metadata knows: never a link to a page
        -- that may not exist.
        case
            when latest_releases.package_name is not null
                then '{{ var('project_page_url_prefix') }}' || download_totals.package_name || '/'
        end as pypi_url,
        {%- else %}
        cast(null as string) as pypi_url,
        {%- endif %}
        first_releases.first_release_date,
        download_totals.first_download_week,
        download_totals.last_download_week,
        download_totals.downloads_total,
        download_totals.downloads_last_week,
        download_totals.downloads_last_4_weeks,
        download_totals.downloads_prev_4_weeks

    from download_totals
    left join latest_releases
        on download_totals.package_name = latest_releases.package_name
    left join first_releases
        on download_totals.package_name = first_releases.package_name

),

final as (

    select
        package_name,
        display_name,
        summary,
        latest_version,
        home_page,
        pypi_url,
        first_release_date,
        first_download_week,
        last_download_week,
        downloads_total,
        downloads_last_week,
        downloads_last_4_weeks,
        downloads_prev_4_weeks,
        -- (last 4 weeks - the 4 before) / the 4 before; NULL when there is no base.
        (downloads_last_4_weeks - downloads_prev_4_weeks)
            / nullif(downloads_prev_4_weeks, 0) as growth_4_weeks,
        cast(row_number() over (
            order by downloads_last_week desc, package_name
        ) as integer) as rank

    from joined

)

select * from final
{{ storage_order(['package_name']) }}
