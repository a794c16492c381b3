"""The tiny sample holds the shapes and the dirt of real PyPI download logs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from sample.calibration import normalise
from sample.generate import MIRROR_INSTALLERS


@pytest.fixture(scope="module")
def con(tiny_raw_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    c.execute(
        f"""CREATE VIEW d AS SELECT * FROM read_parquet(
                '{tiny_raw_dir}/file_downloads/*/*.parquet', hive_partitioning = true)"""
    )
    c.execute(
        "CREATE VIEW m AS SELECT * FROM "
        f"read_parquet('{tiny_raw_dir}/distribution_metadata/*.parquet')"
    )
    yield c
    c.close()


def one(con: duckdb.DuckDBPyConnection, query: str) -> object:
    row = con.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_row_count_close_to_the_requested_events(con: duckdb.DuckDBPyConnection) -> None:
    n = one(con, "SELECT count(*) FROM d")
    assert isinstance(n, int) and 0.95 * 300_000 <= n <= 1.05 * 300_000


@pytest.mark.parametrize(
    ("what", "where"),
    [
        ("details NULL", "details IS NULL"),
        ("python NULL", "details IS NOT NULL AND details.python IS NULL"),
        ("system NULL", "details IS NOT NULL AND details.system IS NULL"),
        ("country NULL", "country_code IS NULL"),
        ("installer NULL", "details IS NOT NULL AND details.installer IS NULL"),
        ("python x.y.z", "regexp_full_match(details.python, '3\\.1[0-4]\\.[0-9]+')"),
        ("python x.y", "regexp_full_match(details.python, '3\\.[0-9]+')"),
        ("python 2.7.18", "details.python LIKE '2.7.1%'"),
        ("python rc", "details.python = '3.13.0rc1'"),
        ("python garbage", "NOT regexp_full_match(details.python, '[0-9]+\\.[0-9]+(\\.[0-9]+)?')"),
        ("metadata fetch", "file.filename LIKE '%.whl.metadata' AND url LIKE '%.whl.metadata'"),
        ("sdist", "file.type = 'sdist' AND file.filename LIKE '%.tar.gz'"),
        ("wheel", "file.type = 'bdist_wheel' AND file.filename LIKE '%.whl'"),
        ("ci true", "details.ci"),
        ("PyPy", "details.implementation.name = 'PyPy'"),
        ("musl", "details.distro.libc.lib = 'musl'"),
        ("very long name", "length(project) > 80"),
        ("uv", "details.installer.name = 'uv'"),
        ("Browser", "details.installer.name = 'Browser'"),
    ],
)
def test_each_kind_of_dirt_and_shape_is_present(
    con: duckdb.DuckDBPyConnection, what: str, where: str
) -> None:
    assert one(con, f"SELECT count(*) FROM d WHERE {where}") > 0, what


def test_ci_is_true_or_null_never_false(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "SELECT count(*) FROM d WHERE NOT details.ci") == 0


def test_every_mirror_installer_appears(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT DISTINCT details.installer.name FROM d WHERE details.installer.name IS NOT NULL"
    ).fetchall()
    assert set(MIRROR_INSTALLERS) <= {r[0] for r in rows}


def test_linux_dominates_then_windows_and_darwin(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """SELECT details.system.name, count(*) FROM d WHERE details.system.name IS NOT NULL
           GROUP BY 1 ORDER BY 2 DESC"""
    ).fetchall()
    names = [r[0] for r in rows]
    assert names[0] == "Linux" and rows[0][1] > 0.6 * sum(r[1] for r in rows)
    assert {"Windows", "Darwin"} <= set(names[1:4])
    assert len(names) >= 5


def test_projects_are_pep503_and_match_file_project(con: duckdb.DuckDBPyConnection) -> None:
    projects = [r[0] for r in con.execute("SELECT DISTINCT project FROM d").fetchall()]
    assert all(p == normalise(p) for p in projects)
    assert one(con, "SELECT count(*) FROM d WHERE file.project <> project") == 0


def test_weekends_are_lower(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """SELECT isodow(date) >= 6 AS weekend, avg(n) FROM (
               SELECT date, count(*) AS n FROM d GROUP BY date) GROUP BY 1"""
    ).fetchall()
    avg = dict(rows)
    assert avg[True] < 0.8 * avg[False]


def test_partial_first_and_last_week(con: duckdb.DuckDBPyConnection) -> None:
    first, last = con.execute("SELECT min(date), max(date) FROM d").fetchone() or (None, None)
    assert isinstance(first, date) and isinstance(last, date)
    assert first.isoweekday() != 1, "the first week starts after Monday"
    assert last.isoweekday() != 7, "the last week ends before Sunday"
    # Timestamps stay inside their day partition (UTC).
    assert one(con, "SELECT count(*) FROM d WHERE timestamp::DATE <> date") == 0


def test_metadata_names_as_uploaded(con: duckdb.DuckDBPyConnection) -> None:
    names = {r[0] for r in con.execute("SELECT DISTINCT name FROM m").fetchall()}
    assert {"Django", "PyYAML", "ruamel.yaml", "zope.interface"} <= names
    assert "django" not in names


def test_downloads_point_to_uploaded_files(con: duckdb.DuckDBPyConnection) -> None:
    missing = one(
        con,
        """SELECT count(*) FROM d ANTI JOIN m
           ON regexp_replace(lower(m.name), '[-_.]+', '-', 'g') = d.project
           AND m.version = d.file.version
           AND m.filename = replace(d.file.filename, '.metadata', '')
           AND m.upload_time < d.timestamp""",
    )
    assert missing == 0


def test_metadata_one_row_per_file_sdist_and_wheel(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "SELECT count(*) - count(DISTINCT filename) FROM m") == 0
    types = {r[0] for r in con.execute("SELECT DISTINCT packagetype FROM m").fetchall()}
    assert types == {"sdist", "bdist_wheel"}


def test_new_versions_are_released_during_the_range(con: duckdb.DuckDBPyConnection) -> None:
    start = one(con, "SELECT min(date) FROM d")
    released = one(
        con,
        f"""SELECT count(DISTINCT (d.project, d.file.version)) FROM d JOIN m
            ON m.filename = d.file.filename AND m.upload_time::DATE > DATE '{start}'""",
    )
    assert isinstance(released, int) and released > 50


def test_some_packages_first_appear_mid_range(con: duckdb.DuckDBPyConnection) -> None:
    late = con.execute(
        """SELECT project, min(date) AS first FROM d GROUP BY project
           HAVING min(date) > (SELECT min(date) + 14 FROM d)"""
    ).fetchall()
    assert late
    # Their first upload is in the range too (not just quiet before).
    first_uploads = one(
        con,
        f"""SELECT count(*) FROM (
              SELECT regexp_replace(lower(name), '[-_.]+', '-', 'g') AS project,
                     min(upload_time)::DATE AS first
              FROM m GROUP BY 1)
            WHERE first > (SELECT min(date) FROM d)
              AND project IN ({", ".join(repr(p) for p, _ in late)})""",
    )
    assert isinstance(first_uploads, int) and first_uploads > 0


def test_versions_look_like_versions(con: duckdb.DuckDBPyConnection) -> None:
    versions = [r[0] for r in con.execute("SELECT DISTINCT version FROM m").fetchall()]
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in versions)
