{#
  One row per release (package, version) first uploaded since the first built
  week, for packages in the marts: the release markers of a package's chart.
  Older releases are left out so the exported file does not carry all of
  PyPI's upload history.
#}

with releases as (

    select * from {{ ref('stg_pypi__distribution_metadata') }}
    where version is not null

),

packages as (

    select * from {{ ref('packages') }}

),

package_weeks as (

    select * from {{ ref('package_downloads_weekly') }}

),

first_built_week as (

    select min(week_start) as week_start from package_weeks

),

first_uploads as (

    -- A release is one version string; its files may be uploaded over days.
    select
        package_name,
        version,
        min(uploaded_at) as first_uploaded_at

    from releases
    group by package_name, version

),

in_window as (

    select first_uploads.*
    from first_uploads
    inner join packages
        on first_uploads.package_name = packages.package_name
    cross join first_built_week
    where {{ iso_week_start('first_uploads.first_uploaded_at') }} >= first_built_week.week_start

),

final as (

    select
        package_name,
        version,
        {{ release_line('version') }} as release_line,
        {{ pep440_release_kind('version') }} as release_kind,
        first_uploaded_at,
        {{ iso_week_start('first_uploaded_at') }} as first_upload_week

    from in_window

)

select * from final
{{ storage_order(['package_name', 'version']) }}
