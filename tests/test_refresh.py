"""The production refresh end to end: ``python -m exports pipeline`` with a real ``dbt build``.

On the tiny sample and a DuckDB warehouse (BigQuery cannot be reached here):
the first run builds and publishes, a re-run publishes nothing and keeps the
same build current, and a run whose dbt build has a failing data test exits
non-zero and leaves the previous release served.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.export import run_exporter
from tests.fixtures.warehouse import DBT_PROFILES_DIR, DBT_PROJECT_DIR

FIRST_BUILD = "refresh-1"


@dataclass(frozen=True)
class Refresh:
    """One pipeline setup (warehouse, dbt target, published file) and its first run."""

    root: Path
    raw_dir: Path
    first_stderr: str

    @property
    def db(self) -> Path:
        return self.root / "pypi_trends.sqlite"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def run(
        self, build_id: str, *extra: str, project_dir: Path = DBT_PROJECT_DIR
    ) -> tuple[int, str, str]:
        """Run the pipeline CLI (real dbt build, target ci); return (exit code, stderr, stdout)."""
        done = run_exporter(
            [
                "pipeline",
                "--warehouse",
                str(self.warehouse),
                "--target-dir",
                str(self.root / "target"),
                "--db",
                str(self.db),
                "--dbt-project-dir",
                str(project_dir),
                "--progress",
                "log",
                "--build-id",
                build_id,
                *extra,
            ],
            env={
                "PYPI_TRENDS_RAW_DIR": str(self.raw_dir),
                "DBT_PROFILES_DIR": str(DBT_PROFILES_DIR),
                "DBT_TARGET": "ci",
                "DBT_LOG_PATH": str(self.root / "dbt-logs"),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            },
            timeout=300,
        )
        return done.returncode, done.stderr, done.stdout


def summary(stderr: str) -> dict[str, str]:
    """The fields of the single ``pipeline_done`` / ``pipeline_failed`` line."""
    lines = [
        line for line in stderr.splitlines() if re.search(r"event=pipeline_(done|failed)", line)
    ]
    assert len(lines) == 1, stderr[-4000:]
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', lines[0])}


def current_build(db: Path) -> str:
    """The current file's build id, after checking it is an intact SQLite file."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return str(con.execute("SELECT value FROM _meta WHERE key = 'build_id'").fetchone()[0])
    finally:
        con.close()


def releases(refresh: Refresh) -> list[str]:
    return sorted(p.name for p in (refresh.root / "releases").iterdir())


@pytest.fixture(scope="module")
def refresh(tiny_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Refresh:
    """A pipeline set up on the tiny sample, after its first run."""
    setup = Refresh(tmp_path_factory.mktemp("refresh"), tiny_raw_dir, "")
    code, stderr, _ = setup.run(FIRST_BUILD)
    assert code == 0, stderr[-4000:]
    return Refresh(setup.root, setup.raw_dir, stderr)


def test_pipeline_builds_publishes_and_is_idempotent(refresh: Refresh) -> None:
    first = summary(refresh.first_stderr)
    with duckdb.connect(str(refresh.warehouse), read_only=True) as con:
        weeks = con.execute(
            "select count(distinct week_start), min(week_start), max(week_start)"
            " from pypi_downloads_weekly"
        ).fetchone()
    assert weeks is not None and weeks[0] > 1
    assert first["event"] == "pipeline_done" and first["exit_code"] == "0"
    assert first["published"] == FIRST_BUILD and current_build(refresh.db) == FIRST_BUILD
    # The first build covers every complete week of the sample.
    assert int(first["weeks_built"]) == weeks[0]
    assert first["weeks"] == f"{weeks[1]}..{weeks[2]}"
    with sqlite3.connect(f"file:{refresh.db}?mode=ro", uri=True) as con:
        exported = sum(int(n) for (n,) in con.execute("SELECT row_count FROM _tables").fetchall())
    assert int(first["rows"]) == exported > 0
    # DuckDB: no dry-run estimate, nothing billed.
    assert first["bytes_billed"] == "n/a" and first["bytes_estimated"] == "n/a"
    assert "event=bq_estimate" not in refresh.first_stderr
    before = releases(refresh)

    code, stderr, _ = refresh.run("refresh-2")
    again = summary(stderr)
    assert code == 0, stderr[-4000:]
    assert again["event"] == "pipeline_done" and again["published"] == "nothing new"
    assert "event=nothing_new" in stderr
    # The incremental re-run rebuilt the lookback window up to the same last week.
    assert 1 <= int(again["weeks_built"]) < int(first["weeks_built"])
    assert again["weeks"].endswith(f"..{weeks[2]}")
    assert current_build(refresh.db) == FIRST_BUILD and releases(refresh) == before


def test_failing_dbt_test_publishes_nothing(refresh: Refresh, tmp_path: Path) -> None:
    # The project's own tests stay as they are: a copy gets one extra singular
    # test that always returns a failing row.
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "tests" / "assert_injected_failure.sql").write_text("select 1 as failure\n")
    before = releases(refresh)

    # --even-if-unchanged: were the failure ignored, this run would publish.
    code, stderr, stdout = refresh.run("refresh-broken", "--even-if-unchanged", project_dir=project)

    assert code == 5, stderr[-4000:]
    assert "dbt build failed" in stderr
    # It failed for the injected test, not for anything else.
    assert "Failure in test assert_injected_failure" in stdout, stdout[-4000:]
    assert "ERROR=1" in stdout, stdout[-4000:]
    failed = summary(stderr)
    assert failed["event"] == "pipeline_failed" and failed["exit_code"] == "5"
    assert failed["published"] == "nothing new" and failed["rows"] == "0"
    assert current_build(refresh.db) == FIRST_BUILD
    assert releases(refresh) == before
    assert not list(refresh.root.rglob("*.tmp-*"))
