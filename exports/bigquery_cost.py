"""BigQuery byte budget: estimate the rollup's scan with a dry run before ``dbt build``.

dbt's ``maximum_bytes_billed`` stops a single query above the limit, but only
after the build has started and left the marts half-refreshed. The pipeline
therefore compiles the one expensive model (the weekly rollup over the raw
downloads), asks BigQuery for a dry-run estimate of its bytes, and refuses to
run dbt at all when the estimate is above the same limit.

Never run against real BigQuery from this repository's tests (it cannot be
reached here): the decision logic is tested with an in-process fake client.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from exports.errors import ExportError

#: The rollup model whose compiled SELECT is estimated (it scans the raw table).
ROLLUP_MODEL = "int_downloads_rolled_up_weekly"
#: Same default as ``maximum_bytes_billed`` in profiles/profiles.yml (8 TB): the
#: rollup of one week plus a rescanned lookback week fits with a margin
#: (``cost_report``; ``make bench-scale`` prints it).
DEFAULT_MAXIMUM_BYTES_BILLED = 8_000_000_000_000
LIMIT_ENV = "PYPI_TRENDS_BQ_MAXIMUM_BYTES_BILLED"


class ByteLimitError(ExportError):
    """The dry-run estimate is above the byte limit: dbt was not run."""

    exit_code = 4


class DryRunClient(Protocol):
    """The part of ``google.cloud.bigquery.Client`` the estimate uses."""

    def query(self, query: str, job_config: Any = ...) -> Any:  # pragma: no cover - protocol
        """Start a query job (a dry run here); the job has ``total_bytes_processed``."""
        ...


@dataclass(frozen=True)
class Estimate:
    """A dry-run estimate against the limit."""

    bytes_processed: int
    limit: int

    @property
    def within_limit(self) -> bool:
        """True when the estimate does not exceed the limit."""
        return self.bytes_processed <= self.limit


def maximum_bytes_billed(env: Mapping[str, str]) -> int:
    """The byte limit from ``PYPI_TRENDS_BQ_MAXIMUM_BYTES_BILLED`` (default 8 TB).

    Raises:
        ExportError: when the variable is set but not a positive integer.
    """
    raw = env.get(LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_MAXIMUM_BYTES_BILLED
    try:
        value = int(raw)
    except ValueError:
        raise ExportError(f"{LIMIT_ENV}={raw!r} is not an integer number of bytes") from None
    if value <= 0:
        raise ExportError(f"{LIMIT_ENV} must be positive, got {value}")
    return value


def estimate_bytes(client: DryRunClient, sql: str) -> int:
    """Bytes BigQuery would process for ``sql`` (a dry run: nothing is billed or cached).

    Raises:
        ExportError: when the dry run fails (bad SQL, no credentials, no access).
    """
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
    try:
        job = client.query(sql, job_config=config)
    except Exception as exc:  # the client raises many google.api_core error types
        raise ExportError(f"BigQuery dry run of {ROLLUP_MODEL} failed: {exc}") from None
    value = getattr(job, "total_bytes_processed", None)
    if value is None:
        raise ExportError(f"BigQuery dry run of {ROLLUP_MODEL} returned no byte estimate")
    return int(value)


def check_byte_limit(client: DryRunClient, sql: str, limit: int) -> Estimate:
    """Estimate ``sql`` and refuse when it would process more than ``limit`` bytes.

    Raises:
        ByteLimitError: the estimate is above ``limit``.
        ExportError: the dry run itself failed.
    """
    estimate = Estimate(estimate_bytes(client, sql), limit)
    if not estimate.within_limit:
        raise ByteLimitError(
            f"BigQuery byte limit would be exceeded: {ROLLUP_MODEL} would process"
            f" {estimate.bytes_processed:,} bytes > {LIMIT_ENV}={limit:,}; dbt was not run"
            " and the current release stays published (raise the limit or narrow the window"
            " with --vars start_week/end_week)"
        )
    return estimate


def compile_rollup(
    dbt_base: Sequence[str], target_dir: Path, env: Mapping[str, str], target: str = "prod"
) -> str:
    """Compile the rollup for ``target`` (``prod`` in the pipeline) and return its SQL.

    Args:
        dbt_base: the dbt executable and the options shared with ``dbt build``
            (``--project-dir``, ``--target-path``, ``--profiles-dir``).
        target_dir: dbt's target path, where ``compiled/`` is written.
        env: the environment dbt runs with.
        target: the dbt profile target.

    Raises:
        ExportError: dbt compile failed or wrote no SQL for the rollup.
    """
    # Only the model: its data tests would otherwise be compiled too, and some
    # query the rollup table at compile time (absent before the first build).
    cmd = [
        dbt_base[0],
        "compile",
        *dbt_base[1:],
        "--select",
        ROLLUP_MODEL,
        "--indirect-selection",
        "empty",
        "--target",
        target,
    ]
    done = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ExportError(
            f"dbt compile of {ROLLUP_MODEL} for the byte estimate failed:\n"
            f"{done.stdout[-4000:]}{done.stderr[-2000:]}"
        )
    found = sorted(target_dir.glob(f"compiled/*/models/**/{ROLLUP_MODEL}.sql"))
    if not found:
        raise ExportError(f"dbt compile wrote no {ROLLUP_MODEL}.sql under {target_dir}/compiled")
    return found[0].read_text()


def bigquery_client(project: str | None, location: str | None) -> DryRunClient:
    """A real BigQuery client (application default credentials).

    Raises:
        ExportError: no credentials or a bad configuration.
    """
    from google.cloud import bigquery

    try:
        client: DryRunClient = bigquery.Client(project=project, location=location)
    except Exception as exc:  # google.auth and google.api_core raise many error types
        raise ExportError(f"cannot create a BigQuery client for the byte estimate: {exc}") from None
    return client


# --- Static estimate of what a run bills (no BigQuery needed) -------------------------
#
# BigQuery bills the stored size of every column a query references, over the
# partitions it scans: STRING 2 bytes + UTF-8 length, TIMESTAMP 8, BOOL 1, NULL
# 0, a nested field by its leaves. The rollup reads exactly the leaves below
# (dbt/models/staging/pypi/stg_pypi__file_downloads.sql).


@dataclass(frozen=True)
class RawColumn:
    """One leaf of ``file_downloads`` the rollup reads, and its billed bytes per row."""

    name: str
    bytes_per_row: float
    #: Read only for days before this one (None: every day).
    read_before: date | None = None


#: PyPI stopped logging requests for non-distribution files (the ``.metadata``
#: files) from this day: the file-name test cannot change a result after it.
METADATA_LOGGED_UNTIL = date(2026, 8, 24)

#: Mean billed bytes per row of each leaf: BigQuery's sizes applied to the
#: value lengths (and NULL shares) of the calibrated sample (``make sample``,
#: demo scale, 20.2M rows); ``bench/scale_bench.py`` prints them again.
ROLLUP_COLUMNS: tuple[RawColumn, ...] = (
    RawColumn("timestamp", 8.0),
    RawColumn("project", 12.72),
    RawColumn("country_code", 3.98),
    RawColumn("file.filename", 42.26, read_before=METADATA_LOGGED_UNTIL),
    RawColumn("file.project", 12.72),
    RawColumn("file.version", 7.33),
    RawColumn("file.type", 12.32),
    RawColumn("details.installer.name", 5.15),
    RawColumn("details.python", 8.13),
    RawColumn("details.system.name", 6.89),
    RawColumn("details.ci", 0.23),
)

#: What the data test assert_marts_reconcile_with_raw_downloads reads over the
#: same weeks (it counts raw rows per week, independently of the rollup).
TEST_COLUMNS: tuple[RawColumn, ...] = (RawColumn("timestamp (reconciliation test)", 8.0),)

#: PyPI's published rows per day before METADATA_LOGGED_UNTIL.
ROWS_PER_WEEKEND_DAY = 4.5e9
ROWS_PER_MIDWEEK_DAY = 7.0e9
#: Rows still logged after METADATA_LOGGED_UNTIL: the published figures minus
#: the ``.metadata`` requests, 5.82% of the calibrated sample's rows before it.
ROWS_KEPT_AFTER_CUTOFF = 1 - 0.0582
#: On-demand price, dollars per TiB billed.
DOLLARS_PER_TIB = 6.25
TIB = 1 << 40


def rows_on(day: date) -> float:
    """Rows PyPI logs on ``day`` (weekend or midweek; fewer after the cutoff)."""
    rows = ROWS_PER_WEEKEND_DAY if day.weekday() >= 5 else ROWS_PER_MIDWEEK_DAY
    return rows * (ROWS_KEPT_AFTER_CUTOFF if day >= METADATA_LOGGED_UNTIL else 1.0)


def billed_bytes(
    days: Sequence[date], columns: Sequence[RawColumn] = ROLLUP_COLUMNS
) -> dict[str, float]:
    """Bytes billed per column for a scan of ``days`` (each day one partition)."""
    return {
        c.name: sum(
            rows_on(d) * c.bytes_per_row for d in days if c.read_before is None or d < c.read_before
        )
        for c in columns
    }


def week_days(first_week: date, weeks: int) -> list[date]:
    """The days of ``weeks`` ISO weeks starting on the Monday ``first_week``."""
    return [first_week + timedelta(days=i) for i in range(7 * weeks)]


def _summary(days: Sequence[date], columns: Sequence[RawColumn], limit: int) -> dict[str, Any]:
    """Bytes and dollars of a run over ``days``.

    The rollup query is the one the byte limit (per query) applies to; the run
    is the whole ``dbt build`` (the reconciliation test included).
    """
    rollup = sum(billed_bytes(days, [c for c in columns if c in ROLLUP_COLUMNS]).values())
    total = sum(billed_bytes(days, columns).values())
    return {
        "first_day": days[0].isoformat(),
        "days": len(days),
        "rollup_query_bytes": round(rollup),
        "rollup_query_within_limit": rollup <= limit,
        "limit_margin": round(1 - rollup / limit, 3),
        "run_bytes": round(total),
        "run_dollars": round(total / TIB * DOLLARS_PER_TIB, 2),
    }


def cost_report(
    newest_week: date = date(2026, 11, 23),
    lookback_weeks: int = 1,
    history_weeks: int = 104,
    limit: int = DEFAULT_MAXIMUM_BYTES_BILLED,
    columns: Sequence[RawColumn] = ROLLUP_COLUMNS + TEST_COLUMNS,
) -> dict[str, Any]:
    """What a weekly run and the first build bill, column by column.

    A weekly run scans the new week; the ``lookback_weeks`` before it only
    when late rows reached their raw days after they were built (dbt's
    download window checks partition times), so both cases are given. The
    first build scans the ``history_weeks`` weeks ending with ``newest_week``.
    The default columns are the rollup's and the reconciliation test's (``dbt
    build`` runs both over the same weeks).
    """
    weekly_days = week_days(newest_week, 1)
    late_days = week_days(newest_week - timedelta(weeks=lookback_weeks), 1 + lookback_weeks)
    first_days = week_days(newest_week - timedelta(weeks=history_weeks - 1), history_weeks)
    weekly = billed_bytes(weekly_days, columns)
    first = billed_bytes(first_days, columns)
    weekly_total, first_total = sum(weekly.values()), sum(first.values())
    table = [
        {
            "column": c.name,
            "bytes_per_row": c.bytes_per_row,
            "read_before": c.read_before.isoformat() if c.read_before else None,
            "share_weekly": round(weekly[c.name] / weekly_total, 4) if weekly_total else 0.0,
            "share_first_build": round(first[c.name] / first_total, 4) if first_total else 0.0,
            "dollars_weekly_run": round(weekly[c.name] / TIB * DOLLARS_PER_TIB, 2),
            "dollars_first_build": round(first[c.name] / TIB * DOLLARS_PER_TIB, 2),
        }
        for c in columns
    ]
    first_build = _summary(first_days, columns, limit)
    rollup_first = first_build["rollup_query_bytes"]
    return {
        "method": "BigQuery storage sizes (STRING 2 + UTF-8 length, TIMESTAMP 8, BOOL 1, NULL 0,"
        " nested fields by leaves) of exactly the leaves the rollup reads, times the"
        " calibrated sample's mean value lengths, times PyPI's published rows per day"
        f" ({ROWS_PER_WEEKEND_DAY:.3g} weekend, {ROWS_PER_MIDWEEK_DAY:.3g} midweek; x"
        f"{ROWS_KEPT_AFTER_CUTOFF} from {METADATA_LOGGED_UNTIL}, without the .metadata requests"
        f" PyPI stopped logging); ${DOLLARS_PER_TIB}/TiB on demand",
        "maximum_bytes_billed": limit,
        "columns": table,
        "summary": {
            "weekly_run": _summary(weekly_days, columns, limit),
            "weekly_run_with_late_rows": _summary(late_days, columns, limit),
            "first_build": {
                **first_build,
                # Backfilled in windows (--vars start_week/end_week) under the limit.
                "windows_under_limit": -(-rollup_first // limit),
            },
        },
    }
