"""Response bodies: frozen msgspec structs named after what they carry."""

from __future__ import annotations

from typing import Annotated

import msgspec


class PackageMatch(msgspec.Struct, frozen=True):
    """One search hit."""

    package: str
    display_name: str
    summary: str | None
    downloads_last_week: int
    downloads_last_4_weeks: int
    rank: int


class PackageSearch(msgspec.Struct, frozen=True):
    """Packages whose normalised name starts with ``query``, most downloaded first."""

    query: str
    packages: list[PackageMatch]


class Package(msgspec.Struct, frozen=True):
    """A ``packages`` row plus the data-through week of the build."""

    package: str
    display_name: str
    summary: str | None
    latest_version: str | None
    first_release_date: str | None
    first_download_week: str | None
    last_download_week: str | None
    downloads_total: int
    downloads_last_week: int
    downloads_last_4_weeks: int
    downloads_prev_4_weeks: int
    growth_4_weeks: float | None
    rank: int
    data_through: str
    #: The project's own home page from its upload metadata (any URL: check it before linking).
    home_page: str | None = None
    #: The package's page on the index, when the build was given a URL prefix for it.
    pypi_url: str | None = None


class WeekDownloads(msgspec.Struct, frozen=True):
    """Downloads in one ISO week (Monday ``week``)."""

    week: str
    downloads: int


class DownloadSeries(msgspec.Struct, frozen=True):
    """A package's weekly downloads over ``start``..``end`` (zero-filled)."""

    package: str
    display_name: str
    start: str
    end: str
    exclude: list[str]
    cumulative: bool
    weeks: list[WeekDownloads]


class DimensionPoint(msgspec.Struct, frozen=True):
    """Downloads of one dimension value in one week; ``share`` of that week when asked."""

    week: str
    value: str
    downloads: int
    share: float | None = None


# OpenAPI descriptions of the breakdown coverage fields (Litestar reads msgspec.Meta).
_THRESHOLD = (
    "The file's breakdown threshold (`_meta.breakdown_min_downloads`): only package-weeks "
    "with at least this many downloads (every category counted) have a breakdown; 0: all."
)
_WITHOUT = (
    "Weeks of start..end with downloads but fewer than `breakdown_min_downloads`: they have "
    "no points (totals only, in `/downloads`), which is not zero downloads. Weeks without any "
    "download are not listed."
)
_FIRST = "The package's first week with a breakdown in the whole file (null: none)."


class DimensionSeries(msgspec.Struct, frozen=True):
    """A package's weekly downloads split by one dimension (long format).

    Only package-weeks with at least ``breakdown_min_downloads`` downloads (all
    categories counted) have a breakdown; ``weeks_without_breakdown`` lists the
    weeks of ``start``..``end`` that have downloads but fewer, so they have no
    points here (their totals are in ``/downloads``).
    """

    package: str
    display_name: str
    dimension: str
    start: str
    end: str
    exclude: list[str]
    share: bool
    values: list[str]
    points: list[DimensionPoint]
    breakdown_min_downloads: Annotated[int, msgspec.Meta(description=_THRESHOLD)] = 0
    weeks_without_breakdown: Annotated[list[str], msgspec.Meta(description=_WITHOUT)] = (
        msgspec.field(default_factory=list)
    )
    first_breakdown_week: Annotated[str | None, msgspec.Meta(description=_FIRST)] = None


class BreakdownCoverage(msgspec.Struct, frozen=True):
    """Which weeks of a range have a breakdown for one package (one query, API and pages).

    A package-week has rows in the dimension marts only with at least
    ``breakdown_min_downloads`` downloads (all categories counted).
    """

    package: str
    breakdown_min_downloads: Annotated[int, msgspec.Meta(description=_THRESHOLD)]
    first_breakdown_week: Annotated[str | None, msgspec.Meta(description=_FIRST)]
    weeks_without_breakdown: Annotated[list[str], msgspec.Meta(description=_WITHOUT)]


class ComparedPackage(msgspec.Struct, frozen=True):
    """One package's series on the comparison's week axis."""

    package: str
    display_name: str
    downloads: list[int]
    share_of_combined: list[float] | None = None
    share_of_pypi: list[float] | None = None


class Comparison(msgspec.Struct, frozen=True):
    """Several packages aligned on one week axis, with all-PyPI totals."""

    start: str
    end: str
    exclude: list[str]
    weeks: list[str]
    pypi_downloads: list[int]
    packages: list[ComparedPackage]


class TrendingPackage(msgspec.Struct, frozen=True):
    """A riser: downloads in the last ``weeks`` weeks against the ``weeks`` before."""

    package: str
    display_name: str
    downloads_last: int
    downloads_prev: int
    growth: float
    rank: int


class Trending(msgspec.Struct, frozen=True):
    """The biggest risers by growth, among packages with at least ``min_downloads`` before."""

    weeks: int
    data_through: str
    min_downloads: int
    packages: list[TrendingPackage]


class OverallWeek(msgspec.Struct, frozen=True):
    """All of PyPI in one week."""

    week: str
    downloads: int
    packages: int


class OverallSeries(msgspec.Struct, frozen=True):
    """All-PyPI weekly downloads and distinct packages downloaded."""

    start: str
    end: str
    exclude: list[str]
    weeks: list[OverallWeek]


class Badge(msgspec.Struct, frozen=True, rename="camel"):
    """A shields.io endpoint badge (https://shields.io/badges/endpoint-badge)."""

    schema_version: int
    label: str
    message: str
    color: str
    cache_seconds: int


class Release(msgspec.Struct, frozen=True):
    """A release first uploaded in the range, and the week it falls in."""

    version: str
    release_line: str
    release_kind: str
    first_uploaded_at: str
    week: str


class Releases(msgspec.Struct, frozen=True):
    """A package's releases first uploaded between ``start`` and ``end`` (oldest first)."""

    package: str
    display_name: str
    start: str
    end: str
    kinds: list[str]
    releases: list[Release]


class DataEvent(msgspec.Struct, frozen=True):
    """A known event in the download logs; ``end_date`` None means still in effect."""

    scope: str
    start_date: str
    end_date: str | None
    effect: str
    title: str
    description: str
    source: str


class DataEvents(msgspec.Struct, frozen=True):
    """The known log events that overlap ``start``..``end``."""

    start: str
    end: str
    events: list[DataEvent]


class TableCount(msgspec.Struct, frozen=True):
    """Rows in one exported table."""

    table: str
    rows: int


class Meta(msgspec.Struct, frozen=True):
    """The published build being served."""

    build_id: str
    data_through: str
    exported_at: str
    source_target: str
    schema_version: str
    first_week: str | None
    tables: list[TableCount]
    #: True unless the file was built from the real logs (``source_target`` prod).
    sample: bool = False
    #: Sample downloads per real download the sample was calibrated on (sample files only).
    sample_scale: float | None = None
    #: What the data is, in a sentence (sample files only).
    notice: str | None = None


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    """Liveness / readiness answer."""

    status: str
    build_id: str | None = None
    data_through: str | None = None
    # Days since the last served complete week ended (data_through + 7 days,
    # 00:00 UTC): the same age as the pypi_trends_data_through_age_seconds gauge.
    data_through_age_days: float | None = None
    # Readiness: the last published file the server refused to switch to, and why.
    detail: str | None = None
