"""Queries the pages need beyond the API's: several packages' rows and breakdowns at once.

They use the API's :class:`~serve.db.Reader` and its conventions: table and
column names only from fixed mappings, values only through placeholders, a
``LIMIT`` on every statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from serve.db import Reader
from serve.params import DIMENSIONS, Exclusion, WeekRange

MAX_BREAKDOWN_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class PackageRow:
    """A ``packages`` row as the stats table shows it."""

    package: str
    display_name: str
    summary: str | None
    latest_version: str | None
    first_release_date: str | None
    first_download_week: str | None
    downloads_total: int
    downloads_last_week: int
    downloads_last_4_weeks: int
    growth_4_weeks: float | None
    rank: int


async def package_rows(reader: Reader, names: Sequence[str]) -> dict[str, PackageRow]:
    """The ``packages`` rows of ``names`` that exist, by name."""
    if not names:
        return {}
    marks = ",".join("?" * len(names))
    rows = await reader.fetch(
        "SELECT package_name, display_name, summary, latest_version, first_release_date, "
        "first_download_week, downloads_total, downloads_last_week, downloads_last_4_weeks, "
        f"growth_4_weeks, rank FROM packages WHERE package_name IN ({marks}) LIMIT ?",
        (*names, len(names) + 1),
        max_rows=len(names),
    )
    return {r[0]: PackageRow(*r) for r in rows}


async def popular(reader: Reader, limit: int) -> list[PackageRow]:
    """The most downloaded packages of the last complete week."""
    rows = await reader.fetch(
        "SELECT package_name, display_name, summary, latest_version, first_release_date, "
        "first_download_week, downloads_total, downloads_last_week, downloads_last_4_weeks, "
        "growth_4_weeks, rank FROM packages ORDER BY rank LIMIT ?",
        (limit,),
        max_rows=limit,
    )
    return [PackageRow(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class BreakdownRows:
    """(package, week, value, downloads) rows of one dimension for several packages."""

    dimension: str
    rows: list[tuple[str, str, str, int]]


async def breakdown_rows(
    reader: Reader, names: Sequence[str], dimension: str, weeks: WeekRange, exclude: Exclusion
) -> BreakdownRows:
    """Weekly downloads of ``names`` split by ``dimension`` (one query for all packages).

    Raises:
        KeyError: for a dimension that is not in the fixed mapping.
    """
    table, column = DIMENSIONS[dimension]
    if not names or weeks.start > weeks.end:
        return BreakdownRows(dimension, [])
    marks = ",".join("?" * len(names))
    rows = await reader.fetch(
        f"SELECT package_name, week_start, {column}, "  # table/column: fixed mapping
        "downloads - ? * downloads_ci - ? * downloads_mirror - ? * downloads_metadata "
        f"FROM {table} WHERE package_name IN ({marks}) AND week_start BETWEEN ? AND ? LIMIT ?",
        (
            *exclude.flags,
            *names,
            weeks.start.isoformat(),
            weeks.end.isoformat(),
            MAX_BREAKDOWN_ROWS + 1,
        ),
        max_rows=MAX_BREAKDOWN_ROWS,
    )
    return BreakdownRows(dimension, [(r[0], r[1], r[2], r[3]) for r in rows])
