"""Provenance and shrink guards: the exporter refuses marts no test vouches for, and files
that lost data against the current release (issue #16's probes, reproduced on copies)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import duckdb

from tests.fixtures.export import exporter_args, run_exporter
from tests.fixtures.warehouse import Warehouse, run_dbt


def _copy(warehouse: Warehouse, root: Path) -> Warehouse:
    """A private copy of the warehouse and its dbt target directory."""
    root.mkdir(parents=True, exist_ok=True)
    copy = dataclasses.replace(
        warehouse, path=root / "warehouse.duckdb", target_dir=root / "target"
    )
    shutil.copyfile(warehouse.path, copy.path)
    shutil.copytree(warehouse.target_dir, copy.target_dir, ignore=shutil.ignore_patterns("logs"))
    return copy


def _meta(db: Path) -> dict[str, str]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT key, value FROM _meta").fetchall())
    finally:
        con.close()


def _dbt(copy: Warehouse, *args: str, check: bool = True) -> int:
    done = run_dbt(
        list(args),
        raw_dir=copy.raw_dir,
        warehouse=copy.path,
        target_dir=copy.target_dir,
        check=check,
    )
    return done.returncode


def test_a_compile_after_a_failed_test_does_not_open_the_gate(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    copy = _copy(warehouse, tmp_path / "wh")
    con = duckdb.connect(str(copy.path))
    try:
        # Two packages share rank 1: `packages`' unique test on rank fails.
        con.execute("UPDATE main.packages SET rank = 1 WHERE rank = 2")
    finally:
        con.close()
    assert _dbt(copy, "test", "--select", "packages", check=False) != 0
    db = tmp_path / "out" / "pypi_trends.sqlite"
    refused = run_exporter(exporter_args(copy, db))
    assert refused.returncode == 3, refused.stderr

    # `dbt compile` rewrites run_results.json with successes only ...
    _dbt(copy, "compile", "--select", "packages")
    results = json.loads((copy.target_dir / "run_results.json").read_text())["results"]
    assert results and all(r["status"] == "success" for r in results)
    # ... which the exporter used to read as a clean build.
    refused = run_exporter(exporter_args(copy, db))
    assert refused.returncode == 3, refused.stderr
    assert "test.pypi_trends.unique_packages_rank" in refused.stderr
    assert "fail in the later dbt run" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not db.exists() and not db.is_symlink()

    # A new build of the mart (its tests pass) vouches for it again.
    _dbt(copy, "build", "--select", "packages")
    done = run_exporter(exporter_args(copy, db, "--build-id", "rebuilt"))
    assert done.returncode == 0, done.stderr
    meta = _meta(db)
    writers = json.loads(meta["dbt_mart_invocations"])
    run_results = json.loads((copy.target_dir / "run_results.json").read_text())
    assert writers["packages"] == run_results["metadata"]["invocation_id"]
    assert writers["packages"] != writers["pypi_downloads_weekly"]
    assert meta["dbt_tests_digest"].startswith("sha256:")


def test_a_run_without_tests_is_refused(warehouse: Warehouse, tmp_path: Path) -> None:
    copy = _copy(warehouse, tmp_path / "wh")
    # `dbt run` rewrites the mart and runs no test of it.
    _dbt(copy, "run", "--select", "pypi_downloads_weekly")
    db = tmp_path / "out" / "pypi_trends.sqlite"
    refused = run_exporter(exporter_args(copy, db))
    assert refused.returncode == 3, refused.stderr
    assert "pypi_downloads_weekly: test." in refused.stderr
    assert "did not run in" in refused.stderr
    forced = run_exporter(exporter_args(copy, db, "--force", "--build-id", "forced"))
    assert forced.returncode == 0, forced.stderr
    assert "did not run in" in _meta(db)["forced"]


def test_a_warehouse_without_provenance_is_refused(warehouse: Warehouse, tmp_path: Path) -> None:
    copy = _copy(warehouse, tmp_path / "wh")
    con = duckdb.connect(str(copy.path))
    try:
        con.execute("DROP TABLE main.dbt_provenance")
    finally:
        con.close()
    refused = run_exporter(exporter_args(copy, tmp_path / "out" / "pypi_trends.sqlite"))
    assert refused.returncode == 3, refused.stderr
    assert "no dbt_provenance log" in refused.stderr


def _shrink(copy: Warehouse, top: int) -> None:
    """Delete every mart row of the packages ranked below ``top`` (the issue's probe)."""
    con = duckdb.connect(str(copy.path))
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
                " AND table_name LIKE 'package%'"
            ).fetchall()
        ]
        con.execute(
            f"CREATE TEMP TABLE doomed AS SELECT package_name FROM main.packages WHERE rank > {top}"
        )
        for table in tables:
            con.execute(
                f"DELETE FROM main.{table} WHERE package_name IN (SELECT package_name FROM doomed)"
            )
    finally:
        con.close()


def test_a_large_shrink_is_refused_until_accepted(warehouse: Warehouse, tmp_path: Path) -> None:
    db = tmp_path / "out" / "pypi_trends.sqlite"
    first = run_exporter(exporter_args(warehouse, db, "--build-id", "full"))
    assert first.returncode == 0, first.stderr
    # An unchanged re-export passes the guards.
    again = run_exporter(exporter_args(warehouse, db, "--build-id", "same"))
    assert again.returncode == 0, again.stderr

    copy = _copy(warehouse, tmp_path / "wh")
    _shrink(copy, top=20)
    refused = run_exporter(exporter_args(copy, db, "--build-id", "shrunk"))
    assert refused.returncode == 3, refused.stderr
    assert "shrinks against the current release same" in refused.stderr
    assert "packages: 244 -> 20" in refused.stderr
    assert "total rows:" in refused.stderr
    assert "--accept-shrink" in refused.stderr
    assert db.resolve().name == "pypi_trends-same.sqlite"
    assert not (db.parent / "releases" / "pypi_trends-shrunk.sqlite").exists()

    accepted = run_exporter(
        exporter_args(copy, db, "--build-id", "shrunk", "--accept-shrink", "drop the long tail")
    )
    assert accepted.returncode == 0, accepted.stderr
    meta = _meta(db)
    assert meta["build_id"] == "shrunk"
    assert meta["accepted_shrink"].startswith("drop the long tail\n")
    assert "packages: 244 -> 20" in meta["accepted_shrink"]


def test_data_through_never_moves_backwards(warehouse: Warehouse, tmp_path: Path) -> None:
    db = tmp_path / "out" / "pypi_trends.sqlite"
    assert run_exporter(exporter_args(warehouse, db, "--build-id", "full")).returncode == 0
    copy = _copy(warehouse, tmp_path / "wh")
    con = duckdb.connect(str(copy.path))
    try:
        last = con.execute("SELECT max(week_start) FROM main.pypi_downloads_weekly").fetchone()
        assert last is not None
        con.execute(f"DELETE FROM main.pypi_downloads_weekly WHERE week_start = '{last[0]}'")
    finally:
        con.close()
    refused = run_exporter(exporter_args(copy, db, "--build-id", "older"))
    assert refused.returncode == 3, refused.stderr
    assert f"data_through moves backwards: {last[0]} ->" in refused.stderr


def test_a_release_left_by_a_crash_does_not_count_toward_keep(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    from exports.killpoints import ENV_VAR

    db = tmp_path / "out" / "pypi_trends.sqlite"
    releases = db.parent / "releases"
    for build in ("r1", "r2"):
        assert run_exporter(exporter_args(warehouse, db, "--build-id", build)).returncode == 0
    killed = run_exporter(
        exporter_args(warehouse, db, "--build-id", "crashed"),
        env={ENV_VAR: "after_release_renamed"},
    )
    assert killed.returncode < 0
    assert (releases / "pypi_trends-crashed.sqlite").is_file()
    assert db.resolve().name == "pypi_trends-r2.sqlite"

    done = run_exporter(exporter_args(warehouse, db, "--build-id", "r3", "--keep", "2"))
    assert done.returncode == 0, done.stderr
    assert "event=removed_leftover" in done.stderr and "pypi_trends-crashed" in done.stderr
    # r2 stays as the rollback target: the never-served file took no place.
    assert sorted(p.name for p in releases.glob("*.sqlite")) == [
        "pypi_trends-r2.sqlite",
        "pypi_trends-r3.sqlite",
    ]
