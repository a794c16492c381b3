"""Readers and the manifest: what can be checked offline about the BigQuery path, and
that an Arrow record-batch stream goes through the very same writer as DuckDB."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from google.cloud.bigquery.job.query import _contains_order_by
from sqlglot import exp

from exports.errors import ExportError
from exports.manifest import MartSpec, export_marts
from exports.pipeline import ExportOptions, run_export
from exports.provenance import Event as ProvenanceEvent
from exports.publish import Layout
from exports.report import Reporter
from exports.sources import ArrowSource, DuckDBSource, arrow_schema, bigquery_query
from tests.fixtures.export import Published, mart_spec, run_exporter
from tests.fixtures.warehouse import Warehouse


def marts_of(warehouse: Warehouse) -> dict[str, MartSpec]:
    return {m.name: m for m in export_marts(warehouse.manifest)}


def test_exported_marts_come_from_the_manifest(warehouse: Warehouse) -> None:
    manifest = warehouse.manifest
    tagged = {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and "export" in n["tags"]
    }
    assert set(marts_of(warehouse)) == tagged
    # Untag one mart and drop it from the exposure: it is no longer exported.
    changed = copy.deepcopy(manifest)
    uid = "model.pypi_trends.package_systems_weekly"
    changed["nodes"][uid]["tags"] = []
    changed["nodes"][uid]["config"]["tags"] = []
    for exposure in changed["exposures"].values():
        exposure["depends_on"]["nodes"].remove(uid)
    assert set(m.name for m in export_marts(changed)) == tagged - {"package_systems_weekly"}


def test_grain_prefers_a_primary_key_constraint(warehouse: Warehouse) -> None:
    changed = copy.deepcopy(warehouse.manifest)
    node = changed["nodes"]["model.pypi_trends.package_downloads_weekly"]
    node["constraints"] = [{"type": "primary_key", "columns": ["week_start", "package_name"]}]
    grains = {m.name: m.grain for m in export_marts(changed)}
    assert grains["package_downloads_weekly"] == ("week_start", "package_name")
    assert grains["packages"] == ("package_name",)


def test_a_mart_without_an_enforced_contract_is_an_error(warehouse: Warehouse) -> None:
    changed = copy.deepcopy(warehouse.manifest)
    changed["nodes"]["model.pypi_trends.packages"]["config"]["contract"]["enforced"] = False
    with pytest.raises(ExportError, match=r"packages.*enforced contract"):
        export_marts(changed)


def test_bigquery_query_is_valid_googlesql_ordered_by_the_grain(warehouse: Warehouse) -> None:
    for mart in marts_of(warehouse).values():
        sql = bigquery_query(mart, "my-project", "pypi_trends")
        tree = sqlglot.parse_one(sql, read="bigquery")
        assert [c.name for c in tree.expressions] == [c.name for c in mart.columns]
        table = tree.find(exp.Table)
        assert table is not None
        assert (table.catalog, table.db, table.name) == ("my-project", "pypi_trends", mart.alias)
        order = tree.args["order"]
        assert [o.this.name for o in order.expressions] == list(mart.grain)
        # The client reads an ORDER BY result through one ordered Storage API
        # stream only when it recognises the ORDER BY in the query text.
        assert _contains_order_by(sql)


def test_bigquery_dry_run_prints_the_queries_offline(warehouse: Warehouse, tmp_path: Path) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    args = [
        "export", "--source", "bigquery", "--dry-run", "--bq-project", "my-project",
        "--bq-dataset", "pypi_trends", "--target-dir", str(warehouse.target_dir), "--db", str(db),
    ]  # fmt: skip
    done = run_exporter(args)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("event=would_query") == len(marts_of(warehouse))
    assert "`my-project.pypi_trends.package_downloads_weekly` ORDER BY" in done.stderr
    assert list(tmp_path.iterdir()) == []


def _batches_from_warehouse(warehouse: Warehouse, batch_rows: int) -> ArrowSource:
    """An Arrow source fed from the warehouse the way BigQuery feeds it: ordered small batches."""

    def open_batches(mart: MartSpec) -> tuple[Iterator[pa.RecordBatch], int | None]:
        con = duckdb.connect(str(warehouse.path), read_only=True)
        cols = ", ".join(f'"{c.name}"' for c in mart.columns)
        keys = ", ".join(f'"{g}"' for g in mart.grain)
        table = con.execute(
            f'SELECT {cols} FROM main."{mart.alias}" ORDER BY {keys}'
        ).to_arrow_table()
        con.close()
        return iter(table.to_batches(max_chunksize=batch_rows)), table.num_rows

    return ArrowSource(open_batches=open_batches, read_provenance=_provenance_of(warehouse))


def _provenance_of(warehouse: Warehouse) -> Callable[[MartSpec], list[ProvenanceEvent] | None]:
    """The dbt provenance log of the warehouse, as BigQuery's reader delivers it."""

    def read(mart: MartSpec) -> list[ProvenanceEvent] | None:
        source = DuckDBSource(warehouse.path)
        con = duckdb.connect()
        try:
            source.open(con)
            return source.provenance(con, mart)
        finally:
            con.close()

    return read


def test_arrow_record_batches_go_through_the_same_writer(
    published_export: Published, tmp_path: Path
) -> None:
    wh = published_export.warehouse
    layout = Layout(tmp_path / "pypi_trends.sqlite", tmp_path / "releases", tmp_path / "parquet")
    opts = ExportOptions(
        source=_batches_from_warehouse(wh, batch_rows=1000),
        target_dir=wh.target_dir,
        layout=layout,
        build_id="arrow",
        source_target="prod",
    )
    result = run_export(opts, Reporter(interactive=False))
    assert result.release is not None
    arrow_db = sqlite3.connect(result.release)
    duck_db = sqlite3.connect(published_export.release)
    try:
        for (table,) in duck_db.execute("SELECT table_name FROM _tables"):
            q = f'SELECT * FROM "{table}"'
            assert arrow_db.execute(q).fetchall() == duck_db.execute(q).fetchall(), table
        assert dict(arrow_db.execute("SELECT key, value FROM _meta"))["source_target"] == "prod"
    finally:
        arrow_db.close()
        duck_db.close()


def test_a_batch_that_breaks_the_contract_fails_and_publishes_nothing(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    def open_batches(mart: MartSpec) -> tuple[Iterator[pa.RecordBatch], int | None]:
        schema = arrow_schema(mart)
        # Every column as text: a date or count that is not one must not reach SQLite.
        arrays = [pa.array(["not a value"], pa.string()) for _ in schema]
        return iter([pa.RecordBatch.from_arrays(arrays, names=schema.names)]), 1

    layout = Layout(tmp_path / "pypi_trends.sqlite", tmp_path / "releases", tmp_path / "parquet")
    opts = ExportOptions(
        source=ArrowSource(open_batches, read_provenance=_provenance_of(warehouse)),
        target_dir=warehouse.target_dir,
        layout=layout,
    )
    with pytest.raises(ExportError):
        run_export(opts, Reporter(interactive=False))
    assert not layout.db.exists()
    assert [p.name for p in layout.releases_dir.iterdir()] == [".export.lock"]


def test_manifest_is_json_from_dbt(warehouse: Warehouse) -> None:
    # Guard against testing a hand-made manifest: this one was written by dbt itself.
    manifest = json.loads((warehouse.target_dir / "manifest.json").read_text())
    assert manifest["metadata"]["dbt_version"].startswith("1.")
    assert manifest["metadata"]["invocation_id"]


def test_sorted_parts_are_balanced_and_split_in_two_when_a_sort_does_not_fit(
    tmp_path: Path,
) -> None:
    """Key-range parts cover every row once, in key order, and ``split`` doubles them."""
    from exports.sources import DuckDBSource

    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    # 2,000 first keys with 1 to 479 rows each (skewed), stored in hash order.
    con.execute(
        "CREATE TABLE t AS SELECT 'p' || lpad(p::VARCHAR, 4, '0') AS k1, w AS k2"
        " FROM range(2000) a(p), range(480) b(w) WHERE w < 1 + (p * 7919) % 479"
        " ORDER BY hash(p, w)"
    )
    (total,) = con.execute("SELECT count(*) FROM t").fetchone() or (0,)
    expected = con.execute("SELECT k1, k2 FROM t ORDER BY k1, k2").fetchall()
    con.close()
    mart = mart_spec("t", {"k1": "varchar", "k2": "bigint"}, ("k1", "k2"), database="wh")
    source = DuckDBSource(path, part_rows=total // 3 + 1, trust_order=False)
    con = duckdb.connect()
    source.open(con)
    try:
        scan = source.scan(con, mart)
        assert len(scan.parts) == 3
        assert scan.split is not None
        halves = scan.split()
        assert len(halves.parts) == 6
        for parted in (scan, halves):
            sizes = []
            rows: list[tuple[object, ...]] = []
            for part in parted.parts:
                got = con.execute(f"SELECT k1, k2 FROM {part}").fetchall()
                sizes.append(len(got))
                rows += got
            assert rows == expected
            # Equal give or take one first key's rows (at most 479).
            assert max(sizes) - min(sizes) <= 2 * 479, sizes
        # Parts below MIN_SPLIT_ROWS are not split further.
        assert halves.split is None
    finally:
        source.close(con)
        con.close()


def test_each_mart_is_read_through_its_own_attachment_until_released(tmp_path: Path) -> None:
    # DuckDB keeps a scanned table's storage metadata until its database is
    # detached: a mart the writer is done with must not stay attached.
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    for name in ("a", "b"):
        con.execute(
            f"CREATE TABLE {name} AS SELECT 'p' || lpad(i::VARCHAR, 3, '0') AS k, i AS v"
            " FROM range(300) t(i) ORDER BY k"
        )
    con.close()
    marts = [mart_spec(n, {"k": "varchar", "v": "bigint"}, ("k",), database="wh") for n in "ab"]
    source = DuckDBSource(path)
    con = duckdb.connect()

    def attached() -> list[str]:
        rows = con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal")
        return sorted(str(r[0]) for r in rows.fetchall() if r[0] != "memory")

    source.open(con)
    try:
        first, second = (source.scan(con, m) for m in marts)
        assert attached() == ["wh", "wh_1", "wh_2"]
        assert "wh_1." in first.whole and "wh_2." in second.whole
        # Released from another cursor (the Parquet thread's, in the writer).
        with con.cursor() as cur:
            source.release(cur, marts[0])
        assert attached() == ["wh", "wh_2"]
        assert con.execute(f"SELECT count(*) FROM {second.whole}").fetchone() == (300,)
        # Read again, a mart gets a fresh attachment; close() detaches what is left.
        again = source.scan(con, marts[0])
        assert con.execute(f"SELECT count(*) FROM {again.whole}").fetchone() == (300,)
        assert attached() == ["wh", "wh_2", "wh_3"]
    finally:
        source.close(con)
    assert attached() == []
    con.close()
