"""Staged parallel load: key-ordered chunks of a mart -> its SQLite table, on every core.

DuckDB's sqlite extension inserts one row per statement from one thread. Into
a ``WITHOUT ROWID`` table each of those statements seeks the B-tree by key and
probes it for a duplicate; appending to a plain rowid table costs about half
of that, and SQLite itself then copies a key-ordered rowid table into the
``WITHOUT ROWID`` table with one open cursor (``INSERT INTO ... SELECT``),
cheaper still. So several DuckDB cursors each
write one chunk into its own small staging file at the same time, and the
calling thread appends the staged chunks to the final table in key order as
soon as each is ready. Staging files are deleted as soon as they are appended;
at most ``window`` of them exist at once.
"""

from __future__ import annotations

import ctypes
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import duckdb

from exports.errors import ExportError
from exports.manifest import MartSpec
from exports.sqlite_schema import quote, staging_ddl, to_sqlite_expr

#: Rows per staged chunk: small enough that the stagers and the appender
#: overlap for most of a load, large enough that a chunk's fixed cost (a
#: staging file, two ATTACHes, a scan start: a few ms) is noise.
CHUNK_ROWS = 250_000
#: A mart this small is not worth splitting further (tests export tiny marts).
MIN_CHUNK_ROWS = 20_000


def chunk_bounds(first: int, last: int, rows: int) -> list[tuple[int, int]]:
    """Split the positions ``first..last`` (inclusive) into ``[lo, hi)`` ranges of ``rows`` rows.

    ``CHUNK_ROWS`` rows per range, but at least four ranges for a mart of
    1M rows (two stagers and the appender then overlap), and one range for a
    tiny mart.
    """
    span = last - first + 1
    if span <= 0:
        return [(first, first)]
    n = max(-(-rows // CHUNK_ROWS), min(4, -(-rows // MIN_CHUNK_ROWS)))
    n = max(1, min(span, n))
    edges = [first + span * i // n for i in range(n + 1)]
    return list(pairwise(edges))


class OrderBroken(Exception):
    """The gate of a load failed: its chunks are not in key order after all."""


@dataclass(frozen=True)
class Staged:
    """One chunk written to its staging file."""

    path: Path
    rows: int
    seconds: float
    #: CPU seconds of the staging thread (DuckDB runs the query on it).
    cpu_s: float = 0.0


@dataclass
class LoadStats:
    """What a load did: rows appended, seconds staging (summed over threads) and appending.

    The ``*_cpu_s`` figures are CPU seconds of the threads doing it: on a
    shared machine they measure the work where wall time measures the queue.
    """

    rows: int = 0
    stage_s: float = 0.0
    append_s: float = 0.0
    stage_cpu_s: float = 0.0
    append_cpu_s: float = 0.0


def release_memory() -> None:
    """Hand memory freed by the stager threads back to the OS (glibc ``malloc_trim``; else no-op).

    Each thread allocates from its own glibc arena, which keeps freed pages;
    without this a sort that follows a load starts from a higher RSS.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def open_target(path: Path) -> sqlite3.Connection:
    """The connection that appends to the file being built (build PRAGMAs: nobody else reads it)."""
    lite = sqlite3.connect(path, isolation_level=None)
    lite.execute("PRAGMA journal_mode = OFF")
    lite.execute("PRAGMA synchronous = OFF")
    # An append only touches the right-most path of the B-tree: 8 pages of
    # cache (512 KiB) do, instead of the default 2 MB (peak RSS matters here).
    lite.execute("PRAGMA cache_size = 8")
    return lite


class StagedLoader:
    """Loads one mart's chunks, given in key order, through parallel staging files.

    Args:
        con: the DuckDB connection the chunk expressions are valid on; each
            stager uses its own cursor of it.
        target: the open SQLite connection of the file being built.
        mart: the mart (its table must exist, empty or holding earlier chunks).
        staging_dir: where the staging files go (same file system as the target).
        pool: the stager threads.
        window: chunks staged or being staged at once (bounds disk use).
        page_size: page size of the staging files.
        on_rows: called with the row count of every appended chunk (progress).
        gate: when given, nothing is appended before it resolves to True;
            False raises :class:`OrderBroken` (chunks are staged meanwhile).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        target: sqlite3.Connection,
        mart: MartSpec,
        staging_dir: Path,
        pool: ThreadPoolExecutor,
        window: int,
        page_size: int,
        on_rows: Callable[[int], None] | None = None,
        gate: Future[bool] | None = None,
    ) -> None:
        self.con, self.target, self.mart = con, target, mart
        self.gate = gate
        self.staging_dir, self.pool, self.window = staging_dir, pool, max(window, 1)
        self.page_size = page_size
        self.on_rows = on_rows
        self.exprs = ", ".join(to_sqlite_expr(c) for c in mart.columns)
        self.stats = LoadStats()
        self._pending: deque[Future[Staged]] = deque()
        self._seq = 0

    def load(self, chunks: Iterable[str]) -> None:
        """Stage and append every chunk (DuckDB ``FROM`` expressions), keeping their order.

        Raises:
            ExportError: when a chunk cannot be staged or appended (e.g. a
                duplicate key); staging files are removed.
        """
        try:
            for sql in chunks:
                while len(self._pending) >= self.window:
                    self._append(self._pending.popleft())
                self._pending.append(self.pool.submit(self._stage, sql, self._next_path()))
            while self._pending:
                self._append(self._pending.popleft())
            release_memory()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Cancel what is not started, wait for the rest, delete every staging file."""
        for fut in self._pending:
            fut.cancel()
        wait(self._pending)
        self._pending.clear()
        for path in self.staging_dir.glob(f"{self.mart.name}.stage-*"):
            path.unlink(missing_ok=True)
        release_memory()

    def _next_path(self) -> Path:
        self._seq += 1
        return self.staging_dir / f"{self.mart.name}.stage-{self._seq:05d}.sqlite"

    def _stage(self, sql: str, path: Path) -> Staged:
        """Write one chunk into a fresh rowid staging table through DuckDB's sqlite extension."""
        started, cpu = time.perf_counter(), time.thread_time()
        path.unlink(missing_ok=True)
        lite = sqlite3.connect(path, isolation_level=None)
        try:
            lite.execute(f"PRAGMA page_size = {self.page_size}")
            lite.execute(staging_ddl(self.mart))
        finally:
            lite.close()
        alias = quote(f"stage_{path.stem.rsplit('-', 1)[-1]}")
        cur = self.con.cursor()
        try:
            # Progress comes from the chunks; DuckDB's own tracking costs time per row.
            cur.execute("SET enable_progress_bar = false")
            cur.execute(f"ATTACH '{path}' AS {alias} (TYPE sqlite)")
            try:
                res = cur.execute(
                    f"INSERT INTO {alias}.{quote(self.mart.name)} SELECT {self.exprs} FROM {sql}"
                ).fetchone()
            finally:
                cur.execute(f"DETACH {alias}")
        finally:
            cur.close()
        return Staged(
            path,
            int(res[0]) if res else 0,
            time.perf_counter() - started,
            time.thread_time() - cpu,
        )

    def _append(self, fut: Future[Staged]) -> None:
        """Append one staged chunk to the final table, in SQLite, then delete its file."""
        staged = fut.result()
        if self.gate is not None:
            if not self.gate.result():
                raise OrderBroken(self.mart.name)
            self.gate = None
        started, cpu = time.perf_counter(), time.thread_time()
        table = quote(self.mart.name)
        try:
            self.target.execute("ATTACH ? AS staged", (str(staged.path),))
            # Read once, front to back: no cache needed.
            self.target.execute("PRAGMA staged.cache_size = 4")
            self.target.execute("BEGIN")
            cur = self.target.execute(
                f"INSERT INTO main.{table} SELECT * FROM staged.{table} ORDER BY rowid"
            )
            appended = cur.rowcount
            self.target.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ExportError(f"mart {self.mart.name}: appending a chunk failed: {exc}") from None
        finally:
            # After a failure the file is discarded (journal_mode=OFF cannot roll
            # back); ending the transaction just lets the staging file go.
            with suppress(sqlite3.Error):
                if self.target.in_transaction:
                    self.target.execute("ROLLBACK")
                self.target.execute("DETACH staged")
            # Unlinking a file just written frees its cached pages, which takes
            # milliseconds: a stager does it, off the appender (the serial step).
            self.pool.submit(staged.path.unlink, missing_ok=True)
        if appended != staged.rows:
            raise ExportError(
                f"mart {self.mart.name}: {staged.rows} rows staged but {appended} appended"
            )
        self.stats.rows += appended
        self.stats.stage_s += staged.seconds
        self.stats.append_s += time.perf_counter() - started
        self.stats.stage_cpu_s += staged.cpu_s
        self.stats.append_cpu_s += time.thread_time() - cpu
        if self.on_rows is not None:
            self.on_rows(appended)
