"""Incremental builds: adding one week incrementally gives exactly the marts of
a full build, and a bad backfill window fails with a clear message."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.warehouse import MARTS, Warehouse, run_dbt

#: Rebuilt every run on DuckDB and stored in its grain order (the exporter's fast path).
CORE_MART = "package_downloads_weekly"
WEEKLY_MARTS = tuple(m for m in MARTS if m.endswith("_weekly") and m != CORE_MART)
#: The dimension column of each dimension mart (the last grain column).
DIMENSION_COLUMNS = {
    "package_python_versions_weekly": "python_version",
    "package_installers_weekly": "installer",
    "package_systems_weekly": "system",
    "package_countries_weekly": "country_code",
    "package_versions_weekly": "version",
    "package_file_types_weekly": "file_type",
    "package_version_lines_weekly": "release_line",
}
ROLLUP_COLUMNS = (
    "week_start, package_name, dimension, dimension_value, "
    "downloads, downloads_ci, downloads_mirror, downloads_metadata"
)


def _last_week(warehouse: Warehouse) -> date:
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        row = con.execute("select max(week_start) from pypi_downloads_weekly").fetchone()
    assert row is not None and isinstance(row[0], date)
    return row[0]


def _one_int(path: Path, sql: str, params: list[object] | None = None) -> int:
    """The single integer ``sql`` returns from the DuckDB file at ``path``."""
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return int(row[0])


def _week_downloads(path: Path, week: date) -> int:
    return _one_int(
        path, "select downloads from pypi_downloads_weekly where week_start = ?", [week]
    )


def _differences(full: Path, incremental: Path, query: str) -> int:
    with duckdb.connect() as con:
        con.execute(f"attach '{full}' as full_build (read_only)")
        con.execute(f"attach '{incremental}' as incremental_build (read_only)")
        a = query.format(db="full_build")
        b = query.format(db="incremental_build")
        row = con.execute(
            f"select (select count(*) from ({a} except all {b})) "
            f"+ (select count(*) from ({b} except all {a}))"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _order_breaks(path: Path, table: str, key: str) -> int:
    """Rows stored before a row with a smaller ``key`` (0: stored in ``key`` order)."""
    return _one_int(
        path,
        f"select count(*) from (select {key} < lag({key}) over () as back from {table}) where back",
    )


def _raw_without_day(raw_dir: Path, day: date, copy: Path) -> Path:
    """A copy of the raw sample without one day's downloads (rows that arrive late)."""
    shutil.copytree(raw_dir, copy, ignore=shutil.ignore_patterns(f"date={day.isoformat()}"))
    assert not (copy / "file_downloads" / f"date={day.isoformat()}").exists()
    return copy


def test_one_new_week_incrementally_equals_a_full_build(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    last_week = _last_week(warehouse)
    previous_week = last_week - timedelta(days=7)
    incremental = tmp_path / "incremental.duckdb"
    target = tmp_path / "target"
    # First build stops one week short of the data, and the Wednesday of its
    # last week has not arrived yet...
    late_day = previous_week + timedelta(days=2)
    early_raw = _raw_without_day(warehouse.raw_dir, late_day, tmp_path / "raw-early")
    # `dbt run` builds models only: the seed the data_events mart reads is loaded first.
    run_dbt(["seed"], raw_dir=early_raw, warehouse=incremental, target_dir=target)
    run_dbt(
        ["run", "--vars", f"{{end_week: '{previous_week}'}}"],
        raw_dir=early_raw,
        warehouse=incremental,
        target_dir=target,
    )
    assert _last_week(Warehouse(incremental, target, early_raw, target)) == previous_week
    early_downloads = _week_downloads(incremental, previous_week)
    # ...then a plain incremental run adds the new week and re-counts the
    # lookback week with the late day: its rows must be replaced and nothing
    # else may differ.
    # The late day's files are written now, after the first build: the lookback
    # week changed since it was built (file times), so it is scanned again.
    late_raw = tmp_path / "raw-late"
    shutil.copytree(warehouse.raw_dir, late_raw)
    for path in (late_raw / "file_downloads" / f"date={late_day.isoformat()}").iterdir():
        path.touch()
    completed = run_dbt(["run"], raw_dir=late_raw, warehouse=incremental, target_dir=target)
    assert f"download window: weeks {previous_week} .. {last_week}" in completed.stdout
    # The late day changed the lookback week (so changed rows were replaced).
    assert _week_downloads(incremental, previous_week) > early_downloads
    for mart in MARTS:
        assert (
            _differences(warehouse.path, incremental, f"select * from {{db}}.main.{mart}") == 0
        ), mart
    rollup = f"select {ROLLUP_COLUMNS} from {{db}}.main.int_downloads_rolled_up_weekly"
    assert _differences(warehouse.path, incremental, rollup) == 0
    # Every exported weekly mart is stored in its grain order after the
    # incremental run (the dimension marts are rewritten in that order after
    # their insert), so the exporter copies them unsorted (dbt/macros/storage_order.sql).
    for table in WEEKLY_MARTS:
        key = (
            "week_start"
            if table == "pypi_downloads_weekly"
            else f"(package_name, week_start, {DIMENSION_COLUMNS[table]})"
        )
        assert _order_breaks(incremental, table, key) == 0, table
    # The core mart is rebuilt in grain order, so the exporter copies it unsorted.
    assert _order_breaks(incremental, CORE_MART, "(package_name, week_start)") == 0
    # A rerun with no raw day written since: the lookback week, complete when
    # built, is not scanned again (only the newest week is rebuilt).
    rerun = run_dbt(
        ["run", "--select", "int_downloads_rolled_up_weekly"],
        raw_dir=late_raw,
        warehouse=incremental,
        target_dir=target,
    )
    assert f"download window: weeks {last_week} .. {last_week}" in rerun.stdout


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("{start_week: '2026-10-12', end_week: '2026-10-05'}", "is after end_week"),
        ("{end_week: '2099-01-05'}", "is in the future"),
        ("{end_week: '2026-10-06'}", "is not a Monday"),
    ],
)
def test_bad_window_fails_clearly(
    tiny_raw_dir: Path, tmp_path: Path, window: str, message: str
) -> None:
    completed = run_dbt(
        ["compile", "--select", "int_downloads_rolled_up_weekly", "--vars", window],
        raw_dir=tiny_raw_dir,
        warehouse=tmp_path / "warehouse.duckdb",
        target_dir=tmp_path / "target",
        check=False,
    )
    assert completed.returncode != 0
    assert message in completed.stdout
