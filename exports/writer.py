"""The one writer: any :class:`~exports.sources.Source` -> Parquet + a complete SQLite file.

A mart whose stored order is already the key order (checked by the source,
``Scan.presorted``) is read twice at once and never sorted: DuckDB streams it
into a pre-created ``STRICT, WITHOUT ROWID`` SQLite table through the sqlite
extension while a second cursor writes the Parquet copy. Any other mart is
sorted (in key ranges) into Parquet (the analysts' copy, and a spill-safe
sorted staging area), then that file is streamed into SQLite. Either way rows
arrive in key order, so SQLite only appends to its B-tree; DuckDB's memory cap
keeps the process small at any table size.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import duckdb

from exports import SCHEMA_VERSION, killpoints
from exports.errors import ExportError
from exports.manifest import MartSpec
from exports.report import Reporter
from exports.sources import Scan, Source
from exports.sqlite_schema import (
    META_DDL,
    META_KEYS,
    column_kind,
    index_ddl,
    quote,
    table_ddl,
    to_sqlite_expr,
)

PAGE_SIZE = 4096


@dataclass(frozen=True)
class BuildInfo:
    """The facts written into ``_meta``."""

    build_id: str
    dbt_invocation_id: str
    source_target: str
    exported_at: str


@dataclass(frozen=True)
class BuiltFile:
    """A finished, not yet validated SQLite file and what it should contain."""

    path: Path
    row_counts: dict[str, int]
    staged_parquet: dict[str, Path]


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
    """Last complete week: ``max(week_start)`` of the smallest mart that has the column."""
    weekly = [m for m in marts if any(c.name == "week_start" for c in m.columns)]
    if not weekly:
        return ""
    smallest = min(weekly, key=lambda m: counts[m.name])
    row = con.execute(f"SELECT max(week_start) FROM {quote(smallest.name)}").fetchone()
    return str(row[0]) if row and row[0] is not None else ""


def finish_file(path: Path, marts: list[MartSpec], counts: dict[str, int], info: BuildInfo) -> str:
    """Add indexes, ``_meta``/``_tables``/``_columns``, ANALYZE, and leave the file in DELETE mode.

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
        data_through = _data_through(con, marts, counts)
        meta = {
            "build_id": info.build_id,
            "dbt_invocation_id": info.dbt_invocation_id,
            "source_target": info.source_target,
            "data_through": data_through,
            "exported_at": info.exported_at,
            "schema_version": str(SCHEMA_VERSION),
        }
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
    res = cur.execute(
        f"COPY (SELECT * FROM {sql}) TO '{dest}'"
        " (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 100000)"
    ).fetchone()
    return (int(res[0]) if res else 0), time.perf_counter() - started


def _write_presorted(
    con: duckdb.DuckDBPyConnection, mart: MartSpec, scan: Scan, part_dir: Path
) -> tuple[int, int, float, float]:
    """Load an already ordered table scan into SQLite while a second connection writes Parquet.

    No sort and no staging: SQLite reads the warehouse directly (keys arrive in
    order, so its B-tree only appends) on this thread, and the Parquet copy
    runs on another cursor (another core) at the same time. Both are
    streaming scans, so memory stays at DuckDB's small buffer cap.

    Returns:
        ``(rows written to Parquet, rows loaded, seconds Parquet, seconds loading)``.
    """
    exprs = ", ".join(to_sqlite_expr(c) for c in mart.columns)
    (source,) = scan.parts
    copier = con.cursor()
    with copier, ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
        pending = pool.submit(_copy_part, copier, source, part_dir / "part-00000.parquet")
        started = time.perf_counter()
        try:
            res = con.execute(
                f"INSERT INTO out.{quote(mart.name)} SELECT {exprs} FROM {source}"
            ).fetchone()
        except BaseException:
            # The load's error is the one to report; the copy is only waited for.
            wait([pending])
            raise
        load_s = time.perf_counter() - started
        copied, copy_s = pending.result()
    return copied, int(res[0]) if res else 0, copy_s, load_s


def _write_parts(
    con: duckdb.DuckDBPyConnection, mart: MartSpec, scan: Scan, part_dir: Path, overlap: bool
) -> tuple[int, int, float, float]:
    """Stage every part to Parquet and load it into SQLite, in key order.

    With ``overlap`` and several parts, part j+1 is sorted and staged on a
    second DuckDB connection while part j is loaded into SQLite: the sort and
    SQLite's single-writer insert use two cores, at the cost of two queries
    sharing the memory cap (measured: ~25 MB more peak RSS). Without it the
    parts run one after the other.

    Returns:
        ``(rows staged, rows loaded, seconds staging, seconds loading)``.
    """
    exprs = ", ".join(to_sqlite_expr(c) for c in mart.columns)
    files = [part_dir / f"part-{j:05d}.parquet" for j in range(len(scan.parts))]
    staged = loaded = 0
    copy_s = load_s = 0.0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage") as pool:
        # Sources registered on `con` (Arrow streams) give one part: stage it on
        # `con` itself; only multi-part (warehouse) scans use the second connection.
        stager = con.cursor() if len(scan.parts) > 1 and overlap else con
        pending = pool.submit(_copy_part, stager, scan.parts[0], files[0])
        for j, dest in enumerate(files):
            rows, secs = pending.result()
            staged += rows
            copy_s += secs
            if j + 1 < len(files) and stager is not con:
                pending = pool.submit(_copy_part, stager, scan.parts[j + 1], files[j + 1])
            started = time.perf_counter()
            res = con.execute(
                f"INSERT INTO out.{quote(mart.name)} SELECT {exprs} FROM read_parquet('{dest}')"
            ).fetchone()
            load_s += time.perf_counter() - started
            loaded += int(res[0]) if res else 0
            if j + 1 < len(files) and stager is con:
                pending = pool.submit(_copy_part, stager, scan.parts[j + 1], files[j + 1])
    return staged, loaded, copy_s, load_s


#: Ceiling of the memory cap when a sort does not fit (see :func:`_write_mart`).
MAX_MEMORY_LIMIT_BYTES = 1 << 30

_SIZE_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's current memory cap in bytes (DuckDB reports e.g. ``38.1 MiB``)."""
    row = con.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchone()
    number, _, unit = str(row[0] if row else "0 bytes").partition(" ")
    return int(float(number) * _SIZE_UNITS.get(unit, 1))


def _write_mart(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: Source,
    mart: MartSpec,
    part_dir: Path,
    overlap: bool,
    reporter: Reporter,
) -> tuple[Scan, tuple[int, int, float, float]]:
    """Write one mart, doubling the memory cap and starting the mart over when a sort does not fit.

    The small default cap keeps the peak RSS flat, and DuckDB spills sorts
    beyond it, but a sort still needs some unspillable memory that depends on
    the data (measured: a 520k-row mart of the demo sample did not sort in
    40 MB while a 3.4M-row one did). Failing the whole export there would
    leave users with no file, so the cap grows for that mart only, loudly.

    Raises:
        ExportError: when the mart does not fit even in ``MAX_MEMORY_LIMIT_BYTES``.
    """
    initial = _memory_limit_bytes(con)
    limit = initial
    try:
        while True:
            scan = source.scan(con, mart)
            try:
                with reporter.step(con, mart.name, scan.expected_rows or 0):
                    if scan.presorted:
                        return scan, _write_presorted(con, mart, scan, part_dir)
                    return scan, _write_parts(con, mart, scan, part_dir, overlap)
            except duckdb.OutOfMemoryException as exc:
                if limit * 2 > MAX_MEMORY_LIMIT_BYTES:
                    raise ExportError(
                        f"mart {mart.name} does not fit in {limit >> 20} MiB: {exc}"
                    ) from None
                limit *= 2
                reporter.event(
                    "memory_limit_raised",
                    level=logging.WARNING,
                    table=mart.name,
                    memory_limit_mib=limit >> 20,
                )
                con.execute(f"SET memory_limit = '{limit}B'")
                # The failed attempt may have committed earlier parts: start over.
                # DuckDB's sqlite scanner deletes by ROWID, which a WITHOUT ROWID
                # table lacks, so SQLite itself empties the table, detached.
                con.execute("DETACH out")
                with sqlite3.connect(path, isolation_level=None) as lite:
                    lite.execute(f"DELETE FROM {quote(mart.name)}")
                lite.close()
                con.execute(f"ATTACH '{path}' AS out (TYPE sqlite)")
    finally:
        if limit != initial:
            con.execute(f"SET memory_limit = '{initial}B'")


def build_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    marts: list[MartSpec],
    path: Path,
    staging_dir: Path,
    info: BuildInfo,
    reporter: Reporter,
    overlap: bool = False,
) -> BuiltFile:
    """Write every mart from ``source`` into the new SQLite file ``path`` (and Parquet).

    The file still lacks its metadata: :func:`finish_file` completes it.

    Raises:
        ExportError: when the source and the written rows disagree, or a
            statement fails.
    """
    create_schema(path, marts)
    staging_dir.mkdir(parents=True, exist_ok=True)
    source.open(con)
    counts: dict[str, int] = {}
    staged: dict[str, Path] = {}
    try:
        con.execute(f"ATTACH '{path}' AS out (TYPE sqlite)")
        try:
            for i, mart in enumerate(marts):
                part_dir = staging_dir / mart.name
                part_dir.mkdir(parents=True, exist_ok=True)
                scan, (n_staged, n_loaded, copy_s, load_s) = _write_mart(
                    con, path, source, mart, part_dir, overlap, reporter
                )
                if scan.expected_rows is not None and n_staged != scan.expected_rows:
                    raise ExportError(
                        f"mart {mart.name}: source reports {scan.expected_rows} rows,"
                        f" {n_staged} were read"
                    )
                if n_loaded != n_staged:
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
                    parquet_s=f"{copy_s:.2f}",
                    sqlite_s=f"{load_s:.2f}",
                )
                if i == 0:
                    killpoints.reached("after_first_table")
        finally:
            con.execute("DETACH out")
    except duckdb.Error as exc:
        raise ExportError(f"writing {path.name} failed: {exc}") from None
    finally:
        source.close(con)
    return BuiltFile(path=path, row_counts=counts, staged_parquet=staged)


def validate_file(path: Path, marts: list[MartSpec], counts: dict[str, int], build_id: str) -> None:
    """Check a finished file before it may become current.

    ``PRAGMA integrity_check``, ``user_version``, journal mode, a complete
    ``_meta`` naming this build, and every table's row count equal to the
    source's (counted again by SQLite itself).

    Raises:
        ExportError: on the first check that fails.
    """
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            raise ExportError(f"{path.name}: integrity_check failed: {result[:5]}")
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
