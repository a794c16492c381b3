"""Write a BigQuery-shaped sample: file_downloads by day, distribution_metadata, _SUCCESS.

An in-memory DuckDB computes the packages' versions and writes
distribution_metadata; writer threads count, draw (numpy), assemble (Arrow)
and write one day's file each, into a temporary
sibling directory that replaces the output directory only when complete (a
killed run leaves the previous sample intact).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sample import calibration, catalog, clients, packages, profiles, sql
from sample.assemble import STATISTICS, Files, assemble
from sample.catalog import Package
from sample.counts import Rates
from sample.expand import Rows, expand
from sample.options import Options

#: Bump when the content for the same options changes (invalidates _SUCCESS).
GENERATOR_VERSION = 10
SUCCESS = "_SUCCESS"
MIRROR_SHARE = 0.012
#: The columns compressed, with zstd level 1 by default: the file names and urls,
#: whose dictionary pages shrink a lot. ``project`` (twice) and ``file.version``
#: shrink little, so compressing them would cost more CPU than their bytes save.
COMPRESSED = ("url", "file.filename")
#: Most rows of a day written as one row group: bounds memory per day.
BATCH_ROWS = 1 << 20
ROW_GROUP_ROWS = 1 << 20
DEFAULT_WRITERS = 2
#: How far ahead of the days being generated client profiles are drawn: two years
#: (a small table per week), all of the demo's weeks. They are drawn during the
#: setup, while DuckDB (which releases the GIL) computes the versions and the
#: other core is idle, instead of beside the writers later.
DRAW_AHEAD_DAYS = 728
#: Days between two progress reports.
PROGRESS_DAYS = 28
#: Installer names of mirrors (the marts' mirror category).
MIRROR_INSTALLERS = tuple(name for name, _, _ in profiles.MIRRORS)

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Result:
    """What a run wrote (or found already written).

    Attributes:
        out: the output directory.
        skipped: True when an identical sample was already there.
        downloads: number of file_downloads rows.
        metadata: number of distribution_metadata rows.
        seconds: wall time of the run.
    """

    out: Path
    skipped: bool
    downloads: int
    metadata: int
    seconds: float


def _success_key(opts: Options) -> dict[str, Any]:
    return {"generator": GENERATOR_VERSION, "options": opts.to_json()}


def existing(out: Path, opts: Options) -> dict[str, Any] | None:
    """Return the _SUCCESS record of ``out`` when it was made with ``opts``, else None."""
    try:
        record: dict[str, Any] = json.loads((out / SUCCESS).read_text())
    except (OSError, ValueError):
        return None
    key = _success_key(opts)
    if all(record.get(k) == v for k, v in key.items()):
        return record
    return None


def _setup(con: duckdb.DuckDBPyConnection, opts: Options, tables: dict[str, pa.Table]) -> None:
    """Load the tables into DuckDB and compute every version of every package."""
    for name, tbl in tables.items():
        con.register(f"{name}_arrow", tbl)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
    range_end = datetime.combine(opts.end + timedelta(days=1), datetime.min.time(), UTC)
    con.execute(sql.bind(sql.VERSIONS, seed=opts.seed, range_end=range_end))
    # The strings are read back without a sort, in storage order: check it once.
    misplaced = con.execute(sql.VERSIONS_OUT_OF_ORDER).fetchone()
    if misplaced is None or misplaced[0]:
        raise RuntimeError(f"versions are not stored in vrow order ({misplaced} rows)")
    # First version row of each package: a download's version row is vbase + vidx.
    con.execute(
        "CREATE OR REPLACE TABLE pkg AS SELECT p.*, v.vbase FROM pkg p "
        "JOIN (SELECT pkg_id, min(vrow) AS vbase FROM versions GROUP BY pkg_id) v USING (pkg_id)"
    )


def _strings(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Array]:
    """Fetch the strings that download rows point to, but the urls: the other fields of Files.

    Their sizes grow with the packages and versions, not with the events.
    """
    version = (
        con.execute("SELECT version FROM versions ORDER BY vrow")
        .to_arrow_table()
        .column("version")
        .combine_chunks()
        .dictionary_encode()
    )
    # Package ids are dense 0..n-1 only before packages without versions are dropped.
    names = con.execute(
        "SELECT name FROM range((SELECT max(pkg_id) + 1 FROM pkg)) r(i) "
        "LEFT JOIN pkg ON pkg.pkg_id = r.i ORDER BY i"
    ).to_arrow_table()
    return {
        "project": names.column("name").combine_chunks(),
        "version_code": version.indices.cast(pa.int32()),
        "versions": version.dictionary,
        "filename": _by_file_code(con, "sdist_filename", "wheel_filename"),
    }


def _by_file_code(con: duckdb.DuckDBPyConnection, sdist: str, wheel: str) -> pa.Array:
    """One string per file code (``vrow * KINDS + kind``): sdist, wheel, ``.metadata``.

    Built once, so that a day's dictionary is one ``take`` of its distinct codes
    (not a take per kind, the suffix and a concatenation every day).
    """
    # No ORDER BY (a sort of these strings would set the peak of memory): versions was
    # stored in vrow order, one thread with preserve_insertion_order scans it in
    # that order, and unnest keeps each row's list in order.
    names = con.execute(
        f"SELECT unnest([{sdist}, {wheel}, {wheel} || '.metadata']) AS name FROM versions"
    ).to_arrow_table()
    chunks = names.column("name").chunks
    if sum(chunk.nbytes for chunk in chunks) >= 2**31:
        # Past 32-bit string offsets (only at scales far beyond the demo).
        chunks = [chunk.cast(pa.large_string()) for chunk in chunks]
    return pa.concat_arrays(chunks)


def _scale(con: duckdb.DuckDBPyConnection, opts: Options) -> tuple[float, float]:
    """Return (k, mirror_rate): downloads per unit of real rate, mirror rows per package-day."""
    row = con.execute(
        """
        SELECT sum(exp(m.lv + (m.lv_next - m.lv) * d.frac) * d.day_factor), count(*)
        -- Packages joined to their months first: the join with the few days then
        -- streams (the other order built a hash table of every package-day, 300 MB).
        FROM (SELECT m.*, p.first_upload FROM pkg_month m JOIN pkg p USING (pkg_id)) m
        JOIN days d ON m.mi = d.mi
        WHERE m.first_upload < d.day::TIMESTAMPTZ
        """
    ).fetchone()
    total, active = row or (0.0, 0)
    if not total or not active:
        return 0.0, 0.0
    user = opts.events * (1 - MIRROR_SHARE)
    return user / float(total), opts.events * MIRROR_SHARE / float(active)


def generate(
    opts: Options,
    out: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
    compression: str = "zstd",
) -> Result:
    """Generate a sample into ``out`` (replaced atomically when complete).

    Args:
        opts: validated options.
        out: output directory (``file_downloads/``, ``distribution_metadata/``, ``_SUCCESS``).
        force: regenerate even when ``out`` already holds a sample with the same options.
        progress: called with (done_days, total_days, message) as work advances.
        threads: writer threads (default 2); DuckDB runs each query on one thread.
        compression: parquet codec of the string columns of file_downloads.

    Returns:
        What was written.
    """
    t0 = time.monotonic()
    opts.validate()
    record = None if force else existing(out, opts)
    if record is not None:
        rows = record.get("rows", {})
        return Result(
            out,
            True,
            int(rows.get("file_downloads", 0)),
            int(rows.get("distribution_metadata", 0)),
            time.monotonic() - t0,
        )
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "file_downloads").mkdir(parents=True)
    (tmp / "distribution_metadata").mkdir()
    meta_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sample-metadata")
    meta: Future[int] | None = None
    meta_con: duckdb.DuckDBPyConnection | None = None
    # Client profiles are drawn in Python, on a thread of their own and weeks ahead,
    # so that the writers do not wait.
    drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sample-profiles")
    weeks = _Weeks(opts.seed, opts.start, opts.end, drawer)
    weeks.ahead(opts.start)  # the first week, needed first
    try:
        pkgs = catalog.select(
            calibration.load(), count=opts.packages, seed=opts.seed, start=opts.start, end=opts.end
        )
        tables = packages.tables(opts, pkgs)
        # The next weeks are drawn while DuckDB, which releases the GIL, sets up: drawn
        # from the start, they slowed down the Python setup above, which every later
        # step waits for.
        weeks.ahead(opts.start + timedelta(days=DRAW_AHEAD_DAYS))
        # One DuckDB thread: results come out in insertion order (versions are read
        # back in vrow order without a sort). The parallelism is in the writer threads
        # and in distribution_metadata, written on a second connection at the same time.
        con = duckdb.connect(":memory:", config={"threads": 1, "preserve_insertion_order": True})
        con.execute("SET TimeZone = 'UTC'")
        _setup(con, opts, tables)
        meta_con = con.cursor()
        # Every writer needs the strings that rows point to: they are fetched on two
        # threads at once, the urls (the biggest) on this one, the others on the
        # metadata thread. Only then does that thread write distribution_metadata,
        # beside the writers (started earlier, it slowed down the strings).
        strings = meta_pool.submit(_strings, meta_con)
        scale = _scale(con, opts)
        rates = _rates(con, opts, pkgs, scale)
        files = Files(url=_by_file_code(con, "sdist_url", "wheel_url"), **strings.result())
        meta = meta_pool.submit(_write_metadata, meta_con, tmp)
        if progress:
            progress(0, opts.days, "setup done")
        downloads = _write_downloads(
            opts,
            tmp,
            rates,
            files,
            weeks,
            threads or DEFAULT_WRITERS,
            compression,
            progress,
        )
        if progress:
            progress(opts.days, opts.days, f"{opts.end}: {downloads:,} rows written")
        metadata = meta.result()
        con.close()
        seconds = time.monotonic() - t0
        record = {
            **_success_key(opts),
            "rows": {"file_downloads": downloads, "distribution_metadata": metadata},
            "packages": len(pkgs),
            # Sample download rows per real download of the same packages (the
            # calibration's daily rates times k): how far the counts are scaled down.
            "scale": {"downloads_per_real_download": scale[0]},
            "seconds": round(seconds, 2),
            "timestamp_type": "TIMESTAMP WITH TIME ZONE (parquet isAdjustedToUTC=true, micros)",
        }
        (tmp / SUCCESS).write_text(json.dumps(record, indent=2) + "\n")
        _swap(tmp, out)
    except BaseException:
        if meta is not None and meta_con is not None and not meta.done():
            meta_con.interrupt()
        meta_pool.shutdown(wait=True, cancel_futures=True)
        drawer.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    meta_pool.shutdown()
    drawer.shutdown()
    return Result(out, False, downloads, metadata, seconds)


def _write_metadata(con: duckdb.DuckDBPyConnection, tmp: Path) -> int:
    """Write distribution_metadata (on its own connection, while downloads are written)."""
    row = con.execute(
        sql.METADATA.format(path=tmp / "distribution_metadata" / "part-0.parquet")
    ).fetchone()
    con.close()
    return int(row[0]) if row else 0


def _rates(
    con: duckdb.DuckDBPyConnection, opts: Options, pkgs: list[Package], scale: tuple[float, float]
) -> Rates:
    """Gather, as numpy arrays, what the writer threads need to count a day's downloads."""
    months = catalog.month_range(opts.start, opts.end)
    lv = np.log(np.maximum([[p.monthly[m] for m in months] for p in pkgs], 1e-3) / 30.0)
    days = con.execute(
        "SELECT epoch_day, mi, frac, day_factor FROM days ORDER BY day_idx"
    ).fetchnumpy()
    version_key = (
        con.execute(
            "SELECT (pkg_id::BIGINT << 32) + (avail_day - DATE '1970-01-01') AS key "
            "FROM versions ORDER BY vrow"
        )
        .fetchnumpy()["key"]
        .astype(np.int64)
    )
    ids = np.arange(len(pkgs), dtype=np.int64)
    shape = con.execute("SELECT pkg_id, has_wheel, sdist_share, mean_back FROM pkg").fetchnumpy()
    # Packages without any version in the range were dropped from pkg: they never
    # count (no version key), their attributes stay at these defaults.
    has_wheel = np.zeros(len(pkgs), np.bool_)
    sdist_share, mean_back = np.zeros(len(pkgs)), np.zeros(len(pkgs))
    at = shape["pkg_id"].astype(np.int64)
    has_wheel[at] = shape["has_wheel"]
    sdist_share[at], mean_back[at] = shape["sdist_share"], shape["mean_back"]
    return Rates(
        seed=opts.seed,
        k=scale[0],
        mirror_rate=scale[1],
        lv=lv,
        epoch_day=np.asarray(days["epoch_day"], np.int64),
        month=np.asarray(days["mi"], np.int64),
        frac=np.asarray(days["frac"], np.float64),
        day_factor=np.asarray(days["day_factor"], np.float64),
        version_key=version_key,
        vbase=np.searchsorted(version_key, ids << 32, side="left").astype(np.int64),
        has_wheel=has_wheel,
        sdist_share=sdist_share,
        mean_back=mean_back,
    )


def _write_downloads(
    opts: Options,
    tmp: Path,
    rates: Rates,
    files: Files,
    weeks: _Weeks,
    workers: int,
    compression: str,
    progress: Progress | None,
) -> int:
    """Write every day's file_downloads file; return the number of rows."""
    downloads = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sample-writer") as pool:
        pending: deque[Future[int]] = deque()
        try:
            for day_idx in range(opts.days):
                day = opts.start + timedelta(days=day_idx)
                weeks.forget(day)
                weeks.ahead(day + timedelta(days=DRAW_AHEAD_DAYS))
                # Bounded queue: memory stays flat whatever the number of events.
                while len(pending) > 2 * workers:
                    downloads += pending.popleft().result()
                part = tmp / "file_downloads" / f"date={day}"
                part.mkdir()
                pending.append(
                    pool.submit(
                        _write_day,
                        part / "part-0.parquet",
                        rates,
                        day_idx,
                        files,
                        weeks.of(day),
                        compression,
                    )
                )
                if progress and day_idx % PROGRESS_DAYS == 0 and day_idx:
                    progress(day_idx, opts.days, f"{day}: {downloads:,} rows written")
            while pending:
                downloads += pending.popleft().result()
        except BaseException:
            weeks.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return downloads


class _Weeks:
    """The client profiles of each ISO week, drawn on ``pool`` ahead of their use."""

    def __init__(self, seed: int, start: date, end: date, pool: ThreadPoolExecutor) -> None:
        self.seed, self.end, self.pool = seed, end, pool
        self.drawn: dict[date, Future[clients.WeekProfiles]] = {}
        self.next = start  # a day of the first week not asked for yet

    def of(self, day: date) -> Future[clients.WeekProfiles]:
        """Return the profiles of the week of ``day`` (drawn now if not yet asked for)."""
        monday = day - timedelta(days=day.weekday())
        if monday not in self.drawn:
            self.drawn[monday] = self.pool.submit(clients.week_profiles, self.seed, monday)
        return self.drawn[monday]

    def ahead(self, until: date) -> None:
        """Start drawing every week up to the one of ``until`` (within the range)."""
        while self.next <= min(until, self.end):
            self.of(self.next)
            self.next += timedelta(days=7)

    def forget(self, before: date) -> None:
        """Drop the weeks that end before ``before`` (days come in order)."""
        for monday in [m for m in self.drawn if m + timedelta(days=6) < before]:
            del self.drawn[monday]

    def cancel(self) -> None:
        """Cancel the draws not started yet."""
        for future in self.drawn.values():
            future.cancel()


def _write_day(
    path: Path,
    rates: Rates,
    day_idx: int,
    files: Files,
    week: Future[clients.WeekProfiles],
    compression: str,
) -> int:
    """Count, draw, assemble and write one day's rows (row groups of :data:`BATCH_ROWS` rows).

    Returns:
        The number of rows written.
    """
    day = rates.day(day_idx)
    total = day.rows
    # Buffered: the parquet writer writes each page and page header apart and asks
    # the file for its position each time: a write and an lseek per page unbuffered,
    # a few large writes per file through a 1 MB buffer.
    with pa.output_stream(str(path), compression=None, buffer_size=1 << 20) as sink:
        writer: pq.ParquetWriter | None = None
        try:
            # An empty day still gets a file (with the schema, no rows).
            for lo in range(0, max(total, 1), BATCH_ROWS):
                hi = min(total, lo + BATCH_ROWS)
                rows = expand(rates.seed, day, lo, hi) if hi > lo else _EMPTY
                table = assemble(rows, files, week.result())
                if writer is None:
                    writer = _open(sink, table.schema, compression)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        finally:
            if writer is not None:
                writer.close()
    return total


def _open(sink: pa.NativeFile, schema: pa.Schema, compression: str) -> pq.ParquetWriter:
    leaves = [leaf for field in schema for leaf in _leaves(field.name, field.type)]
    return pq.ParquetWriter(
        sink,
        schema,
        # Compressed: the file names and urls (see COMPRESSED). The other pages
        # (bit-packed dictionary indices, delta-coded timestamps) barely compress:
        # compressing them costs time for a few percent.
        compression={leaf: compression if leaf in COMPRESSED else "none" for leaf in leaves},
        compression_level=({leaf: 1 for leaf in COMPRESSED} if compression == "zstd" else None),
        # Timestamps are nearly all distinct: a dictionary would cost a hash table
        # and be bigger than deltas of at most 37 bits.
        use_dictionary=[leaf for leaf in leaves if leaf != "timestamp"],
        column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
        write_statistics=STATISTICS,
        store_schema=False,
        # Fewer, larger pages: measurably cheaper for the many nested columns.
        write_batch_size=1 << 16,
        data_page_size=4 << 20,
    )


_EMPTY = Rows(
    ts=np.zeros(0, np.int64),
    pkg=np.zeros(0, np.int32),
    packages=np.zeros(0, np.int32),
    vrow=np.zeros(0, np.int32),
    fc=np.zeros(0, np.int8),
    slot=np.zeros(0, np.int16),
)


def _leaves(path: str, type_: pa.DataType) -> list[str]:
    """Parquet column paths (``details.installer.name``) of an Arrow field."""
    if pa.types.is_struct(type_):
        return [leaf for child in type_ for leaf in _leaves(f"{path}.{child.name}", child.type)]
    return [path]


def _remove_stale(out: Path) -> None:
    """Remove work directories left by runs that were killed (their process is gone)."""
    for pattern in (f".{out.name}.tmp-*", f".{out.name}.old-*"):
        for path in out.parent.glob(pattern):
            pid = path.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp``: the old sample is removed only after the rename."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
