"""The BigQuery path end to end, on a local BigQuery API emulator (docs/bigquery.md).

The tiny sample's raw parquet is loaded into ``bigquery-public-data.pypi``
tables with BigQuery's schema (``file_downloads`` DAY-partitioned on
``timestamp``) in a real ``local-bigquery`` emulator on 127.0.0.1. Then, with
the project's own models, macros and exporter:

1. ``dbt run --target bigquery_emulator`` on the raw data loaded up to Monday
   2026-11-09 (last complete week: 2026-11-02), the first (full) build;
2. the rest of the raw data is loaded and ``dbt build`` runs incrementally
   (models and every data test): it must rewrite the weeks 2026-11-02 (the
   lookback) and 2026-11-09 (the new one) and nothing else;
3. ``python -m exports export --source bigquery`` reads every mart through the
   Storage Read API, publishes a SQLite file, and ``python -m serve`` serves it.

Every mart must equal the DuckDB path's mart (the ``warehouse`` fixture, same
sample) row for row, and the published file must pass the DuckDB export's
checks (tests/test_export_roundtrip.py). A known-answer suite checks the
GoogleSQL semantics the models rely on, each by name, against the same
emulator. Skipped only when no Python 3.13 is found (the emulator needs it).
"""

from __future__ import annotations

import datetime as dt
import inspect
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from contract import Meta
from tests import bigquery_emulator as emu
from tests import test_export_roundtrip as roundtrip
from tests.fixtures.export import Published
from tests.fixtures.server import serve_process
from tests.fixtures.warehouse import (
    DBT_PROFILES_DIR,
    DBT_PROJECT_DIR,
    MART_GRAINS,
    REPO_ROOT,
    Warehouse,
)

pytestmark = [pytest.mark.bigquery_emulator, pytest.mark.slow, pytest.mark.timeout(900)]

TARGET = "bigquery_emulator"
PROJECT = "pypi-trends-emulator"
DATASET = "pypi_trends"
RAW_PROJECT, RAW_DATASET = "bigquery-public-data", "pypi"
#: The first build sees raw days before this one only... plus this day itself,
#: so BigQuery's "newest partition is still loading" rule makes 11-08 the last
#: complete day and 2026-11-02 the last complete week.
FIRST_LOAD_THROUGH = dt.date(2026, 11, 9)
#: Weeks the incremental run must rewrite: the lookback week and the new one.
REWRITTEN_WEEKS = [dt.date(2026, 11, 2), dt.date(2026, 11, 9)]
ROLLUP = "int_downloads_rolled_up_weekly"
BUILD_ID = "emulator-build-1"
#: Where `make bigquery-e2e` keeps the emulator's, dbt's and the server's logs.
LOG_DIR_ENV = "PYPI_TRENDS_BQ_EMULATOR_LOG_DIR"
DBT_TIMEOUT = 420


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get(LOG_DIR_ENV)
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("bq-emulator-logs")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[emu.Emulator]:
    python = emu.find_python()
    if python is None:
        pytest.skip(
            f"no Python {emu.PYTHON_VERSION} found (pyenv versions, python{emu.PYTHON_VERSION}"
            f" on PATH, or ${emu.PYTHON_ENV}): the BigQuery emulator (local-bigquery) needs it"
        )
    venv = emu.ensure_venv(python)
    started = emu.start_emulator(
        venv, tmp_path_factory.mktemp("bq-emulator-data"), log_dir / "emulator.log", PROJECT
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def bq(emulator: emu.Emulator) -> Any:
    client = emu.bigquery_client(emulator.endpoint, PROJECT)
    yield client
    client.close()


def _bq_field(name: str, kind: pa.DataType) -> Any:
    """BigQuery's column for an Arrow field of the sample (same names, nesting and types)."""
    from google.cloud import bigquery

    mode = "NULLABLE"
    if pa.types.is_list(kind):
        mode, kind = "REPEATED", kind.value_type
    if pa.types.is_struct(kind):
        sub = [_bq_field(kind.field(i).name, kind.field(i).type) for i in range(kind.num_fields)]
        return bigquery.SchemaField(name, "RECORD", mode=mode, fields=sub)
    scalar = {
        pa.string(): "STRING",
        pa.int64(): "INTEGER",
        pa.bool_(): "BOOLEAN",
        pa.timestamp("us", tz="UTC"): "TIMESTAMP",
    }[kind]
    return bigquery.SchemaField(name, scalar, mode=mode)


def _load(bq: Any, table_id: str, data: pa.Table, partition_by: str | None = None) -> None:
    """Append ``data`` to ``table_id``, creating it with BigQuery's schema first if missing."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    try:
        bq.get_table(table_id)
    except NotFound:
        table = bigquery.Table(table_id, schema=[_bq_field(f.name, f.type) for f in data.schema])
        if partition_by:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=partition_by
            )
        bq.create_table(table)
    buffer = io.BytesIO()
    pq.write_table(data, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    # Lists are REPEATED columns, not records of `list.element` (BigQuery's default).
    config.parquet_options = bigquery.ParquetOptions()
    config.parquet_options.enable_list_inference = True
    bq.load_table_from_file(buffer, table_id, job_config=config).result(timeout=120)


def _raw_days(raw_dir: Path, keep: Callable[[dt.date], bool]) -> pa.Table:
    """The sample's download rows of the days ``keep`` accepts (no hive ``date`` column)."""
    days = sorted((raw_dir / "file_downloads").glob("date=*"))
    files = [
        str(f)
        for d in days
        if keep(dt.date.fromisoformat(d.name.removeprefix("date=")))
        for f in sorted(d.glob("*.parquet"))
    ]
    return pads.dataset(files, format="parquet").to_table()


def _dbt(
    command: list[str], emulator: emu.Emulator, target_dir: Path, log_dir: Path, name: str
) -> subprocess.CompletedProcess[str]:
    """``dbt COMMAND --target bigquery_emulator``, with the shims of tests/bigquery_emulator.py."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "PYPI_TRENDS_"))},
        **emulator.env(DATASET),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    args = [
        sys.executable,
        "-m",
        "tests.bigquery_emulator",
        "dbt",
        *command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
        "--target",
        TARGET,
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir / "logs"),
        # Settings of the data, not of the engine: the DuckDB marts it is
        # compared with keep every breakdown (the threshold's BigQuery default
        # is for all of PyPI, not a tiny sample), and the sample logs
        # `.metadata` requests on every day (the public table stops on 2026-08-24).
        "--vars",
        "{breakdown_min_downloads: 0, metadata_files_logged_until: null}",
    ]
    done = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DBT_TIMEOUT,
        check=False,
    )
    (log_dir / f"{name}.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"dbt {name} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    return done


def _week_invocations(bq: Any) -> dict[dt.date, str]:
    """week_start -> dbt_invocation_id of the build that wrote it, from the rollup's totals."""
    rows = bq.query(
        f"SELECT week_start, ANY_VALUE(dbt_invocation_id) AS inv,"
        f" COUNT(DISTINCT dbt_invocation_id) AS n"
        f" FROM `{PROJECT}.{DATASET}.{ROLLUP}` WHERE dimension = 'total'"
        f" GROUP BY week_start"
    ).result()
    weeks = {}
    for week, inv, n in rows:
        assert n == 1, f"week {week} was written by {n} builds"
        weeks[week] = inv
    return weeks


@dataclass(frozen=True)
class EmulatorBuild:
    """The two dbt runs on the emulator and what each left behind."""

    first_target: Path
    target: Path
    weeks_after_first: dict[dt.date, str]
    weeks_after_second: dict[dt.date, str]
    second_stdout: str

    def invocation(self, target: Path) -> str:
        return str(
            json.loads((target / "run_results.json").read_text())["metadata"]["invocation_id"]
        )


@pytest.fixture(scope="module")
def emulator_build(
    emulator: emu.Emulator,
    bq: Any,
    tiny_raw_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    log_dir: Path,
) -> EmulatorBuild:
    root = tmp_path_factory.mktemp("bq-emulator-dbt")
    bq.create_dataset(f"{RAW_PROJECT}.{RAW_DATASET}", exists_ok=True)
    metadata = pads.dataset(tiny_raw_dir / "distribution_metadata", format="parquet").to_table()
    _load(bq, f"{RAW_PROJECT}.{RAW_DATASET}.distribution_metadata", metadata)
    downloads = f"{RAW_PROJECT}.{RAW_DATASET}.file_downloads"
    _load(bq, downloads, _raw_days(tiny_raw_dir, lambda d: d <= FIRST_LOAD_THROUGH), "timestamp")

    first = root / "first"
    # `dbt run` does not load seeds (production's `dbt build` does).
    _dbt(["seed"], emulator, first, log_dir, "dbt-seed")
    _dbt(["run"], emulator, first, log_dir, "dbt-run-first")
    weeks_first = _week_invocations(bq)

    _load(bq, downloads, _raw_days(tiny_raw_dir, lambda d: d > FIRST_LOAD_THROUGH))
    second = root / "second"
    # Unit tests use DuckDB struct fixtures; production builds exclude them too.
    done = _dbt(
        ["build", "--exclude-resource-type", "unit_test"], emulator, second, log_dir, "dbt-build"
    )
    return EmulatorBuild(first, second, weeks_first, _week_invocations(bq), done.stdout)


@pytest.fixture(scope="module")
def emulator_export(
    emulator: emu.Emulator,
    emulator_build: EmulatorBuild,
    warehouse: Warehouse,
    tmp_path_factory: pytest.TempPathFactory,
    log_dir: Path,
) -> Published:
    """The emulator's marts exported by ``python -m exports --source bigquery`` and published.

    ``warehouse`` of the result is the DuckDB path's (its marts are the
    reference the checks compare with) with the emulator build's target dir.
    """
    root = tmp_path_factory.mktemp("bq-emulator-export")
    db = root / "pypi_trends.sqlite"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "PYPI_TRENDS_"))},
        **emulator.env(DATASET),
        emu.READ_LOG_ENV: str(log_dir / "storage-read.jsonl"),
    }
    (log_dir / "storage-read.jsonl").unlink(missing_ok=True)
    args = [
        sys.executable,
        "-m",
        "tests.bigquery_emulator",
        "export",
        "export",
        "--source",
        "bigquery",
        "--bq-project",
        PROJECT,
        "--bq-dataset",
        DATASET,
        "--bq-location",
        "US",
        "--target-dir",
        str(emulator_build.target),
        "--db",
        str(db),
        "--build-id",
        BUILD_ID,
        "--progress",
        "log",
    ]
    done = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    (log_dir / "export.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"export failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    reference = Warehouse(
        path=warehouse.path,
        target_dir=emulator_build.target,
        raw_dir=warehouse.raw_dir,
        log_dir=emulator_build.target / "logs",
    )
    return Published(
        db=db,
        release=db.resolve(strict=True),
        releases_dir=root / "releases",
        parquet_dir=root / "parquet",
        build_id=BUILD_ID,
        warehouse=reference,
    )


# --------------------------------------------------------------------------- marts


def _columns(warehouse: Warehouse, mart: str) -> list[str]:
    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        return [r[0] for r in con.execute(f'DESCRIBE main."{mart}"').fetchall()]
    finally:
        con.close()


def _duckdb_rows(warehouse: Warehouse, mart: str, columns: list[str]) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{k}"' for k in MART_GRAINS[mart])
    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        return con.execute(f'SELECT {cols} FROM main."{mart}" ORDER BY {keys}').fetchall()
    finally:
        con.close()


def _bigquery_rows(bq: Any, mart: str, columns: list[str]) -> list[tuple[Any, ...]]:
    cols = ", ".join(f"`{c}`" for c in columns)
    keys = ", ".join(f"`{k}`" for k in MART_GRAINS[mart])
    result = bq.query(f"SELECT {cols} FROM `{PROJECT}.{DATASET}.{mart}` ORDER BY {keys}").result()
    return [tuple(row.values()) for row in result]


@pytest.mark.parametrize("mart", list(MART_GRAINS))
def test_mart_equals_the_duckdb_mart_row_for_row(
    mart: str, emulator_build: EmulatorBuild, bq: Any, warehouse: Warehouse
) -> None:
    columns = _columns(warehouse, mart)
    table = bq.get_table(f"{PROJECT}.{DATASET}.{mart}")
    assert [f.name for f in table.schema] == columns
    expected = _duckdb_rows(warehouse, mart, columns)
    assert expected, f"{mart} is empty on DuckDB: the comparison would prove nothing"
    got = _bigquery_rows(bq, mart, columns)
    assert len(got) == len(expected), mart
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, f"{mart} row {i}: emulator {g} != duckdb {e}"


def test_raw_tables_have_bigquery_schema_and_day_partitions(
    emulator_build: EmulatorBuild, bq: Any, tiny_raw_dir: Path
) -> None:
    table = bq.get_table(f"{RAW_PROJECT}.{RAW_DATASET}.file_downloads")
    assert (table.time_partitioning.field, table.time_partitioning.type_) == ("timestamp", "DAY")
    fields = {f.name: f for f in table.schema}
    assert list(fields) == [
        "timestamp",
        "country_code",
        "url",
        "project",
        "file",
        "details",
        "tls_protocol",
        "tls_cipher",
    ]
    assert fields["timestamp"].field_type == "TIMESTAMP"
    assert [(f.name, f.field_type) for f in fields["file"].fields] == [
        ("filename", "STRING"),
        ("project", "STRING"),
        ("version", "STRING"),
        ("type", "STRING"),
    ]
    details = {f.name: f for f in fields["details"].fields}
    assert [f.name for f in details["installer"].fields] == ["name", "version"]
    assert details["ci"].field_type == "BOOLEAN"
    # Both loads together: every row of the sample, once.
    sample_rows = pads.dataset(tiny_raw_dir / "file_downloads", format="parquet").count_rows()
    assert table.num_rows == sample_rows > 0
    metadata = bq.get_table(f"{RAW_PROJECT}.{RAW_DATASET}.distribution_metadata")
    modes = {f.name: (f.field_type, f.mode) for f in metadata.schema}
    assert modes["classifiers"] == ("STRING", "REPEATED")
    assert modes["upload_time"] == ("TIMESTAMP", "NULLABLE")


def test_weekly_marts_are_partitioned_and_clustered_like_production(
    emulator_build: EmulatorBuild, bq: Any
) -> None:
    for mart, grain in MART_GRAINS.items():
        table = bq.get_table(f"{PROJECT}.{DATASET}.{mart}")
        if "week_start" not in grain:  # packages, package_releases, data_events
            assert table.time_partitioning is None, mart
            continue
        assert table.time_partitioning is not None, mart
        assert (table.time_partitioning.field, table.time_partitioning.type_) == (
            "week_start",
            "DAY",
        ), mart


# --------------------------------------------------------------------------- incremental


def test_first_build_stopped_at_the_last_complete_week_of_its_data(
    emulator_build: EmulatorBuild,
) -> None:
    weeks = sorted(emulator_build.weeks_after_first)
    assert weeks[0] == dt.date(2026, 9, 7)  # first complete week of the sample
    assert weeks[-1] == REWRITTEN_WEEKS[0]
    assert set(emulator_build.weeks_after_first.values()) == {
        emulator_build.invocation(emulator_build.first_target)
    }


def test_incremental_run_rewrote_only_the_lookback_and_the_new_week(
    emulator_build: EmulatorBuild,
) -> None:
    assert "download window: weeks 2026-11-02 .. 2026-11-09" in emulator_build.second_stdout
    second = emulator_build.invocation(emulator_build.target)
    after = emulator_build.weeks_after_second
    rewritten = sorted(w for w, inv in after.items() if inv == second)
    assert rewritten == REWRITTEN_WEEKS
    kept = {w: inv for w, inv in after.items() if inv != second}
    assert kept == {
        w: inv for w, inv in emulator_build.weeks_after_first.items() if w not in REWRITTEN_WEEKS
    }
    assert len(after) == len(emulator_build.weeks_after_first) + 1


def test_incremental_marts_read_only_the_rewritten_weeks(emulator_build: EmulatorBuild) -> None:
    manifest = json.loads((emulator_build.target / "manifest.json").read_text())
    results = json.loads((emulator_build.target / "run_results.json").read_text())["results"]
    statuses = {
        r["unique_id"]: r["status"]
        for r in results
        if r["unique_id"].startswith(("model.", "test."))
    }
    assert len(statuses) > 100 and set(statuses.values()) == {"success", "pass"}
    incremental = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
        and n["config"]["materialized"] == "incremental"
        and n["name"] != ROLLUP
    ]
    weekly = [mart for mart, grain in MART_GRAINS.items() if "week_start" in grain]
    assert sorted(n["name"] for n in incremental) == sorted(weekly)
    for node in incremental:
        assert node["config"]["incremental_strategy"] == "insert_overwrite", node["name"]
        compiled = (
            emulator_build.target / "compiled" / "pypi_trends" / node["original_file_path"]
        ).read_text()
        assert "week_start between date '2026-11-02' and date '2026-11-09'" in compiled, node[
            "name"
        ]


# --------------------------------------------------------------------------- export + serve


_ROUNDTRIP_FIXTURES = {"published_export", "db"}
#: Checks of tests/test_export_roundtrip.py that describe the DuckDB build itself
#: (its dbt target and invocation); their emulator counterparts are below.
_DUCKDB_ONLY = {"test_metadata_describes_the_build"}
_ROUNDTRIP_CHECKS = [
    fn
    for name, fn in inspect.getmembers(roundtrip, inspect.isfunction)
    if name.startswith("test_")
    and name not in _DUCKDB_ONLY
    and fn.__module__ == roundtrip.__name__
    and set(inspect.signature(fn).parameters) <= _ROUNDTRIP_FIXTURES
    and not hasattr(fn, "pytestmark")
]


@pytest.mark.parametrize("check", _ROUNDTRIP_CHECKS, ids=lambda fn: fn.__name__)
def test_published_file_passes_the_duckdb_export_checks(
    check: Callable[..., None], emulator_export: Published
) -> None:
    con = sqlite3.connect(f"file:{emulator_export.db}?mode=ro", uri=True)
    try:
        given = {"published_export": emulator_export, "db": con}
        check(**{p: given[p] for p in inspect.signature(check).parameters})
    finally:
        con.close()


def test_published_file_equals_the_duckdb_export(
    emulator_export: Published, published_export: Published
) -> None:
    ref = sqlite3.connect(f"file:{published_export.release}?mode=ro", uri=True)
    new = sqlite3.connect(f"file:{emulator_export.release}?mode=ro", uri=True)
    try:
        tables = [t for (t,) in ref.execute("SELECT table_name FROM _tables ORDER BY 1")]
        assert tables == sorted(MART_GRAINS)
        for meta_table in ("_tables", "_columns"):
            query = f'SELECT * FROM "{meta_table}" ORDER BY 1, 2'
            assert new.execute(query).fetchall() == ref.execute(query).fetchall(), meta_table
        for table in tables:
            query = f'SELECT * FROM "{table}"'
            assert new.execute(query).fetchall() == ref.execute(query).fetchall(), table
    finally:
        ref.close()
        new.close()


def test_published_metadata_names_the_emulator_build(
    emulator_export: Published, emulator_build: EmulatorBuild, published_export: Published
) -> None:
    con = sqlite3.connect(f"file:{emulator_export.db}?mode=ro", uri=True)
    ref = sqlite3.connect(f"file:{published_export.db}?mode=ro", uri=True)
    try:
        meta = dict(con.execute("SELECT key, value FROM _meta"))
        ref_meta = dict(ref.execute("SELECT key, value FROM _meta"))
        # Only a file exported from the local sample's warehouse says how far its
        # counts are scaled down (the generator's record does not reach BigQuery).
        assert set(meta) == set(ref_meta) - {Meta.SAMPLE_SCALE}
        assert meta["build_id"] == BUILD_ID
        assert meta["source_target"] == TARGET
        assert meta["dbt_invocation_id"] == emulator_build.invocation(emulator_build.target)
        for key in ("data_through", "schema_version"):
            assert meta[key] == ref_meta[key], key
        assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
        ref.close()


def test_exporter_read_through_the_storage_read_api(
    emulator_export: Published, log_dir: Path
) -> None:
    # Sessions the exporter's BigQueryReadClient opened (recorded by the shim).
    sessions = [
        json.loads(line) for line in (log_dir / "storage-read.jsonl").read_text().splitlines()
    ]
    # One per mart: none of them came through the REST API's pages instead.
    assert len(sessions) == len(MART_GRAINS), sessions
    assert all(s["streams"] == 1 for s in sessions), sessions  # ORDER BY: one ordered stream


def test_server_serves_the_emulator_build(emulator_export: Published, log_dir: Path) -> None:
    con = sqlite3.connect(f"file:{emulator_export.db}?mode=ro", uri=True)
    try:
        package, downloads_total, rank = con.execute(
            "SELECT package_name, downloads_total, rank FROM packages ORDER BY rank LIMIT 1"
        ).fetchone()
        weeks = con.execute("SELECT count(*) FROM package_downloads_weekly").fetchone()[0]
    finally:
        con.close()
    with serve_process(emulator_export.db, log_dir / "serve.log") as base:
        with urllib.request.urlopen(base + "/api/meta", timeout=10) as response:
            meta = json.loads(response.read())
        assert meta["build_id"] == BUILD_ID
        counts = {t["table"]: t["rows"] for t in meta["tables"]}
        assert counts["package_downloads_weekly"] == weeks > 0
        with urllib.request.urlopen(f"{base}/api/packages/{package}", timeout=10) as response:
            body = json.loads(response.read())
    assert (body["package"], body["downloads_total"], body["rank"]) == (
        package,
        downloads_total,
        rank,
    )


# --------------------------------------------------------------------------- cost guard


def test_cost_guard_dry_run_runs_against_the_emulator(
    emulator: emu.Emulator, emulator_build: EmulatorBuild, bq: Any, tmp_path: Path
) -> None:
    """The pipeline's estimate (compile the rollup, dry-run it) on the emulator.

    The emulator accepts dry runs and rejects bad SQL in them, but estimates
    0 bytes, so the refusal above the limit stays covered by the offline test
    (tests/test_refresh_bigquery_cost.py).
    """
    from exports.bigquery_cost import check_byte_limit, compile_rollup
    from exports.errors import ExportError

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "PYPI_TRENDS_"))},
        **emulator.env(DATASET),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # The dbt command below runs with the emulator's shims (tests/bigquery_emulator.py).
        "PYTHONPATH": str(REPO_ROOT),
    }
    # The pipeline runs `<dbt> compile ...`: here <dbt> is dbt with the shims.
    dbt = tmp_path / "dbt-with-shims"
    dbt.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.bigquery_emulator dbt "$@"\n')
    dbt.chmod(0o755)
    base = [
        str(dbt),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(tmp_path / "target"),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
    ]
    # dbt's partial parse of the build: the compile then skips parsing the project again.
    (tmp_path / "target").mkdir()
    shutil.copy2(emulator_build.target / "partial_parse.msgpack", tmp_path / "target")
    sql = compile_rollup(base, tmp_path / "target", env, target=TARGET)
    assert f"`{RAW_PROJECT}`.`{RAW_DATASET}`.`file_downloads`" in sql
    estimate = check_byte_limit(bq, sql, limit=1)
    assert estimate.bytes_processed == 0  # the emulator's figure: no byte accounting
    with pytest.raises(ExportError, match="dry run"):
        check_byte_limit(bq, sql.replace("file_downloads", "file_downloads_missing"), limit=1)


# --------------------------------------------------------------------------- known answers
# GoogleSQL semantics the models rely on, each with the answer BigQuery's
# reference documents (docs/bigquery.md lists the rule behind each). They run
# on the emulator: a difference between it and BigQuery fails here, by name,
# rather than as a wrong number somewhere in a mart.


def _one(bq: Any, sql: str) -> tuple[Any, ...]:
    rows = [tuple(r.values()) for r in bq.query(sql).result()]
    assert len(rows) == 1, rows
    return rows[0]


def test_known_answer_iso_week_start_is_the_monday_utc(bq: Any) -> None:
    # macros/pypi_expressions.sql bigquery__iso_week_start: date_trunc(date(ts), isoweek).
    cases = {
        "2024-01-07 23:59:59.999999+00": dt.date(2024, 1, 1),  # Sunday: the Monday before
        "2024-01-01 00:00:00+00": dt.date(2024, 1, 1),  # Monday midnight: itself
        "2025-01-01 12:00:00+00": dt.date(2024, 12, 30),  # across a year boundary
        "2021-01-03 10:00:00+00": dt.date(2020, 12, 28),  # ISO week 53 of 2020
        "2024-01-08 01:00:00+02": dt.date(2024, 1, 1),  # Sunday 23:00 UTC: DATE() is UTC
    }
    selects = ", ".join(
        f"date_trunc(date(timestamp '{ts}'), isoweek) as c{i}" for i, ts in enumerate(cases)
    )
    assert _one(bq, f"select {selects}") == tuple(cases.values())


def test_known_answer_struct_field_of_a_null_struct_is_null(bq: Any) -> None:
    # stg_pypi__file_downloads reads file.version, details.installer.name, ... of
    # rows whose struct column may be NULL: the field is then NULL, never an error.
    assert _one(
        bq,
        "select t.s.name, t.s.sub.name, t.s is null from (select"
        " cast(null as struct<name string, sub struct<name string>>) as s) as t",
    ) == (None, None, True)
    assert _one(
        bq,
        "select t.s.sub.name from (select"
        " struct('x' as name, cast(null as struct<name string>) as sub) as s) as t",
    ) == (None,)


@pytest.mark.xfail(
    strict=True, reason="emulator gap: UNNEST turns a NULL struct element into a struct of NULLs"
)
def test_known_answer_unnest_keeps_a_null_struct_null(bq: Any) -> None:
    # Not used by the models (they read struct columns, never arrays of structs).
    assert _one(bq, "select s is null from unnest([cast(null as struct<name string>)]) as s") == (
        True,
    )


def test_known_answer_countif_and_count_over_no_true_rows_are_zero(bq: Any) -> None:
    # The rollup counts categories with count(case when ... then 1 end); an
    # empty category must be 0 (not NULL), over no matching rows and no rows at all.
    assert _one(
        bq,
        "select countif(x > 5), count(case when x > 5 then 1 end), count(*)"
        " from unnest([1, 2]) as x",
    ) == (0, 0, 2)
    assert _one(
        bq,
        "select countif(x > 5), count(case when x > 5 then 1 end)"
        " from unnest(cast([] as array<int64>)) as x",
    ) == (0, 0)


def test_known_answer_python_minor_version_extraction(bq: Any) -> None:
    # bigquery__python_minor_version: the one capturing group, NULL without a match.
    cases = {
        "3.10.12": "3.10",
        "3.12.0rc1": "3.12",
        "2.7": "2.7",
        "3": None,
        "cpython": None,
        "": None,
    }
    selects = ", ".join(
        f"regexp_extract('{v}', r'^([0-9]+[.][0-9]+)') as c{i}" for i, v in enumerate(cases)
    )
    got = _one(bq, f"select {selects}, regexp_extract(cast(null as string), r'^([0-9]+)')")
    assert got == (*cases.values(), None)


def test_known_answer_pep503_normalisation(bq: Any) -> None:
    # bigquery__normalize_package_name: every run of '-', '_', '.' is one '-', all matches.
    cases = {
        "Django": "django",
        "zope.interface": "zope-interface",
        "Foo__Bar.-baz": "foo-bar-baz",
        "ruamel.yaml.clib": "ruamel-yaml-clib",
        "a--b": "a-b",
    }
    selects = ", ".join(
        f"regexp_replace(lower('{v}'), r'[-_.]+', '-') as c{i}" for i, v in enumerate(cases)
    )
    assert _one(bq, f"select {selects}") == tuple(cases.values())


def test_known_answer_grouping_sets_with_grouping(bq: Any) -> None:
    # int_downloads_rolled_up_weekly: GROUPING(col) is 0 in the sets that group
    # by col and 1 in the others, where col is NULL.
    rows = bq.query(
        "select w, d, grouping(d) as g, count(*) as n from unnest(["
        " struct('w1' as w, 'a' as d), struct('w1', 'a'), struct('w1', 'b'), struct('w2', 'a')])"
        " group by grouping sets ((w), (w, d)) order by w, g, d"
    ).result()
    assert [tuple(r.values()) for r in rows] == [
        ("w1", "a", 0, 2),
        ("w1", "b", 0, 1),
        ("w1", None, 1, 3),
        ("w2", "a", 0, 1),
        ("w2", None, 1, 1),
    ]


def test_known_answer_first_row_struct_picks_the_first_row(bq: Any) -> None:
    # bigquery__first_row_struct: one row's fields, in the given order, ties broken.
    assert _one(
        bq,
        "select array_agg(struct(v as v, s as s) order by t desc, v desc limit 1)[offset(0)].s"
        " from unnest([struct(1 as t, 'a' as v, 'x' as s), struct(2, 'b', 'y'),"
        " struct(2, 'c', 'z')])",
    ) == ("z",)


def test_known_answer_date_diff_in_days(bq: Any) -> None:
    # bigquery__days_between: date_diff(later, earlier, day) is positive.
    assert _one(bq, "select date_diff(date '2024-03-04', date '2024-02-26', day)") == (7,)


def test_known_answer_day_partition_ids_are_yyyymmdd(
    emulator_build: EmulatorBuild, bq: Any
) -> None:
    # bigquery__raw_loaded_dates_sql / max_built_week parse partition_id with '%Y%m%d'.
    ids = [
        r[0]
        for r in bq.query(
            f"select partition_id from `{RAW_PROJECT}.{RAW_DATASET}.INFORMATION_SCHEMA.PARTITIONS`"
            " where table_name = 'file_downloads' and total_rows > 0 order by partition_id"
        ).result()
    ]
    assert ids[0] == "20260903" and ids[-1] == "20261118" and len(ids) == 77


@pytest.mark.xfail(
    strict=True, reason="emulator gap: STRUCT(col, ...) fields stay anonymous (BigQuery names them)"
)
def test_known_answer_struct_fields_are_named_after_their_columns(bq: Any) -> None:
    # Why bigquery__first_row_struct names its fields explicitly.
    assert _one(bq, "select struct(x, y).y from (select 1 as x, 2 as y)") == (2,)


@pytest.mark.xfail(
    strict=True, reason="emulator gap: SET (v) = (SELECT AS STRUCT ...) is not supported"
)
def test_known_answer_struct_assignment_sets_a_variable(bq: Any) -> None:
    # dbt-bigquery's dynamic insert_overwrite form (the test shim rewrites it).
    sql = (
        "declare v array<int64>; set (v) = (select as struct array_agg(x) from unnest([1, 2]) x);"
        " select array_length(v)"
    )
    assert _one(bq, sql) == (2,)
