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
