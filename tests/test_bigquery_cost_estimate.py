"""The static BigQuery bill estimate (exports/bigquery_cost.py) against hand-computed cases."""

from __future__ import annotations

from datetime import date

import pytest

from exports.bigquery_cost import (
    ROLLUP_COLUMNS,
    TEST_COLUMNS,
    RawColumn,
    billed_bytes,
    cost_report,
)


def test_bytes_split_at_the_cutoff_by_hand() -> None:
    # Sat and Sun before 2026-08-24 (4.5e9 rows each), Mon 2026-08-24 after it
    # (7e9 midweek rows less the 5.82% .metadata requests = 6.5926e9).
    days = [date(2026, 8, 22), date(2026, 8, 23), date(2026, 8, 24)]
    columns = [RawColumn("a", 10.0), RawColumn("b", 40.0, read_before=date(2026, 8, 24))]
    billed = billed_bytes(days, columns)
    assert billed["a"] == pytest.approx(10 * (4.5e9 + 4.5e9 + 6.5926e9))
    assert billed["b"] == pytest.approx(40 * 9e9)  # not read on the Monday


def test_weekly_run_by_hand() -> None:
    report = cost_report(newest_week=date(2026, 11, 23), limit=4 * 10**12)
    weekly = report["summary"]["weekly_run"]
    # One week after the cutoff: 5 midweek + 2 weekend days, less .metadata requests.
    rows = (5 * 7e9 + 2 * 4.5e9) * 0.9418
    # The rollup reads every leaf but file.filename (77.47 B/row); the
    # reconciliation test reads timestamp again (8 B/row).
    assert weekly["rollup_query_bytes"] == pytest.approx(rows * 77.47, rel=1e-9)
    assert weekly["run_bytes"] == pytest.approx(rows * 85.47, rel=1e-9)
    assert weekly["run_dollars"] == pytest.approx(rows * 85.47 / 2**40 * 6.25, abs=0.01)
    assert weekly["rollup_query_within_limit"] is True
    # A rescanned lookback week doubles it; at 4 TB it no longer fits.
    late = report["summary"]["weekly_run_with_late_rows"]
    assert late["rollup_query_bytes"] == pytest.approx(2 * weekly["rollup_query_bytes"])
    assert late["rollup_query_within_limit"] is False
    shares = [c["share_weekly"] for c in report["columns"]]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert {c["column"] for c in report["columns"]} == {
        c.name for c in ROLLUP_COLUMNS + TEST_COLUMNS
    }


def test_first_build_reads_the_file_name_only_before_the_cutoff() -> None:
    report = cost_report(newest_week=date(2026, 11, 23), history_weeks=104)
    by_name = {c["column"]: c for c in report["columns"]}
    assert by_name["file.filename"]["dollars_weekly_run"] == 0
    assert by_name["file.filename"]["dollars_first_build"] > 0
    first = report["summary"]["first_build"]
    assert first["days"] == 728
    assert first["windows_under_limit"] > 1
