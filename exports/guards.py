"""Shrink and shape guards: a new file must not lose data the current release has.

A weekly refresh only adds a week (and late rows to the one before), so the
file grows. A build that lost packages, rows or the newest weeks (a partial
warehouse, a bad filter, a mart rebuilt from a truncated source) passes every
dbt test, yet would replace good data with less. Before publishing, the new
file is compared with the current release on cheap facts only: ``_tables``
counts, ``_meta.data_through``, the top packages by ``packages.rank`` (an
index) and key lookups of their last week. A drop beyond the bounds refuses
the export with a report of what changed; ``--accept-shrink "<reason>"``
publishes anyway and records the reason and the report in ``_meta``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from contract import (
    DATA_THROUGH_TABLE,
    META_TABLE,
    PACKAGE_DOWNLOADS_WEEKLY,
    PACKAGES,
    TABLES_TABLE,
    Meta,
)


@dataclass(frozen=True)
class ShrinkBounds:
    """Largest drops a refresh may show against the current release (fractions of it).

    The defaults leave room for what a real weekly refresh does (rows only
    grow; a holiday week has fewer downloads than the week before) while
    refusing a build that lost a large part of the data. ``make bench``
    (bench/bench_guards.py) measures the week-over-week changes of the sample
    they are checked against.
    """

    #: All rows of all tables.
    total_rows: float = 0.05
    #: Rows of any one table.
    table_rows: float = 0.10
    #: Rows of ``packages``.
    packages: float = 0.05
    #: PyPI's total downloads of the last complete week.
    last_week_downloads: float = 0.5
    #: Top packages (by the current release's rank) whose last week is compared.
    top_packages: int = 50
    #: Their summed last-week downloads.
    top_downloads: float = 0.5


@dataclass(frozen=True)
class Facts:
    """What the guards compare, read cheaply from one file."""

    build_id: str
    data_through: str
    rows: dict[str, int]
    last_week_downloads: int | None
    top: dict[str, int]

    @property
    def total_rows(self) -> int:
        """Rows of all tables."""
        return sum(self.rows.values())


def _scalar(con: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> object:
    row = con.execute(sql, params).fetchone()
    return row[0] if row else None


def read_facts(path: Path, top: int, packages: list[str] | None = None) -> Facts:
    """Read :class:`Facts` from ``path``.

    The last-week downloads are those of the top ``top`` packages by rank, or
    of ``packages`` (to compare the same ones in another file).

    Raises:
        sqlite3.Error: when the file cannot be read.
    """
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        meta = dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
        rows = {
            str(t): int(n)
            for t, n in con.execute(f"SELECT table_name, row_count FROM {TABLES_TABLE}")
        }
        through = str(meta.get(Meta.DATA_THROUGH) or "")
        last = _scalar(
            con,
            f'SELECT downloads FROM "{DATA_THROUGH_TABLE.name}" WHERE week_start = ?',
            (through,),
        )
        if packages is None:
            packages = [
                str(r[0])
                for r in con.execute(
                    f'SELECT package_name FROM "{PACKAGES.name}" ORDER BY rank LIMIT ?', (top,)
                )
            ]
        downloads = {}
        for name in packages:
            value = _scalar(
                con,
                f'SELECT downloads FROM "{PACKAGE_DOWNLOADS_WEEKLY.name}"'
                " WHERE package_name = ? AND week_start = ?",
                (name, through),
            )
            downloads[name] = int(value) if isinstance(value, int) else 0
        return Facts(
            build_id=str(meta.get(Meta.BUILD_ID) or ""),
            data_through=through,
            rows=rows,
            last_week_downloads=int(last) if isinstance(last, int) else None,
            top=downloads,
        )
    finally:
        con.close()


def _drop(old: int, new: int) -> float:
    return (old - new) / old if old > 0 else 0.0


def compare(old: Facts, new: Facts, bounds: ShrinkBounds) -> list[str]:
    """Every change of ``new`` against ``old`` beyond ``bounds``, one line each."""
    out = []

    def check(what: str, before: int, after: int, bound: float) -> None:
        drop = _drop(before, after)
        if drop > bound:
            out.append(f"{what}: {before:,} -> {after:,} (-{drop:.1%}, bound -{bound:.0%})")

    if new.data_through < old.data_through:
        out.append(f"data_through moves backwards: {old.data_through} -> {new.data_through}")
    check("total rows", old.total_rows, new.total_rows, bounds.total_rows)
    for table, before in sorted(old.rows.items()):
        after = new.rows.get(table, 0)
        if table == PACKAGES.name:
            check("packages", before, after, bounds.packages)
        else:
            check(f"rows of {table}", before, after, bounds.table_rows)
    if old.last_week_downloads is not None:
        check(
            f"PyPI downloads of the last week ({old.data_through} -> {new.data_through})",
            old.last_week_downloads,
            new.last_week_downloads or 0,
            bounds.last_week_downloads,
        )
    if old.top:
        check(
            f"last-week downloads of the current top {len(old.top)} packages",
            sum(old.top.values()),
            sum(new.top.get(name, 0) for name in old.top),
            bounds.top_downloads,
        )
    return out


def check_shrink(current: Path, new: Path, bounds: ShrinkBounds) -> tuple[Facts, list[str]]:
    """Compare the new file with the current release.

    Returns:
        The current release's facts and the violations (empty: publishable).

    Raises:
        sqlite3.Error: when either file cannot be read.
    """
    old = read_facts(current, bounds.top_packages)
    fresh = read_facts(new, bounds.top_packages, list(old.top))
    return old, compare(old, fresh, bounds)
