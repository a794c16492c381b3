"""The generated parquet has exactly the BigQuery tables' columns and nested types."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

FILE_DOWNLOADS = [
    ("timestamp", "TIMESTAMP WITH TIME ZONE"),
    ("country_code", "VARCHAR"),
    ("url", "VARCHAR"),
    ("project", "VARCHAR"),
    ("file", 'STRUCT(filename VARCHAR, project VARCHAR, "version" VARCHAR, "type" VARCHAR)'),
    (
        "details",
        'STRUCT(installer STRUCT("name" VARCHAR, "version" VARCHAR), python VARCHAR, '
        'implementation STRUCT("name" VARCHAR, "version" VARCHAR), '
        'distro STRUCT("name" VARCHAR, "version" VARCHAR, id VARCHAR, '
        'libc STRUCT(lib VARCHAR, "version" VARCHAR)), '
        'system STRUCT("name" VARCHAR, "release" VARCHAR), cpu VARCHAR, '
        "openssl_version VARCHAR, setuptools_version VARCHAR, rustc_version VARCHAR, "
        "ci BOOLEAN)",
    ),
    ("tls_protocol", "VARCHAR"),
    ("tls_cipher", "VARCHAR"),
]


def _describe(glob: str) -> list[tuple[str, str]]:
    con = duckdb.connect()
    rows = con.sql(f"DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning = false)")
    return [(r[0], r[1]) for r in rows.fetchall()]


def test_file_downloads_columns_and_nested_types(tiny_raw_dir: Path) -> None:
    got = _describe(str(tiny_raw_dir / "file_downloads" / "*" / "*.parquet"))
    # DuckDB quotes keywords inside STRUCT types; compare without the quotes.
    assert [(n, t.replace('"', "")) for n, t in got] == [
        (n, t.replace('"', "")) for n, t in FILE_DOWNLOADS
    ]


def test_timestamp_is_utc_adjusted_micros(tiny_raw_dir: Path) -> None:
    first = sorted((tiny_raw_dir / "file_downloads").glob("date=*/*.parquet"))[0]
    field = pq.read_schema(first).field("timestamp")
    assert str(field.type) == "timestamp[us, tz=UTC]"


def test_partitions_are_days_with_one_file_each(tiny_raw_dir: Path) -> None:
    parts = sorted(p.name for p in (tiny_raw_dir / "file_downloads").iterdir())
    assert parts[0] == "date=2026-09-03" and parts[-1] == "date=2026-11-18"
    assert len(parts) == 77
    con = duckdb.connect()
    bad = con.sql(
        f"""SELECT count(*) FROM read_parquet('{tiny_raw_dir}/file_downloads/*/*.parquet',
                hive_partitioning = true)
            WHERE timestamp::DATE <> date"""
    ).fetchone()
    assert bad == (0,)


def test_distribution_metadata_main_columns(tiny_raw_dir: Path) -> None:
    got = dict(_describe(str(tiny_raw_dir / "distribution_metadata" / "*.parquet")))
    expected = {
        "name": "VARCHAR",
        "version": "VARCHAR",
        "summary": "VARCHAR",
        "home_page": "VARCHAR",
        "upload_time": "TIMESTAMP WITH TIME ZONE",
        "filename": "VARCHAR",
        "packagetype": "VARCHAR",
        "python_version": "VARCHAR",
        "requires_python": "VARCHAR",
        "size": "BIGINT",
        "sha256_digest": "VARCHAR",
        "classifiers": "VARCHAR[]",
        "keywords": "VARCHAR",
        "requires_dist": "VARCHAR[]",
        "project_urls": "VARCHAR[]",
        "has_signature": "BOOLEAN",
    }
    assert {k: got.get(k) for k in expected} == expected
    # Every column is typed (no all-NULL column of an accidental type).
    assert all(t.startswith(("VARCHAR", "BIGINT", "BOOLEAN", "TIMESTAMP")) for t in got.values())
