"""The production refresh (``python -m exports pipeline``): estimate, dbt build, export, publish.

One run ends with exactly one summary log line, ``event=pipeline_done`` or
``event=pipeline_failed``, carrying the weeks dbt built, the rows exported,
the bytes BigQuery billed, the duration, the published build id (or
``nothing new``) and the exit code.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from exports.bigquery_cost import (
    DryRunClient,
    bigquery_client,
    check_byte_limit,
    compile_rollup,
    maximum_bytes_billed,
)
from exports.errors import ExportError
from exports.pipeline import ExportOptions, ExportResult, run_export
from exports.report import Reporter

#: Logged by the dbt macro ``download_window`` when the rollup is compiled.
WINDOW_RE = re.compile(r"download window: weeks (\d{4}-\d{2}-\d{2}) \.\. (\d{4}-\d{2}-\d{2})")


class DbtBuildError(ExportError):
    """``dbt build`` failed (a model or a data test): nothing was exported."""

    exit_code = 5


@dataclass(frozen=True)
class RefreshConfig:
    """What the pipeline needs beyond the export options.

    Attributes:
        project_dir: the dbt project.
        warehouse: the DuckDB warehouse dbt builds (ignored by BigQuery).
        run_dbt: False with ``--skip-dbt`` or ``--dry-run``.
        bq_project: BigQuery project for the dry-run client.
        bq_location: BigQuery location for the dry-run client.
    """

    project_dir: Path
    warehouse: Path
    run_dbt: bool = True
    bq_project: str | None = None
    bq_location: str | None = None


@dataclass
class DbtOutcome:
    """What ``dbt build`` reported."""

    first_week: date | None = None
    last_week: date | None = None
    bytes_billed: int | None = None

    @property
    def weeks(self) -> int:
        """Complete weeks in the built window (0 when unknown)."""
        if self.first_week is None or self.last_week is None:
            return 0
        return (self.last_week - self.first_week).days // 7 + 1


def is_prod(env: Mapping[str, str]) -> bool:
    """True when dbt builds on BigQuery (target ``prod``)."""
    return env.get("DBT_TARGET", "") == "prod"


def dbt_base_command(config: RefreshConfig, target_dir: Path, env: Mapping[str, str]) -> list[str]:
    """The dbt executable and the options shared by ``compile`` and ``build``."""
    cmd = [
        str(Path(sys.executable).parent / "dbt"),
        "--project-dir",
        str(config.project_dir),
        "--target-path",
        str(target_dir.resolve()),
    ]
    if "DBT_PROFILES_DIR" not in env:
        cmd += ["--profiles-dir", "profiles"]
    return cmd


def dbt_env(config: RefreshConfig, env: Mapping[str, str]) -> dict[str, str]:
    """Environment for dbt: the DuckDB profiles read the warehouse path from it."""
    return {**env, "PYPI_TRENDS_WAREHOUSE": str(config.warehouse)}


def preflight(
    env: Mapping[str, str],
    compile_sql: Callable[[], str],
    make_client: Callable[[], DryRunClient],
    reporter: Reporter,
) -> int | None:
    """On BigQuery, refuse before ``dbt build`` when the rollup would exceed the byte limit.

    Args:
        env: the environment (``DBT_TARGET``, ``PYPI_TRENDS_BQ_MAXIMUM_BYTES_BILLED``).
        compile_sql: returns the rollup's compiled SQL (``dbt compile``).
        make_client: returns a BigQuery client (a fake one in tests).
        reporter: receives the ``bq_estimate`` event.

    Returns:
        The estimated bytes, or None on DuckDB (nothing is estimated or billed).

    Raises:
        ByteLimitError: the estimate is above the limit.
        ExportError: the compile or the dry run failed.
    """
    if not is_prod(env):
        return None
    limit = maximum_bytes_billed(env)
    estimate = check_byte_limit(make_client(), compile_sql(), limit)
    reporter.event("bq_estimate", bytes=estimate.bytes_processed, limit=limit)
    return estimate.bytes_processed


def bytes_billed(target_dir: Path) -> int | None:
    """Sum of ``adapter_response.bytes_billed`` in ``run_results.json`` (None if none reported)."""
    try:
        results = json.loads((target_dir / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    values = [
        int(r["adapter_response"]["bytes_billed"])
        for r in results
        if isinstance(r.get("adapter_response"), dict)
        and r["adapter_response"].get("bytes_billed") is not None
    ]
    return sum(values) if values else None


def run_dbt_build(config: RefreshConfig, target_dir: Path, env: Mapping[str, str]) -> DbtOutcome:
    """Run ``dbt build``, echoing its output to stdout, and read what it built.

    Raises:
        DbtBuildError: dbt exited non-zero (a failed model or data test).
    """
    cmd = dbt_base_command(config, target_dir, env)
    cmd.insert(1, "build")
    outcome = DbtOutcome()
    with subprocess.Popen(
        cmd,
        env=dbt_env(config, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            match = WINDOW_RE.search(line)
            if match:
                # The last window logged is the one the rollup ran with.
                outcome.first_week = date.fromisoformat(match.group(1))
                outcome.last_week = date.fromisoformat(match.group(2))
        sys.stdout.flush()
    outcome.bytes_billed = bytes_billed(target_dir)
    if proc.returncode != 0:
        raise DbtBuildError(
            f"dbt build failed (exit {proc.returncode}): nothing exported, the current"
            " release stays published (see the dbt log above)"
        )
    return outcome


def _compile_rollup(config: RefreshConfig, env: Mapping[str, str]) -> str:
    # A target path of its own: the compile must not replace the last build's
    # run_results.json, which tells ``export`` whether that build had failures.
    with tempfile.TemporaryDirectory(prefix="pypi-trends-estimate-") as tmp:
        base = dbt_base_command(config, Path(tmp), env)
        return compile_rollup(base, Path(tmp), dbt_env(config, env))


def _summary(
    reporter: Reporter,
    started: float,
    exit_code: int,
    outcome: DbtOutcome,
    result: ExportResult | None,
    estimate: int | None,
    error: str = "",
) -> None:
    fields: dict[str, Any] = {
        "exit_code": exit_code,
        "weeks_built": outcome.weeks,
        "weeks": (f"{outcome.first_week}..{outcome.last_week}" if outcome.first_week else "n/a"),
        "rows": sum(result.row_counts.values()) if result else 0,
        "bytes_billed": outcome.bytes_billed if outcome.bytes_billed is not None else "n/a",
        "bytes_estimated": estimate if estimate is not None else "n/a",
        "seconds": f"{time.monotonic() - started:.1f}",
        "published": (
            result.build_id if result is not None and result.release is not None else "nothing new"
        ),
    }
    if error:
        fields["error"] = error
    if exit_code == 0:
        reporter.event("pipeline_done", **fields)
    else:
        reporter.event("pipeline_failed", level=logging.ERROR, **fields)


def run_pipeline(
    opts: ExportOptions,
    config: RefreshConfig,
    env: Mapping[str, str],
    reporter: Reporter,
    make_client: Callable[[], DryRunClient] | None = None,
) -> ExportResult:
    """Byte estimate (BigQuery only), ``dbt build``, then export and publish if new.

    Always logs one summary line (``pipeline_done`` / ``pipeline_failed``).

    Raises:
        ExportError: any failure (its ``exit_code`` is the process's exit status);
            the current release is untouched.
    """
    started = time.monotonic()
    outcome = DbtOutcome()
    estimate: int | None = None
    result: ExportResult | None = None
    try:
        if config.run_dbt:
            estimate = preflight(
                env,
                lambda: _compile_rollup(config, env),
                make_client or (lambda: bigquery_client(config.bq_project, config.bq_location)),
                reporter,
            )
            outcome = run_dbt_build(config, opts.target_dir, env)
        result = run_export(opts, reporter)
    except ExportError as exc:
        first_line = (str(exc).splitlines() or [""])[0]
        _summary(reporter, started, exc.exit_code, outcome, result, estimate, first_line)
        raise
    except KeyboardInterrupt:
        _summary(reporter, started, 130, outcome, result, estimate, "interrupted")
        raise
    _summary(reporter, started, 0, outcome, result, estimate)
    return result
