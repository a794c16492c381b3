"""Every query the API and the pages run, each written once.

Every function takes a borrowed :class:`~serve.db.Reader`. Table and column
names come only from :mod:`contract`, values only through ``?`` placeholders,
and every statement carries a ``LIMIT`` so the row bound also holds inside
SQLite. A struct's ``SELECT`` list is built from its own fields
(:func:`columns`), so rows map to structs by name. Lookups by primary key pass
``inline=True`` (see ``Reader``); scans (search, suggestions, trending) run on
the connection's thread.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import Any, cast

import msgspec

from contract import (
    DATA_EVENTS,
    DATA_THROUGH_TABLE,
    META_TABLE,
    PACKAGE_DOWNLOADS_WEEKLY,
    PACKAGE_RELEASES,
    PACKAGES,
    Dimension,
    Meta,
)
from serve import models
from serve.db import BuildInfo, Reader, Row
from serve.formats import humanize
from serve.params import Exclusion, Window, is_valid_name, normalize_name
from serve.problems import ApiProblem

#: The most rows one query may return.
MAX_ROWS = 200_000
_TOP = "\U0010ffff"

#: Response field -> the file's column, where the API names it differently.
_COLUMN_OF = {"package": "package_name", "week": "week_start"}


def columns(struct: type[msgspec.Struct], alias: str = "", **exprs: str) -> str:
    """The ``SELECT`` list that yields ``struct``'s fields, in order, by name.

    Args:
        struct: The struct each row becomes (``struct(*row)``).
        alias: Table alias to qualify plain column names with.
        **exprs: SQL for fields that are not a column of the same name.

    Returns:
        ``expr AS field, ...``.
    """
    prefix = f"{alias}." if alias else ""
    out = []
    for name in struct.__struct_fields__:
        expr = exprs.get(name) or prefix + _COLUMN_OF.get(name, name)
        out.append(expr if expr == prefix + name else f"{expr} AS {name}")
    return ", ".join(out)


def excluded_downloads(alias: str) -> str:
    """Downloads minus the excluded categories; takes ``Exclusion.flags`` as its 3 parameters."""
    a = alias
    return (
        f"{a}.downloads - ? * {a}.downloads_ci - ? * {a}.downloads_mirror "
        f"- ? * {a}.downloads_metadata"
    )


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


# --- packages ----------------------------------------------------------------------------------

_PACKAGE_SQL = f"SELECT {columns(models.Package, data_through='?')} FROM {PACKAGES.name} "


async def package_rows(reader: Reader, names: Sequence[str]) -> dict[str, models.Package]:
    """The ``packages`` rows of ``names`` that exist, by name."""
    if not names:
        return {}
    rows = await reader.fetch(
        _PACKAGE_SQL + f"WHERE package_name IN ({_marks(names)}) LIMIT ?",
        (reader.build.data_through, *names, len(names) + 1),
        max_rows=len(names),
        inline=True,
    )
    return {r[0]: models.Package(*r) for r in rows}


async def known_packages(reader: Reader, names: Sequence[str]) -> dict[str, models.Package]:
    """The ``packages`` rows of ``names``, all of which must exist.

    Raises:
        ApiProblem: 404 with close matches when one is not in the file.
    """
    found = await package_rows(reader, names)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise await unknown_packages(reader, unknown)
    return found


async def get_package(reader: Reader, name: str) -> models.Package:
    """One package's row (404 with close matches when there is none)."""
    return (await known_packages(reader, (name,)))[name]


async def close_matches(reader: Reader, name: str, n: int = 5) -> list[str]:
    """Names similar to ``name``, most downloaded candidates first.

    Candidates share the first two characters (an index range scan), so the
    cost is bounded whatever the input.
    """
    if not is_valid_name(name):
        return []
    head = name[:2]
    rows = await reader.fetch(
        f"SELECT package_name FROM {PACKAGES.name} WHERE package_name >= ? AND package_name < ? "
        "ORDER BY downloads_last_4_weeks DESC LIMIT 5000",
        (head, head + _TOP),
        max_rows=5000,
    )
    return difflib.get_close_matches(name, [r[0] for r in rows], n=n, cutoff=0.6)


async def unknown_packages(reader: Reader, unknown: Sequence[str]) -> ApiProblem:
    """The 404 for names that are not in the file, with close matches of the first."""
    shown = ", ".join(repr(u[:100]) for u in unknown)
    return ApiProblem(
        404,
        "unknown-package",
        f"no package named {shown}",
        suggestions=await close_matches(reader, unknown[0]),
    )


async def search_packages(reader: Reader, query: str, limit: int) -> models.PackageSearch:
    """Packages whose normalised name starts with the normalised ``query``.

    The package named exactly ``query`` comes first (``uv`` before
    ``uvicorn``), then the most downloaded. An empty query lists the most
    downloaded packages of the last week.
    """
    prefix = normalize_name(query.strip())
    select = f"SELECT {columns(models.PackageMatch)} FROM {PACKAGES.name} "
    if prefix:
        rows = await reader.fetch(
            select + "WHERE package_name >= ? AND package_name < ? "
            "ORDER BY package_name = ? DESC, downloads_last_4_weeks DESC, package_name LIMIT ?",
            (prefix, prefix + _TOP, prefix, limit),
            max_rows=limit,
        )
    else:
        rows = await reader.fetch(select + "ORDER BY rank LIMIT ?", (limit,), max_rows=limit)
    return models.PackageSearch(query=prefix, packages=[models.PackageMatch(*r) for r in rows])


# --- weekly series and breakdowns --------------------------------------------------------------


def _span(window: Window) -> dict[str, Any]:
    """The ``start``, ``end`` and ``exclude`` members every series response carries."""
    weeks = window.weeks
    return {
        "start": weeks.start.isoformat(),
        "end": weeks.end.isoformat(),
        "exclude": window.exclude.names,
    }


async def display_names(reader: Reader, names: Sequence[str]) -> dict[str, str]:
    """The display names of ``names``, all of which must exist (404 as ``known_packages``)."""
    return {name: p.display_name for name, p in (await known_packages(reader, names)).items()}


def _weekly_sql(table: str, select: str, count: int) -> str:
    """Rows of a weekly table for ``count`` packages over a week range (parameters: see callers)."""
    where = "package_name = ?" if count == 1 else f"package_name IN ({_marks(range(count))})"
    return (
        f"SELECT {select}{excluded_downloads(table)} FROM {table} "
        f"WHERE {where} AND week_start BETWEEN ? AND ? LIMIT ?"
    )


async def _weekly_rows(
    reader: Reader,
    names: Sequence[str],
    window: Window,
    table: str,
    select: str,
    *,
    inline: bool = True,
) -> list[Row]:
    """``(*select, downloads)`` rows of a weekly table for ``names`` over the window.

    The caller looks the packages up first (``display_names``), so that an
    unknown package (404) is told apart from one without downloads in range;
    the weekly rows then carry only what varies per row.
    """
    return await reader.fetch(
        _weekly_sql(table, select, len(names)),
        (
            *window.exclude.flags,
            *names,
            window.weeks.start.isoformat(),
            window.weeks.end.isoformat(),
            MAX_ROWS + 1,
        ),
        max_rows=MAX_ROWS,
        inline=inline,
    )


_WEEK_COUNTS = msgspec.json.Decoder(dict[str, int])


@lru_cache(maxsize=16)
def _package_weeks_sql(count: int) -> str:
    t = PACKAGE_DOWNLOADS_WEEKLY.name
    return (
        f"SELECT p.package_name, p.display_name, "
        f"(SELECT json_group_object(t.week_start, {excluded_downloads('t')}) FROM {t} AS t "
        "WHERE t.package_name = p.package_name AND t.week_start BETWEEN ? AND ?) "
        f"FROM {PACKAGES.name} AS p WHERE p.package_name IN ({_marks(range(count))}) LIMIT ?"
    )


async def _package_weeks(
    reader: Reader, names: Sequence[str], window: Window
) -> dict[str, tuple[str, dict[str, int]]]:
    """Each package's display name and its downloads by week over the window.

    One primary-key lookup per package, its weeks gathered by SQLite into one
    JSON object (``{"2026-01-05": 123, ...}``, weeks without a row absent):
    a row per package instead of a row per package-week, which costs much
    less to hand from SQLite to Python. An unknown package has no row at all,
    so it is told apart from one without downloads in range. The object holds
    at most one member per week of the window, so the row bound holds too.

    Raises:
        ApiProblem: 404 when a name is not in the file.
    """
    rows = await reader.fetch(
        _package_weeks_sql(len(names)),
        (
            *window.exclude.flags,
            window.weeks.start.isoformat(),
            window.weeks.end.isoformat(),
            *names,
            len(names) + 1,
        ),
        max_rows=len(names),
        inline=True,
    )
    found = {name: (display, _WEEK_COUNTS.decode(weeks)) for name, display, weeks in rows}
    if len(found) < len(names):
        raise await unknown_packages(reader, [n for n in names if n not in found])
    return found


@dataclass(frozen=True, slots=True)
class WeeklyDownloads:
    """Packages' weekly downloads on one week axis (zero-filled), and their display names."""

    weeks: list[str]
    display_names: dict[str, str]
    counts: dict[str, list[int]]


async def weekly_downloads(reader: Reader, names: Sequence[str], window: Window) -> WeeklyDownloads:
    """Weekly downloads of ``names``, in the order given, zero-filled over the window."""
    found = await _package_weeks(reader, names, window)
    axis = window.weeks.weeks
    counts = {n: [found[n][1].get(w, 0) for w in axis] for n in names}
    return WeeklyDownloads(axis, {n: found[n][0] for n in names}, counts)


async def download_series(
    reader: Reader, name: str, window: Window, cumulative: bool
) -> models.DownloadSeries:
    """A package's weekly downloads, zero-filled over the window."""
    display, by_week = (await _package_weeks(reader, (name,), window))[name]
    axis = window.weeks.weeks
    week = models.WeekDownloads
    if cumulative:
        totals = accumulate(by_week.get(w, 0) for w in axis)
        weeks = [week(w, c) for w, c in zip(axis, totals, strict=True)]
    else:
        weeks = [week(w, by_week.get(w, 0)) for w in axis]
    return models.DownloadSeries(
        package=name, display_name=display, cumulative=cumulative, weeks=weeks, **_span(window)
    )


async def pypi_weeks(reader: Reader, window: Window) -> list[models.OverallWeek]:
    """All-PyPI weekly totals over the window (only weeks the file has)."""
    t = DATA_THROUGH_TABLE.name
    rows = await reader.fetch(
        f"SELECT {columns(models.OverallWeek, downloads=excluded_downloads(t))} FROM {t} "
        "WHERE week_start BETWEEN ? AND ? ORDER BY week_start LIMIT ?",
        (
            *window.exclude.flags,
            window.weeks.start.isoformat(),
            window.weeks.end.isoformat(),
            MAX_ROWS + 1,
        ),
        max_rows=MAX_ROWS,
        inline=True,
    )
    return [models.OverallWeek(*r) for r in rows]


def _shares(counts: list[int], totals: list[int]) -> list[float]:
    return [c / t if t else 0.0 for c, t in zip(counts, totals, strict=True)]


async def compare(
    reader: Reader, names: Sequence[str], window: Window, share: bool
) -> models.Comparison:
    """Several packages on one aligned week axis, with all-PyPI totals."""
    found = await weekly_downloads(reader, names, window)
    pypi = {w.week: w.downloads for w in await pypi_weeks(reader, window)}
    pypi_counts = [pypi.get(w, 0) for w in found.weeks]
    combined = [sum(col) for col in zip(*found.counts.values(), strict=True)] if found.weeks else []
    return models.Comparison(
        weeks=found.weeks,
        pypi_downloads=pypi_counts,
        packages=[
            models.ComparedPackage(
                package=name,
                display_name=found.display_names[name],
                downloads=counts,
                share_of_combined=_shares(counts, combined) if share else None,
                share_of_pypi=_shares(counts, pypi_counts) if share else None,
            )
            for name, counts in found.counts.items()
        ],
        **_span(window),
    )


async def overall(reader: Reader, window: Window) -> models.OverallSeries:
    """All-PyPI weekly totals."""
    return models.OverallSeries(weeks=await pypi_weeks(reader, window), **_span(window))


@dataclass(frozen=True, slots=True)
class BreakdownRows:
    """(package, week, value, downloads) rows of one dimension for several packages."""

    dimension: str
    rows: list[tuple[str, str, str, int]]
    display_names: dict[str, str] = field(default_factory=dict)


async def breakdown_rows(
    reader: Reader, names: Sequence[str], dimension: Dimension, window: Window
) -> BreakdownRows:
    """Weekly downloads of ``names`` split by ``dimension`` (one query for all packages)."""
    display = await display_names(reader, names)
    select = f"package_name, week_start, {dimension.column}, "
    # Several packages' breakdowns can outgrow the event loop's budget: use the thread.
    rows = await _weekly_rows(
        reader, names, window, dimension.table.name, select, inline=len(names) == 1
    )
    return BreakdownRows(dimension.slug, cast("list[tuple[str, str, str, int]]", rows), display)


async def dimension_series(
    reader: Reader, name: str, dimension: Dimension, window: Window, share: bool
) -> models.DimensionSeries:
    """A package's weekly downloads split by ``dimension`` (long format)."""
    found = await breakdown_rows(reader, (name,), dimension, window)
    data = [r for r in found.rows if r[3] > 0]
    week_totals: dict[str, int] = {}
    value_totals: dict[str, int] = {}
    for _, week, value, count in data:
        week_totals[week] = week_totals.get(week, 0) + count
        value_totals[value] = value_totals.get(value, 0) + count
    data.sort(key=lambda r: (r[1], -r[3], r[2]))
    return models.DimensionSeries(
        package=name,
        display_name=found.display_names[name],
        dimension=dimension.slug,
        share=share,
        values=sorted(value_totals, key=lambda v: (-value_totals[v], v)),
        points=[
            models.DimensionPoint(week, value, count, count / week_totals[week] if share else None)
            for _, week, value, count in data
        ],
        **_span(window),
    )


# --- rankings and the build --------------------------------------------------------------------


async def trending(reader: Reader, weeks: int, limit: int, min_downloads: int) -> models.Trending:
    """The biggest risers: growth of the last ``weeks`` weeks over the ``weeks`` before.

    ``weeks=4`` reads the precomputed ``packages`` columns; other windows sum
    the weekly table for packages that had downloads in the last 8 weeks.
    """
    data_through = reader.build.data_through
    if weeks == 4:
        select = columns(
            models.TrendingPackage,
            downloads_last="downloads_last_4_weeks",
            downloads_prev="downloads_prev_4_weeks",
            growth="growth_4_weeks",
        )
        rows = await reader.fetch(
            f"SELECT {select} FROM {PACKAGES.name} "
            "WHERE downloads_prev_4_weeks >= ? AND growth_4_weeks IS NOT NULL "
            "ORDER BY growth_4_weeks DESC, package_name LIMIT ?",
            (max(min_downloads, 1), limit),
            max_rows=limit,
        )
    else:
        last = date.fromisoformat(data_through)
        cut = (last - timedelta(weeks=weeks)).isoformat()
        since = (last - timedelta(weeks=2 * weeks)).isoformat()
        select = columns(
            models.TrendingPackage,
            "p",
            downloads_last="w.last",
            downloads_prev="w.prev",
            growth="(w.last - w.prev) * 1.0 / w.prev",
        )
        rows = await reader.fetch(
            "WITH w AS (SELECT d.package_name, "
            "sum(CASE WHEN d.week_start > ? THEN d.downloads ELSE 0 END) AS last, "
            "sum(CASE WHEN d.week_start <= ? THEN d.downloads ELSE 0 END) AS prev "
            f"FROM {PACKAGES.name} AS p JOIN {PACKAGE_DOWNLOADS_WEEKLY.name} AS d "
            "ON d.package_name = p.package_name AND d.week_start > ? AND d.week_start <= ? "
            "WHERE p.downloads_last_4_weeks + p.downloads_prev_4_weeks > 0 "
            "GROUP BY d.package_name) "
            f"SELECT {select} FROM w JOIN {PACKAGES.name} AS p "
            "ON p.package_name = w.package_name "
            "WHERE w.prev >= ? ORDER BY growth DESC, p.package_name LIMIT ?",
            (cut, cut, since, data_through, max(min_downloads, 1), limit),
            max_rows=limit,
        )
    return models.Trending(
        weeks=weeks,
        data_through=data_through,
        min_downloads=min_downloads,
        packages=[models.TrendingPackage(*r) for r in rows],
    )


#: Badge periods -> (weeks counted back from the last complete week (None: all), suffix).
BADGE_PERIODS: dict[str, tuple[int | None, str]] = {
    "week": (1, "/week"),
    "month": (4, "/month"),
    "total": (None, " total"),
}


async def badge_count(reader: Reader, name: str, weeks: int | None, exclude: Exclusion) -> int:
    """A package's downloads in its last ``weeks`` complete weeks (all weeks when None)."""
    await get_package(reader, name)
    last = date.fromisoformat(reader.build.data_through)
    first = (last - timedelta(weeks=weeks - 1)).isoformat() if weeks else "0000-01-01"
    t = PACKAGE_DOWNLOADS_WEEKLY.name
    rows = await reader.fetch(
        f"SELECT coalesce(sum({excluded_downloads(t)}), 0) FROM {t} "
        "WHERE package_name = ? AND week_start BETWEEN ? AND ? LIMIT 1",
        (*exclude.flags, name, first, last.isoformat()),
        max_rows=1,
        inline=weeks is not None,
    )
    return int(rows[0][0]) if rows else 0


async def badge(reader: Reader, name: str, period: str, exclude: Exclusion) -> models.Badge:
    """A shields.io endpoint badge for one package (``period`` from ``BADGE_PERIODS``)."""
    weeks, suffix = BADGE_PERIODS[period]
    count = await badge_count(reader, name, weeks, exclude)
    return models.Badge(
        schema_version=1,
        label="downloads",
        message=f"{humanize(count)}{suffix}",
        color="blue",
        cache_seconds=3600,
    )


async def with_exclusions(
    reader: Reader, rows: dict[str, models.Package], exclude: Exclusion
) -> dict[str, models.Package]:
    """``packages`` rows with their download figures recounted without ``exclude``.

    The ``packages`` mart counts every download; the pages show what their
    exclusions leave (by default no mirrors and no metadata fetches), so the
    last week, last 4 weeks, the 4 before, growth and total are summed again
    from the weekly table. Rank stays the mart's (by every download).
    """
    if not rows or exclude == Exclusion():
        return rows
    last = date.fromisoformat(reader.build.data_through)
    cut = (last - timedelta(weeks=4)).isoformat()
    since = (last - timedelta(weeks=8)).isoformat()
    t = PACKAGE_DOWNLOADS_WEEKLY.name
    d = f"({excluded_downloads(t)})"
    names = list(rows)
    found = await reader.fetch(
        f"SELECT package_name, sum(CASE WHEN week_start = ? THEN {d} ELSE 0 END), "
        f"sum(CASE WHEN week_start > ? THEN {d} ELSE 0 END), "
        f"sum(CASE WHEN week_start > ? AND week_start <= ? THEN {d} ELSE 0 END), sum({d}) "
        f"FROM {t} WHERE package_name IN ({_marks(names)}) AND week_start <= ? "
        "GROUP BY package_name LIMIT ?",
        (
            last.isoformat(),
            *exclude.flags,
            cut,
            *exclude.flags,
            since,
            cut,
            *exclude.flags,
            *exclude.flags,
            *names,
            last.isoformat(),
            len(names) + 1,
        ),
        max_rows=len(names),
        inline=len(names) == 1,
    )
    out = dict(rows)
    for name, last_week, last_4, prev_4, total in found:
        out[name] = msgspec.structs.replace(
            rows[name],
            downloads_last_week=int(last_week),
            downloads_last_4_weeks=int(last_4),
            downloads_prev_4_weeks=int(prev_4),
            growth_4_weeks=(last_4 - prev_4) / prev_4 if prev_4 else None,
            downloads_total=int(total),
        )
    return out


# --- releases and log events -------------------------------------------------------------------


async def release_rows(
    reader: Reader, names: Sequence[str], window: Window, kinds: Sequence[str]
) -> dict[str, list[models.Release]]:
    """Releases of ``names`` first uploaded in the window's weeks, oldest first, by package."""
    if not names or not kinds:
        return {n: [] for n in names}
    select = columns(models.Release, week="first_upload_week")
    rows = await reader.fetch(
        f"SELECT package_name, {select} FROM {PACKAGE_RELEASES.name} "
        f"WHERE package_name IN ({_marks(names)}) AND first_upload_week BETWEEN ? AND ? "
        f"AND release_kind IN ({_marks(kinds)}) "
        "ORDER BY package_name, first_uploaded_at, version LIMIT ?",
        (
            *names,
            window.weeks.start.isoformat(),
            window.weeks.end.isoformat(),
            *kinds,
            MAX_ROWS + 1,
        ),
        max_rows=MAX_ROWS,
        inline=len(names) == 1,
    )
    out: dict[str, list[models.Release]] = {n: [] for n in names}
    for r in rows:
        out[r[0]].append(models.Release(*r[1:]))
    return out


async def releases(
    reader: Reader, name: str, window: Window, kinds: Sequence[str]
) -> models.Releases:
    """One package's releases in the window (404 for an unknown package)."""
    pkg = await get_package(reader, name)
    found = await release_rows(reader, (name,), window, kinds)
    weeks = window.weeks
    return models.Releases(
        package=name,
        display_name=pkg.display_name,
        start=weeks.start.isoformat(),
        end=weeks.end.isoformat(),
        kinds=list(kinds),
        releases=found[name],
    )


async def events(reader: Reader, window: Window, names: Sequence[str] = ()) -> models.DataEvents:
    """Known log events overlapping the window: those for all PyPI and for ``names``."""
    weeks = window.weeks
    # An event's last day may fall in the Sunday of the window's last week.
    last_day = (weeks.end + timedelta(days=6)).isoformat()
    scopes = ("all", *names)
    rows = await reader.fetch(
        f"SELECT {columns(models.DataEvent)} FROM {DATA_EVENTS.name} "
        f"WHERE scope IN ({_marks(scopes)}) AND start_date <= ? "
        "AND coalesce(end_date, ?) >= ? ORDER BY start_date, scope LIMIT ?",
        (*scopes, last_day, last_day, weeks.start.isoformat(), 1001),
        max_rows=1000,
        inline=True,
    )
    return models.DataEvents(
        start=weeks.start.isoformat(),
        end=weeks.end.isoformat(),
        events=[models.DataEvent(*r) for r in rows],
    )


def sample_notice(build: BuildInfo) -> str | None:
    """What a file not built from the real logs holds, in a sentence (None for real data)."""
    if not build.is_sample:
        return None
    text = (
        "This file was generated locally (source target "
        f"{build.source_target or 'unknown'}), not built from the PyPI download logs. "
        "Package names are real; download counts, versions, dates and summaries are invented"
    )
    if build.sample_scale:
        text += (
            f", and counts are scaled down about 1:{round(1 / build.sample_scale):,} "
            "from the real counts the sample was calibrated on"
        )
    return text + "."


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
        sample=b.is_sample,
        sample_scale=b.sample_scale,
        notice=sample_notice(b),
    )


# --- breakdown coverage ------------------------------------------------------------------------

_COVERAGE_SQL = (
    # The threshold comes from the file itself, so a file built without one (or
    # with 0) answers "every week" with no extra lookup by the caller.
    "WITH m(n) AS (SELECT coalesce((SELECT CAST(value AS INTEGER) "
    f"FROM {META_TABLE} WHERE key = ?), 0)) "
    "SELECT p.package_name, m.n, "
    f"(SELECT min(f.week_start) FROM {PACKAGE_DOWNLOADS_WEEKLY.name} AS f "
    "WHERE f.package_name = p.package_name AND f.downloads >= m.n AND f.downloads > 0), "
    "d.week_start "
    f"FROM {PACKAGES.name} AS p CROSS JOIN m "
    f"LEFT JOIN {PACKAGE_DOWNLOADS_WEEKLY.name} AS d ON d.package_name = p.package_name "
    "AND d.week_start BETWEEN ? AND ? AND d.downloads > 0 AND d.downloads < m.n "
    "WHERE p.package_name IN ({marks}) ORDER BY p.package_name, d.week_start LIMIT ?"
)


async def breakdown_coverage(
    reader: Reader, names: Sequence[str], window: Window
) -> dict[str, models.BreakdownCoverage]:
    """Which weeks of the window have a breakdown, per package (one query).

    The dimension marts hold only package-weeks with at least
    ``_meta.breakdown_min_downloads`` downloads, counted before any exclusion
    (as dbt cuts them). The weeks listed have downloads but fewer: the file has
    their totals and no breakdown. Weeks without any download are not listed
    (nothing is missing there). Names not in the file are left out.
    """
    if not names:
        return {}
    weeks = window.weeks
    rows = await reader.fetch(
        _COVERAGE_SQL.format(marks=_marks(names)),
        (
            Meta.BREAKDOWN_MIN_DOWNLOADS,
            weeks.start.isoformat(),
            weeks.end.isoformat(),
            *names,
            MAX_ROWS + 1,
        ),
        max_rows=MAX_ROWS,
        inline=len(names) == 1,
    )
    found: dict[str, tuple[int, str | None, list[str]]] = {}
    for name, threshold, first, week in rows:
        entry = found.setdefault(name, (int(threshold), first, []))
        if week is not None:
            entry[2].append(week)
    return {
        name: models.BreakdownCoverage(name, threshold, first, missing)
        for name, (threshold, first, missing) in found.items()
    }
