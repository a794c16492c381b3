{#
  Generic data tests written here because dbt packages (dbt_utils) cannot be
  installed: `dbt deps` has no route to the package hub.
#}

{# Fails with one row per duplicated combination of the given columns. #}
{% test unique_combination_of_columns(model, combination_of_columns) %}
  {%- set columns = combination_of_columns | join(', ') %}

with validation as (

    select {{ columns }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1

)

select * from validation
{% endtest %}


{# Fails with every row for which the SQL expression is not true. #}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not ({{ expression }})
{% endtest %}


{#
  Fails when the newest `column_name` (a week_start) is more than
  `max_weeks_behind` weeks older than the week the build was asked to reach:
  var end_week when given, else the last complete week of the raw data. It
  catches a build that silently stopped adding weeks.
#}
{% test recency(model, column_name, max_weeks_behind=0) %}
  {%- set expected = (parse_week_var('end_week') or last_complete_week()) if execute else none %}

with newest as (

    select max({{ column_name }}) as newest_week
    from {{ model }}

)

select *
from newest
{%- if expected is not none %}
where newest_week is null
    or {{ days_between('newest_week', date_literal(expected)) }} > {{ 7 * (max_weeks_behind | int) }}
{%- endif %}
{% endtest %}


{#
  Fails with every row whose [start, end] range (end inclusive; NULL end: open,
  lasting from start on) does not start strictly after the previous range of
  its partition ended, or ends before it starts: ranges are then sorted by
  start and never overlap, and only the last one of a partition may be open.
#}
{% test sorted_non_overlapping_ranges(model, start_column, end_column, partition_by) %}

with ranges as (

    select
        {{ partition_by }} as range_partition,
        {{ start_column }} as range_start,
        {{ end_column }} as range_end,
        lag({{ start_column }}) over (
            partition by {{ partition_by }} order by {{ start_column }}
        ) as previous_start,
        lag({{ end_column }}) over (
            partition by {{ partition_by }} order by {{ start_column }}
        ) as previous_end
    from {{ model }}

)

select *
from ranges
where range_start is null
    or range_end < range_start
    or range_start = previous_start
    or (previous_start is not null and previous_end is null)
    or range_start <= previous_end
{% endtest %}
