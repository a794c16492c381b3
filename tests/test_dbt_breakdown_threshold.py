"""Breakdowns only above a download threshold (var breakdown_min_downloads).

At PyPI's scale most package-weeks are tiny, and their breakdowns are most of
the exported file (docs/architecture.md). With the threshold set, package-weeks
below it have no rows in any dimension mart, the ones at or above it still add
up exactly (the data test assert_dimension_marts_add_up_to_package_weeks runs
in the build), and the exported file records the threshold in ``_meta``.
"""

from __future__ import annotations

import sqlite3

import duckdb

from tests.fixtures.threshold import ThresholdExport

DIMENSION_MARTS = (
    "package_python_versions_weekly",
    "package_installers_weekly",
    "package_systems_weekly",
    "package_countries_weekly",
    "package_versions_weekly",
    "package_file_types_weekly",
    "package_version_lines_weekly",
)


def test_breakdowns_only_above_the_threshold(threshold_export: ThresholdExport) -> None:
    threshold = threshold_export.threshold
    with duckdb.connect(str(threshold_export.warehouse.path), read_only=True) as con:
        below = con.execute(
            f"select count(*) from package_downloads_weekly where downloads < {threshold}"
        ).fetchone()
        assert below is not None and below[0] > 0  # the threshold cuts something
        for mart in DIMENSION_MARTS:
            smallest = con.execute(
                f"select min(p.downloads), count(*) from {mart} d"
                " join package_downloads_weekly p using (package_name, week_start)"
            ).fetchone()
            assert smallest is not None and smallest[1] > 0, mart
            assert smallest[0] >= threshold, mart
    with sqlite3.connect(threshold_export.db) as lite:
        meta = dict(lite.execute("select key, value from _meta").fetchall())
        described = lite.execute(
            "select description from _tables where table_name = 'package_countries_weekly'"
        ).fetchone()
    assert meta["breakdown_min_downloads"] == str(threshold)
    assert described is not None and "breakdown_min_downloads" in described[0]
