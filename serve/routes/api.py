"""``/api/...``: JSON (and CSV for tables) over the published file."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from contract import DIMENSIONS
from serve import data, models
from serve.db import BuildInfo, Reader
from serve.formats import Format, TableOperation, respond
from serve.params import (
    Window,
    normalize_name,
    parse_dimension,
    parse_exclude,
    parse_kinds,
    parse_packages,
    week_range,
)
from serve.problems import COMMON_RESPONSES, PACKAGE_RESPONSES

BadgePeriod = Literal["last-week", "last-4-weeks", "total"]
#: The endpoint badge's period names -> ``data.BADGE_PERIODS``'.
_BADGE_PERIOD = {"last-week": "week", "last-4-weeks": "month", "total": "total"}
Kinds = Annotated[
    list[str] | None,
    QueryParameter(
        description="Release kinds (`major`, `minor`, `patch`, `pre-release`, `unknown`), "
        "repeated or comma-separated. Default: `major,minor` (what the charts mark).",
    ),
]

# Shared parameter declarations (documented once in OpenAPI).
Start = Annotated[
    date | None,
    QueryParameter(
        description="First week (any date; snapped to its Monday). Default: 52 weeks before end."
    ),
]
End = Annotated[
    date | None,
    QueryParameter(
        description="Last week (any date; snapped to its Monday). Default: last complete week."
    ),
]
Exclude = Annotated[
    list[str] | None,
    QueryParameter(
        description="Categories to subtract: `mirror`, `ci`, `metadata`; repeated "
        "(`exclude=ci&exclude=mirror`) or comma-separated (`exclude=ci,mirror`). "
        "**Default (parameter absent): `mirror,metadata`** (mirrors and `.metadata` "
        "fetches are not people installing). The list replaces the default: give "
        "`exclude=` (empty) to count every download, `exclude=ci` to subtract CI only.",
    ),
]
Share = Annotated[bool, QueryParameter(description="Add each value's fraction of its week.")]
FormatParam = Annotated[
    Format | None,
    QueryParameter(name="format", description="`csv` for CSV (or send `Accept: text/csv`)."),
]
Name = Annotated[
    str, PathParameter(description="Package name; normalised as in PEP 503.", max_length=300)
]

_CACHED = {"cache": True}


def series_window(
    reader: Reader, start: date | None, end: date | None, exclude: list[str] | None
) -> Window:
    """``start``/``end`` resolved against the served build, and ``exclude``.

    Not a Litestar dependency on purpose: an error raised while resolving a
    dependency would skip the cleanup of ``reader`` and leak its connection.
    """
    return _window(start, end, None if exclude is None else tuple(exclude), reader.build)


@lru_cache(maxsize=1024)
def _window(
    start: date | None, end: date | None, exclude: tuple[str, ...] | None, build: BuildInfo
) -> Window:
    # Most requests ask for the same few windows of one build; resolving dates and
    # parsing exclusions was a visible share of a series request. Errors are not cached.
    return Window(week_range(start, end, build), parse_exclude(exclude))


@get(
    "/packages",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=COMMON_RESPONSES,
    summary="Search packages by name prefix",
)
async def search_packages(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    q: Annotated[
        str, QueryParameter(description="Name prefix (case and -_. insensitive).", max_length=200)
    ] = "",
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    format_: FormatParam = None,
) -> Response[models.PackageSearch]:
    """Packages whose normalised name starts with ``q``, most downloaded (last 4 weeks) first."""
    return respond(request, format_, await data.search_packages(reader, q, limit))


@get("/packages/{name:str}", opt=_CACHED, responses=PACKAGE_RESPONSES, summary="One package")
async def get_package(reader: NamedDependency[Reader], name: Name) -> models.Package:
    """The package's row (totals, last week, growth, rank) and the data-through week."""
    return await data.get_package(reader, normalize_name(name))


@get(
    "/packages/{name:str}/downloads",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=PACKAGE_RESPONSES,
    summary="Weekly downloads of one package",
)
async def get_downloads(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    name: Name,
    start: Start = None,
    end: End = None,
    exclude: Exclude = None,
    cumulative: Annotated[
        bool, QueryParameter(description="Running total instead of per week.")
    ] = False,
    format_: FormatParam = None,
) -> Response[models.DownloadSeries]:
    """Weekly downloads between start and end, zero-filled, optionally cumulative."""
    series = await data.download_series(
        reader, normalize_name(name), series_window(reader, start, end, exclude), cumulative
    )
    return respond(request, format_, series)


@get(
    "/packages/{name:str}/badge",
    opt=_CACHED,
    responses=PACKAGE_RESPONSES,
    summary="shields.io endpoint badge",
)
async def get_badge(
    reader: NamedDependency[Reader],
    name: Name,
    period: Annotated[BadgePeriod, QueryParameter(description="Which total.")] = "last-week",
    exclude: Exclude = None,
) -> models.Badge:
    """shields.io endpoint JSON: downloads last week, in the last 4 weeks, or in total.

    The SVG badge served directly is ``/badge/{name}.svg``.
    """
    return await data.badge(
        reader, normalize_name(name), _BADGE_PERIOD[period], parse_exclude(exclude)
    )


@get(
    "/packages/{name:str}/releases",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=PACKAGE_RESPONSES,
    summary="Releases of one package (the chart's release markers)",
)
async def get_releases(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    name: Name,
    start: Start = None,
    end: End = None,
    kind: Kinds = None,
    format_: FormatParam = None,
) -> Response[models.Releases]:
    """Versions first uploaded between start and end, with their release line and kind."""
    kinds = parse_kinds(kind)
    found = await data.releases(
        reader, normalize_name(name), series_window(reader, start, end, None), kinds
    )
    return respond(request, format_, found)


@get(
    "/events",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=COMMON_RESPONSES,
    summary="Known events in the download logs (the chart's notes)",
)
async def get_events(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    start: Start = None,
    end: End = None,
    format_: FormatParam = None,
) -> Response[models.DataEvents]:
    """Gaps, undercounts and changes of what is logged that overlap start..end.

    ``end_date`` null means the event is still in effect; ``scope`` is `all`
    (every package) or one package.
    """
    found = await data.events(reader, series_window(reader, start, end, None))
    return respond(request, format_, found)


@get(
    "/packages/{name:str}/{dimension:str}",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=PACKAGE_RESPONSES,
    summary="Weekly downloads of one package by a dimension",
)
async def get_dimension(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    name: Name,
    dimension: Annotated[
        str,
        PathParameter(description="Which breakdown.", schema_extra={"enum": list(DIMENSIONS)}),
    ],
    start: Start = None,
    end: End = None,
    exclude: Exclude = None,
    share: Share = False,
    format_: FormatParam = None,
) -> Response[models.DimensionSeries]:
    """Long format: one point per (week, value); values beyond the top 20 are 'other'.

    Only package-weeks with at least ``breakdown_min_downloads`` downloads have
    a breakdown (0: all); ``weeks_without_breakdown`` lists the weeks in range
    that have downloads but fewer (no points; their totals are in
    ``/downloads``), ``first_breakdown_week`` the package's first week with one.
    """
    dim = parse_dimension(dimension)
    package = normalize_name(name)
    window = series_window(reader, start, end, exclude)
    series = await data.dimension_series(reader, package, dim, window, share)
    coverage = (await data.breakdown_coverage(reader, (package,), window))[package]
    series = msgspec.structs.replace(
        series,
        breakdown_min_downloads=coverage.breakdown_min_downloads,
        weeks_without_breakdown=coverage.weeks_without_breakdown,
        first_breakdown_week=coverage.first_breakdown_week,
    )
    return respond(request, format_, series)


@get(
    "/compare",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=PACKAGE_RESPONSES,
    summary="Compare up to 10 packages",
)
async def get_compare(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    packages: Annotated[
        list[str],
        QueryParameter(description="Package names (1 to 10), repeated or comma-separated."),
    ],
    start: Start = None,
    end: End = None,
    exclude: Exclude = None,
    share: Annotated[
        bool,
        QueryParameter(description="Add share of the combined total and of all PyPI per week."),
    ] = False,
    format_: FormatParam = None,
) -> Response[models.Comparison]:
    """Weekly series on one aligned week axis, with all-PyPI totals for the same weeks."""
    names = parse_packages(packages, required=True)
    result = await data.compare(reader, names, series_window(reader, start, end, exclude), share)
    return respond(request, format_, result)


@get(
    "/trending",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=COMMON_RESPONSES,
    summary="Biggest risers",
)
async def get_trending(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    weeks: Annotated[int, QueryParameter(ge=1, le=26, description="Window length in weeks.")] = 4,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    min_downloads: Annotated[
        int, QueryParameter(ge=1, le=10**12, description="Least downloads in the previous window.")
    ] = 100,
    format_: FormatParam = None,
) -> Response[models.Trending]:
    """Packages ranked by growth of the last ``weeks`` weeks over the ``weeks`` before."""
    return respond(request, format_, await data.trending(reader, weeks, limit, min_downloads))


@get(
    "/overall",
    opt=_CACHED,
    operation_class=TableOperation,
    responses=COMMON_RESPONSES,
    summary="All of PyPI per week",
)
async def get_overall(
    request: Request[Any, Any, Any],
    reader: NamedDependency[Reader],
    start: Start = None,
    end: End = None,
    exclude: Exclude = None,
    format_: FormatParam = None,
) -> Response[models.OverallSeries]:
    """Total weekly downloads and distinct packages downloaded."""
    return respond(
        request, format_, await data.overall(reader, series_window(reader, start, end, exclude))
    )


@get("/meta", opt=_CACHED, responses=COMMON_RESPONSES, summary="The build being served")
async def get_meta(reader: NamedDependency[Reader]) -> models.Meta:
    """Build id, data-through week, export time and row counts.

    ``sample`` is true unless the file was built from the real logs
    (``source_target`` prod); a sample file also carries ``sample_scale``
    (sample downloads per real download) and a ``notice`` saying what it is.
    """
    return data.meta(reader)


api_router = Router(
    path="/api",
    route_handlers=[
        search_packages,
        get_package,
        get_downloads,
        get_badge,
        get_releases,
        get_events,
        get_dimension,
        get_compare,
        get_trending,
        get_overall,
        get_meta,
    ],
    tags=["api"],
)
