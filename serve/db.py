"""Read-only access to the published SQLite file.

A :class:`Database` owns one *generation* at a time: the release file the
published symlink pointed at when it was opened, a small pool of read-only
aiosqlite connections to it, and that build's ``_meta``. A background task
checks the symlink every ``reload_interval`` seconds (never per request); when
it points at a new file, a new generation is opened, new requests use it, and
the old one is closed once its last borrowed connection comes back, so no
request fails during the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiosqlite

from contract import DATA_THROUGH_TABLE, META_TABLE, READABLE_SCHEMA_VERSIONS, TABLES_TABLE, Meta
from serve import filecheck

log = logging.getLogger("serve.db")

Row = tuple[Any, ...]

# How many SQLite VM instructions run between two deadline checks: small enough
# to stop a runaway query within milliseconds, large enough to cost nothing.
_PROGRESS_STEPS = 2000
_MMAP_BYTES = 256 * 1024 * 1024


class DatabaseUnavailable(Exception):
    """The published file cannot be opened or read."""


class UnreadableSchema(DatabaseUnavailable):
    """The file's ``schema_version`` is not one this server reads."""


class QueryTimeout(Exception):
    """A query ran longer than its time budget and was interrupted."""


class TooManyRows(Exception):
    """A query returned more rows than allowed."""


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """What one published file says about itself (``_meta`` and ``_tables``)."""

    build_id: str
    data_through: str
    exported_at: str
    source_target: str
    schema_version: str
    first_week: str | None
    path: str
    row_counts: tuple[tuple[str, int], ...]
    #: ``_meta.sample_scale``: sample downloads per real download (None: not a sample).
    sample_scale: float | None = None

    @property
    def is_sample(self) -> bool:
        """Whether the file holds anything but the real logs (built other than from BigQuery)."""
        return self.source_target != "prod"


class Reader:
    """One pooled read-only connection with a per-query time budget.

    Each reader holds an aiosqlite connection (queries run on its thread) and,
    for queries the caller marks ``inline``, a plain ``sqlite3`` connection to
    the same file used on the event loop itself: a primary-key lookup takes
    tens of microseconds, less than the thread hand-off it would otherwise
    cost. An inline query gets a budget of ``inline_timeout``; past it the
    progress handler stops it and it is run again on the thread with the full
    budget, so the event loop is never held longer than that.
    """

    __slots__ = (
        "_conn",
        "_deadline",
        "_inline_timeout",
        "_observe",
        "_sync",
        "_timeout",
        "generation",
    )

    def __init__(
        self,
        conn: aiosqlite.Connection,
        timeout: float,
        generation: Generation,
        observe: Callable[[float], None] | None = None,
        sync: sqlite3.Connection | None = None,
        inline_timeout: float = 0.005,
    ) -> None:
        self._conn = conn
        self._sync = sync
        self._timeout = timeout
        self._inline_timeout = inline_timeout
        self._deadline = float("inf")
        self._observe = observe
        self.generation = generation

    @property
    def build(self) -> BuildInfo:
        """The build this connection reads."""
        return self.generation.build

    def _progress(self) -> int:
        # Runs on whichever thread executes the statement; non-zero aborts it.
        return 1 if time.monotonic() > self._deadline else 0

    async def fetch(
        self, sql: str, params: Sequence[Any] = (), *, max_rows: int, inline: bool = False
    ) -> list[Row]:
        """Run one parameterised query and return its rows as tuples.

        Args:
            sql: The statement, with ``?`` placeholders only.
            params: Values for the placeholders.
            max_rows: The most rows the caller accepts; queries should carry
                ``LIMIT max_rows + 1`` so the bound also holds inside SQLite.
            inline: Try it on the event loop first (for small key lookups).

        Returns:
            The rows.

        Raises:
            QueryTimeout: if the query exceeded its time budget.
            TooManyRows: if more than ``max_rows`` rows came back.
        """
        started = time.monotonic()
        rows: list[Row] | None = None
        try:
            if inline and self._sync is not None:
                self._deadline = started + self._inline_timeout
                try:
                    rows = self._sync.execute(sql, params).fetchall()
                except sqlite3.OperationalError as exc:
                    if "interrupted" not in str(exc):
                        raise
                    # Over the inline budget: finish it on the thread.
            if rows is None:
                self._deadline = time.monotonic() + self._timeout
                try:
                    rows = cast("list[Row]", await self._conn.execute_fetchall(sql, params))
                except sqlite3.OperationalError as exc:
                    if "interrupted" in str(exc):
                        raise QueryTimeout(f"query exceeded {self._timeout:g}s") from exc
                    raise
        finally:
            self._deadline = float("inf")
            if self._observe is not None:
                self._observe(time.monotonic() - started)
        if len(rows) > max_rows:
            raise TooManyRows(f"more than {max_rows} rows")
        return rows

    async def close(self) -> None:
        """Close both connections."""
        with contextlib.suppress(Exception):
            await self._conn.close()
        if self._sync is not None:
            with contextlib.suppress(Exception):
                self._sync.close()


class Generation:
    """The connections to one release file, handed out LIFO."""

    def __init__(self, build: BuildInfo, stat_key: tuple[int, ...]) -> None:
        self.build = build
        self.stat_key = stat_key
        self.readers: list[Reader] = []
        self._free: list[Reader] = []
        self._waiters: deque[asyncio.Future[Reader]] = deque()
        self.borrowed = 0
        self.retired = False
        self.closed = asyncio.Event()

    def add(self, reader: Reader) -> None:
        """Add an opened connection to the pool."""
        self.readers.append(reader)
        self._free.append(reader)

    async def acquire(self) -> Reader:
        """Borrow a connection, waiting if all are in use."""
        self.borrowed += 1
        if self._free:
            return self._free.pop()
        waiter: asyncio.Future[Reader] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            self.borrowed -= 1
            if waiter.done() and not waiter.cancelled():
                self._put_back(waiter.result())
            raise

    def release(self, reader: Reader) -> None:
        """Return a borrowed connection."""
        self.borrowed -= 1
        self._put_back(reader)

    def _put_back(self, reader: Reader) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(reader)
                return
        self._free.append(reader)
        if self.retired and self.borrowed == 0:
            asyncio.get_running_loop().create_task(self.close())

    async def close(self) -> None:
        """Close every connection (idempotent)."""
        if self.closed.is_set():
            return
        self.closed.set()
        for reader in self.readers:
            await reader.close()


def _stat_key(path: Path) -> tuple[int, ...]:
    # os.stat follows the symlink: a new release means a new inode.
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _uri(path: str) -> str:
    # Release files never change once published, hence immutable=1 (no locking,
    # no change detection); mode=ro makes any write fail at the VFS level.
    return f"file:{path}?mode=ro&immutable=1"


async def _open_connection(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(_uri(path), uri=True, check_same_thread=False)
    await conn.execute("PRAGMA query_only = 1")
    await conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
    return conn


def _open_sync_connection(path: str) -> sqlite3.Connection:
    # Used only by the reader's current borrower, on the event loop thread.
    conn = sqlite3.connect(_uri(path), uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = 1")
    conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
    return conn


async def read_build_info(conn: aiosqlite.Connection, path: str) -> BuildInfo:
    """Read ``_meta`` and ``_tables`` from an open connection.

    Args:
        conn: A connection to a published file.
        path: The file's real path (reported by ``/api/meta``).

    Returns:
        The build's metadata.

    Raises:
        DatabaseUnavailable: if required metadata is missing.
    """
    try:
        meta: dict[str, Any] = dict(
            cast("list[Row]", await conn.execute_fetchall(f"SELECT key, value FROM {META_TABLE}"))
        )
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"{path}: {exc}") from exc
    # Checked before anything else is read: another layout may name its tables otherwise.
    version = str(meta.get(Meta.SCHEMA_VERSION, ""))
    readable = sorted(str(v) for v in READABLE_SCHEMA_VERSIONS)
    if version not in readable:
        raise UnreadableSchema(
            f"{path}: schema_version {version or '(none)'!s} is not one this server reads "
            f"({', '.join(readable)}); serve it with a matching version of pypi-trends"
        )
    try:
        tables = await conn.execute_fetchall(
            f"SELECT table_name, coalesce(row_count, 0) FROM {TABLES_TABLE} ORDER BY table_name"
        )
        first = cast(
            "list[Row]",
            await conn.execute_fetchall(f"SELECT min(week_start) FROM {DATA_THROUGH_TABLE.name}"),
        )
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"{path}: {exc}") from exc
    missing = {Meta.BUILD_ID, Meta.DATA_THROUGH} - meta.keys()
    if missing:
        raise DatabaseUnavailable(f"{path}: {META_TABLE} lacks {', '.join(sorted(missing))}")
    return BuildInfo(
        build_id=str(meta[Meta.BUILD_ID]),
        data_through=str(meta[Meta.DATA_THROUGH]),
        exported_at=str(meta.get(Meta.EXPORTED_AT, "")),
        source_target=str(meta.get(Meta.SOURCE_TARGET, "")),
        schema_version=version,
        first_week=first[0][0] if first else None,
        path=path,
        row_counts=tuple((str(name), int(count)) for name, count in tables),
        sample_scale=_scale(meta.get(Meta.SAMPLE_SCALE)),
    )


def _scale(value: Any) -> float | None:
    """``_meta.sample_scale`` as a positive number (None when absent or unreadable)."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        return None
    return scale if scale > 0 else None


class Database:
    """The pool of read-only connections to the current published build."""

    def __init__(
        self,
        path: Path,
        *,
        pool_size: int = 4,
        query_timeout: float = 2.0,
        reload_interval: float = 1.0,
        observe_query: Callable[[float], None] | None = None,
    ) -> None:
        self.path = path
        self.observe_query = observe_query
        self.pool_size = pool_size
        self.query_timeout = query_timeout
        self.reload_interval = reload_interval
        self._current: Generation | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._swap_lock = asyncio.Lock()
        # Called with (new build, previous build id or None) after each switch.
        self.on_swap: list[Callable[[BuildInfo, str | None], None]] = []
        # The last file refused (serve/filecheck.py), until a switch succeeds;
        # its stat key, so an unchanged refused file is not checked again.
        self.refusal: filecheck.FileRefused | None = None
        self._refused_key: tuple[int, ...] | None = None
        # Called with the refusal's reason label after each refused file.
        self.on_refuse: list[Callable[[str], None]] = []

    @property
    def build(self) -> BuildInfo:
        """The build new requests read.

        Raises:
            DatabaseUnavailable: before ``open()``.
        """
        if self._current is None:
            raise DatabaseUnavailable("database not open")
        return self._current.build

    @property
    def build_id(self) -> str | None:
        """The current build id, or None when nothing is open (cheap, no I/O)."""
        return self._current.build.build_id if self._current is not None else None

    async def start(self) -> None:
        """Open the current file (if possible) and start watching for new builds.

        A missing or unreadable file is logged, not raised: the server starts,
        answers 503 until a build appears, and picks it up within
        ``reload_interval`` seconds. A file of a layout this server does not
        read is refused outright, so a deploy of the wrong version fails loudly.

        Raises:
            UnreadableSchema: if the published file's ``schema_version`` is unknown.
        """
        try:
            await self.check_for_new_build(refuse_unreadable=True)
        except UnreadableSchema as exc:
            # One plain line before the server's traceback: what to fix.
            log.critical("refusing to start: %s", exc)
            raise
        self._watcher = asyncio.create_task(self._watch(), name="serve.db.watch")

    async def close(self) -> None:
        """Stop watching and close every connection."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._current is not None:
            await self._current.close()
            self._current = None

    async def acquire(self) -> Reader:
        """Borrow a connection to the current build (give it back with ``release``).

        Raises:
            DatabaseUnavailable: before ``open()``.
        """
        gen = self._current
        if gen is None:
            raise DatabaseUnavailable("database not open")
        return await gen.acquire()

    @staticmethod
    def release(reader: Reader) -> None:
        """Give a borrowed connection back to the generation it came from."""
        reader.generation.release(reader)

    async def check_for_new_build(self, *, refuse_unreadable: bool = False) -> bool:
        """Switch to a new file if the published path now points elsewhere.

        A file that cannot be opened (or has an unknown ``schema_version``) is
        logged and the current build keeps being served; the same file is not
        tried again.

        Args:
            refuse_unreadable: Raise instead for an unknown ``schema_version``.

        Returns:
            True if a new build was opened.

        Raises:
            UnreadableSchema: with ``refuse_unreadable``, for an unknown ``schema_version``.
        """
        async with self._swap_lock:
            old = self._current
            try:
                key = await asyncio.to_thread(_stat_key, self.path)
            except OSError as exc:
                log.warning("published file not readable", extra={"error": str(exc)})
                return False
            if (old is not None and key == old.stat_key) or key == self._refused_key:
                return False
            try:
                new = await self._open_generation()
            except (filecheck.FileRefused, DatabaseUnavailable, OSError, sqlite3.Error) as exc:
                if isinstance(exc, filecheck.FileRefused):
                    refusal = exc
                elif isinstance(exc, UnreadableSchema):
                    refusal = filecheck.FileRefused("schema-version", str(exc))
                else:
                    refusal = filecheck.FileRefused("unreadable", str(exc))
                if refuse_unreadable and refusal.reason == "schema-version":
                    raise UnreadableSchema(str(refusal)) from None
                self.refusal, self._refused_key = refusal, key
                log.error(
                    "new build refused; keeping the current one",
                    extra={
                        "error": str(exc),
                        "reason": refusal.reason,
                        "build_id": refusal.build_id,
                        "serving": old.build.build_id if old else None,
                    },
                )
                for failed in self.on_refuse:
                    failed(refusal.reason)
                return False
            self._current = new
            self.refusal, self._refused_key = None, None
            log.info(
                "switched build",
                extra={
                    "build_id": new.build.build_id,
                    "previous": old.build.build_id if old else None,
                },
            )
            for callback in self.on_swap:
                callback(new.build, old.build.build_id if old else None)
            if old is not None:
                old.retired = True
                if old.borrowed == 0:
                    await old.close()
            return True

    async def probe(self) -> BuildInfo:
        """Open the published file afresh and read its metadata (readiness check).

        Returns:
            The metadata of the file the published path points at now.

        Raises:
            DatabaseUnavailable: if it cannot be opened or read.
        """
        try:
            real = await asyncio.to_thread(os.path.realpath, self.path)
            conn = await _open_connection(real)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(f"{self.path}: {exc}") from exc
        try:
            return await read_build_info(conn, real)
        finally:
            await conn.close()

    async def readiness(self) -> tuple[BuildInfo, filecheck.FileRefused | None]:
        """The build being served (its file still whole) and the last refused file, if any.

        Raises:
            DatabaseUnavailable: when no valid build is being served.
        """
        gen = self._current
        if gen is None:
            why = (
                f": refused {self.refusal.build_id or 'file'}: {self.refusal}"
                if self.refusal
                else ""
            )
            raise DatabaseUnavailable(f"no valid build to serve{why}")
        try:
            await asyncio.to_thread(filecheck.check_size, gen.build.path)
        except filecheck.FileRefused as exc:
            raise DatabaseUnavailable(f"serving build {gen.build.build_id}: {exc}") from exc
        return gen.build, self.refusal

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.reload_interval)
            try:
                await self.check_for_new_build()
            except Exception:  # the watcher must outlive any one failure
                log.exception("build check failed")

    async def _open_generation(self) -> Generation:
        try:
            key = await asyncio.to_thread(_stat_key, self.path)
            real = await asyncio.to_thread(os.path.realpath, self.path)
        except OSError as exc:
            raise DatabaseUnavailable(f"{self.path}: {exc}") from exc
        serving = dict(self._current.build.row_counts) if self._current else None
        await asyncio.to_thread(filecheck.check_file, real, serving)
        conns: list[aiosqlite.Connection] = []
        try:
            for _ in range(self.pool_size):
                conns.append(await _open_connection(real))
            build = await read_build_info(conns[0], real)
        except (sqlite3.Error, DatabaseUnavailable) as exc:
            for conn in conns:
                with contextlib.suppress(Exception):
                    await conn.close()
            if isinstance(exc, DatabaseUnavailable):
                raise
            raise DatabaseUnavailable(f"{real}: {exc}") from exc
        gen = Generation(build, key)
        for conn in conns:
            sync = await asyncio.to_thread(_open_sync_connection, real)
            reader = Reader(conn, self.query_timeout, gen, self.observe_query, sync)
            await conn.set_progress_handler(reader._progress, _PROGRESS_STEPS)
            sync.set_progress_handler(reader._progress, _PROGRESS_STEPS)
            gen.add(reader)
        return gen
