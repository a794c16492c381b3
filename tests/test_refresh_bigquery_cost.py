"""The BigQuery byte budget: the decision logic, with an in-process fake client.

BigQuery cannot be reached here, so the dry run itself has never run against
real BigQuery: these tests cover what the pipeline decides from its answer.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from exports.bigquery_cost import (
    LIMIT_ENV,
    ByteLimitError,
    compile_rollup,
    estimate_bytes,
    maximum_bytes_billed,
)
from exports.errors import ExportError
from exports.refresh import bytes_billed, preflight
from exports.report import Reporter
from tests.fixtures.export import run_exporter
from tests.fixtures.warehouse import DBT_EXECUTABLE, DBT_PROFILES_DIR, DBT_PROJECT_DIR

ROLLUP_SQL = "select week_start, count(*) from `bigquery-public-data.pypi.file_downloads`"


class FakeClient:
    """Answers ``query`` like a BigQuery client answering a dry run."""

    def __init__(self, total_bytes: int | None, error: Exception | None = None) -> None:
        self.total_bytes = total_bytes
        self.error = error
        self.calls: list[tuple[str, Any]] = []

    def query(self, query: str, job_config: Any = None) -> Any:
        self.calls.append((query, job_config))
        if self.error is not None:
            raise self.error
        return SimpleNamespace(total_bytes_processed=self.total_bytes)


def never(*_: object) -> Any:
    raise AssertionError("must not be called")


def prod(limit: int | None = None) -> dict[str, str]:
    env = {"DBT_TARGET": "prod"}
    if limit is not None:
        env[LIMIT_ENV] = str(limit)
    return env


def test_estimate_within_the_limit_lets_dbt_run() -> None:
    client = FakeClient(1_000)
    assert preflight(prod(1_000), lambda: ROLLUP_SQL, lambda: client, Reporter(False)) == 1_000
    [(sql, config)] = client.calls
    assert sql == ROLLUP_SQL
    assert config.dry_run is True and config.use_query_cache is False


def test_estimate_above_the_limit_fails_before_dbt() -> None:
    client = FakeClient(1_001)
    with pytest.raises(ByteLimitError) as raised:
        preflight(prod(1_000), lambda: ROLLUP_SQL, lambda: client, Reporter(False))
    assert raised.value.exit_code == 4
    assert "1,001 bytes" in str(raised.value) and "1,000" in str(raised.value)


def test_default_limit_is_the_profiles_default() -> None:
    profiles = (DBT_PROFILES_DIR / "profiles.yml").read_text()
    match = re.search(rf"env_var\('{LIMIT_ENV}', '(\d+)'\)", profiles)
    assert match is not None
    assert maximum_bytes_billed({}) == int(match.group(1))
    too_big = FakeClient(int(match.group(1)) + 1)
    with pytest.raises(ByteLimitError):
        preflight(prod(), lambda: ROLLUP_SQL, lambda: too_big, Reporter(False))


@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_a_bad_limit_is_an_error(value: str) -> None:
    with pytest.raises(ExportError, match=LIMIT_ENV):
        maximum_bytes_billed({LIMIT_ENV: value})


@pytest.mark.parametrize("env", [{}, {"DBT_TARGET": "dev"}, {"DBT_TARGET": "ci"}])
def test_duckdb_targets_skip_the_estimate(env: dict[str, str]) -> None:
    assert preflight(env, never, never, Reporter(False)) is None


def test_a_failing_dry_run_is_an_error_not_a_pass() -> None:
    client = FakeClient(None, error=RuntimeError("403 access denied"))
    with pytest.raises(ExportError, match="403 access denied"):
        estimate_bytes(client, ROLLUP_SQL)
    with pytest.raises(ExportError, match="no byte estimate"):
        estimate_bytes(FakeClient(None), ROLLUP_SQL)


def test_bytes_billed_sums_the_run_results(tmp_path: Path) -> None:
    results = [
        {"adapter_response": {"bytes_billed": 10_485_760, "bytes_processed": 9_000_000}},
        {"adapter_response": {"bytes_billed": 20_971_520}},
        {"adapter_response": {"_message": "OK"}},
        {"adapter_response": {}},
    ]
    (tmp_path / "run_results.json").write_text(json.dumps({"results": results}))
    assert bytes_billed(tmp_path) == 31_457_280
    # DuckDB's run results carry no bytes: "n/a", not 0.
    (tmp_path / "run_results.json").write_text(json.dumps({"results": results[2:]}))
    assert bytes_billed(tmp_path) is None
    assert bytes_billed(tmp_path / "missing") is None


def test_prod_pipeline_without_credentials_fails_before_dbt(tmp_path: Path) -> None:
    # The real CLI on target prod, offline: the estimate cannot get a client,
    # so the run fails loudly and dbt never starts (no run_results.json).
    target = tmp_path / "target"
    done = run_exporter(
        [
            "pipeline",
            "--target-dir",
            str(target),
            "--db",
            str(tmp_path / "pypi_trends.sqlite"),
            "--progress",
            "log",
        ],
        env={
            "DBT_TARGET": "prod",
            "PYPI_TRENDS_BQ_PROJECT": "offline-project",
            "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing-keyfile.json"),
        },
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "error: cannot create a BigQuery client for the byte estimate" in done.stderr
    assert "event=pipeline_failed" in done.stderr and "exit_code=1" in done.stderr
    assert not (target / "run_results.json").exists()
    assert not (tmp_path / "pypi_trends.sqlite").exists()


def test_compile_rollup_returns_the_rollup_select(tiny_raw_dir: Path, tmp_path: Path) -> None:
    # Target prod needs BigQuery; the same command on target ci proves the
    # command line and where the compiled SQL is found.
    base = [
        str(DBT_EXECUTABLE),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(tmp_path / "target"),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
    ]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYPI_TRENDS_", "DBT_"))},
        "PYPI_TRENDS_RAW_DIR": str(tiny_raw_dir),
        "PYPI_TRENDS_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    sql = compile_rollup(base, tmp_path / "target", env, target="ci")
    assert sql.lstrip().lower().startswith(("with", "select", "--", "/*")), sql[:200]
    assert "file_downloads" in sql and "week_start" in sql
    assert "{{" not in sql and "{%" not in sql
    with pytest.raises(ExportError, match="dbt compile"):
        compile_rollup([*base[:-1], str(tmp_path / "no-profiles")], tmp_path / "t2", env, "ci")
