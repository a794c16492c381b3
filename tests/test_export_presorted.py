"""Marts stored in key order are exported without a sort; any other order falls back to it."""

from __future__ import annotations

import dataclasses
import re
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from exports.manifest import MartSpec
from exports.sources import scan_is_ordered
from tests.fixtures.export import (
    Published,
    assert_same_tables,
    exporter_args,
    mart_spec,
    run_exporter,
)

# Written out from the contract (docs/architecture.md section 2), not read from the exporter.
GRAINS = {
    "package_downloads_weekly": ["package_name", "week_start"],
    "package_countries_weekly": ["package_name", "week_start", "country_code"],
    "pypi_downloads_weekly": ["week_start"],
    "packages": ["package_name"],
}


def _mart(grain: list[str]) -> MartSpec:
    return mart_spec("t", dict.fromkeys(grain, "varchar"), tuple(grain))


@pytest.mark.parametrize(
    ("rows", "ordered"),
    [
        ([], True),
        ([("a", "1")], True),
        ([("a", "1"), ("a", "2"), ("b", "1")], True),
        # second column decides only on ties of the first
        ([("a", "2"), ("b", "1"), ("b", "3")], True),
        ([("a", "2"), ("a", "1")], False),
        ([("b", "1"), ("a", "9")], False),
        # a duplicate key is not "ordered": the sorted path then fails on the primary key
        ([("a", "1"), ("a", "1")], False),
        # NULL keys never pass as ordered
        ([("a", "1"), ("b", None)], False),
        # text compares by bytes, as in SQLite: "B" (0x42) < "a" (0x61)
        ([("B", "1"), ("a", "1")], True),
        ([("a", "1"), ("B", "1")], False),
    ],
)
def test_order_check_on_two_column_keys(rows: list[tuple[str, str | None]], ordered: bool) -> None:
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (k1 VARCHAR, k2 VARCHAR)")
        if rows:
            con.executemany("INSERT INTO t VALUES (?, ?)", rows)
        assert scan_is_ordered(con, "t", _mart(["k1", "k2"])) is ordered
    finally:
        con.close()


def test_order_check_sees_a_break_across_scan_chunks() -> None:
    """One swapped pair deep in a table of several DuckDB vectors/row groups is found."""
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE t AS SELECT lpad(i::VARCHAR, 8, '0') AS k"
            " FROM range(300000) r(i) ORDER BY k"
        )
        mart = _mart(["k"])
        assert scan_is_ordered(con, "t", mart)
        con.execute(
            "CREATE OR REPLACE TABLE t AS SELECT k FROM t"
            " ORDER BY CASE k WHEN '00250000' THEN '00250001'"
            " WHEN '00250001' THEN '00250000' ELSE k END"
        )
        assert not scan_is_ordered(con, "t", mart)
    finally:
        con.close()


def _ordered_copy(src: Path, dest: Path) -> None:
    """The warehouse with every exported mart rebuilt the way dbt's ``ORDER BY`` leaves it."""
    shutil.copyfile(src, dest)
    con = duckdb.connect(str(dest))
    try:
        for table, grain in GRAINS.items():
            keys = ", ".join(grain)
            con.execute(
                f"CREATE OR REPLACE TABLE main.{table} AS"
                f" SELECT * FROM main.{table} ORDER BY {keys}"
            )
    finally:
        con.close()


def test_an_ordered_warehouse_takes_the_presorted_path_and_gives_the_same_file(
    published_export: Published, tmp_path: Path
) -> None:
    warehouse = dataclasses.replace(published_export.warehouse, path=tmp_path / "ordered.duckdb")
    _ordered_copy(published_export.warehouse.path, warehouse.path)
    db = tmp_path / "out" / "pypi_trends.sqlite"
    done = run_exporter(exporter_args(warehouse, db, "--build-id", "presorted"))
    assert done.returncode == 0, done.stderr
    presorted = dict(re.findall(r"table=(\w+) rows=\d+ parts=\d+ presorted=(\w+)", done.stderr))
    for table in GRAINS:
        assert presorted[table] == "True", (table, done.stderr)

    assert_same_tables(published_export.release, db.resolve())

    # The Parquet copy is written from the same scan: all rows, in key order.
    con = duckdb.connect()
    try:
        for table, grain in GRAINS.items():
            files = sorted((db.parent / "parquet" / table).glob("*.parquet"))
            assert files, table
            keys = ", ".join(grain)
            got = con.execute(
                f"SELECT {keys} FROM read_parquet({[str(f) for f in files]})"
            ).fetchall()
            assert got == sorted(got) and len(got) == len(set(got)), table
            wh = duckdb.connect(str(warehouse.path), read_only=True)
            try:
                want = wh.execute(f"SELECT count(*) FROM main.{table}").fetchone()
            finally:
                wh.close()
            assert want is not None and want[0] == len(got)
    finally:
        con.close()


def test_an_unordered_warehouse_falls_back_to_the_sort(
    published_export: Published, tmp_path: Path
) -> None:
    warehouse = dataclasses.replace(published_export.warehouse, path=tmp_path / "shuffled.duckdb")
    shutil.copyfile(published_export.warehouse.path, warehouse.path)
    con = duckdb.connect(str(warehouse.path))
    try:
        con.execute(
            "CREATE OR REPLACE TABLE main.package_downloads_weekly AS"
            " SELECT * FROM main.package_downloads_weekly ORDER BY hash(package_name, week_start)"
        )
    finally:
        con.close()
    db = tmp_path / "out" / "pypi_trends.sqlite"
    done = run_exporter(exporter_args(warehouse, db, "--build-id", "shuffled"))
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"table=package_downloads_weekly rows=\d+ parts=\d+ presorted=False", done.stderr
    )
    ref = sqlite3.connect(published_export.release)
    new = sqlite3.connect(db.resolve())
    try:
        query = "SELECT * FROM package_downloads_weekly"
        assert new.execute(query).fetchall() == ref.execute(query).fetchall()
    finally:
        ref.close()
        new.close()
    files = sorted((db.parent / "parquet" / "package_downloads_weekly").glob("*.parquet"))
    got = duckdb.sql(
        f"SELECT package_name, week_start FROM read_parquet({[str(f) for f in files]})"
    ).fetchall()
    assert got and got == sorted(got)


@pytest.mark.parametrize(
    ("within_week", "min_week_rows", "path"),
    [
        # dbt's weekly marts stored week-major, by package inside a week:
        # pruned key-range parts, each sorted beside the load of the previous one.
        ("package_name", "100", "week_parts"),
        # week-major, but any order inside a week: no pruning, the range sort.
        ("hash(package_name)", "100", "range_sort"),
        # weeks smaller than two row groups (the test's ~200 rows) prune nothing:
        # by default they take the range sort.
        ("package_name", None, "range_sort"),
    ],
)
def test_a_week_ordered_warehouse_exports_the_same_file(
    published_export: Published,
    tmp_path: Path,
    within_week: str,
    min_week_rows: str | None,
    path: str,
) -> None:
    warehouse = dataclasses.replace(published_export.warehouse, path=tmp_path / "weekly.duckdb")
    shutil.copyfile(published_export.warehouse.path, warehouse.path)
    weekly = {t: g for t, g in GRAINS.items() if "week_start" in g[1:]}
    con = duckdb.connect(str(warehouse.path))
    try:
        for table, grain in weekly.items():
            rest = [within_week if g == "package_name" else g for g in grain if g != "week_start"]
            con.execute(
                f"CREATE OR REPLACE TABLE main.{table} AS SELECT * FROM main.{table}"
                f" ORDER BY week_start, {', '.join(rest)}"
            )
        rows = con.execute("SELECT count(*) FROM main.package_downloads_weekly").fetchone()
    finally:
        con.close()
    assert rows is not None and rows[0] > 2000
    db = tmp_path / "out" / "pypi_trends.sqlite"
    # Parts of 500 rows: the tiny marts are cut into several key ranges.
    done = run_exporter(
        exporter_args(
            warehouse,
            db,
            "--build-id",
            "weekly",
            "--week-part-rows",
            "500",
            "--part-rows",
            "500",
            *(["--min-week-rows", min_week_rows] if min_week_rows else []),
        )
    )
    assert done.returncode == 0, done.stderr
    written = {
        t: (int(n), p)
        for t, n, p in re.findall(r"table=(\w+) rows=\d+ parts=(\d+).* path=(\w+)", done.stderr)
    }
    for table in weekly:
        assert written[table][1] == path, (table, done.stderr)
        assert written[table][0] > 1, (table, done.stderr)

    assert_same_tables(published_export.release, db.resolve())
    # The Parquet copy is the sorted parts: every row once, in key order.
    for table, grain in weekly.items():
        files = sorted((db.parent / "parquet" / table).glob("*.parquet"))
        got = duckdb.sql(
            f"SELECT {', '.join(grain)} FROM read_parquet({[str(f) for f in files]})"
        ).fetchall()
        assert got == sorted(set(got)), table
        assert len(got) == len(set(got)), table
