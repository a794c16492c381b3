"""Publication: crash safety, live readers, idempotence, pruning, refusals, dry runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from exports.killpoints import ENV_VAR, POINTS
from tests.fixtures.export import META_KEYS, Published, exporter_args, run_exporter
from tests.fixtures.warehouse import MARTS, REPO_ROOT, Warehouse

MART_TABLES_SQL = "SELECT table_name FROM _tables ORDER BY table_name"

# Kill points after which the new build must already be current (the symlink
# was swapped); before them the previous build must still be current.
NEW_IS_CURRENT_AFTER = {"after_swap", "after_parquet_published", "after_prune"}


def check_current(db: Path) -> str:
    """Assert the current file is complete and valid; return its build id."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        meta = dict(con.execute("SELECT key, value FROM _meta"))
        assert set(meta) >= META_KEYS and all(meta[k] for k in META_KEYS)
        assert con.execute("PRAGMA user_version").fetchone()[0] == int(meta["schema_version"])
        for (table,) in con.execute(MART_TABLES_SQL).fetchall():
            listed = con.execute(
                "SELECT row_count FROM _tables WHERE table_name = ?", (table,)
            ).fetchone()[0]
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == listed > 0
        return meta["build_id"]
    finally:
        con.close()


def table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute(MART_TABLES_SQL)]
        return {t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables} | {
            "_tables": con.execute("SELECT * FROM _tables ORDER BY table_name").fetchall(),
            "_columns": con.execute("SELECT * FROM _columns").fetchall(),
        }
    finally:
        con.close()


def assert_same_tables(path: Path, reference: Path) -> None:
    """Every table of ``path`` holds exactly the rows of ``reference``'s."""
    fresh, expected = table_contents(path), table_contents(reference)
    assert fresh.keys() == expected.keys()
    for table in expected:
        assert fresh[table] == expected[table], table


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name or p.name.endswith("-journal")]


def export_ok(warehouse: Warehouse, db: Path, *extra: str) -> None:
    done = run_exporter(exporter_args(warehouse, db, *extra))
    assert done.returncode == 0, done.stderr


def test_sigkill_at_every_step_leaves_a_valid_current_file(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    export_ok(warehouse, db, "--build-id", "base")
    previous = "base"
    for n, point in enumerate(POINTS):
        build = f"killed-{n}"
        done = run_exporter(exporter_args(warehouse, db, "--build-id", build), env={ENV_VAR: point})
        assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr)
        current = check_current(db)
        assert current == (build if point in NEW_IS_CURRENT_AFTER else previous), point
        previous = current
    # The next run cleans what the killed runs left behind and publishes.
    assert leftovers(tmp_path), "the kills left no temporary file: the cleanup is untested"
    export_ok(warehouse, db, "--build-id", "after-crashes")
    assert check_current(db) == "after-crashes"
    assert leftovers(tmp_path) == []


def test_reader_keeps_old_file_while_new_build_is_published(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    export_ok(warehouse, db, "--build-id", "old")
    old = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cursor = old.execute("SELECT * FROM package_versions_weekly")
        first = cursor.fetchmany(10)
        # --keep 1 also deletes the old release file while it is open.
        export_ok(warehouse, db, "--build-id", "new", "--keep", "1")
        assert not (tmp_path / "releases" / "pypi_trends-old.sqlite").exists()
        rest = cursor.fetchall()
        assert (
            len(first) + len(rest)
            == old.execute("SELECT count(*) FROM package_versions_weekly").fetchone()[0]
        )
        assert old.execute("SELECT value FROM _meta WHERE key = 'build_id'").fetchone()[0] == "old"
        assert old.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        old.close()
    fresh = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert (
            fresh.execute("SELECT value FROM _meta WHERE key = 'build_id'").fetchone()[0] == "new"
        )
    finally:
        fresh.close()


def test_exporting_twice_gives_identical_tables(
    published_export: Published, tmp_path: Path
) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    export_ok(published_export.warehouse, db, "--build-id", "again")
    first, second = table_contents(published_export.release), table_contents(db.resolve())
    # Every mart, _tables and _columns, none empty.
    assert len(first) == len(MARTS) + 2 and all(first.values())
    assert first == second


def test_keeps_the_last_n_releases(warehouse: Warehouse, tmp_path: Path) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    for build in ("b1", "b2", "b3", "b4"):
        export_ok(warehouse, db, "--build-id", build, "--keep", "2")
    names = sorted(p.name for p in (tmp_path / "releases").glob("*.sqlite"))
    assert names == ["pypi_trends-b3.sqlite", "pypi_trends-b4.sqlite"]
    assert check_current(db) == "b4"
    # The same build id twice is refused, the current file stays.
    done = run_exporter(exporter_args(warehouse, db, "--build-id", "b4"))
    assert done.returncode == 1 and "already exists" in done.stderr
    assert check_current(db) == "b4"


def test_refuses_when_the_last_dbt_run_failed(warehouse: Warehouse, tmp_path: Path) -> None:
    target = tmp_path / "target"
    shutil.copytree(warehouse.target_dir, target, ignore=shutil.ignore_patterns("logs"))
    results = json.loads((target / "run_results.json").read_text())
    failing = next(r for r in results["results"] if r["unique_id"].startswith("test."))
    failing["status"] = "fail"
    (target / "run_results.json").write_text(json.dumps(results))
    db = tmp_path / "out" / "pypi_trends.sqlite"
    args = [
        a if a != str(warehouse.target_dir) else str(target) for a in exporter_args(warehouse, db)
    ]

    refused = run_exporter(args)
    assert refused.returncode == 3
    assert "failed test" in refused.stderr and failing["unique_id"] in refused.stderr
    assert not db.exists() and not db.is_symlink()

    forced = run_exporter([*args, "--force", "--build-id", "forced"])
    assert forced.returncode == 0, forced.stderr
    assert check_current(db) == "forced"


def test_dry_run_writes_nothing(warehouse: Warehouse, tmp_path: Path) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    done = run_exporter(exporter_args(warehouse, db, "--dry-run"))
    assert done.returncode == 0, done.stderr
    assert "would_export" in done.stderr and "table=package_downloads_weekly" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message", "status"),
    [
        ({"--target-dir": "missing"}, "manifest.json not found", 1),
        ({"--warehouse": "missing.duckdb"}, "warehouse", 1),
        # A usage error: exit 2, like argparse's own.
        ({"--build-id": "../evil"}, "invalid build id", 2),
        ({"--db": "file.txt/pypi_trends.sqlite"}, "file.txt is not a directory", 2),
        ({"--releases-dir": "file.txt/releases"}, "--releases-dir:", 2),
        ({"--threads": "0"}, "--threads must be at least 1", 2),
        ({"--accept-shrink": " "}, "--accept-shrink needs a reason", 2),
        ({"--shrink-bounds": "packages=2"}, "--shrink-bounds: bound packages=2 out of range", 2),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(
    warehouse: Warehouse, tmp_path: Path, change: dict[str, str], message: str, status: int
) -> None:
    (tmp_path / "file.txt").write_text("not a directory")
    db = tmp_path / "out" / "pypi_trends.sqlite"
    args = exporter_args(warehouse, db)
    for option, value in change.items():
        if option in ("--target-dir", "--warehouse", "--db", "--releases-dir"):
            value = str(tmp_path / value)
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    done = run_exporter(args)
    assert done.returncode == status, done.stderr
    assert done.stderr.startswith("error: ") or "\nerror: " in done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists() and not db.is_symlink()
    assert leftovers(tmp_path) == []


def test_help_lists_the_options() -> None:
    done = run_exporter(["export", "--help"])
    assert done.returncode == 0
    for option in (
        "--warehouse",
        "--target-dir",
        "--source",
        "--db",
        "--keep",
        "--force",
        "--dry-run",
    ):
        assert option in done.stdout


def test_pipeline_publishes_only_when_a_new_week_is_complete(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    args = exporter_args(warehouse, db)
    args[0] = "pipeline"
    first = run_exporter([*args, "--skip-dbt", "--build-id", "p1"])
    assert first.returncode == 0, first.stderr
    assert check_current(db) == "p1"
    again = run_exporter([*args, "--skip-dbt", "--build-id", "p2"])
    assert again.returncode == 0, again.stderr
    assert "nothing_new" in again.stderr and check_current(db) == "p1"
    forced = run_exporter([*args, "--skip-dbt", "--build-id", "p3", "--even-if-unchanged"])
    assert forced.returncode == 0, forced.stderr
    assert check_current(db) == "p3"


def test_cleanup_removes_only_the_exporters_own_temporaries(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    (tmp_path / "releases").mkdir()
    (tmp_path / "parquet").mkdir()
    mine = [
        tmp_path / "releases" / ".pypi_trends-dead.sqlite.tmp-999999",
        tmp_path / "releases" / ".pypi_trends-dead.sqlite.tmp-999999-journal",
        tmp_path / ".pypi_trends.sqlite.tmp-999999",
        tmp_path / "parquet" / ".staging.tmp-999999",
    ]
    foreign = [tmp_path / ".raw.tmp-999999", tmp_path / "releases" / ".other.tmp-999999"]
    for path in mine + foreign:
        path.write_text("left over")
    export_ok(warehouse, db, "--build-id", "clean")
    assert [p for p in mine if p.exists()] == []
    assert all(p.read_text() == "left over" for p in foreign)


def test_a_mart_that_does_not_sort_in_the_memory_cap_is_retried_with_a_larger_cap(
    warehouse: Warehouse, published_export: Published, tmp_path: Path
) -> None:
    # A cap far below what any sort needs forces the retry path on every mart
    # that is not already stored in key order.
    db = tmp_path / "pypi_trends.sqlite"
    done = run_exporter(
        exporter_args(
            warehouse, db, "--build-id", published_export.build_id, "--memory-limit", "1MB"
        )
    )
    assert done.returncode == 0, done.stderr
    assert "memory_limit_raised" in done.stderr
    assert check_current(db) == published_export.build_id
    assert_same_tables(db, published_export.release)


def run_patched_exporter(patch: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The exporter in a child whose ``exports.writer`` (``w``) ``patch`` changed first."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYPI_TRENDS_", "DBT_"))}
    code = (
        f"import sys; import exports.writer as w\n{patch}\n"
        "from exports.cli import main; raise SystemExit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_presorted_mart_that_does_not_stream_in_the_small_cap_is_loaded_again(
    warehouse: Warehouse, published_export: Published, tmp_path: Path
) -> None:
    # The streaming cap is shrunk below what a load needs (in the exporter's own
    # process): every presorted mart fails under it and is loaded again, whole.
    db = tmp_path / "pypi_trends.sqlite"
    args = exporter_args(warehouse, db, "--build-id", published_export.build_id)
    done = run_patched_exporter("w.STREAM_MEMORY_LIMIT_BYTES = 1 << 16", args)
    assert done.returncode == 0, done.stderr
    assert "stream_cap_exceeded" in done.stderr
    assert "path=presorted" in done.stderr
    assert check_current(db) == published_export.build_id
    assert_same_tables(db, published_export.release)


def test_a_parquet_copy_that_ran_out_of_memory_beside_the_loads_is_done_again(
    warehouse: Warehouse, published_export: Published, tmp_path: Path
) -> None:
    # Every queued Parquet copy reports "out of memory" (as one does when it
    # runs beside a load under the streaming cap): wait_parquet must copy each
    # again while the warehouse (and the mart's own attachment) is still attached,
    # and publish.
    db = tmp_path / "pypi_trends.sqlite"
    patch = (
        "def out_of_memory(cur, sql, dest, reporter, release):\n"
        "    cur.close()\n"
        "    return -1, 0.0\n"
        "w._copy_whole = out_of_memory\n"
        # The tiny marts are queued too (they are copied at once otherwise).
        "w.SYNC_COPY_ROWS = 0"
    )
    args = exporter_args(warehouse, db, "--build-id", published_export.build_id)
    done = run_patched_exporter(patch, args)
    assert done.returncode == 0, done.stderr
    assert check_current(db) == published_export.build_id
    lite = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    counts = dict(lite.execute("SELECT table_name, row_count FROM _tables").fetchall())
    lite.close()
    duck = duckdb.connect()
    for table, expected in counts.items():
        files = str(db.parent / "parquet" / table / "*.parquet")
        got = duck.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()
        assert got is not None and got[0] == expected, table
