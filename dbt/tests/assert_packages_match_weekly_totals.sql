{# packages holds every downloaded package once and its totals add up to all of PyPI. #}

with packages as (

    select * from {{ ref('packages') }}

),

pypi_weeks as (

    select * from {{ ref('pypi_downloads_weekly') }}

),

package_weeks as (

    select * from {{ ref('package_downloads_weekly') }}

),

package_side as (

    select count(*) as package_count, sum(downloads_total) as downloads
    from packages

),

pypi_side as (

    select sum(downloads) as downloads from pypi_weeks

),

distinct_packages as (

    select count(distinct package_name) as package_count from package_weeks

),

final as (

    select
        package_side.package_count,
        distinct_packages.package_count as expected_package_count,
        package_side.downloads,
        pypi_side.downloads as expected_downloads
    from package_side
    cross join pypi_side
    cross join distinct_packages
    where package_side.package_count != distinct_packages.package_count
        or package_side.downloads != pypi_side.downloads

)

select * from final
