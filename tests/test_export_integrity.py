"""The split integrity check finds what SQLite's whole-file ``PRAGMA integrity_check`` finds.

Each file is damaged the way a real defect would show (rows out of key order,
a stale index, an orphaned or shared page) by editing ``sqlite_schema``, then
both checks run on it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from exports.writer import integrity_problems


def _whole_file(path: Path, pragma: str = "integrity_check") -> list[str]:
    con = sqlite3.connect(path)
    try:
        rows = [str(r[0]) for r in con.execute(f"PRAGMA {pragma}")]
    finally:
        con.close()
    return [] if rows == ["ok"] else rows


def _build(path: Path) -> None:
    """Two WITHOUT ROWID tables (one with an index) and two rowid tables, many pages each."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA page_size = 512")
    con.execute(
        "CREATE TABLE marts (k TEXT NOT NULL, w INTEGER NOT NULL, v INTEGER,"
        " PRIMARY KEY (k, w)) STRICT, WITHOUT ROWID"
    )
    con.execute(
        "CREATE TABLE ranked (name TEXT PRIMARY KEY, r INTEGER NOT NULL) STRICT, WITHOUT ROWID"
    )
    con.execute("CREATE INDEX ranked__r ON ranked (r)")
    con.execute("CREATE TABLE plain (x INTEGER, y TEXT)")
    con.execute("CREATE TABLE plain2 (x INTEGER, y TEXT)")
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO marts VALUES (?, ?, ?)",
        [(f"pkg{i:04d}", w, i * w) for i in range(300) for w in range(5)],
    )
    con.executemany("INSERT INTO ranked VALUES (?, ?)", [(f"n{i:04d}", i % 97) for i in range(800)])
    for table in ("plain", "plain2"):
        con.executemany(f"INSERT INTO {table} VALUES (?, ?)", [(i, "x" * 40) for i in range(800)])
    con.execute("COMMIT")
    con.close()


def _edit_schema(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA writable_schema = ON")
    for sql in statements:
        con.execute(sql)
    con.execute("PRAGMA writable_schema = OFF")
    con.close()


def _keys_descending(path: Path) -> None:
    # The stored rows stay ascending: declared descending, they are out of order.
    _edit_schema(
        path,
        "UPDATE sqlite_schema SET sql = replace(sql, 'PRIMARY KEY (k, w)',"
        " 'PRIMARY KEY (k DESC, w)') WHERE name = 'marts'",
    )


def _stale_index(path: Path) -> None:
    _edit_schema(
        path,
        "UPDATE sqlite_schema SET sql = 'CREATE INDEX ranked__r ON ranked (name)'"
        " WHERE name = 'ranked__r'",
    )


def _orphan_pages(path: Path) -> None:
    _edit_schema(path, "DELETE FROM sqlite_schema WHERE name = 'plain'")


def _shared_pages(path: Path) -> None:
    _edit_schema(
        path,
        "UPDATE sqlite_schema SET rootpage = (SELECT rootpage FROM sqlite_schema"
        " WHERE name = 'plain') WHERE name = 'plain2'",
    )


def test_a_sound_file_passes_both(tmp_path: Path) -> None:
    path = tmp_path / "ok.sqlite"
    _build(path)
    assert _whole_file(path) == []
    assert integrity_problems(path) == []


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_keys_descending, "not in PRIMARY KEY order"),
        (_stale_index, "ranked__r"),
        (_orphan_pages, "page"),
        (_shared_pages, "page"),
    ],
)
def test_every_defect_the_whole_file_check_finds_is_found(
    tmp_path: Path, damage: Callable[[Path], None], expected: str
) -> None:
    path = tmp_path / "bad.sqlite"
    _build(path)
    damage(path)
    whole = _whole_file(path)
    assert whole, "the damage must be a defect SQLite itself reports"
    found = integrity_problems(path)
    assert found
    assert any(expected.lower() in p.lower() for p in found), found
    # Run one table at a time (no page accounting) the orphaned pages go unseen:
    # the dbstat pass is what catches them.
    if damage is _orphan_pages:
        con = sqlite3.connect(path)
        tables = con.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
        per_table = [
            str(r[0]) for (t,) in tables for r in con.execute(f"PRAGMA integrity_check('{t}')")
        ]
        con.close()
        assert set(per_table) == {"ok"}


def test_quick_check_misses_keys_out_of_order(tmp_path: Path) -> None:
    """Why the split check keeps integrity_check: quick_check passes rows out of key order."""
    path = tmp_path / "bad.sqlite"
    _build(path)
    _keys_descending(path)
    assert _whole_file(path, "quick_check") == []
    assert integrity_problems(path)


def test_free_pages_fall_back_to_the_whole_file_check(tmp_path: Path) -> None:
    path = tmp_path / "free.sqlite"
    _build(path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE gone (x TEXT)")
    con.executemany("INSERT INTO gone VALUES (?)", [("y" * 100,) for _ in range(200)])
    con.execute("DROP TABLE gone")
    assert con.execute("PRAGMA freelist_count").fetchone()[0] > 0
    con.close()
    assert integrity_problems(path) == []
    _keys_descending(path)
    assert integrity_problems(path) == _whole_file(path)
