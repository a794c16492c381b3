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
from pathlib import Path
from typing import Any, Protocol

from exports.errors import ExportError

#: The rollup model whose compiled SELECT is estimated (it scans the raw table).
ROLLUP_MODEL = "int_downloads_rolled_up_weekly"
#: Same default as ``maximum_bytes_billed`` in profiles/profiles.yml (2 TB).
DEFAULT_MAXIMUM_BYTES_BILLED = 2_000_000_000_000
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
    """The byte limit from ``PYPI_TRENDS_BQ_MAXIMUM_BYTES_BILLED`` (default 2 TB).

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
