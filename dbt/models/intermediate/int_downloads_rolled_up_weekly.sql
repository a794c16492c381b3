{#
  The only model that reads raw downloads: one scan of the run's window,
  aggregated with GROUPING SETS into a long table with one row per
  (week, package, dimension, value) and the four category counts pivoted into
  columns. dimension = 'total' rows are the per-package totals.
#}
{#- Clustered by dimension first: each mart reads one dimension. -#}
{{ config(**weekly_incremental_config(cluster_by=['dimension', 'package_name'])) }}

{%- set dimensions = ['python_version', 'installer', 'system', 'country_code', 'version', 'file_type'] %}

with downloads as (

    select * from {{ ref('stg_pypi__file_downloads') }}

),

rolled_up as (

    select
        week_start,
        package_name,
        case
            {%- for dimension in dimensions %}
            when grouping({{ dimension }}) = 0 then '{{ dimension }}'
            {%- endfor %}
            else 'total'
        end as dimension,
        -- Staged values are never NULL, so the one grouped column is the value.
        coalesce({{ dimensions | join(', ') }}, 'total') as dimension_value,
        count(*) as downloads,
        count(case when download_category = 'ci' then 1 end) as downloads_ci,
        count(case when download_category = 'mirror' then 1 end) as downloads_mirror,
        count(case when download_category = 'metadata' then 1 end) as downloads_metadata

    from downloads
    group by grouping sets (
        (week_start, package_name),
        {%- for dimension in dimensions %}
        (week_start, package_name, {{ dimension }}){{ ',' if not loop.last }}
        {%- endfor %}
    )

),

final as (

    select
        week_start,
        package_name,
        dimension,
        dimension_value,
        downloads,
        downloads_ci,
        downloads_mirror,
        downloads_metadata,
        -- Which build wrote the week: reconciliation tests check the latest one.
        timestamp '{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S') }}' as loaded_at,
        '{{ invocation_id }}' as dbt_invocation_id

    from rolled_up

)

select * from final
