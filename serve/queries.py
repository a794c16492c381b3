"""Parameterised SQL against the published file, returning response structs.

Every function takes a borrowed :class:`~serve.db.Reader`; table names come
only from fixed mappings, values only through ``?`` placeholders, and every
statement carries a ``LIMIT`` so the row bound also holds inside SQLite.
Lookups by primary key pass ``inline=True`` (see ``Reader``); scans (search,
suggestions, trending) always run on the connection's thread.
"""

from __future__ import annotations

import difflib
from datetime import date, timedelta
from itertools import accumulate

from serve import models
from serve.db import Reader, Row
from serve.params import (
    DIMENSIONS,
    EXCLUDED_DOWNLOADS_SQL,
    Exclusion,
    WeekRange,
    is_valid_name,
    normalize_name,
)
from serve.problems import ApiProblem, bad_request

MAX_ROWS = 50_000
_TOP = "\U0010ffff"


def _unknown_package(name: str, suggestions: list[str]) -> ApiProblem:
    shown = name if len(name) <= 100 else name[:100] + "..."
    return ApiProblem(
        404,
        "unknown-package",
        f"no package named {shown!r}",
        suggestions=suggestions,
    )


async def close_matches(reader: Reader, name: str, n: int = 5) -> list[str]:
    """Names similar to ``name``, most downloaded candidates first.

    Candidates share the first two characters (an index range scan), so the
    cost is bounded whatever the input.
    """
    if not name or len(name) > 100:
        return []
    head = name[:2]
    rows = await reader.fetch(
        "SELECT package_name FROM packages WHERE package_name >= ? AND package_name < ? "
        "ORDER BY downloads_last_4_weeks DESC LIMIT 5000",
        (head, head + _TOP),
        max_rows=5000,
    )
    return difflib.get_close_matches(name, [r[0] for r in rows], n=n, cutoff=0.6)


async def missing_package(reader: Reader, raw_name: str) -> ApiProblem:
    """The 404 problem for an unknown package, with close matches."""
    name = normalize_name(raw_name)
    suggestions = await close_matches(reader, name) if is_valid_name(name) else []
    return _unknown_package(raw_name, suggestions)


async def search_packages(reader: Reader, query: str, limit: int) -> models.PackageSearch:
    """Packages whose normalised name starts with the normalised ``query``."""
    prefix = normalize_name(query.strip())
    cols = "package_name, display_name, summary, downloads_last_week, downloads_last_4_weeks, rank"
    if prefix:
        rows = await reader.fetch(
            f"SELECT {cols} FROM packages WHERE package_name >= ? AND package_name < ? "
            "ORDER BY downloads_last_4_weeks DESC, package_name LIMIT ?",
            (prefix, prefix + _TOP, limit),
            max_rows=limit,
        )
    else:
        rows = await reader.fetch(
            f"SELECT {cols} FROM packages ORDER BY rank LIMIT ?", (limit,), max_rows=limit
        )
    return models.PackageSearch(query=prefix, packages=[models.PackageMatch(*r) for r in rows])


async def get_package(reader: Reader, raw_name: str) -> models.Package:
    """One ``packages`` row plus the build's data-through week."""
    name = normalize_name(raw_name)
    rows = await reader.fetch(
        "SELECT package_name, display_name, summary, latest_version, first_release_date, "
        "first_download_week, last_download_week, downloads_total, downloads_last_week, "
        "downloads_last_4_weeks, downloads_prev_4_weeks, growth_4_weeks, rank "
        "FROM packages WHERE package_name = ? LIMIT 2",
        (name,),
        max_rows=1,
        inline=True,
    )
    if not rows:
        raise await missing_package(reader, raw_name)
    return models.Package(*(*rows[0], reader.build.data_through))


async def download_series(
    reader: Reader, raw_name: str, weeks: WeekRange, exclude: Exclusion, cumulative: bool
) -> models.DownloadSeries:
    """A package's weekly downloads, zero-filled over ``weeks``.

    One query: the ``packages`` row LEFT JOINed to its weeks, so an unknown
    package (no row at all) is told apart from one without downloads in range.
    """
    name = normalize_name(raw_name)
    rows = await reader.fetch(
        "SELECT p.display_name, w.week_start, "
        "w.downloads - ? * w.downloads_ci - ? * w.downloads_mirror - ? * w.downloads_metadata "
        "FROM packages AS p LEFT JOIN package_downloads_weekly AS w "
        "ON w.package_name = p.package_name AND w.week_start BETWEEN ? AND ? "
        "WHERE p.package_name = ? ORDER BY w.week_start LIMIT ?",
        (*exclude.flags, weeks.start.isoformat(), weeks.end.isoformat(), name, MAX_ROWS + 1),
        max_rows=MAX_ROWS,
        inline=True,
    )
    if not rows:
        raise await missing_package(reader, raw_name)
    by_week = {r[1]: r[2] for r in rows if r[1] is not None}
    axis = weeks.weeks
    counts = [by_week.get(w, 0) for w in axis]
    if cumulative:
        counts = list(accumulate(counts))
    return models.DownloadSeries(
        package=name,
        display_name=rows[0][0],
        start=weeks.start.isoformat(),
        end=weeks.end.isoformat(),
        exclude=exclude.names,
        cumulative=cumulative,
        weeks=[models.WeekDownloads(w, c) for w, c in zip(axis, counts, strict=True)],
    )


async def dimension_series(
    reader: Reader,
    raw_name: str,
    dimension: str,
    weeks: WeekRange,
    exclude: Exclusion,
    share: bool,
) -> models.DimensionSeries:
    """A package's weekly downloads split by ``dimension`` (long format)."""
    if dimension not in DIMENSIONS:
        raise bad_request("dimension", f"unknown dimension; use one of {', '.join(DIMENSIONS)}")
    table, column = DIMENSIONS[dimension]
    name = normalize_name(raw_name)
    rows = await reader.fetch(
        f"SELECT p.display_name, d.week_start, d.{column}, "  # table/column: fixed mapping
        "d.downloads - ? * d.downloads_ci - ? * d.downloads_mirror - ? * d.downloads_metadata "
        f"FROM packages AS p LEFT JOIN {table} AS d "
        "ON d.package_name = p.package_name AND d.week_start BETWEEN ? AND ? "
        "WHERE p.package_name = ? ORDER BY d.week_start LIMIT ?",
        (*exclude.flags, weeks.start.isoformat(), weeks.end.isoformat(), name, MAX_ROWS + 1),
        max_rows=MAX_ROWS,
        inline=True,
    )
    if not rows:
        raise await missing_package(reader, raw_name)
    data = [r for r in rows if r[1] is not None and r[3] > 0]
    week_totals: dict[str, int] = {}
    value_totals: dict[str, int] = {}
    for _, week, value, count in data:
        week_totals[week] = week_totals.get(week, 0) + count
        value_totals[value] = value_totals.get(value, 0) + count
    data.sort(key=lambda r: (r[1], -r[3], r[2]))
    points = [
        models.DimensionPoint(
            week=week,
            value=value,
            downloads=count,
            share=(count / week_totals[week]) if share else None,
        )
        for _, week, value, count in data
    ]
    values = sorted(value_totals, key=lambda v: (-value_totals[v], v))
    return models.DimensionSeries(
        package=name,
        display_name=rows[0][0],
        dimension=dimension,
        start=weeks.start.isoformat(),
        end=weeks.end.isoformat(),
        exclude=exclude.names,
        share=share,
        values=values,
        points=points,
    )


async def _pypi_weeks(reader: Reader, weeks: WeekRange, exclude: Exclusion) -> list[Row]:
    return await reader.fetch(
        f"SELECT week_start, {EXCLUDED_DOWNLOADS_SQL}, packages FROM pypi_downloads_weekly "
        "WHERE week_start BETWEEN ? AND ? ORDER BY week_start LIMIT ?",
        (*exclude.flags, weeks.start.isoformat(), weeks.end.isoformat(), MAX_ROWS + 1),
        max_rows=MAX_ROWS,
        inline=True,
    )


async def compare(
    reader: Reader, names: list[str], weeks: WeekRange, exclude: Exclusion, share: bool
) -> models.Comparison:
    """Several packages on one aligned week axis, with all-PyPI totals."""
    marks = ",".join("?" * len(names))
    found: dict[str, str] = dict(
        await reader.fetch(
            f"SELECT package_name, display_name FROM packages WHERE package_name IN ({marks})",
            names,
            max_rows=len(names),
            inline=True,
        )
    )
    unknown = [n for n in names if n not in found]
    if unknown:
        suggestions = await close_matches(reader, unknown[0]) if is_valid_name(unknown[0]) else []
        problem = _unknown_package(unknown[0], suggestions)
        problem.detail = "unknown package(s): " + ", ".join(u[:100] for u in unknown)
        raise problem
    rows = await reader.fetch(
        f"SELECT package_name, week_start, {EXCLUDED_DOWNLOADS_SQL} "
        f"FROM package_downloads_weekly WHERE package_name IN ({marks}) "
        "AND week_start BETWEEN ? AND ? LIMIT ?",
        (*exclude.flags, *names, weeks.start.isoformat(), weeks.end.isoformat(), MAX_ROWS + 1),
        max_rows=MAX_ROWS,
        inline=True,
    )
    pypi = {r[0]: r[1] for r in await _pypi_weeks(reader, weeks, exclude)}
    axis = weeks.weeks
    index = {w: i for i, w in enumerate(axis)}
    series = {n: [0] * len(axis) for n in names}
    for name, week, count in rows:
        series[name][index[week]] = count
    totals = [sum(col) for col in zip(*series.values(), strict=True)] if axis else []
    pypi_counts = [pypi.get(w, 0) for w in axis]
    packages = []
    for name in names:
        counts = series[name]
        packages.append(
            models.ComparedPackage(
                package=name,
                display_name=found[name],
                downloads=counts,
                share_of_combined=[c / t if t else 0.0 for c, t in zip(counts, totals, strict=True)]
                if share
                else None,
                share_of_pypi=[
                    c / t if t else 0.0 for c, t in zip(counts, pypi_counts, strict=True)
                ]
                if share
                else None,
            )
        )
    return models.Comparison(
        start=weeks.start.isoformat(),
        end=weeks.end.isoformat(),
        exclude=exclude.names,
        weeks=axis,
        pypi_downloads=pypi_counts,
        packages=packages,
    )


async def overall(reader: Reader, weeks: WeekRange, exclude: Exclusion) -> models.OverallSeries:
    """All-PyPI weekly totals."""
    rows = await _pypi_weeks(reader, weeks, exclude)
    return models.OverallSeries(
        start=weeks.start.isoformat(),
        end=weeks.end.isoformat(),
        exclude=exclude.names,
        weeks=[models.OverallWeek(*r) for r in rows],
    )


async def trending(reader: Reader, weeks: int, limit: int, min_downloads: int) -> models.Trending:
    """The biggest risers: growth of the last ``weeks`` weeks over the ``weeks`` before.

    ``weeks=4`` reads the precomputed ``packages`` columns; other windows sum
    the weekly table for packages that had downloads in the last 8 weeks.
    """
    data_through = reader.build.data_through
    if weeks == 4:
        rows = await reader.fetch(
            "SELECT package_name, display_name, downloads_last_4_weeks, downloads_prev_4_weeks, "
            "growth_4_weeks, rank FROM packages "
            "WHERE downloads_prev_4_weeks >= ? AND growth_4_weeks IS NOT NULL "
            "ORDER BY growth_4_weeks DESC, package_name LIMIT ?",
            (max(min_downloads, 1), limit),
            max_rows=limit,
        )
    else:
        last = date.fromisoformat(data_through)
        cut = (last - timedelta(weeks=weeks)).isoformat()
        since = (last - timedelta(weeks=2 * weeks)).isoformat()
        rows = await reader.fetch(
            "WITH w AS (SELECT d.package_name, "
            "sum(CASE WHEN d.week_start > ? THEN d.downloads ELSE 0 END) AS last, "
            "sum(CASE WHEN d.week_start <= ? THEN d.downloads ELSE 0 END) AS prev "
            "FROM packages AS p JOIN package_downloads_weekly AS d "
            "ON d.package_name = p.package_name AND d.week_start > ? AND d.week_start <= ? "
            "WHERE p.downloads_last_4_weeks + p.downloads_prev_4_weeks > 0 "
            "GROUP BY d.package_name) "
            "SELECT w.package_name, p.display_name, w.last, w.prev, "
            "(w.last - w.prev) * 1.0 / w.prev AS growth, p.rank "
            "FROM w JOIN packages AS p ON p.package_name = w.package_name "
            "WHERE w.prev >= ? ORDER BY growth DESC, w.package_name LIMIT ?",
            (cut, cut, since, data_through, max(min_downloads, 1), limit),
            max_rows=limit,
        )
    return models.Trending(
        weeks=weeks,
        data_through=data_through,
        min_downloads=min_downloads,
        packages=[models.TrendingPackage(*r) for r in rows],
    )


BADGE_PERIODS = ("last-week", "last-4-weeks", "total")


def _humanize(count: int) -> str:
    for factor, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if count >= factor:
            text = f"{count / factor:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return str(count)


async def badge(reader: Reader, raw_name: str, period: str) -> models.Badge:
    """A shields.io endpoint badge for one package."""
    pkg = await get_package(reader, raw_name)
    if period == "last-week":
        message = f"{_humanize(pkg.downloads_last_week)}/week"
    elif period == "last-4-weeks":
        message = f"{_humanize(pkg.downloads_last_4_weeks)}/4 weeks"
    else:
        message = f"{_humanize(pkg.downloads_total)} total"
    return models.Badge(
        schema_version=1, label="downloads", message=message, color="blue", cache_seconds=3600
    )


def meta(reader: Reader) -> models.Meta:
    """The served build's metadata (no query: read when the file was opened)."""
    b = reader.build
    return models.Meta(
        build_id=b.build_id,
        data_through=b.data_through,
        exported_at=b.exported_at,
        source_target=b.source_target,
        schema_version=b.schema_version,
        first_week=b.first_week,
        tables=[models.TableCount(table=t, rows=n) for t, n in b.row_counts],
    )
