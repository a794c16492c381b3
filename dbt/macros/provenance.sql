{#
  Build provenance: which dbt invocation last wrote each exported mart, and
  what every test of every invocation reported. run_results.json cannot tell:
  any later dbt command (even `dbt compile`) overwrites it. This log lives in
  the warehouse beside the marts (DuckDB and BigQuery alike), is appended to
  and never rewritten, and the exporter publishes a mart only when every test
  of it passed in the invocation that last wrote it (exports/provenance.py).

  One row per event:
    event 'wrote'  - a mart's post-hook: the invocation replaced the mart
                     (on DuckDB in the model's transaction, so a crash cannot
                     leave a new mart without its row);
    event 'result' - on-run-end: one test's (data or unit) status.
  The column types are spelled the same on DuckDB and BigQuery.
#}

{% macro provenance_relation() %}
  {{ return(api.Relation.create(database=target.database, schema=target.schema, identifier='dbt_provenance')) }}
{% endmacro %}

{% macro provenance_values(unique_id, event, status) -%}
  ('{{ invocation_id }}', cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp),
   '{{ flags.WHICH }}', '{{ unique_id }}', '{{ event }}', '{{ status }}')
{%- endmacro %}

{# on-run-start (dbt has created the target schema by then): the log exists
   before the first mart's post-hook writes to it. #}
{% macro create_provenance_log() %}
  {% if execute and flags.WHICH in ('build', 'run', 'test', 'retry') %}
    {{ provenance_log_ddl() }}
  {% else %}
    select 1
  {% endif %}
{% endmacro %}

{% macro provenance_log_ddl() %}
  create table if not exists {{ provenance_relation() }} (
    invocation_id string,
    run_started_at timestamp,
    command string,
    unique_id string,
    event string,
    status string
  )
{% endmacro %}

{# post-hook of every mart: this invocation wrote it. #}
{% macro record_mart_write() %}
  insert into {{ provenance_relation() }}
    (invocation_id, run_started_at, command, unique_id, event, status)
  values {{ provenance_values(model.unique_id, 'wrote', 'success') }}
{% endmacro %}

{# on-run-end: every test this invocation ran and its status (compile and
   docs report tests as 'success' without running them: not recorded). #}
{% macro record_test_results(results) %}
  {%- set tests = [] -%}
  {%- if execute and flags.WHICH in ('build', 'test', 'retry') -%}
    {%- for r in results if r.node.resource_type in ('test', 'unit_test') -%}
      {%- do tests.append(provenance_values(r.node.unique_id, 'result', r.status)) -%}
    {%- endfor -%}
  {%- endif -%}
  {%- if tests -%}
    insert into {{ provenance_relation() }}
      (invocation_id, run_started_at, command, unique_id, event, status)
    values {{ tests | join(',\n    ') }}
  {%- else -%}
    select 1
  {%- endif -%}
{% endmacro %}
