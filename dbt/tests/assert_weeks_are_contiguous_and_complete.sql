{#
  The marts cover an unbroken run of complete weeks: consecutive weeks are 7
  days apart (a missed run would leave a gap) and none is after the last
  complete week of the raw data (partial weeks never reach the marts).
#}
{%- set last_complete = last_complete_week() %}

with weeks as (

    select week_start from {{ ref('pypi_downloads_weekly') }}

),

with_previous as (

    select
        week_start,
        lag(week_start) over (order by week_start) as previous_week_start
    from weeks

),

final as (

    select week_start, 'gap before this week' as problem
    from with_previous
    where previous_week_start is not null
        and {{ days_between('previous_week_start', 'week_start') }} != 7
    {%- if last_complete is not none %}

    union all

    select week_start, 'week not complete in raw data' as problem
    from weeks
    where week_start > {{ date_literal(last_complete) }}
    {%- endif %}

)

select * from final
