"""The published SQLite file holds exactly the marts of the warehouse, as the contract says."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fixtures.export import META_KEYS, Published, assert_same_tables
from tests.fixtures.warehouse import MART_GRAINS

DATE_COLUMNS = {
    "week_start",
    "first_release_date",
    "first_download_week",
    "last_download_week",
    "first_upload_week",
    "start_date",
    "end_date",
}


def _normalise(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # Timestamps are exported as ISO 8601 UTC text with microseconds and a Z.
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _warehouse_rows(path: Path, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f'SELECT {cols} FROM main."{table}"').fetchall()
    finally:
        con.close()
    return sorted((tuple(_normalise(v) for v in row) for row in rows), key=repr)


def _sqlite_rows(con: sqlite3.Connection, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{c}"' for c in columns)
    return sorted(con.execute(f'SELECT {cols} FROM "{table}"').fetchall(), key=repr)


@pytest.fixture(scope="module")
def db(published_export: Published) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{published_export.db}?mode=ro", uri=True)
    yield con
    con.close()


def test_published_path_is_a_relative_symlink_to_a_release(published_export: Published) -> None:
    link = published_export.db
    assert link.is_symlink()
    target = Path(link.readlink())
    assert not target.is_absolute()
    assert target.parent.name == "releases"
    assert (
        link.resolve()
        == published_export.releases_dir / f"pypi_trends-{published_export.build_id}.sqlite"
    )


def test_every_mart_round_trips(published_export: Published, db: sqlite3.Connection) -> None:
    for table in MART_GRAINS:
        columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
        assert columns, f"{table} missing from the export"
        expected = _warehouse_rows(published_export.warehouse.path, table, columns)
        assert expected, f"{table} is empty in the warehouse: the test would prove nothing"
        assert _sqlite_rows(db, table, columns) == expected, table


def test_columns_equal_the_warehouse_columns(
    published_export: Published, db: sqlite3.Connection
) -> None:
    con = duckdb.connect(str(published_export.warehouse.path), read_only=True)
    try:
        for table in MART_GRAINS:
            wh_cols = [r[0] for r in con.execute(f'DESCRIBE main."{table}"').fetchall()]
            assert [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')] == wh_cols
    finally:
        con.close()


def test_tables_are_strict_without_rowid_keyed_on_the_grain(db: sqlite3.Connection) -> None:
    listed = {r[1]: r for r in db.execute("PRAGMA table_list") if r[0] == "main"}
    for table, grain in MART_GRAINS.items():
        _schema, _name, _type, _ncol, without_rowid, strict = listed[table]
        assert (without_rowid, strict) == (1, 1), table
        pk = sorted((r[5], r[1]) for r in db.execute(f'PRAGMA table_info("{table}")') if r[5])
        assert [name for _, name in pk] == grain, table


def test_dates_are_iso_text(db: sqlite3.Connection) -> None:
    for table in MART_GRAINS:
        for name, decl in [(r[1], r[2]) for r in db.execute(f'PRAGMA table_info("{table}")')]:
            if name in DATE_COLUMNS:
                assert decl == "TEXT"
                bad = db.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{name}" IS NOT NULL AND '
                    f'(length("{name}") != 10 OR date("{name}") IS NOT "{name}")'
                ).fetchone()[0]
                assert bad == 0, (table, name)
    # Weeks are Mondays.
    assert db.execute(
        "SELECT count(*) FROM package_downloads_weekly WHERE strftime('%w', week_start) != '1'"
    ).fetchone() == (0,)


def test_metadata_describes_the_build(published_export: Published, db: sqlite3.Connection) -> None:
    meta = dict(db.execute("SELECT key, value FROM _meta"))
    assert set(meta) >= META_KEYS
    assert meta["build_id"] == published_export.build_id
    run_results = published_export.warehouse.run_results
    assert meta["dbt_invocation_id"] == run_results["metadata"]["invocation_id"]
    assert meta["source_target"] == run_results["args"]["target"] == "ci"
    # Exported from the tiny sample: the file says how far its counts are scaled down.
    record = json.loads((published_export.warehouse.raw_dir / "_SUCCESS").read_text())
    assert float(meta["sample_scale"]) == record["scale"]["downloads_per_real_download"] > 0
    assert db.execute("PRAGMA user_version").fetchone()[0] == int(meta["schema_version"]) >= 1
    exported = dt.datetime.fromisoformat(meta["exported_at"].replace("Z", "+00:00"))
    assert exported.tzinfo is not None
    assert (
        meta["data_through"]
        == db.execute("SELECT max(week_start) FROM package_downloads_weekly").fetchone()[0]
    )
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # The sample keeps every package-week's breakdown, and the file says so.
    assert meta["breakdown_min_downloads"] == "0"


def test_tables_and_columns_carry_dbt_descriptions(
    published_export: Published, db: sqlite3.Connection
) -> None:
    nodes = {
        n["name"]: n
        for n in published_export.warehouse.manifest["nodes"].values()
        if n["resource_type"] == "model"
    }
    tables = {
        r[0]: (r[1], r[2])
        for r in db.execute("SELECT table_name, row_count, description FROM _tables")
    }
    assert set(tables) == set(MART_GRAINS)
    for table, (row_count, description) in tables.items():
        assert row_count == db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        assert description == nodes[table]["description"].strip() != ""
        described = dict(
            db.execute(
                "SELECT column_name, description FROM _columns WHERE table_name = ?", (table,)
            )
        )
        assert described == {
            c["name"]: c["description"].strip() for c in nodes[table]["columns"].values()
        }
        assert all(described.values()), table


def test_parquet_copies_equal_the_marts(published_export: Published) -> None:
    con = duckdb.connect()
    try:
        for table in MART_GRAINS:
            path = published_export.parquet_dir / table / "*.parquet"
            got = sorted(con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall(), key=repr)
            cols = [
                r[0]
                for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
            ]
            wh = duckdb.connect(str(published_export.warehouse.path), read_only=True)
            try:
                want = sorted(
                    wh.execute(f'SELECT {", ".join(cols)} FROM main."{table}"').fetchall(), key=repr
                )
            finally:
                wh.close()
            assert got == want, table
    finally:
        con.close()


def test_only_the_documented_index_exists(db: sqlite3.Connection) -> None:
    indexes = {
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"
        )
    }
    assert indexes == {"packages__rank"}
    plan = " ".join(
        str(r)
        for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT package_name FROM packages ORDER BY rank LIMIT 10"
        )
    )
    assert "packages__rank" in plan and "TEMP B-TREE" not in plan


@pytest.mark.parametrize("extra", [["--part-rows", "3000"], ["--part-rows", "3000", "--overlap"]])
def test_key_range_parts_give_the_same_tables(
    published_export: Published, tmp_path: Path, extra: list[str]
) -> None:
    """Big marts are sorted and loaded in key ranges; the result must not change."""
    import dataclasses
    import shutil

    import duckdb

    from tests.fixtures.export import exporter_args, run_exporter

    # dbt stores every mart in key order: a copy stored week-major (as an
    # older build left them) makes the exporter sort, in key ranges.
    source = published_export.warehouse
    copy = tmp_path / "week-major.duckdb"
    shutil.copy(source.path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "create or replace table package_countries_weekly as"
            " select * from package_countries_weekly order by week_start, package_name"
        )
    warehouse = dataclasses.replace(source, path=copy)
    db = tmp_path / "pypi_trends.sqlite"
    done = run_exporter(exporter_args(warehouse, db, "--build-id", "parts", *extra))
    assert done.returncode == 0, done.stderr
    parts = [int(p) for p in re.findall(r"parts=(\d+)", done.stderr)]
    assert max(parts) > 3, "the sample should be split into several parts"
    assert_same_tables(published_export.release, db.resolve())
    files = sorted((tmp_path / "parquet" / "package_countries_weekly").glob("*.parquet"))
    assert len(files) > 3


def test_an_export_does_not_import_pandas(published_export: Published, tmp_path: Path) -> None:
    """Nothing in an export may import pandas: it alone adds ~85 MB to the peak RSS.

    DuckDB's Python client imports pandas (and numpy, pyarrow) the first time
    a query binds a Python parameter, so the exporter must use none.
    """
    import subprocess
    import sys

    from tests.fixtures.export import exporter_args
    from tests.fixtures.warehouse import REPO_ROOT

    db = tmp_path / "pypi_trends.sqlite"
    args = exporter_args(published_export.warehouse, db, "--build-id", "no-pandas")
    code = (
        "import sys; from exports.cli import main; status = main(sys.argv[1:], env={});"
        " print(sorted(m for m in ('pandas', 'numpy', 'pyarrow') if m in sys.modules));"
        " sys.exit(status)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
