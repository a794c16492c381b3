"""The staged parallel load: chunks staged by DuckDB cursors, appended by SQLite in key order."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest

from exports import duck
from exports.errors import ExportError
from exports.loader import (
    StagedLoader,
    chunk_bounds,
    open_target,
)
from exports.sqlite_schema import table_ddl
from tests.fixtures.export import mart_spec

MART = mart_spec(
    "series",
    {"package_name": "varchar", "week_start": "date", "downloads": "bigint"},
    ("package_name", "week_start"),
)


@pytest.mark.parametrize(
    ("first", "last", "rows"),
    [
        (0, 0, 1),
        (0, 9, 10),
        (0, 99_999, 100_000),
        (5, 1_000_004, 1_000_000),
        (0, 2_999_999, 3_000_000),
    ],
)
def test_chunk_bounds_cover_every_position_once_in_order(first: int, last: int, rows: int) -> None:
    bounds = chunk_bounds(first, last, rows)
    assert bounds[0][0] == first and bounds[-1][1] == last + 1
    assert all(hi == lo for (_, hi), (lo, _) in pairwise(bounds))
    assert all(lo < hi for lo, hi in bounds)
    if rows >= 1_000_000:
        # Enough pieces for two stagers and the appender to overlap.
        assert len(bounds) >= 4


def _warehouse(rows: list[tuple[str, str, int]], spill: Path) -> duckdb.DuckDBPyConnection:
    con = duck.connect("64MB", spill, 1)
    con.execute(
        "CREATE TABLE memory.main.src (package_name VARCHAR, week_start DATE, downloads BIGINT)"
    )
    con.executemany("INSERT INTO memory.main.src VALUES (?, ?::DATE, ?)", rows)
    return con


def _load(tmp_path: Path, con: duckdb.DuckDBPyConnection, chunks: list[str]) -> Path:
    db = tmp_path / "out.sqlite"
    lite = sqlite3.connect(db)
    lite.execute(table_ddl(MART))
    lite.close()
    target = open_target(db)
    try:
        with ThreadPoolExecutor(2) as pool:
            loader = StagedLoader(con, target, MART, tmp_path, pool, window=3, page_size=4096)
            loader.load(chunks)
            assert loader.stats.rows == sum(1 for _ in target.execute("SELECT 1 FROM series"))
    finally:
        target.close()
    return db


def test_every_chunk_arrives_once_and_the_table_is_valid(tmp_path: Path) -> None:
    rows = [
        (f"pkg-{p:03d}", f"2025-01-{1 + w:02d}", p * 10 + w) for p in range(40) for w in range(7)
    ]
    con = _warehouse(rows, tmp_path)
    try:
        # Seven position ranges (one empty), staged by two cursors at once.
        edges = [0, 1, 50, 51, 140, 200, len(rows)]
        chunks = [
            f"(SELECT * FROM memory.main.src WHERE rowid >= {lo} AND rowid < {hi})"
            for lo, hi in pairwise(edges)
        ] + ["(SELECT * FROM memory.main.src WHERE false)"]
        db = _load(tmp_path, con, chunks)
    finally:
        con.close()
    lite = sqlite3.connect(db)
    try:
        got = lite.execute("SELECT package_name, week_start, downloads FROM series").fetchall()
        assert got == sorted(rows)
        assert lite.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        lite.close()
    assert not list(tmp_path.glob("series.stage-*")), "staging files were left behind"


def test_a_duplicate_key_across_chunks_fails_and_leaves_no_staging_file(tmp_path: Path) -> None:
    rows = [("a", "2025-01-06", 1), ("b", "2025-01-06", 2), ("b", "2025-01-06", 3)]
    con = _warehouse(rows, tmp_path)
    try:
        chunks = [
            "(SELECT * FROM memory.main.src WHERE rowid < 2)",
            "(SELECT * FROM memory.main.src WHERE rowid >= 2)",
        ]
        with pytest.raises(ExportError, match="UNIQUE constraint failed"):
            _load(tmp_path, con, chunks)
    finally:
        con.close()
    assert not list(tmp_path.glob("series.stage-*"))
