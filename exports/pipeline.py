"""The export, end to end: read dbt's artefacts, build, validate, publish, prune."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from contract import META_TABLE, Meta
from exports import duck, killpoints, provenance
from exports.datasette import write_metadata
from exports.errors import ExportError, RefusedError
from exports.guards import ShrinkBounds, check_shrink
from exports.manifest import (
    MartSpec,
    data_through_mart,
    export_marts,
    latest_run,
    load_manifest,
    refuse_on_failures,
)
from exports.publish import (
    Layout,
    check_build_id,
    clean_leftovers,
    current_release,
    export_lock,
    fsync_path,
    prune_releases,
    publish_parquet,
    publish_release,
)
from exports.report import Reporter
from exports.sample_facts import sample_scale
from exports.sources import DuckDBSource, Source
from exports.writer import LOAD_WORKERS, BuildInfo, build_file, finish_file, validate_file


@dataclass(frozen=True)
class ExportOptions:
    """Everything one export needs (the CLI fills it from options and environment)."""

    source: Source
    target_dir: Path
    layout: Layout
    keep: int = 3
    force: bool = False
    dry_run: bool = False
    build_id: str | None = None
    source_target: str | None = None
    skip_if_unchanged: bool = False
    memory_limit: str = "40MB"
    threads: int = 1
    overlap: bool = False
    load_workers: int = LOAD_WORKERS
    #: Drops against the current release that refuse the export.
    bounds: ShrinkBounds = field(default_factory=ShrinkBounds)
    #: Publish despite a shrink beyond ``bounds``; recorded in ``_meta``.
    accept_shrink: str | None = None


@dataclass
class ExportResult:
    """What an export did (or, with ``dry_run``, would do)."""

    build_id: str
    marts: list[MartSpec]
    release: Path | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    data_through: str = ""
    parquet: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False


def default_build_id(invocation_id: str, now: dt.datetime) -> str:
    """``YYYYMMDDTHHMMSSZ-<8 hex of the dbt invocation id>``: sortable and traceable to dbt."""
    digest = hashlib.sha256(invocation_id.encode()).hexdigest()[:8]
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{digest}"


def run_export(opts: ExportOptions, reporter: Reporter) -> ExportResult:
    """Export the marts listed in the dbt manifest and publish the new file.

    Raises:
        ExportError: on any failure; the current published file is untouched.
        RefusedError: when the latest dbt run has failures and ``force`` is off.
    """
    # Loading DuckDB's sqlite extension is the slowest step of the start-up: the
    # writer's connection (which also reads the provenance) is opened on its
    # own thread while the manifest is read.
    with ThreadPoolExecutor(1, thread_name_prefix="connect") as pool:
        connecting = pool.submit(duck.connect, opts.memory_limit, None, opts.threads)
        try:
            return _run_export(opts, reporter, connecting)
        finally:
            with suppress(Exception):
                connecting.result().close()


def _run_export(
    opts: ExportOptions, reporter: Reporter, connecting: Future[duckdb.DuckDBPyConnection]
) -> ExportResult:
    """:func:`run_export`, given the writer's connection being opened."""
    started = time.monotonic()
    manifest = load_manifest(opts.target_dir)
    marts = export_marts(manifest)
    run = latest_run(opts.target_dir, manifest)
    refuse_on_failures(run, opts.force)
    if run.failures:
        reporter.event("forced_despite_failures", failures=len(run.failures))
    # A BigQuery dry run stays offline: it prints the queries, reads nothing.
    offline = opts.dry_run and opts.source.label == "bigquery"
    origin = (
        provenance.Provenance({}, "", 0)
        if offline
        else _provenance(opts, manifest, marts, connecting.result())
    )
    if origin.problems:
        if not opts.force:
            raise RefusedError(
                f"{len(origin.problems)} mart test(s) do not vouch for the marts in the"
                " warehouse (every test of a mart must pass in the dbt run that last wrote"
                f" it, and no later run may fail one):\n{provenance.report(origin.problems)}\n"
                "run `dbt build` (make build) and fix what fails, or pass --force"
            )
        reporter.event("forced_despite_provenance", problems=len(origin.problems))
    invocation = origin.invocation_id or run.invocation_id
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    build_id = check_build_id(opts.build_id or default_build_id(invocation, now))
    target = (
        opts.source_target or run.target or ("prod" if opts.source.label == "bigquery" else "dev")
    )
    info = BuildInfo(
        build_id=build_id,
        dbt_invocation_id=invocation or "unknown",
        source_target=target,
        exported_at=now.isoformat().replace("+00:00", "Z"),
        sample_scale=(
            sample_scale(opts.source.path) if isinstance(opts.source, DuckDBSource) else None
        ),
        mart_invocations=json.dumps(origin.writers, sort_keys=True) if origin.writers else "{}",
        tests_digest=origin.digest or "none",
        forced="; ".join(origin.problems + list(run.failures)) if opts.force else "",
    )
    result = ExportResult(build_id=build_id, marts=marts)
    layout = opts.layout
    reporter.event(
        "export_start", build_id=build_id, marts=len(marts), source=opts.source.label, target=target
    )

    if opts.dry_run:
        _dry_run(opts, marts, result, reporter, connecting)
        result.seconds = time.monotonic() - started
        return result

    with export_lock(layout):
        killpoints.reached("after_lock")
        for path in clean_leftovers(layout):
            reporter.event("removed_leftover", path=path)
        if opts.skip_if_unchanged and _unchanged(opts, marts, reporter, connecting.result()):
            result.skipped = True
            result.seconds = time.monotonic() - started
            return result
        if layout.release_path(build_id).exists():
            raise ExportError(
                f"release {layout.release_path(build_id)} already exists: pick another --build-id"
            )
        temp = layout.temp_path(build_id)
        staging = layout.staging_dir()
        spill = layout.releases_dir / f".spill.tmp-{temp.name.rsplit('-', 1)[-1]}"
        spill.mkdir(parents=True, exist_ok=True)
        try:
            con = connecting.result()
            con.execute(f"SET temp_directory = '{spill}'")
        except BaseException:
            shutil.rmtree(spill, ignore_errors=True)
            raise
        try:
            total = _estimate_rows(opts.source, con, marts)
            # Parquet copies of presorted marts run on this thread beside the
            # single-threaded SQLite work (next mart, finish, validation); leaving
            # the block waits for them, also on failure, before `con` closes.
            with (
                reporter.bar(total),
                ThreadPoolExecutor(1, thread_name_prefix="parquet") as parquet,
            ):
                built = build_file(
                    con,
                    opts.source,
                    marts,
                    temp,
                    staging,
                    info,
                    reporter,
                    parquet,
                    opts.overlap,
                    opts.load_workers,
                )
                t0 = time.perf_counter()
                data_through = finish_file(temp, marts, built.row_counts, info, built.data_through)
                t1 = time.perf_counter()
                killpoints.reached("after_temp_written")
                # The file's pages go to disk while validation reads them: the
                # fsync of the publication then has little left to write.
                with ThreadPoolExecutor(1, thread_name_prefix="fsync") as flush:
                    flushed = flush.submit(fsync_path, temp)
                    validate_file(temp, marts, built.row_counts, build_id)
                    _guard_shrink(opts, temp, reporter)
                    flushed.result()
                t2 = time.perf_counter()
                parquet_s = built.wait_parquet(con)
            # DuckDB's buffers are not needed any more.
            con.close()
            killpoints.reached("after_validate")
            reporter.event(
                "validated",
                file=temp.name,
                integrity="ok",
                finish_s=f"{t1 - t0:.2f}",
                validate_s=f"{t2 - t1:.2f}",
                parquet_wait_s=f"{time.perf_counter() - t2:.2f}",
                parquet_s=f"{sum(parquet_s.values()):.2f}",
            )
            result.release = publish_release(layout, temp, build_id)
            result.row_counts, result.data_through = built.row_counts, data_through
            reporter.event(
                "published", db=layout.db, release=result.release, data_through=data_through
            )
            result.parquet = publish_parquet(layout, built.staged_parquet)
            write_metadata(layout.db, marts, build_id, data_through)
            result.removed = prune_releases(layout, opts.keep)
            for path in result.removed:
                reporter.event("pruned", release=path)
        except BaseException:
            # Never leave a half-built file behind on an ordinary failure; a
            # SIGKILL is handled by clean_leftovers at the next run.
            for path in (temp, Path(f"{temp}-journal")):
                path.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            con.close()
            shutil.rmtree(spill, ignore_errors=True)
    result.seconds = time.monotonic() - started
    reporter.event(
        "export_done",
        build_id=build_id,
        rows=sum(result.row_counts.values()),
        seconds=f"{result.seconds:.2f}",
        size_bytes=result.release.stat().st_size if result.release else 0,
    )
    return result


def _provenance(
    opts: ExportOptions,
    manifest: dict[str, object],
    marts: list[MartSpec],
    con: duckdb.DuckDBPyConnection,
) -> provenance.Provenance:
    """Read the warehouse's dbt provenance log and check it against the manifest's tests.

    ``con`` is the writer's connection: a second DuckDB for these few reads
    would cost more than the reads.
    """
    opts.source.open(con)
    try:
        events = opts.source.provenance(con, marts[0])
    finally:
        opts.source.close(con)
    return provenance.check(manifest, marts, events)


def _guard_shrink(opts: ExportOptions, temp: Path, reporter: Reporter) -> None:
    """Refuse a file that lost data the current release has (unless accepted).

    Raises:
        RefusedError: a drop beyond ``opts.bounds`` and no ``accept_shrink``.
    """
    import sqlite3

    current = current_release(opts.layout)
    if current is None:
        return
    try:
        old, violations = check_shrink(current, temp, opts.bounds)
    except sqlite3.Error as exc:
        # An unreadable current release is no yardstick: replacing it is the fix.
        reporter.event("shrink_check_skipped", current=current, error=exc)
        return
    if not violations:
        return
    changes = "\n  ".join(violations)
    if not opts.accept_shrink:
        raise RefusedError(
            f"the new file shrinks against the current release {old.build_id}"
            f" ({current.name}):\n  {changes}\n"
            'nothing published; if this is intended pass --accept-shrink "<reason>"'
        )
    reporter.event("shrink_accepted", reason=opts.accept_shrink, changes=len(violations))
    con = sqlite3.connect(temp, isolation_level=None)
    try:
        con.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)",
            (Meta.ACCEPTED_SHRINK, f"{opts.accept_shrink}\n" + "\n".join(violations)),
        )
    finally:
        con.close()


def _unchanged(
    opts: ExportOptions,
    marts: list[MartSpec],
    reporter: Reporter,
    con: duckdb.DuckDBPyConnection,
) -> bool:
    """True when the current release already holds the source's last complete week.

    ``con`` is the writer's connection (one ``max`` needs no other).
    """
    import sqlite3

    current = current_release(opts.layout)
    mart = data_through_mart(marts)
    if current is None or mart is None:
        return False
    try:
        lite = sqlite3.connect(f"file:{current}?mode=ro", uri=True)
        try:
            row = lite.execute(
                f"SELECT value FROM {META_TABLE} WHERE key = ?", (Meta.DATA_THROUGH,)
            ).fetchone()
        finally:
            lite.close()
    except sqlite3.Error:
        return False
    published = str(row[0]) if row else None
    opts.source.open(con)
    try:
        latest = opts.source.max_value(con, mart, "week_start")
    finally:
        opts.source.close(con)
    if latest is not None and latest == published:
        reporter.event("nothing_new", data_through=published, current=current)
        return True
    return False


def _estimate_rows(source: Source, con: duckdb.DuckDBPyConnection, marts: list[MartSpec]) -> int:
    """Total rows for the progress bar (DuckDB's catalog estimate; other sources report 0)."""
    if not isinstance(source, DuckDBSource):
        return 0
    source.open(con)
    try:
        # The catalog's estimate, not count(*): a table with deleted rows (every
        # incremental run leaves some) would be scanned, and the scan keeps the
        # tables' version info in memory, which can outgrow the memory cap. A
        # progress bar needs no exact total. No bound parameters: DuckDB's
        # Python client imports pandas (and numpy, pyarrow) to convert the first
        # parameter it sees, which stays in RSS for the whole run.
        sizes = {
            (str(schema), str(table)): int(size or 0)
            for schema, table, size in con.execute(
                "SELECT schema_name, table_name, estimated_size FROM duckdb_tables()"
                f" WHERE database_name = '{source.alias}'"
            ).fetchall()
        }
        return sum(sizes.get((mart.schema or "main", mart.alias), 0) for mart in marts)
    except duckdb.Error as exc:
        raise ExportError(f"cannot read the warehouse: {exc}") from None
    finally:
        source.close(con)


def _dry_run(
    opts: ExportOptions,
    marts: list[MartSpec],
    result: ExportResult,
    reporter: Reporter,
    connecting: Future[duckdb.DuckDBPyConnection],
) -> None:
    """Check the source can be read (writer's connection) and report the plan; write nothing."""
    import tempfile

    from exports.sources import BigQuerySource, bigquery_query

    if isinstance(opts.source, BigQuerySource):
        # Offline-safe: show the queries that would stream each mart, run none.
        for mart in marts:
            sql = bigquery_query(mart, opts.source.project, opts.source.dataset)
            reporter.event("would_query", table=mart.name, sql=sql)
        reporter.event("dry_run", would_publish=opts.layout.release_path(result.build_id))
        return

    with tempfile.TemporaryDirectory(prefix="pypi-trends-dry-") as tmp:
        con = connecting.result()
        # Planning a scan may spill: never into the working directory.
        con.execute(f"SET temp_directory = '{tmp}'")
        opts.source.open(con)
        try:
            for mart in marts:
                scan = opts.source.scan(con, mart)
                result.row_counts[mart.name] = scan.expected_rows or 0
                reporter.event(
                    "would_export",
                    table=mart.name,
                    rows=scan.expected_rows if scan.expected_rows is not None else "unknown",
                    grain=",".join(mart.grain),
                    columns=len(mart.columns),
                )
        finally:
            opts.source.close(con)
    current = current_release(opts.layout)
    reporter.event(
        "dry_run",
        would_publish=opts.layout.release_path(result.build_id),
        current=current or "none",
        keep=opts.keep,
    )
