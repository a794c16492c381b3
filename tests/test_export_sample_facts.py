"""``_meta.sample_scale`` comes from the sample record the dbt hook copied into the warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from exports.errors import ExportError
from exports.sample_facts import FACTS_TABLE, sample_scale


def _warehouse(path: Path, select: str | None) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE package_downloads_weekly (package_name VARCHAR)")
        if select is not None:
            con.execute(f"CREATE TABLE {FACTS_TABLE} AS {select}")
    finally:
        con.close()
    return path


def test_the_recorded_ratio_is_read(tmp_path: Path) -> None:
    wh = _warehouse(
        tmp_path / "wh.duckdb",
        "SELECT 10 AS generator, {'downloads_per_real_download': 1.5e-06} AS scale",
    )
    assert sample_scale(wh) == "1.5e-06"


@pytest.mark.parametrize(
    "select",
    [None, "SELECT 9 AS generator, {'file_downloads': 1} AS rows"],
    ids=["bigquery-built", "older-sample"],
)
def test_no_record_means_no_sample_scale(tmp_path: Path, select: str | None) -> None:
    assert sample_scale(_warehouse(tmp_path / "wh.duckdb", select)) is None


def test_a_missing_warehouse_is_left_to_the_source(tmp_path: Path) -> None:
    assert sample_scale(tmp_path / "absent.duckdb") is None


@pytest.mark.parametrize("value", ["0.0", "-1.0", "NULL"])
def test_a_recorded_ratio_that_is_not_positive_is_an_error(tmp_path: Path, value: str) -> None:
    wh = _warehouse(
        tmp_path / "wh.duckdb",
        f"SELECT {{'downloads_per_real_download': CAST({value} AS DOUBLE)}} AS scale",
    )
    with pytest.raises(ExportError, match="no positive scale"):
        sample_scale(wh)
