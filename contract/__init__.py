"""The exported SQLite file's contract, written once for the exporter and the server.

The dbt marts' contracts stay the source of each table's columns and types
(the exporter reads them from ``manifest.json``); this module names what the
two Python stages must agree on: the layout version, the tables and their
keys, the breakdown dimensions and the ``_meta`` keys. A test checks it
against the dbt manifest, so a renamed mart or key fails there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Version of the file layout (``_meta.schema_version`` and ``PRAGMA user_version``).
SCHEMA_VERSION: Final = 1
#: Layout versions the server can read; a file with any other is refused.
READABLE_SCHEMA_VERSIONS: Final = frozenset({SCHEMA_VERSION})


class Meta:
    """Keys of the ``_meta`` table (``key TEXT PRIMARY KEY, value TEXT``)."""

    BUILD_ID: Final = "build_id"
    DBT_INVOCATION_ID: Final = "dbt_invocation_id"
    SOURCE_TARGET: Final = "source_target"
    DATA_THROUGH: Final = "data_through"
    EXPORTED_AT: Final = "exported_at"
    SCHEMA_VERSION: Final = "schema_version"
    DBT_MART_INVOCATIONS: Final = "dbt_mart_invocations"
    DBT_TESTS_DIGEST: Final = "dbt_tests_digest"
    ACCEPTED_SHRINK: Final = "accepted_shrink"
    FORCED: Final = "forced"
    SAMPLE_SCALE: Final = "sample_scale"
    BREAKDOWN_MIN_DOWNLOADS: Final = "breakdown_min_downloads"


#: Every ``_meta`` key a published file must carry, non-empty, with what it holds.
META_KEYS_DESCRIBED: Final = {
    Meta.BUILD_ID: "Release id: UTC time of the build plus a hash of the dbt invocation id.",
    Meta.DBT_INVOCATION_ID: "The dbt run the marts come from.",
    Meta.SOURCE_TARGET: "dbt target the marts were built on: `dev`, `ci` (DuckDB) or `prod` "
    "(BigQuery).",
    Meta.DATA_THROUGH: "Monday of the last complete ISO week in the file.",
    Meta.EXPORTED_AT: "When the file was written (ISO 8601, UTC).",
    Meta.SCHEMA_VERSION: "Layout version of the file, also `PRAGMA user_version`.",
    Meta.DBT_MART_INVOCATIONS: "JSON `{mart: dbt invocation id}`: the invocation that last "
    "wrote each mart.",
    Meta.DBT_TESTS_DIGEST: "`sha256:<hex>` of the test results the export was allowed on: two "
    "files with the same digest were vouched for by the same test outcomes.",
}
#: ``_meta`` keys a file may carry (absent when they do not apply), with what they hold.
OPTIONAL_META_KEYS_DESCRIBED: Final = {
    Meta.SAMPLE_SCALE: "Only in a file exported from the local generated sample: sample "
    "download rows per real download of the same packages (e.g. `1.49e-06`), i.e. how far its "
    "counts are scaled down from the real counts it was calibrated on. Its presence marks the "
    "file as sample data.",
    Meta.ACCEPTED_SHRINK: "Why a shrink beyond the exporter's guards was published anyway "
    "(`--accept-shrink`), with what changed.",
    Meta.FORCED: "Why the build was published despite failed or missing tests (`--force`).",
    Meta.BREAKDOWN_MIN_DOWNLOADS: "The fewest downloads a package-week needs to have rows in "
    "the dimension marts (0: every package-week has them); the package-weeks below it have "
    "totals only.",
}
#: Optional keys a dimension mart declares in its dbt config ``meta`` (the dbt
#: var it was built with); the exporter copies them into ``_meta``.
MART_META_KEYS: Final = (Meta.BREAKDOWN_MIN_DOWNLOADS,)
META_KEYS: Final = tuple(META_KEYS_DESCRIBED)
OPTIONAL_META_KEYS: Final = tuple(OPTIONAL_META_KEYS_DESCRIBED)

#: The dbt-written log of which invocation wrote each mart and what its tests
#: reported (dbt/macros/provenance.sql), in the marts' schema of the warehouse.
PROVENANCE_TABLE: Final = "dbt_provenance"

#: The self-describing tables every file carries beside the marts.
META_TABLE: Final = "_meta"
TABLES_TABLE: Final = "_tables"
COLUMNS_TABLE: Final = "_columns"


@dataclass(frozen=True, slots=True)
class Table:
    """One exported mart: its name, its key (the SQLite primary key) and its columns."""

    name: str
    key: tuple[str, ...]
    #: Every column, in the dbt contract's order (a test checks them against it).
    columns: tuple[str, ...] = ()


#: The four counts of every weekly row.
COUNT_COLUMNS: Final = ("downloads", "downloads_ci", "downloads_mirror", "downloads_metadata")

PACKAGES: Final = Table(
    "packages",
    ("package_name",),
    (
        "package_name",
        "display_name",
        "summary",
        "latest_version",
        "home_page",
        "pypi_url",
        "first_release_date",
        "first_download_week",
        "last_download_week",
        "downloads_total",
        "downloads_last_week",
        "downloads_last_4_weeks",
        "downloads_prev_4_weeks",
        "growth_4_weeks",
        "rank",
    ),
)
PACKAGE_DOWNLOADS_WEEKLY: Final = Table(
    "package_downloads_weekly",
    ("package_name", "week_start"),
    ("package_name", "week_start", *COUNT_COLUMNS),
)
PYPI_DOWNLOADS_WEEKLY: Final = Table(
    "pypi_downloads_weekly", ("week_start",), ("week_start", *COUNT_COLUMNS, "packages")
)
#: Releases first uploaded in the built weeks: the release markers of a chart.
PACKAGE_RELEASES: Final = Table(
    "package_releases",
    ("package_name", "version"),
    (
        "package_name",
        "version",
        "release_line",
        "release_kind",
        "first_uploaded_at",
        "first_upload_week",
    ),
)
#: Known events in the download logs (gaps, undercounts, a change of what is
#: logged), for notes on the charts; ``end_date`` NULL means still in effect.
DATA_EVENTS: Final = Table(
    "data_events",
    ("scope", "start_date"),
    ("start_date", "end_date", "scope", "effect", "title", "description", "source"),
)


@dataclass(frozen=True, slots=True)
class Dimension:
    """A breakdown of a package's weekly downloads: one top-K mart."""

    #: The name in URLs and API parameters.
    slug: str
    #: What the pages call it.
    label: str
    #: The value column of the mart.
    column: str
    #: The mart, keyed by ``(package_name, week_start, column)``.
    table: Table


def _dimension(slug: str, label: str, column: str) -> Dimension:
    key = ("package_name", "week_start", column)
    table = Table(f"package_{slug}_weekly", key, (*key, *COUNT_COLUMNS))
    return Dimension(slug=slug, label=label, column=column, table=table)


#: The breakdowns, in the order the pages offer them.
DIMENSIONS: Final = {
    d.slug: d
    for d in (
        _dimension("installers", "Installers", "installer"),
        _dimension("python_versions", "Python versions", "python_version"),
        _dimension("systems", "Systems", "system"),
        _dimension("countries", "Countries", "country_code"),
        _dimension("versions", "Package versions", "version"),
        _dimension("file_types", "File types", "file_type"),
        _dimension("version_lines", "Release lines", "release_line"),
    )
}

#: Every mart the file must hold, by name.
TABLES: Final = {
    t.name: t
    for t in (
        PACKAGES,
        PACKAGE_DOWNLOADS_WEEKLY,
        PYPI_DOWNLOADS_WEEKLY,
        PACKAGE_RELEASES,
        DATA_EVENTS,
        *(d.table for d in DIMENSIONS.values()),
    )
}

#: The table whose last ``week_start`` is the file's ``data_through``: the
#: smallest weekly table, and the one every series is drawn against.
DATA_THROUGH_TABLE: Final = PYPI_DOWNLOADS_WEEKLY
