"""The one writer: any :class:`~exports.sources.Source` -> Parquet + a complete SQLite file.

Rows reach SQLite in key order through :mod:`exports.loader`: chunks are
staged by parallel DuckDB cursors and appended natively, so SQLite only ever
appends to its B-tree. A mart whose stored order is already the key order
(checked by the source, ``Scan.presorted``) is never sorted: its chunks are
rowid ranges of the warehouse table, and its Parquet copy is one streaming
scan queued on the Parquet thread. Any other mart is sorted (in key ranges)
into Parquet (the analysts' copy, and a spill-safe sorted staging area),
whose files are then loaded in row-range chunks. DuckDB's memory cap keeps
the process small at any table size.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb

from contract import Meta
from exports import SCHEMA_VERSION, killpoints
from exports.errors import ExportError
from exports.loader import (
    LoadStats,
    OrderBroken,
    StagedLoader,
    chunk_bounds,
    open_target,
    release_memory,
)
from exports.manifest import MartSpec, data_through_mart
from exports.publish import fsync_path
from exports.report import Reporter
from exports.sources import Scan, Source
from exports.sqlite_schema import (
    META_DDL,
    META_KEYS,
    column_kind,
    index_ddl,
    quote,
    table_ddl,
)

#: 64 KiB pages: fewer B-tree balances per appended row, the same file size,
#: and readers with ``mmap_size`` (the API) read series as fast.
PAGE_SIZE = 65536


@dataclass(frozen=True)
class BuildInfo:
    """The facts written into ``_meta``."""

    build_id: str
    dbt_invocation_id: str
    source_target: str
    exported_at: str
    #: ``_meta.sample_scale`` when the warehouse was built from the local sample.
    sample_scale: str | None = None
    #: JSON ``{mart: invocation}`` (``_meta.dbt_mart_invocations``).
    mart_invocations: str = "{}"
    #: ``_meta.dbt_tests_digest`` (see :mod:`exports.provenance`).
    tests_digest: str = "none"
    #: Why the export was forced (empty: it was not).
    forced: str = ""


@dataclass(frozen=True)
class BuiltFile:
    """A finished, not yet validated SQLite file and what it should contain."""

    path: Path
    row_counts: dict[str, int]
    staged_parquet: dict[str, Path]
    #: ``max(week_start)`` of the smallest weekly mart as the source reports it
    #: (None: unknown, :func:`finish_file` reads it from the file).
    data_through: str | None = None
    #: Parquet copies still running: mart -> (future of (rows, seconds), rows loaded,
    #: the copy's ``FROM`` expression, its file).
    parquet_jobs: dict[str, tuple[Future[tuple[int, float]], int, str, Path]] = field(
        default_factory=dict
    )
    #: The configured DuckDB memory cap in bytes (a copy done again gets all of it).
    memory_limit: int = 0
    #: Releases the source once every copy is done (a copy done again reads it).
    close_source: Callable[[], None] | None = None

    def wait_parquet(self, con: duckdb.DuckDBPyConnection) -> dict[str, float]:
        """Wait for the queued Parquet copies and check their row counts.

        A copy that ran out of memory beside a load (they share the streaming
        cap) is done again here, alone, on ``con``.

        Returns:
            Seconds each copy took, by mart.

        Raises:
            ExportError: when a copy failed or wrote another number of rows.
        """
        seconds: dict[str, float] = {}
        try:
            for name, (job, loaded, sql, dest) in self.parquet_jobs.items():
                try:
                    rows, seconds[name] = job.result()
                    if rows < 0:
                        if self.memory_limit:
                            con.execute(f"SET memory_limit = '{self.memory_limit}B'")
                        rows, seconds[name] = _copy_part(con, sql, dest)
                except duckdb.Error as exc:
                    raise ExportError(f"mart {name}: writing Parquet failed: {exc}") from None
                if rows != loaded:
                    raise ExportError(f"mart {name}: {rows} rows in Parquet but {loaded} loaded")
        finally:
            if self.close_source is not None:
                # Every job has ended (or failed) by now: nothing reads the source.
                for job, *_ in self.parquet_jobs.values():
                    wait([job])
                self.close_source()
        return seconds


def create_schema(path: Path, marts: list[MartSpec]) -> None:
    """Create the empty SQLite file: every mart table and the self-describing tables."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("BEGIN")
        for ddl in META_DDL:
            con.execute(ddl)
        for mart in marts:
            con.execute(table_ddl(mart))
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    finally:
        con.close()


def _data_through(con: sqlite3.Connection, marts: list[MartSpec], counts: dict[str, int]) -> str:
    """Last complete week: ``max(week_start)`` of :func:`data_through_mart`."""
    mart = data_through_mart(marts)
    if mart is None:
        return ""
    row = con.execute(f"SELECT max(week_start) FROM {quote(mart.name)}").fetchone()
    return str(row[0]) if row and row[0] is not None else ""


def _mart_meta(marts: list[MartSpec]) -> dict[str, str]:
    """The ``_meta`` entries the marts declare (one value per key across marts).

    Raises:
        ExportError: when two marts declare different values for a key.
    """
    found: dict[str, set[str]] = {}
    for mart in marts:
        for key, value in mart.file_meta:
            found.setdefault(key, set()).add(value)
    clash = {k: sorted(v) for k, v in found.items() if len(v) > 1}
    if clash:
        raise ExportError(f"marts declare different values for _meta keys: {clash}")
    return {k: v.pop() for k, v in found.items()}


def finish_file(
    path: Path,
    marts: list[MartSpec],
    counts: dict[str, int],
    info: BuildInfo,
    data_through: str | None = None,
) -> str:
    """Add indexes, ``_meta``/``_tables``/``_columns``, ANALYZE, and leave the file in DELETE mode.

    ``data_through`` is the last complete week when the source already knows
    it (a DuckDB warehouse answers ``max`` cheaply; SQLite would scan the whole
    table, as ``week_start`` is not the first key column); None reads it from
    the file.

    Returns:
        The ``data_through`` week written into ``_meta``.
    """
    con = sqlite3.connect(path, isolation_level=None)
    try:
        # Build PRAGMAs: nobody else sees this file yet, a crash just discards it.
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        for mart in marts:
            for ddl in index_ddl(mart):
                con.execute(ddl)
        if data_through is None:
            data_through = _data_through(con, marts, counts)
        meta = {
            Meta.BUILD_ID: info.build_id,
            Meta.DBT_INVOCATION_ID: info.dbt_invocation_id,
            Meta.SOURCE_TARGET: info.source_target,
            Meta.DATA_THROUGH: data_through,
            Meta.EXPORTED_AT: info.exported_at,
            Meta.SCHEMA_VERSION: str(SCHEMA_VERSION),
            Meta.DBT_MART_INVOCATIONS: info.mart_invocations,
            Meta.DBT_TESTS_DIGEST: info.tests_digest,
        }
        if info.sample_scale is not None:
            meta[Meta.SAMPLE_SCALE] = info.sample_scale
        if info.forced:
            meta[Meta.FORCED] = info.forced
        meta.update(_mart_meta(marts))
        con.executemany("INSERT INTO _meta (key, value) VALUES (?, ?)", sorted(meta.items()))
        con.executemany(
            "INSERT INTO _tables (table_name, row_count, description) VALUES (?, ?, ?)",
            [(m.name, counts[m.name], m.description) for m in marts],
        )

        con.executemany(
            "INSERT INTO _columns (table_name, column_name, data_type, description)"
            " VALUES (?, ?, ?, ?)",
            sorted(
                (m.name, c.name, column_kind(c)[0], c.description) for m in marts for c in m.columns
            ),
        )
        con.execute("COMMIT")
        # Sampled statistics: as good for these key lookups, and ANALYZE stays
        # cheap on tables of hundreds of millions of rows.
        con.execute("PRAGMA analysis_limit = 1000")
        con.execute("ANALYZE")
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        # Published files use a rollback journal: readers never need a -wal/-shm
        # file next to them, and a read-only directory works.
        mode = con.execute("PRAGMA journal_mode = DELETE").fetchone()
        if not mode or str(mode[0]).lower() != "delete":
            raise ExportError(f"cannot switch {path} to journal_mode=DELETE (got {mode})")
    finally:
        con.close()
    return data_through


def _copy_part(cur: duckdb.DuckDBPyConnection, sql: str, dest: Path) -> tuple[int, float]:
    """Stream one ordered part of a mart into a Parquet file; return (rows, seconds)."""
    started = time.perf_counter()
    # DuckDB's Parquet writer holds a whole row group in memory beside the
    # sort: smaller row groups keep the peak RSS down for a slightly larger file.
    res = cur.execute(
        f"COPY (SELECT * FROM {sql}) TO '{dest}'"
        " (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 50000)"
    ).fetchone()
    return (int(res[0]) if res else 0), time.perf_counter() - started


def _copy_whole(
    cur: duckdb.DuckDBPyConnection,
    sql: str,
    dest: Path,
    reporter: Reporter,
    release: Callable[[duckdb.DuckDBPyConnection], None],
) -> tuple[int, float]:
    """:func:`_copy_part` on a cursor of its own (it runs on the Parquet thread), then close it.

    ``release`` (on that cursor) tells the source the mart has been read,
    unless the copy failed: it is done again later.

    Returns:
        ``(rows, seconds)``, or ``(-1, 0.0)`` when the copy ran out of memory
        (:meth:`BuiltFile.wait_parquet` then does it again, alone).
    """
    with cur:
        try:
            rows, secs = _copy_part(cur, sql, dest)
        except duckdb.OutOfMemoryException:
            return -1, 0.0
        release(cur)
    release_memory()
    # Flushed here, beside the loads, not at publication on the main thread.
    fsync_path(dest)
    reporter.advance(rows)
    return rows, secs


@dataclass
class _Writing:
    """What one build shares between marts: the target connection and the worker threads."""

    con: duckdb.DuckDBPyConnection
    target: sqlite3.Connection
    staging_dir: Path
    stagers: ThreadPoolExecutor
    workers: int
    parquet: ThreadPoolExecutor
    reporter: Reporter
    #: Parquet copies queued on ``parquet`` (they read through ``con``).
    copies: list[Future[tuple[int, float]]] = field(default_factory=list)
    #: The configured memory cap in bytes (sorts); streaming uses less (see :func:`_write_mart`).
    cap: int = 0

    def drop_cache(self) -> None:
        """Evict DuckDB's cached warehouse blocks, then hand freed memory back to the OS.

        Blocks a scan read stay cached in the buffer pool. A sort on another
        thread evicts them when it needs room, but the memory they leave
        behind is not what it then allocates, so the peak RSS grows. Lowering
        the cap for a moment evicts them here. Skipped while a queued Parquet
        copy may run on ``con``: the lowered cap would make it fail.
        """
        if all(job.done() for job in self.copies):
            limit = _memory_limit_bytes(self.con)
            try:
                self.con.execute("SET memory_limit = '1MB'")
            except duckdb.Error:
                pass  # pinned buffers: the cap stays, nothing is lost
            finally:
                self.con.execute(f"SET memory_limit = '{limit}B'")
        release_memory()

    def loader(
        self,
        mart: MartSpec,
        pool: ThreadPoolExecutor | None = None,
        gate: Future[bool] | None = None,
    ) -> StagedLoader:
        """A loader for one mart, on the shared stagers or on ``pool`` (one worker)."""
        return StagedLoader(
            self.con,
            self.target,
            mart,
            self.staging_dir,
            pool or self.stagers,
            window=2 if pool else self.workers + 1,
            page_size=PAGE_SIZE,
            on_rows=self.reporter.advance,
            gate=gate,
        )


def _parquet_chunks(path: Path, rows: int) -> list[str]:
    """Consecutive row ranges of one ordered Parquet file (DuckDB skips the other row groups)."""
    return [
        f"(SELECT * EXCLUDE (file_row_number) FROM read_parquet('{path}', file_row_number = true)"
        f" WHERE file_row_number >= {lo} AND file_row_number < {hi})"
        for lo, hi in chunk_bounds(0, rows - 1, rows)
    ]


def _write_presorted(
    w: _Writing,
    mart: MartSpec,
    scan: Scan,
    part_dir: Path,
    release: Callable[[duckdb.DuckDBPyConnection], None],
) -> tuple[Future[tuple[int, float]], LoadStats]:
    """Load an already ordered table in parallel rowid chunks; queue its Parquet copy.

    Nothing is sorted or staged in Parquet: the stagers read their chunks of
    the warehouse table directly. The Parquet copy (one streaming scan) is
    queued on the Parquet thread after the load, so it runs beside the
    single-threaded SQLite work that follows (the next mart, finishing,
    validation) instead of competing with the stagers.

    Returns:
        ``(future of (rows written to Parquet, seconds), load statistics)``.
    """
    if scan.verify is None:
        loader = w.loader(mart)
        loader.load(scan.parts)
    else:
        # The order check (a streaming pass) runs beside the first chunks;
        # nothing is appended before it has passed.
        verify = scan.verify
        with w.con.cursor() as cur, ThreadPoolExecutor(1, thread_name_prefix="check") as pool:
            gate = pool.submit(verify, cur)
            # An unordered mart fails the check within milliseconds: let it,
            # before stagers start (their memory would stay for the sort).
            done, _ = wait([gate], timeout=GATE_GRACE_S)
            if done and not gate.result():
                raise OrderBroken(mart.name)
            loader = w.loader(mart, gate=gate)
            loader.load(scan.parts)
    dest = part_dir / "part-00000.parquet"
    if (scan.expected_rows or 0) <= SYNC_COPY_ROWS:
        # A small copy takes milliseconds: queueing it would buy nothing, and a
        # query beside the next mart's shares (and can exhaust) the cap with it.
        copied: Future[tuple[int, float]] = Future()
        copied.set_result(_copy_part(w.con, scan.whole, dest))
        release(w.con)
        w.reporter.advance(copied.result()[0])
        return copied, loader.stats
    # The cursor is made here: `con` itself is only ever used from this thread.
    cur = w.con.cursor()
    job = w.parquet.submit(_copy_whole, cur, scan.whole, dest, w.reporter, release)
    w.copies.append(job)
    return job, loader.stats


def _write_parts(
    w: _Writing, mart: MartSpec, scan: Scan, part_dir: Path, overlap: bool
) -> tuple[int, float, LoadStats]:
    """Sort every part into Parquet and load it into SQLite from there, in key order.

    Each sorted Parquet part is loaded in parallel row-range chunks. With
    ``overlap`` and several parts, part j+1 is sorted on a second DuckDB
    connection while part j is loaded by one stager: the sort and the load
    share the cores, at the cost of two queries sharing the memory cap (a
    higher peak RSS). Without it each part is sorted, then
    loaded by every stager.

    Returns:
        ``(rows staged in Parquet, seconds sorting, load statistics)``.
    """
    files = [part_dir / f"part-{j:05d}.parquet" for j in range(len(scan.parts))]
    staged = 0
    copy_s = 0.0
    # Sources registered on `con` (Arrow streams) give one part: it is sorted on
    # `con` itself; only multi-part (warehouse) scans use the second connection.
    sorter = w.con.cursor() if len(scan.parts) > 1 and overlap else None
    # While a sort runs beside the load, one stager is enough: the sort takes
    # the other core (a second one only adds CPU and peak RSS).
    single = ThreadPoolExecutor(1, thread_name_prefix="stage1") if sorter else None
    loader = w.loader(mart, single)
    # A queued Parquet copy of a presorted mart shares the cap with the sort
    # and can run out of memory beside it: it finishes first.
    wait(w.copies)
    # Memory the stagers (or a failed presorted attempt, or the split points'
    # pass) hold or freed goes back to the OS before the sort, which is where
    # the peak RSS is reached.
    w.drop_cache()
    with (
        sorter or nullcontext(),
        single or nullcontext(),
        ThreadPoolExecutor(1, thread_name_prefix="sort") as pool,
    ):
        pending = pool.submit(_copy_part, sorter or w.con, scan.parts[0], files[0])
        for j, dest in enumerate(files):
            rows, secs = pending.result()
            if sorter is None:
                w.drop_cache()
            else:
                release_memory()
            staged += rows
            copy_s += secs
            w.reporter.advance(rows)
            if j + 1 < len(files) and sorter is not None:
                pending = pool.submit(_copy_part, sorter, scan.parts[j + 1], files[j + 1])
            loader.load(_parquet_chunks(dest, rows))
            if j + 1 < len(files) and sorter is None:
                w.drop_cache()
                pending = pool.submit(_copy_part, w.con, scan.parts[j + 1], files[j + 1])
    return staged, copy_s, loader.stats


#: Ceiling of the memory cap when a sort does not fit (see :func:`_write_mart`).
MAX_MEMORY_LIMIT_BYTES = 1 << 30

_SIZE_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's current memory cap in bytes (DuckDB reports e.g. ``38.1 MiB``)."""
    row = con.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchone()
    number, _, unit = str(row[0] if row else "0 bytes").partition(" ")
    return int(float(number) * _SIZE_UNITS.get(unit, 1))


def _try_cap(con: duckdb.DuckDBPyConnection, limit: int) -> bool:
    """Set DuckDB's memory cap; False (cap unchanged) when more than that is pinned."""
    try:
        con.execute(f"SET memory_limit = '{limit}B'")
    except duckdb.Error:
        return False
    return True


def _write_mart(
    w: _Writing,
    source: Source,
    mart: MartSpec,
    part_dir: Path,
    overlap: bool,
) -> tuple[Scan, int | Future[tuple[int, float]], float, LoadStats]:
    """Write one mart; start over in smaller parts (or with a doubled cap) if a sort does not fit.

    The small default cap keeps the peak RSS flat, and DuckDB spills sorts
    beyond it, but a sort still needs some unspillable memory that depends on
    the data, not only on its size. So the mart is first sorted again in
    twice as many key ranges (when the source can split it further), and only
    then does the cap grow, for that mart only, loudly: failing the whole
    export would leave users with no file.

    A presorted mart only streams, so it is loaded under the smaller
    ``STREAM_MEMORY_LIMIT_BYTES`` (what a larger cap adds is warehouse blocks
    DuckDB keeps cached, i.e. peak RSS); should that not fit, it is loaded
    again under the configured cap.

    Returns:
        ``(scan, rows in Parquet or the future of the queued copy, seconds
        sorting, load statistics)``.

    Raises:
        ExportError: when the mart does not fit even in ``MAX_MEMORY_LIMIT_BYTES``.
    """
    con = w.con
    initial = w.cap or _memory_limit_bytes(con)
    limit = initial
    stream = min(initial, STREAM_MEMORY_LIMIT_BYTES)
    retry: Scan | None = None
    try:
        while True:
            # Planning the mart (counts, split points) gets the whole cap.
            con.execute(f"SET memory_limit = '{limit}B'")
            scan = retry or source.scan(con, mart)
            retry = None
            w.reporter.label(mart.name)
            streaming = False
            try:
                if scan.presorted:
                    # Lowering the cap fails while more than it is pinned (a
                    # queued Parquet copy): the mart then streams under the cap.
                    streaming = stream < limit and _try_cap(con, stream)
                    if not streaming:
                        con.execute(f"SET memory_limit = '{limit}B'")
                    try:
                        job, stats = _write_presorted(
                            w, mart, scan, part_dir, partial(source.release, mart=mart)
                        )
                        return scan, job, 0.0, stats
                    except OrderBroken:
                        if scan.fallback is None:
                            raise
                        scan = scan.fallback()
                con.execute(f"SET memory_limit = '{limit}B'")
                # Parts of a week-major mart are cheap to read (zonemaps skip the
                # other key ranges): the next one is always sorted beside the load.
                staged, copy_s, stats = _write_parts(
                    w, mart, scan, part_dir, overlap or scan.week_parts
                )
                # The rows came from the sorted Parquet parts: the source is read.
                source.release(con, mart)
                return scan, staged, copy_s, stats
            except duckdb.OutOfMemoryException as exc:
                # The failed attempt may have appended earlier chunks: start over.
                w.target.execute(f"DELETE FROM {quote(mart.name)}")
                if streaming:
                    stream = limit
                    con.execute(f"SET memory_limit = '{limit}B'")
                    w.reporter.event("stream_cap_exceeded", table=mart.name, error=str(exc)[:80])
                    continue
                if scan.split is not None:
                    # Smaller key ranges first: DuckDB's sort can fail when
                    # its input is about the size of the cap, while half of it
                    # sorts fine.
                    retry = scan.split()
                    w.reporter.event(
                        "sort_split", table=mart.name, parts=len(retry.parts), error=str(exc)[:80]
                    )
                    continue
                if limit * 2 > MAX_MEMORY_LIMIT_BYTES:
                    raise ExportError(
                        f"mart {mart.name} does not fit in {limit >> 20} MiB: {exc}"
                    ) from None
                limit *= 2
                w.reporter.event(
                    "memory_limit_raised",
                    level=logging.WARNING,
                    table=mart.name,
                    memory_limit_mib=limit >> 20,
                )
                con.execute(f"SET memory_limit = '{limit}B'")
    finally:
        # Between marts the cap rests at the streaming level: queued Parquet
        # copies (and validation beside them) need no more.
        if not _try_cap(con, min(initial, STREAM_MEMORY_LIMIT_BYTES)):
            con.execute(f"SET memory_limit = '{initial}B'")


#: DuckDB's memory cap while a presorted mart streams (see :func:`_write_mart`).
STREAM_MEMORY_LIMIT_BYTES = 24 << 20

#: Presorted marts up to this many rows are copied to Parquet at once, not queued.
SYNC_COPY_ROWS = 100_000

#: Seconds the load of a presorted mart waits for its order check to fail fast.
GATE_GRACE_S = 0.005

#: DuckDB cursors staging chunks at once (see :mod:`exports.loader`).
LOAD_WORKERS = 2


def load_order(marts: list[MartSpec]) -> list[MartSpec]:
    """The marts without weeks first (small, but with wide rows), then the weekly ones.

    A mart whose rows are too wide to stream under the small cap is loaded
    again under the full one (``stream_cap_exceeded``): done first, that
    happens before the weekly marts have filled DuckDB's buffers, which keeps
    the peak RSS lower.
    """
    return sorted(marts, key=lambda m: ("week_start" in m.grain, m.name))


def build_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    marts: list[MartSpec],
    path: Path,
    staging_dir: Path,
    info: BuildInfo,
    reporter: Reporter,
    parquet: ThreadPoolExecutor,
    overlap: bool = False,
    workers: int = LOAD_WORKERS,
) -> BuiltFile:
    """Write every mart from ``source`` into the new SQLite file ``path`` (and Parquet).

    The file still lacks its metadata: :func:`finish_file` completes it. Parquet
    copies of presorted marts may still be running on ``parquet`` when this
    returns: :meth:`BuiltFile.wait_parquet` waits for them (``con`` must stay
    open until then).

    Raises:
        ExportError: when the source and the written rows disagree, or a
            statement fails.
    """
    create_schema(path, marts)
    staging_dir.mkdir(parents=True, exist_ok=True)
    cap = _memory_limit_bytes(con)
    source.open(con)
    counts: dict[str, int] = {}
    staged: dict[str, Path] = {}
    jobs: dict[str, tuple[Future[tuple[int, float]], int, str, Path]] = {}
    target = open_target(path)
    try:
        with ThreadPoolExecutor(max(workers, 1), thread_name_prefix="stage") as stagers:
            w = _Writing(con, target, staging_dir, stagers, max(workers, 1), parquet, reporter)
            w.cap = cap
            for i, mart in enumerate(load_order(marts)):
                part_dir = staging_dir / mart.name
                part_dir.mkdir(parents=True, exist_ok=True)
                scan, n_staged, copy_s, stats = _write_mart(w, source, mart, part_dir, overlap)
                n_loaded = stats.rows
                if isinstance(n_staged, Future):
                    jobs[mart.name] = (
                        n_staged,
                        n_loaded,
                        scan.whole,
                        part_dir / "part-00000.parquet",
                    )
                if scan.expected_rows is not None and n_loaded != scan.expected_rows:
                    raise ExportError(
                        f"mart {mart.name}: source reports {scan.expected_rows} rows,"
                        f" {n_loaded} were loaded"
                    )
                if not isinstance(n_staged, Future) and n_loaded != n_staged:
                    raise ExportError(
                        f"mart {mart.name}: {n_staged} rows staged but {n_loaded} loaded"
                    )
                counts[mart.name] = n_loaded
                staged[mart.name] = part_dir
                reporter.event(
                    "table_written",
                    table=mart.name,
                    rows=n_loaded,
                    parts=len(scan.parts),
                    presorted=scan.presorted,
                    path=scan.path,
                    sort_s=f"{copy_s:.2f}",
                    stage_s=f"{stats.stage_s:.2f}",
                    sqlite_s=f"{stats.append_s:.2f}",
                    stage_cpu_s=f"{stats.stage_cpu_s:.2f}",
                    sqlite_cpu_s=f"{stats.append_cpu_s:.2f}",
                )
                if i == 0:
                    killpoints.reached("after_first_table")
        through = data_through_mart(marts)
        con.execute(f"SET memory_limit = '{cap}B'")
        data_through = (
            source.max_value(con, through, "week_start")
            if through and counts[through.name]
            else None
        )
        # The queued Parquet copies stream on under the streaming cap.
        _try_cap(con, min(cap, STREAM_MEMORY_LIMIT_BYTES))
    except duckdb.Error as exc:
        raise ExportError(f"writing {path.name} failed: {exc}") from None
    finally:
        target.close()
        if not jobs:
            source.close(con)
    # Queued Parquet copies, and any copy done again, still read the source:
    # BuiltFile.wait_parquet closes it after them.
    close_source = partial(source.close, con) if jobs else None
    return BuiltFile(path, counts, staged, data_through, jobs, cap, close_source)


#: Read connections checking tables at once (the machine has two cores).
CHECK_WORKERS = 2

#: Offset of SQLite's lock byte: the page holding it is never used.
_PENDING_BYTE = 1 << 30


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _check_one(path: Path, table: str) -> list[str]:
    """``PRAGMA integrity_check(table)`` on a connection of its own: its problems, or []."""
    try:
        con = _read_only(path)
        try:
            rows = [str(r[0]) for r in con.execute(f"PRAGMA integrity_check({quote(table)})")]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return [f"{table}: {exc}"]
    return [] if rows == ["ok"] else rows


def _page_owners(path: Path) -> list[str] | None:
    """Whether every page of the file belongs to exactly one b-tree (on a connection of its own).

    The ``dbstat`` rows are streamed into a one-byte-per-page map: a list of
    them would grow with the file (hundreds of thousands of rows at full
    scale) and set the export's peak memory.

    Returns:
        The problems ([] when ``dbstat`` lists every page of the file once and
        no page twice), or None when this cannot be decided here (no
        ``dbstat`` in this SQLite, free pages, or auto-vacuum pointer maps):
        the caller then runs the whole-file check.
    """
    try:
        con = _read_only(path)
    except sqlite3.DatabaseError as exc:
        return [f"reading the b-trees failed: {exc}"]
    try:
        page_size, page_count, free, auto_vacuum = (
            int(con.execute(f"PRAGMA {p}").fetchone()[0])
            for p in ("page_size", "page_count", "freelist_count", "auto_vacuum")
        )
        if free or auto_vacuum:
            return None
        seen = bytearray(page_count + 1)
        listed = twice = outside = 0
        for (page,) in con.execute("SELECT pageno FROM dbstat"):
            listed += 1
            if not 0 < page <= page_count:
                outside += 1
            elif seen[page]:
                twice += 1
            else:
                seen[page] = 1
    except sqlite3.OperationalError as exc:
        if "dbstat" in str(exc):
            return None
        return [f"reading the b-trees failed: {exc}"]
    except sqlite3.DatabaseError as exc:
        return [f"reading the b-trees failed: {exc}"]
    finally:
        con.close()
    distinct = listed - twice - outside
    # SQLite never uses the page holding byte 2**30 of the file (the lock byte).
    expected = page_count - (1 if page_count * page_size > _PENDING_BYTE else 0)
    problems = []
    if twice:
        problems.append(f"{twice} page(s) in more than one b-tree")
    if outside:
        problems.append(f"{outside} page(s) beyond the end of the file")
    if distinct != expected:
        problems.append(f"{distinct} pages in b-trees, {expected} in the file")
    return problems


def _whole_file_problems(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` of the whole file, on one connection."""
    try:
        con = _read_only(path)
        try:
            rows = [str(r[0]) for r in con.execute("PRAGMA integrity_check")]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def integrity_problems(
    path: Path, workers: int = CHECK_WORKERS, sizes: Mapping[str, int] | None = None
) -> list[str]:
    """What ``PRAGMA integrity_check`` finds wrong with the file ([] when it says ``ok``).

    The whole-file check is single-threaded and was most of a validation, so
    the same checks are split: ``integrity_check(table)`` of every table
    (including ``sqlite_schema``, which also checks the freelist) runs on
    ``workers`` read connections at once, largest tables first (``sizes``:
    rows by table, when the caller knows them). Per table it
    does everything the whole-file check does for that table (b-tree pages,
    record headers, NOT NULL and STRICT types, primary-key order of
    ``WITHOUT ROWID`` tables, index entries and their counts) except the one
    cross-table check: that every page belongs to exactly one b-tree. That
    one is answered from ``dbstat`` (every page listed once, none missing),
    as one more job beside the tables; when it cannot be (no ``dbstat``, free
    pages, pointer maps) the whole-file check runs instead. ``quick_check``
    would not do: it skips the primary-key order of ``WITHOUT ROWID`` tables
    (every mart table) and the index checks.
    """
    if workers <= 1:
        return _whole_file_problems(path)
    try:
        con = _read_only(path)
        try:
            rows = con.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    known = sizes or {}
    order = sorted(["sqlite_schema", *(str(r[0]) for r in rows)], key=lambda t: -known.get(t, 0))
    with ThreadPoolExecutor(workers, thread_name_prefix="check") as pool:
        pages = pool.submit(_page_owners, path)
        found = list(pool.map(lambda t: _check_one(path, t), order))
        owners = pages.result()
    if owners is None:
        return _whole_file_problems(path)
    return owners + [p for problems in found for p in problems]


def validate_file(path: Path, marts: list[MartSpec], counts: dict[str, int], build_id: str) -> None:
    """Check a finished file before it may become current.

    ``PRAGMA integrity_check`` (split over tables: :func:`integrity_problems`),
    ``user_version``, journal mode, a complete ``_meta`` naming this build,
    and every table's row count equal to the source's (counted again by
    SQLite itself).

    Raises:
        ExportError: on the first check that fails.
    """
    problems = integrity_problems(path, sizes=counts)
    if problems:
        raise ExportError(f"{path.name}: integrity_check failed: {problems[:5]}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = con.execute("PRAGMA user_version").fetchone()
        if not version or version[0] != SCHEMA_VERSION:
            raise ExportError(f"{path.name}: user_version {version} != {SCHEMA_VERSION}")
        mode = con.execute("PRAGMA journal_mode").fetchone()
        if not mode or str(mode[0]).lower() != "delete":
            raise ExportError(f"{path.name}: journal_mode is {mode}, expected delete")
        meta = dict(con.execute("SELECT key, value FROM _meta").fetchall())
        missing = [k for k in META_KEYS if not meta.get(k)]
        if missing:
            raise ExportError(f"{path.name}: _meta lacks {missing}")
        if meta["build_id"] != build_id or meta["schema_version"] != str(SCHEMA_VERSION):
            raise ExportError(f"{path.name}: _meta does not describe build {build_id}")
        listed = dict(con.execute("SELECT table_name, row_count FROM _tables").fetchall())
        for mart in marts:
            row = con.execute(f"SELECT count(*) FROM {quote(mart.name)}").fetchone()
            actual = int(row[0]) if row else -1
            if actual != counts[mart.name] or listed.get(mart.name) != actual:
                raise ExportError(
                    f"{path.name}: table {mart.name} has {actual} rows,"
                    f" source has {counts[mart.name]}, _tables says {listed.get(mart.name)}"
                )
    finally:
        con.close()
