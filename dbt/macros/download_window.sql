{#
  Which weeks of raw downloads a run reads and (re)builds.

  A week is complete when its Sunday is fully loaded. The last fully loaded day
  comes from metadata, never from scanning the raw table (on BigQuery a scan of
  `timestamp` alone is terabytes):
    - DuckDB: the newest `date=YYYY-MM-DD` directory of the sample, which is
      only trusted once `_SUCCESS` exists (the sample writes it last);
    - BigQuery: the newest day partition listed in the public dataset's
      INFORMATION_SCHEMA.PARTITIONS, minus one day because that newest
      partition is still being streamed into.
  The var `last_complete_date` overrides the detection.

  The window is [start_week, end_week] (Mondays, inclusive):
    - `--vars` start_week / end_week when given (validated);
    - end_week defaults to the last complete week;
    - start_week defaults to, on an incremental run, the week after the newest
      built week minus `lookback_weeks` (late rows are re-counted and a missed
      run is caught up); on a full refresh or the first build, the last
      `history_weeks` weeks, never before the first complete week of the data.
#}

{% macro parse_week_var(name) %}
  {%- set raw = var(name, none) -%}
  {%- if raw is none or raw == '' -%}{{ return(none) }}{%- endif -%}
  {%- set text = raw | string -%}
  {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
    {{ exceptions.raise_compiler_error("var " ~ name ~ "=" ~ text ~ " is not a date (YYYY-MM-DD)") }}
  {%- endif -%}
  {%- set parsed = modules.datetime.datetime.strptime(text, '%Y-%m-%d').date() -%}
  {%- if parsed.weekday() != 0 -%}
    {{ exceptions.raise_compiler_error("var " ~ name ~ "=" ~ text ~ " is not a Monday (weeks start on Monday, ISO 8601)") }}
  {%- endif -%}
  {{ return(parsed) }}
{% endmacro %}


{# Monday of the ISO week containing a python date. #}
{% macro week_monday(day) %}
  {{ return(day - modules.datetime.timedelta(days=day.weekday())) }}
{% endmacro %}


{# The raw downloads table as a relation, from the source definition (no source() call, so
   tests and macros can use it without adding a dependency). #}
{% macro raw_downloads_relation() %}
  {%- for source in graph.sources.values() if source.source_name == 'pypi' and source.name == 'file_downloads' -%}
    {{ return(api.Relation.create(database=source.database, schema=source.schema, identifier=source.identifier)) }}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("source pypi.file_downloads is not defined") }}
{% endmacro %}


{# SQL returning one row: first_loaded_date, last_complete_date, ready (1 when loading finished). #}
{% macro raw_loaded_dates_sql(raw_relation) %}
  {{ return(adapter.dispatch('raw_loaded_dates_sql', 'pypi_trends')(raw_relation)) }}
{% endmacro %}

{% macro default__raw_loaded_dates_sql(raw_relation) %}
  {%- set raw_dir = env_var('PYPI_TRENDS_RAW_DIR', 'data/raw') -%}
  select
    min(cast(regexp_extract(file, 'date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date)) as first_loaded_date,
    max(cast(regexp_extract(file, 'date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date)) as last_complete_date,
    (select count(*) from glob('{{ raw_dir }}/_SUCCESS')) as ready
  from glob('{{ raw_dir }}/file_downloads/date=*/*.parquet')
{% endmacro %}

{% macro bigquery__raw_loaded_dates_sql(raw_relation) %}
  select
    min(parse_date('%Y%m%d', partition_id)) as first_loaded_date,
    date_sub(max(parse_date('%Y%m%d', partition_id)), interval 1 day) as last_complete_date,
    1 as ready
  from `{{ raw_relation.database }}.{{ raw_relation.schema }}.INFORMATION_SCHEMA.PARTITIONS`
  where table_name = '{{ raw_relation.identifier }}'
    and partition_id not in ('__NULL__', '__UNPARTITIONED__')
    and total_rows > 0
{% endmacro %}


{# {'first_loaded_date': date|none, 'last_complete_date': date} from metadata only. #}
{% macro raw_loaded_dates() %}
  {%- set override = var('last_complete_date', none) -%}
  {%- if override -%}
    {%- set last = modules.datetime.datetime.strptime(override | string, '%Y-%m-%d').date() -%}
    {{ return({'first_loaded_date': none, 'last_complete_date': last}) }}
  {%- endif -%}
  {%- set result = run_query(raw_loaded_dates_sql(raw_downloads_relation())) -%}
  {%- set row = result.rows[0] -%}
  {%- if row['ready'] == 0 -%}
    {{ exceptions.raise_compiler_error("raw data at " ~ env_var('PYPI_TRENDS_RAW_DIR', 'data/raw') ~ " is incomplete: no _SUCCESS marker (run `make sample`)") }}
  {%- endif -%}
  {%- if row['last_complete_date'] is none -%}
    {{ exceptions.raise_compiler_error("no raw download partitions found for " ~ raw_downloads_relation()) }}
  {%- endif -%}
  {{ return({'first_loaded_date': row['first_loaded_date'], 'last_complete_date': row['last_complete_date']}) }}
{% endmacro %}


{# Newest week_start already built in a weekly table (rollup or mart), or none. #}
{% macro max_built_week(relation) %}
  {{ return(adapter.dispatch('max_built_week', 'pypi_trends')(relation)) }}
{% endmacro %}

{% macro default__max_built_week(relation) %}
  {%- set result = run_query("select max(week_start) as week_start from " ~ relation) -%}
  {{ return(result.rows[0]['week_start']) }}
{% endmacro %}

{% macro bigquery__max_built_week(relation) %}
  {#- Partition metadata instead of reading the week_start column. -#}
  {%- set result = run_query(
      "select max(parse_date('%Y%m%d', partition_id)) as week_start from `"
      ~ relation.database ~ "." ~ relation.schema ~ ".INFORMATION_SCHEMA.PARTITIONS`"
      ~ " where table_name = '" ~ relation.identifier ~ "'"
      ~ " and partition_id not in ('__NULL__', '__UNPARTITIONED__') and total_rows > 0") -%}
  {{ return(result.rows[0]['week_start']) }}
{% endmacro %}


{# The rollup's relation if it exists and this run is not a full refresh. #}
{% macro existing_rollup_relation() %}
  {%- if flags.FULL_REFRESH -%}{{ return(none) }}{%- endif -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'int_downloads_rolled_up_weekly' -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
  {%- endfor -%}
  {{ return(none) }}
{% endmacro %}


{# The validated window as {'start_week': date, 'end_week': date}. #}
{% macro download_window() %}
  {%- set day = modules.datetime.timedelta(days=1) -%}
  {%- set today = run_started_at.date() -%}
  {%- set start_var = parse_week_var('start_week') -%}
  {%- set end_var = parse_week_var('end_week') -%}
  {%- if start_var and end_var and start_var > end_var -%}
    {{ exceptions.raise_compiler_error("start_week " ~ start_var ~ " is after end_week " ~ end_var) }}
  {%- endif -%}
  {%- if end_var and end_var + 6 * day >= today -%}
    {{ exceptions.raise_compiler_error("end_week " ~ end_var ~ " is in the future or not over yet (its Sunday " ~ (end_var + 6 * day) ~ " is not before today " ~ today ~ ")") }}
  {%- endif -%}

  {%- set loaded = raw_loaded_dates() -%}
  {%- set last_complete_week = week_monday(loaded['last_complete_date'] + day) - 7 * day -%}
  {%- set first_complete_week = week_monday(loaded['first_loaded_date'] + 6 * day) if loaded['first_loaded_date'] else none -%}

  {%- if end_var and end_var > last_complete_week -%}
    {{ exceptions.raise_compiler_error("end_week " ~ end_var ~ " is not completely loaded: the last complete week starts " ~ last_complete_week) }}
  {%- endif -%}
  {%- set end_week = end_var or last_complete_week -%}

  {%- if start_var -%}
    {%- set start_week = start_var -%}
  {%- else -%}
    {%- set existing = existing_rollup_relation() -%}
    {%- set built = max_built_week(existing) if existing else none -%}
    {%- if built -%}
      {%- set next_week = [built + 7 * day, end_week] | min -%}
      {%- set lookback = var('lookback_weeks') | int -%}
      {%- if lookback > 0 and not raw_changed_since_built(existing, next_week - lookback * 7 * day, next_week - 7 * day) -%}
        {#- No raw day of the lookback weeks changed after they were built: they were
            complete then, and scanning them again could not change a result. -#}
        {{ log("lookback: weeks " ~ (next_week - lookback * 7 * day) ~ " .. " ~ (next_week - 7 * day) ~ " unchanged since built, not scanned again", info=True) }}
        {%- set lookback = 0 -%}
      {%- endif -%}
      {%- set start_week = next_week - lookback * 7 * day -%}
    {%- else -%}
      {%- set start_week = end_week - ((var('history_weeks') | int) - 1) * 7 * day -%}
    {%- endif -%}
    {%- if first_complete_week and start_week < first_complete_week -%}
      {%- set start_week = first_complete_week -%}
    {%- endif -%}
  {%- endif -%}

  {%- if first_complete_week and start_week < first_complete_week -%}
    {{ exceptions.raise_compiler_error("start_week " ~ start_week ~ " is before the first complete week of the raw data (" ~ first_complete_week ~ ")") }}
  {%- endif -%}
  {%- if start_week > end_week -%}
    {{ exceptions.raise_compiler_error("no complete week to build: window " ~ start_week ~ " .. " ~ end_week ~ " (raw data loaded through " ~ loaded['last_complete_date'] ~ ")") }}
  {%- endif -%}
  {{ log("download window: weeks " ~ start_week ~ " .. " ~ end_week ~ " (raw loaded through " ~ loaded['last_complete_date'] ~ ")", info=True) }}
  {{ return({'start_week': start_week, 'end_week': end_week}) }}
{% endmacro %}


{# Filter on the raw partition column with literal bounds covering the window. #}
{% macro download_window_filter(timestamp_column) %}
  {%- if not execute -%}{{ return('1 = 1') }}{%- endif -%}
  {%- set window = download_window() -%}
  {%- set end_exclusive = window['end_week'] + modules.datetime.timedelta(days=7) -%}
  {{ return(raw_partition_filter(timestamp_column, window['start_week'], end_exclusive)) }}
{% endmacro %}

{% macro raw_partition_filter(timestamp_column, start_day, end_day_exclusive) %}
  {{ return(adapter.dispatch('raw_partition_filter', 'pypi_trends')(timestamp_column, start_day, end_day_exclusive)) }}
{% endmacro %}

{% macro default__raw_partition_filter(timestamp_column, start_day, end_day_exclusive) %}
  {#- The hive `date=` directory column lets DuckDB skip whole files without
      opening them; the timestamp bounds keep the filter exact. -#}
  {{ return(timestamp_column ~ " >= " ~ midnight_utc_literal(start_day)
      ~ " and " ~ timestamp_column ~ " < " ~ midnight_utc_literal(end_day_exclusive)
      ~ " and " ~ adapter.quote('date') ~ " >= " ~ date_literal(start_day)
      ~ " and " ~ adapter.quote('date') ~ " < " ~ date_literal(end_day_exclusive)) }}
{% endmacro %}

{% macro bigquery__raw_partition_filter(timestamp_column, start_day, end_day_exclusive) %}
  {#- Constant bounds on the partitioning column: BigQuery prunes partitions. -#}
  {{ return(timestamp_column ~ " >= " ~ midnight_utc_literal(start_day)
      ~ " and " ~ timestamp_column ~ " < " ~ midnight_utc_literal(end_day_exclusive)) }}
{% endmacro %}


{# week_start of the last complete week, for tests that check the marts stop there. #}
{% macro last_complete_week() %}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set loaded = raw_loaded_dates() -%}
  {%- set day = modules.datetime.timedelta(days=1) -%}
  {{ return(week_monday(loaded['last_complete_date'] + day) - 7 * day) }}
{% endmacro %}


{#
  (first, last) week_start written by the latest rollup run, from its
  loaded_at column (only the 'total' rows: on BigQuery the rollup is clustered
  by dimension, so this reads a small part of the table). none when empty.
#}
{% macro latest_rollup_weeks() %}
  {%- set rollup = ref('int_downloads_rolled_up_weekly') -%}
  {%- set result = run_query(
      "select min(week_start) as first_week, max(week_start) as last_week from " ~ rollup
      ~ " where dimension = 'total' and loaded_at = (select max(loaded_at) from " ~ rollup
      ~ " where dimension = 'total')") -%}
  {%- set row = result.rows[0] -%}
  {{ return(none if row['first_week'] is none else (row['first_week'], row['last_week'])) }}
{% endmacro %}


{#
  Predicate on week_start for an incremental weekly mart: the weeks the latest
  rollup run rewrote, extended back to the week after the mart's own newest
  week (so a run that failed before the marts is caught up), as literal bounds
  (BigQuery prunes the rollup's partitions). Full refresh / first build: all.
#}
{% macro weekly_mart_window_filter() %}
  {%- if not execute or not is_incremental() -%}{{ return('1 = 1') }}{%- endif -%}
  {%- set latest = latest_rollup_weeks() -%}
  {%- if latest is none -%}{{ return('1 = 0') }}{%- endif -%}
  {%- set first_week, last_week = latest -%}
  {%- set built = max_built_week(this) -%}
  {%- if built is not none -%}
    {%- set first_week = [first_week, built + modules.datetime.timedelta(days=7)] | min -%}
  {%- endif -%}
  {{ return("week_start between " ~ date_literal(first_week) ~ " and " ~ date_literal(last_week)) }}
{% endmacro %}


{#
  The first day PyPI no longer logs requests for `.metadata` files, or none
  when the raw data logs them throughout. The generated sample does (it does
  not model PyPI's change), the public BigQuery table stops on 2026-08-24.
  The var `metadata_files_logged_until` (YYYY-MM-DD, or null for "throughout")
  overrides it, for raw data other than these two (e.g. the sample loaded
  into BigQuery).
#}
{% macro metadata_files_logged_until() %}
  {%- set override = var('metadata_files_logged_until', 'by_adapter') -%}
  {%- if override is none -%}{{ return(none) }}{%- endif -%}
  {%- if override != 'by_adapter' -%}
    {{ return(modules.datetime.date.fromisoformat(override | string)) }}
  {%- endif -%}
  {{ return(adapter.dispatch('metadata_files_logged_until', 'pypi_trends')()) }}
{% endmacro %}

{% macro default__metadata_files_logged_until() %}
  {{ return(none) }}
{% endmacro %}

{% macro bigquery__metadata_files_logged_until() %}
  {{ return(modules.datetime.date(2026, 8, 24)) }}
{% endmacro %}


{#
  The run's window as scans of the raw table: [{'filter', 'reads_file_name'}],
  split at metadata_files_logged_until() so that no scan reads `file.filename`
  for days where the `.metadata` test cannot match (BigQuery bills a column
  over every partition of the scan that references it).
#}
{% macro raw_window_parts() %}
  {%- set ts = adapter.quote('timestamp') -%}
  {%- if not execute -%}{{ return([{'filter': '1 = 1', 'reads_file_name': true}]) }}{%- endif -%}
  {%- set window = download_window() -%}
  {%- set start_day = window['start_week'] -%}
  {%- set end_day = window['end_week'] + modules.datetime.timedelta(days=7) -%}
  {%- set cutoff = metadata_files_logged_until() -%}
  {%- if cutoff is none or end_day <= cutoff -%}
    {{ return([{'filter': raw_partition_filter(ts, start_day, end_day), 'reads_file_name': true}]) }}
  {%- elif start_day >= cutoff -%}
    {{ return([{'filter': raw_partition_filter(ts, start_day, end_day), 'reads_file_name': false}]) }}
  {%- endif -%}
  {{ return([
      {'filter': raw_partition_filter(ts, start_day, cutoff), 'reads_file_name': true},
      {'filter': raw_partition_filter(ts, cutoff, end_day), 'reads_file_name': false},
  ]) }}
{% endmacro %}


{#
  True when a raw day of the weeks first_week .. last_week (Mondays) was
  written after the rollup built those weeks (late rows), or when that cannot
  be told; from metadata only (file times, partition times), never a scan.
#}
{% macro raw_changed_since_built(rollup, first_week, last_week) %}
  {%- set end_day = last_week + modules.datetime.timedelta(days=7) -%}
  {%- set row = run_query(raw_changed_since_built_sql(rollup, first_week, last_week, end_day)).rows[0] -%}
  {%- if row['raw_modified'] is none or row['built_at'] is none -%}{{ return(true) }}{%- endif -%}
  {{ return(row['raw_modified'] | string > row['built_at'] | string) }}
{% endmacro %}

{% macro raw_changed_since_built_sql(rollup, first_week, last_week, end_day) %}
  {{ return(adapter.dispatch('raw_changed_since_built_sql', 'pypi_trends')(rollup, first_week, last_week, end_day)) }}
{% endmacro %}

{% macro default__raw_changed_since_built_sql(rollup, first_week, last_week, end_day) %}
  {#- The sample's day files: their modification times (read_blob reads no content
      when only metadata columns are selected); the rollup: the run that wrote the
      week (loaded_at, the run's start, UTC). -#}
  {%- set raw_dir = env_var('PYPI_TRENDS_RAW_DIR', 'data/raw') -%}
  select
    (select strftime(max(last_modified::timestamp), '%Y-%m-%d %H:%M:%S')
     from read_blob('{{ raw_dir }}/file_downloads/date=*/*.parquet')
     where regexp_extract(filename, 'date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) >= '{{ first_week }}'
       and regexp_extract(filename, 'date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) < '{{ end_day }}') as raw_modified,
    (select strftime(min(loaded_at), '%Y-%m-%d %H:%M:%S') from {{ rollup }}
     where dimension = 'total' and week_start between {{ date_literal(first_week) }} and {{ date_literal(last_week) }}) as built_at
{% endmacro %}

{% macro bigquery__raw_changed_since_built_sql(rollup, first_week, last_week, end_day) %}
  {#- Partition metadata of both tables: the raw days' last writes, and the
      rollup's week partitions' (written by the run that built the week). -#}
  {%- set raw = raw_downloads_relation() -%}
  select
    (select format_timestamp('%Y-%m-%d %H:%M:%S', max(last_modified_time))
     from `{{ raw.database }}.{{ raw.schema }}.INFORMATION_SCHEMA.PARTITIONS`
     where table_name = '{{ raw.identifier }}'
       and partition_id >= '{{ first_week.strftime('%Y%m%d') }}'
       and partition_id < '{{ end_day.strftime('%Y%m%d') }}') as raw_modified,
    (select format_timestamp('%Y-%m-%d %H:%M:%S', min(last_modified_time))
     from `{{ rollup.database }}.{{ rollup.schema }}.INFORMATION_SCHEMA.PARTITIONS`
     where table_name = '{{ rollup.identifier }}'
       and partition_id >= '{{ first_week.strftime('%Y%m%d') }}'
       and partition_id <= '{{ last_week.strftime('%Y%m%d') }}') as built_at
{% endmacro %}
