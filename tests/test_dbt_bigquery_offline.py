"""The BigQuery (``prod``) path, validated offline.

dbt compiles every model and data test for the ``prod`` target in-process with
the BigQuery adapter's connection stubbed: no client is created, any socket
connection fails the test, and the few metadata queries the project runs
(INFORMATION_SCHEMA.PARTITIONS) are recorded and answered with canned rows.
The compiled SQL must parse with sqlglot's BigQuery dialect, and the rollup
must filter the raw ``timestamp`` with literal bounds (partition pruning).

This proves the project compiles to syntactically valid BigQuery SQL with the
intended pruning filters; it does not prove the SQL runs on BigQuery.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import agate  # type: ignore[import-untyped]
import pytest
import sqlglot
from dbt.adapters.bigquery.connections import BigQueryConnectionManager
from dbt.adapters.bigquery.impl import BigQueryAdapter
from dbt.adapters.bigquery.relation import BigQueryRelation
from dbt.adapters.contracts.connection import AdapterResponse, ConnectionState
from dbt.adapters.contracts.relation import RelationType
from dbt.cli.main import dbtRunner
from sqlglot import exp

from tests.fixtures.warehouse import DBT_PROFILES_DIR, DBT_PROJECT_DIR

ROLLUP = "int_downloads_rolled_up_weekly"
RAW_TABLE = ("bigquery-public-data", "pypi", "file_downloads")
# Canned metadata: partitions 2016-01-22 .. 2026-11-20, so 2026-11-19 is the
# last complete day and the week of 2026-11-09 the last complete week.
FIRST_LOADED = date(2016, 1, 22)
LAST_COMPLETE = date(2026, 11, 19)
BUILT_WEEKS = (date(2026, 11, 2), date(2026, 11, 9))


class _NoClient:
    """Stands in for the google.cloud.bigquery client: nothing may use it."""

    def close(self) -> None:
        """Closing is the only operation dbt performs on an unused handle."""


@dataclass
class _StubbedBigQuery:
    executed: list[str] = field(default_factory=list)
    rollup_exists: bool = False
    #: Whether a raw partition of the lookback weeks was written after the rollup built them.
    raw_changed: bool = True

    def answer(self, sql: str) -> agate.Table:
        if "first_loaded_date" in sql:
            return agate.Table(
                [(FIRST_LOADED, LAST_COMPLETE, 1)],
                ["first_loaded_date", "last_complete_date", "ready"],
                [agate.Date(), agate.Date(), agate.Number()],
            )
        if "first_week" in sql:
            return agate.Table([BUILT_WEEKS], ["first_week", "last_week"], [agate.Date()] * 2)
        if "as raw_modified" in sql:
            # Last writes of the lookback weeks' raw partitions and rollup partitions.
            raw = "2026-11-10 06:00:00" if self.raw_changed else "2026-11-09 02:00:00"
            return agate.Table(
                [(raw, "2026-11-09 08:00:00")], ["raw_modified", "built_at"], [agate.Text()] * 2
            )
        if "INFORMATION_SCHEMA.PARTITIONS" in sql and "as week_start" in sql:
            # Newest partition of an already built weekly table (rollup or mart).
            return agate.Table([(date(2026, 11, 2),)], ["week_start"], [agate.Date()])
        raise AssertionError(f"unexpected query at compile time:\n{sql}")


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One target path for the module so later compiles reuse dbt's partial parse."""
    return tmp_path_factory.mktemp("bigquery") / "target"


@pytest.fixture
def stubbed_bigquery(monkeypatch: pytest.MonkeyPatch) -> Iterator[_StubbedBigQuery]:
    stub = _StubbedBigQuery()

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)

    def open_connection(cls: type, connection: Any) -> Any:
        connection.handle = _NoClient()
        connection.state = ConnectionState.OPEN
        return connection

    def execute(
        self: Any, sql: str, auto_begin: bool = False, fetch: Any = None, limit: Any = None
    ) -> tuple[AdapterResponse, agate.Table]:
        stub.executed.append(sql)
        return AdapterResponse(_message="OK"), stub.answer(sql)

    def get_relation(
        self: Any, database: str, schema: str, identifier: str
    ) -> BigQueryRelation | None:
        if stub.rollup_exists:
            return BigQueryRelation.create(
                database=database, schema=schema, identifier=identifier, type=RelationType.Table
            )
        return None

    monkeypatch.setattr(BigQueryConnectionManager, "open", classmethod(open_connection))
    monkeypatch.setattr(BigQueryConnectionManager, "execute", execute)
    monkeypatch.setattr(BigQueryAdapter, "list_relations_without_caching", lambda *a, **k: [])
    monkeypatch.setattr(BigQueryAdapter, "get_relation", get_relation)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    yield stub


def _invoke_compile(target_dir: Path, *extra: str) -> Any:
    """``dbt compile --target prod`` in this process (the adapter is stubbed)."""
    result = dbtRunner().invoke(
        [
            "compile",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROFILES_DIR),
            "--target",
            "prod",
            "--target-path",
            str(target_dir),
            "--log-path",
            str(target_dir / "logs"),
            *extra,
        ]
    )
    assert result.success, result.exception
    return result


def _compile(target_dir: Path, *extra: str) -> dict[str, Any]:
    # Unit tests are for DuckDB (struct fixtures); production runs
    # `dbt build --exclude-resource-type unit_test`.
    _invoke_compile(target_dir, "--exclude", "resource_type:unit_test", *extra)
    return dict(json.loads((target_dir / "manifest.json").read_text()))


def _raw_timestamp_bounds(sql: str) -> list[tuple[str, str]]:
    """(operator, literal) pairs filtering `timestamp` in the SELECT that scans raw."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    bounds: list[tuple[str, str]] = []
    for select in tree.find_all(exp.Select):
        source = select.args.get("from_")
        tables = list(source.find_all(exp.Table)) if source is not None else []
        if not any((t.catalog, t.db, t.name) == RAW_TABLE for t in tables):
            continue
        where = select.args.get("where")
        assert where is not None, "the raw scan has no WHERE clause"
        for comparison in where.find_all(exp.GTE, exp.LT):
            column, literal = comparison.this, comparison.expression
            if isinstance(column, exp.Column) and column.name == "timestamp":
                # A literal, not an expression BigQuery would have to evaluate per row.
                assert isinstance(literal, exp.Cast | exp.Literal), literal.sql("bigquery")
                value = literal.this if isinstance(literal, exp.Cast) else literal
                assert isinstance(value, exp.Literal) and value.is_string
                bounds.append((type(comparison).__name__, value.name))
    return bounds


def _compiled_nodes(manifest: dict[str, Any]) -> dict[str, str]:
    return {
        node["unique_id"]: node["compiled_code"]
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "test")
        and node["config"]["materialized"] != "ephemeral"
        and node.get("compiled_code")
    }


def test_prod_compiles_offline_to_valid_bigquery_sql(
    stubbed_bigquery: _StubbedBigQuery, target_dir: Path
) -> None:
    manifest = _compile(target_dir)
    compiled = _compiled_nodes(manifest)
    models = {uid for uid in compiled if uid.startswith("model.")}
    # rollup + 12 marts (staging is ephemeral, inlined into the rollup).
    assert len(models) == 13
    assert sum(uid.startswith("test.") for uid in compiled) > 100
    for uid, sql in compiled.items():
        sqlglot.parse_one(sql, read="bigquery")  # raises on invalid SQL
        assert "read_parquet" not in sql, uid
    for sql in stubbed_bigquery.executed:
        sqlglot.parse_one(sql, read="bigquery")
    # Completeness came from partition metadata, never from the raw table.
    assert stubbed_bigquery.executed
    for sql in stubbed_bigquery.executed:
        assert "`bigquery-public-data`.`pypi`.`file_downloads`" not in sql

    rollup = manifest["nodes"][f"model.pypi_trends.{ROLLUP}"]
    assert rollup["config"]["incremental_strategy"] == "insert_overwrite"
    assert rollup["config"]["partition_by"] == {
        "field": "week_start",
        "data_type": "date",
        "granularity": "day",
    }
    assert rollup["config"]["cluster_by"] == ["dimension", "package_name"]
    # First build: the last 104 complete weeks, ending with the week of 2026-11-09,
    # in two scans split where PyPI stopped logging .metadata requests: only
    # the first one reads (and is billed for) the file name.
    rollup_sql = compiled[f"model.pypi_trends.{ROLLUP}"]
    assert sorted(_raw_timestamp_bounds(rollup_sql)) == [
        ("GTE", "2024-11-18 00:00:00"),
        ("GTE", "2026-08-24 00:00:00"),
        ("LT", "2026-08-24 00:00:00"),
        ("LT", "2026-11-16 00:00:00"),
    ]
    assert rollup_sql.count("filename") == 1
    # Before the first build the reconciliation test reads nothing (no rollup to
    # take its weeks from); test_prod_reconciliation_reads_only_the_latest_weeks
    # covers a built warehouse.
    reconcile = compiled["test.pypi_trends.assert_marts_reconcile_with_raw_downloads"]
    assert _raw_timestamp_bounds(reconcile) == [] and reconcile.rstrip().endswith("where 1 = 0")
    # Exactly one model scans raw.
    scanning = [
        uid
        for uid, sql in compiled.items()
        if uid.startswith("model.") and "`pypi`.`file_downloads`" in sql
    ]
    assert scanning == [f"model.pypi_trends.{ROLLUP}"]


def test_prod_reconciliation_reads_only_the_latest_weeks(
    stubbed_bigquery: _StubbedBigQuery, target_dir: Path
) -> None:
    stubbed_bigquery.rollup_exists = True
    manifest = _compile(target_dir, "--select", "assert_marts_reconcile_with_raw_downloads")
    reconcile = manifest["nodes"]["test.pypi_trends.assert_marts_reconcile_with_raw_downloads"]
    # The weeks the latest build wrote (canned: through 2026-11-09), and no others.
    assert sorted(_raw_timestamp_bounds(reconcile["compiled_code"])) == [
        ("GTE", "2026-11-02 00:00:00"),
        ("LT", "2026-11-16 00:00:00"),
    ]


def test_prod_incremental_window_uses_partition_metadata(
    stubbed_bigquery: _StubbedBigQuery, target_dir: Path
) -> None:
    stubbed_bigquery.rollup_exists = True
    manifest = _compile(
        target_dir,
        "--select",
        f"{ROLLUP} package_downloads_weekly pypi_downloads_weekly",
        "--indirect-selection",
        "empty",
    )
    sql = manifest["nodes"][f"model.pypi_trends.{ROLLUP}"]["compiled_code"]
    # Newest built week 2026-11-02 (canned): rebuild it (lookback 1) and add 2026-11-09.
    assert sorted(_raw_timestamp_bounds(sql)) == [
        ("GTE", "2026-11-02 00:00:00"),
        ("LT", "2026-11-16 00:00:00"),
    ]
    # Every day of the window is after 2026-08-24: the file name is not read.
    assert "filename" not in sql
    # Whether the lookback week changed came from partition metadata only.
    changed = [q for q in stubbed_bigquery.executed if "as raw_modified" in q]
    assert len(changed) == 1
    assert changed[0].count("INFORMATION_SCHEMA.PARTITIONS") == 2
    assert "`bigquery-public-data`.`pypi`.`file_downloads`" not in changed[0]
    # The newest built weeks came from partition metadata, not column scans.
    newest = [s for s in stubbed_bigquery.executed if "as week_start" in s]
    assert len(newest) == 3
    assert all("INFORMATION_SCHEMA.PARTITIONS" in s for s in newest)
    # The marts rebuild only the weeks the rollup rewrote, with literal bounds
    # on their input's partition column (the rollup; package_downloads_weekly
    # for pypi_downloads_weekly).
    for name in ("package_downloads_weekly", "pypi_downloads_weekly"):
        node = manifest["nodes"][f"model.pypi_trends.{name}"]
        assert node["config"]["incremental_strategy"] == "insert_overwrite", name
        between = [
            b
            for b in sqlglot.parse_one(node["compiled_code"], read="bigquery").find_all(exp.Between)
            if isinstance(b.this, exp.Column) and b.this.name == "week_start"
        ]
        assert [
            (b.args["low"].sql("bigquery"), b.args["high"].sql("bigquery")) for b in between
        ] == [("CAST('2026-11-02' AS DATE)", "CAST('2026-11-09' AS DATE)")], name


def test_prod_explicit_window_is_used(stubbed_bigquery: _StubbedBigQuery, target_dir: Path) -> None:
    manifest = _compile(
        target_dir,
        "--select",
        ROLLUP,
        "--indirect-selection",
        "empty",
        "--vars",
        "{start_week: '2025-06-02', end_week: '2025-06-30'}",
    )
    sql = manifest["nodes"][f"model.pypi_trends.{ROLLUP}"]["compiled_code"]
    assert sorted(_raw_timestamp_bounds(sql)) == [
        ("GTE", "2025-06-02 00:00:00"),
        ("LT", "2025-07-07 00:00:00"),
    ]


@pytest.mark.parametrize("macro", ["provenance_log_ddl()", "record_mart_write()"])
def test_provenance_statements_are_valid_bigquery_sql(
    stubbed_bigquery: _StubbedBigQuery, target_dir: Path, macro: str
) -> None:
    result = _invoke_compile(target_dir, "--inline", "{{ " + macro + " }}")
    sql = result.result.results[0].node.compiled_code
    tree = sqlglot.parse_one(sql, read="bigquery")
    table = tree.find(exp.Table)
    assert table is not None
    assert (table.db, table.name) == ("pypi_trends", "dbt_provenance"), sql
    if macro.startswith("record"):
        assert isinstance(tree, exp.Insert)
        values = [v.sql("bigquery") for v in tree.find_all(exp.Literal)]
        assert "'wrote'" in values and "'success'" in values, sql


def test_prod_lookback_skips_weeks_unchanged_since_built(
    stubbed_bigquery: _StubbedBigQuery, target_dir: Path
) -> None:
    stubbed_bigquery.rollup_exists = True
    stubbed_bigquery.raw_changed = False
    manifest = _compile(target_dir, "--select", ROLLUP, "--indirect-selection", "empty")
    sql = manifest["nodes"][f"model.pypi_trends.{ROLLUP}"]["compiled_code"]
    # Newest built week 2026-11-02 had no raw write after it was built: only
    # the new week 2026-11-09 is scanned, not the lookback week again.
    assert sorted(_raw_timestamp_bounds(sql)) == [
        ("GTE", "2026-11-09 00:00:00"),
        ("LT", "2026-11-16 00:00:00"),
    ]
