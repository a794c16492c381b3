"""Readers of the marts. Each hands the one writer a DuckDB relation ordered by the grain.

* :class:`DuckDBSource` attaches the local warehouse read-only.
* :class:`ArrowSource` scans ``pyarrow.RecordBatchReader`` streams; it is what
  :class:`BigQuerySource` feeds with BigQuery Storage API record batches, so a
  production mart is streamed batch by batch and never held in memory whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from contract import PROVENANCE_TABLE
from exports.errors import ExportError
from exports.loader import chunk_bounds
from exports.manifest import MartSpec
from exports.provenance import Event as ProvenanceEvent
from exports.sqlite_schema import column_kind, quote

if TYPE_CHECKING:
    import pyarrow as pa


#: Rows per key-range part: each part is sorted on its own, so the sort's memory
#: stays bounded (and flat) whatever the size of the mart; larger parts push
#: the peak RSS past the goal, and each part re-scans the mart, so parts should
#: not be much smaller either.
PART_ROWS = 2_500_000
#: Parts are not split below this many rows when a sort does not fit the cap.
MIN_SPLIT_ROWS = 50_000

#: The week column of dbt's weekly marts (stored week-major, see :meth:`DuckDBSource.scan`).
WEEK_COLUMN = "week_start"
#: Rows per key-range part of a week-major mart (see ``DuckDBSource._week_parts``):
#: a part reads at least one column segment per week whatever its width, so
#: narrow parts cost CPU, and wide ones peak RSS while sorted beside the load.
WEEK_PART_ROWS = 1_000_000
#: Rows a week must average for the week path: zonemaps prune only when a
#: week spans several row groups (DuckDB: 122,880 rows); with smaller weeks
#: every week part reads the whole mart, and the range sort's fewer parts win.
MIN_WEEK_ROWS = 2 * 122_880
#: Rows of the stored-order sample per part: the part bounds are its quantiles.
SAMPLE_PER_PART = 64


@dataclass(frozen=True)
class Scan:
    """A mart ready to read, and the row count the source reports.

    ``parts`` are DuckDB ``FROM`` expressions over consecutive, disjoint ranges
    of the first grain column, each ordered by the grain: read one after the
    other, they give the whole mart in key order.
    """

    parts: tuple[str, ...]
    expected_rows: int | None
    #: True when the mart is a plain table scan already verified to be in
    #: strict key order: ``parts`` are then consecutive position (rowid) ranges
    #: of it, loaded in parallel, and ``whole`` scans it all for the Parquet
    #: copy; nothing is sorted.
    presorted: bool = False
    whole: str = ""
    #: When set, ``presorted`` is a claim still to prove: ``verify(cursor)`` runs
    #: the order check (beside the load: nothing is appended before it passes)
    #: and ``fallback()`` gives the sorted scan to use when it fails.
    verify: Callable[[duckdb.DuckDBPyConnection], bool] | None = None
    fallback: Callable[[], Scan] | None = None
    #: When set, ``split()`` gives the same sorted scan in twice as many key
    #: ranges: the writer's first answer to a sort that does not fit the cap.
    split: Callable[[], Scan] | None = None
    #: True when ``parts`` are key ranges of a week-major mart: each reads only
    #: a slice of every week (zonemaps skip the rest), so they are small and
    #: the writer sorts the next one beside the load of the current one.
    week_parts: bool = False

    @property
    def path(self) -> str:
        """How the mart is read, for the log: presorted, week_parts or range_sort."""
        if self.presorted:
            return "presorted"
        return "week_parts" if self.week_parts else "range_sort"


class Source(Protocol):
    """What the writer needs from a reader."""

    label: str

    def open(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make the source readable from ``con``."""

    def scan(self, con: duckdb.DuckDBPyConnection, mart: MartSpec) -> Scan:
        """Return the mart's contract columns (native types) ordered by the grain."""

    def max_value(self, con: duckdb.DuckDBPyConnection, mart: MartSpec, column: str) -> str | None:
        """``max(column)`` of a mart as text (ISO for dates), or None when unknown/cheap to skip."""

    def provenance(
        self, con: duckdb.DuckDBPyConnection, mart: MartSpec
    ) -> list[ProvenanceEvent] | None:
        """The dbt provenance log beside ``mart`` (None: the warehouse has none)."""

    def release(self, con: duckdb.DuckDBPyConnection, mart: MartSpec) -> None:
        """The writer is done reading ``mart``: free what :meth:`scan` holds for it.

        ``con`` may be another cursor of the connection :meth:`scan` was given.
        """

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        """Release what :meth:`open` and :meth:`scan` acquired."""


def select_list(mart: MartSpec) -> str:
    """The contract columns, in contract order, quoted."""
    return ", ".join(quote(c.name) for c in mart.columns)


def order_by(mart: MartSpec) -> str:
    """``ORDER BY`` list of the grain (the SQLite key order: byte order of text, ISO dates)."""
    return ", ".join(quote(g) for g in mart.grain)


def scan_is_ordered(con: duckdb.DuckDBPyConnection, relation: str, mart: MartSpec) -> bool:
    """Check, in one streaming pass over the grain columns, that the stored order is the key order.

    A table dbt built with ``ORDER BY`` the grain is scanned in that order
    (``preserve_insertion_order`` is on); an incremental run appends its weeks
    at the end and breaks it. ``lag(...) OVER ()`` runs as DuckDB's streaming
    window (no sort, no materialisation) over the scan order, and ``LIMIT``
    stops the scan at the first row not strictly greater than its predecessor,
    so an unordered mart costs little. Text compares by bytes, as in SQLite.
    The first row (no predecessor) and NULL keys count as not greater: an
    ordered table yields exactly one such row.
    """
    cur, prev = [quote(g) for g in mart.grain], [quote(f"_prev_{g}") for g in mart.grain]
    greater = f"{cur[-1]} > {prev[-1]}"
    for c, p in zip(reversed(cur[:-1]), reversed(prev[:-1]), strict=True):
        greater = f"({c} > {p} OR ({c} = {p} AND {greater}))"
    greater = " AND ".join([f"({greater})", *(f"{c} IS NOT NULL" for c in cur)])
    lags = ", ".join(f"lag({c}) OVER () AS {p}" for c, p in zip(cur, prev, strict=True))
    row = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM (SELECT {', '.join(cur)}, {lags} FROM {relation})"
        f" WHERE ({greater}) IS NOT TRUE LIMIT 2)"
    ).fetchone()
    return row is not None and int(row[0]) <= 1


def sql_text(value: str) -> str:
    """A text literal (DuckDB and SQLite: quotes doubled, nothing else is special)."""
    return "'" + value.replace("'", "''") + "'"


def week_major_key(mart: MartSpec) -> list[str] | None:
    """What a week-major mart is stored by: ``week_start``, then the first grain column.

    None when the mart has no such order distinct from its grain (no
    ``week_start`` in the grain, or it already leads the grain). The rest of
    the grain may be in any order inside: zonemaps prune on the first column.
    """
    if WEEK_COLUMN not in mart.grain[1:]:
        return None
    return [WEEK_COLUMN, mart.grain[0]]


def sample_step(count: int, parts: int) -> int:
    """Every how many rowids the stored-order sample takes a row: ``SAMPLE_PER_PART`` per part."""
    return max(1, count // (parts * SAMPLE_PER_PART))


def non_decreasing(rows: list[tuple[Any, ...]]) -> bool:
    """True when no row is smaller than the one before (and none holds a NULL)."""
    try:
        return all(None not in r for r in rows) and all(a <= b for a, b in pairwise(rows))
    except TypeError:
        return False


@dataclass
class DuckDBSource:
    """The local DuckDB warehouse, attached read-only (dbt may keep its own lock elsewhere)."""

    path: Path
    label: str = "duckdb"
    alias: str = "wh"
    part_rows: int = PART_ROWS
    week_part_rows: int = WEEK_PART_ROWS
    min_week_rows: int = MIN_WEEK_ROWS
    #: Use the mart's stored order when a streaming check proves it is the key order.
    trust_order: bool = True
    #: The warehouse attached once more per mart being read: mart -> alias (see :meth:`scan`).
    _marts: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _attached: int = field(default=0, init=False, repr=False)

    def open(self, con: duckdb.DuckDBPyConnection) -> None:
        """Attach the warehouse read-only.

        Raises:
            ExportError: when the file is missing or cannot be opened.
        """
        if not self.path.is_file():
            raise ExportError(
                f"warehouse {self.path} not found: run `make build` or pass --warehouse"
            )
        try:
            con.execute(f"ATTACH '{self.path}' AS {self.alias} (READ_ONLY)")
        except duckdb.Error as exc:
            raise ExportError(f"cannot open warehouse {self.path}: {exc}") from None

    def relation_name(self, mart: MartSpec) -> str:
        """Fully qualified name of the mart inside the attached warehouse.

        While the mart is being read, that is inside its own attachment.
        """
        alias = self._marts.get(mart.name, self.alias)
        return f"{alias}.{quote(mart.schema or 'main')}.{quote(mart.alias)}"

    def scan(self, con: duckdb.DuckDBPyConnection, mart: MartSpec) -> Scan:
        """Return the ordered scan of the mart and its row count.

        The mart is read through an attachment of its own, which
        :meth:`release` detaches. DuckDB keeps a table's storage metadata (its
        row groups and column segments) from its first scan until the
        database holding it is detached: through one attachment, every mart
        read so far would keep it to the end of the export, a share of the
        peak memory that grows with the file.

        Raises:
            ExportError: when the mart is missing or lacks a contract column.
        """
        if mart.name not in self._marts:
            self._attached += 1
            alias = f"{self.alias}_{self._attached}"
            try:
                con.execute(f"ATTACH '{self.path}' AS {alias} (READ_ONLY)")
            except duckdb.Error as exc:
                raise ExportError(f"cannot open warehouse {self.path}: {exc}") from None
            self._marts[mart.name] = alias
        rel = self.relation_name(mart)
        try:
            row = con.execute(f"SELECT count(*) FROM {rel}").fetchone()
            con.execute(f"SELECT {select_list(mart)} FROM {rel} LIMIT 0")
        except duckdb.Error as exc:
            raise ExportError(f"mart {mart.name} is not readable in {self.path}: {exc}") from None
        count = int(row[0]) if row else 0
        select = f"SELECT {select_list(mart)} FROM {rel}"
        if not self.trust_order:
            return self._sorted_scan(con, mart, select, count)
        week = self._week_parts(con, mart, rel, select, count)
        if week is not None:
            return week
        # Optimistic: the writer proves the order (one streaming pass) while the
        # first chunks load, and takes the sorted scan if it fails.
        return Scan(
            self._rowid_chunks(con, rel, select, count),
            count,
            presorted=True,
            whole=f"({select})",
            verify=lambda cur: scan_is_ordered(cur, rel, mart),
            fallback=lambda: self._sorted_scan(con, mart, select, count),
        )

    def _sorted_scan(
        self,
        con: duckdb.DuckDBPyConnection,
        mart: MartSpec,
        select: str,
        count: int,
        wanted: int | None = None,
    ) -> Scan:
        """The mart in key order by sorting it, in consecutive key-range parts.

        ``wanted`` parts (default: ``part_rows`` rows each).
        """
        wanted = wanted or -(-count // max(self.part_rows, 1))
        split = None
        if count // (2 * wanted) >= MIN_SPLIT_ROWS:
            split = lambda: self._sorted_scan(con, mart, select, count, 2 * wanted)  # noqa: E731
        bounds = self._bounds(con, mart, count, wanted)
        if bounds is None:
            return Scan((f"({select} ORDER BY {order_by(mart)})",), count, split=split)
        table, n_bounds = bounds
        key = quote(mart.grain[0])
        edges = [f"(SELECT b FROM {table} WHERE i = {i})" for i in range(n_bounds)]
        conds = [f"{key} < {edges[0]}"]
        conds += [f"{key} >= {lo} AND {key} < {hi}" for lo, hi in pairwise(edges)]
        conds.append(f"{key} >= {edges[-1]}")
        parts = tuple(f"({select} WHERE {cond} ORDER BY {order_by(mart)})" for cond in conds)
        return Scan(parts, count, split=split)

    def _week_parts(
        self,
        con: duckdb.DuckDBPyConnection,
        mart: MartSpec,
        rel: str,
        select: str,
        count: int,
        parts: int | None = None,
    ) -> Scan | None:
        """The scan of a mart stored week-major (dbt's weekly marts), or None if it is not.

        A weekly mart stored ``ORDER BY week_start, package_name`` (week-major,
        so dbt's incremental runs only touch the last row groups) holds every
        week as a run of rows ordered by the first key, so a range of that key
        is one slice of each week: DuckDB's zonemaps skip the rest. The
        parts are such ranges (``week_part_rows`` rows each), so each reads a
        slice where a part of a table in any other order reads the whole
        table, and is small enough to sort beside the load of the previous
        one within the memory cap.

        The layout is judged from a systematic sample of the stored rows
        (every n-th ``rowid``: DuckDB reads only the vectors holding one),
        which also gives the part bounds (its quantiles). The judgement only
        picks the faster path: every part filters and sorts for itself, so a
        mart in another order would still export correctly (the loaded row
        count is checked against the source's).
        """
        key = week_major_key(mart)
        first = next(c for c in mart.columns if c.name == mart.grain[0])
        if key is None or column_kind(first)[1] != "text" or count < 2:
            return None
        # --part-rows below the week default (tests) cuts these parts too.
        rows = min(self.week_part_rows, self.part_rows)
        wanted = parts or max(1, -(-count // max(rows, 1)))
        step = sample_step(count, wanted)
        cols = ", ".join(quote(k) for k in key)
        try:
            # The first vector first: any other order fails here at once (a
            # grain-ordered table at its second row), before the costlier sample.
            head = con.execute(
                f"SELECT {cols} FROM {rel} WHERE rowid < 1024 ORDER BY rowid"
            ).fetchall()
            if not non_decreasing(head):
                return None
            sample = con.execute(
                f"SELECT {cols} FROM {rel} WHERE rowid % {step} = 0 ORDER BY rowid"
            ).fetchall()
        except duckdb.Error:
            return None  # no rowid (a view): the other paths handle it
        if len({r[0] for r in sample}) < 2 or not non_decreasing(sample):
            return None  # one week (then week-major is grain order), or another order
        try:
            weeks = (sample[-1][0] - sample[0][0]).days // 7 + 1
        except (TypeError, AttributeError):
            return None  # week_start is not a date
        if count < self.min_week_rows * weeks:
            # Weeks smaller than a few row groups: every part would read about
            # the whole mart, as the range sort's (fewer, larger) parts do.
            return None
        names = sorted(str(r[1]) for r in sample)
        bounds = sorted({names[len(names) * i // wanted] for i in range(1, wanted)} - {names[0]})
        col = quote(mart.grain[0])
        edges = [sql_text(b) for b in bounds]
        conds = [f"{col} < {edges[0]}"] if edges else ["TRUE"]
        conds += [f"{col} >= {lo} AND {col} < {hi}" for lo, hi in pairwise(edges)]
        if edges:
            conds.append(f"{col} >= {edges[-1]}")
        split = None
        if count // (2 * wanted) >= MIN_SPLIT_ROWS:
            split = lambda: (  # noqa: E731
                self._week_parts(con, mart, rel, select, count, 2 * wanted)
                or self._sorted_scan(con, mart, select, count)
            )
        return Scan(
            tuple(f"({select} WHERE {c} ORDER BY {order_by(mart)})" for c in conds),
            count,
            split=split,
            week_parts=True,
        )

    def _rowid_chunks(
        self, con: duckdb.DuckDBPyConnection, rel: str, select: str, count: int
    ) -> tuple[str, ...]:
        """Consecutive ``rowid`` ranges of an ordered table: its key order, in independent pieces.

        DuckDB pushes a ``rowid`` range into the scan (only those row groups are
        read) and keeps the stored order inside it, so the ranges read one
        after the other are the table in key order. A relation without
        ``rowid`` (a view) is one piece.
        """
        try:
            row = con.execute(f"SELECT min(rowid), max(rowid) FROM {rel}").fetchone()
        except duckdb.Error:
            return (f"({select})",)
        if not row or row[0] is None:
            return (f"({select})",)
        return tuple(
            f"({select} WHERE rowid >= {lo} AND rowid < {hi})"
            for lo, hi in chunk_bounds(int(row[0]), int(row[1]), count)
        )

    def _bounds(
        self, con: duckdb.DuckDBPyConnection, mart: MartSpec, count: int, wanted: int
    ) -> tuple[str, int] | None:
        """Split points of the first grain column, from its exact row counts, in a temp table.

        One hash aggregate over the first key (DuckDB spills it beyond the
        cap) gives each key's rows; the
        split points are the first keys with at least ``i * count / parts``
        rows before them, so the parts are equal give or take one key's rows.
        (A reservoir sample is slower and leaves more RSS behind.)

        Returns:
            ``(temp table, number of split points)``, or None when one part is enough.
        """
        if wanted <= 1:
            return None
        key = quote(mart.grain[0])
        # A plain (not TEMP) table of the in-memory database: the second
        # connection that stages the parts must see it too.
        table = quote(f"_bounds_{mart.name}_{wanted}")
        rel = self.relation_name(mart)
        try:
            con.execute(
                f"CREATE OR REPLACE TABLE memory.main.{table} AS"
                f" SELECT row_number() OVER (ORDER BY b) - 1 AS i, b FROM ("
                f"  SELECT min(k) AS b FROM ("
                f"   SELECT k, sum(n) OVER (ORDER BY k ROWS UNBOUNDED PRECEDING) - n AS before"
                f"   FROM (SELECT {key} AS k, count(*) AS n FROM {rel} GROUP BY {key}))"
                f"  WHERE k IS NOT NULL AND before * {wanted} // {count} > 0"
                f"  GROUP BY before * {wanted} // {count})"
            )
        except duckdb.OutOfMemoryException:
            # Too many keys for the cap (raising the cap for the whole mart
            # instead would push the export's peak RSS past the goal). Quantiles of a
            # systematic sample of stored rows (every n-th rowid, DuckDB reads
            # only the vectors holding one) are close enough.
            step = sample_step(count, wanted)
            con.execute(
                f"CREATE OR REPLACE TABLE memory.main.{table} AS"
                f" SELECT row_number() OVER (ORDER BY b) - 1 AS i, b FROM ("
                f"  SELECT DISTINCT min(k) AS b FROM ("
                f"   SELECT k, row_number() OVER (ORDER BY k) - 1 AS r, count(*) OVER () AS n"
                f"   FROM (SELECT {key} AS k FROM {rel}"
                f"         WHERE rowid % {step} = 0 AND {key} IS NOT NULL))"
                f"  WHERE r * {wanted} // n > 0 GROUP BY r * {wanted} // n)"
            )
        table = f"memory.main.{table}"
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        n_bounds = int(row[0]) if row else 0
        return (table, n_bounds) if n_bounds else None

    def max_value(self, con: duckdb.DuckDBPyConnection, mart: MartSpec, column: str) -> str | None:
        """``max(column)`` of the mart, as text.

        Raises:
            ExportError: when the mart is not readable.
        """
        try:
            row = con.execute(
                f"SELECT max({quote(column)})::VARCHAR FROM {self.relation_name(mart)}"
            ).fetchone()
        except duckdb.Error as exc:
            raise ExportError(f"mart {mart.name} is not readable in {self.path}: {exc}") from None
        return str(row[0]) if row and row[0] is not None else None

    def provenance(
        self, con: duckdb.DuckDBPyConnection, mart: MartSpec
    ) -> list[ProvenanceEvent] | None:
        """Read the dbt provenance log from the mart's schema (None when it is absent).

        Raises:
            ExportError: when the log exists but cannot be read.
        """
        schema = mart.schema or "main"
        # Literals, not bound parameters: see _estimate_rows in exports.pipeline.
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables()"
            f" WHERE database_name = {sql_text(self.alias)} AND schema_name = {sql_text(schema)}"
            f" AND table_name = {sql_text(PROVENANCE_TABLE)}"
        ).fetchone()
        if not found or not found[0]:
            return None
        table = f"{self.alias}.{quote(schema)}.{quote(PROVENANCE_TABLE)}"
        try:
            rows = con.execute(
                "SELECT invocation_id, strftime(run_started_at, '%Y-%m-%dT%H:%M:%S.%f'),"
                f" command, unique_id, event, status FROM {table}"
            ).fetchall()
        except duckdb.Error as exc:
            raise ExportError(f"cannot read {table} in {self.path}: {exc}") from None
        return [tuple(str(v) for v in row) for row in rows]  # type: ignore[misc]

    def release(self, con: duckdb.DuckDBPyConnection, mart: MartSpec) -> None:
        """Detach the mart's own attachment (its metadata and cached blocks go with it)."""
        alias = self._marts.pop(mart.name, None)
        if alias is not None:
            con.execute(f"DETACH {alias}")

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        """Detach the warehouse, and what a failed export left attached for its marts."""
        while self._marts:
            con.execute(f"DETACH {self._marts.popitem()[1]}")
        con.execute(f"DETACH {self.alias}")


def arrow_type(kind: str) -> pa.DataType:
    """Arrow type a reader must deliver for a column kind (see :func:`column_kind`)."""
    import pyarrow as pa

    return {
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "text": pa.string(),
        "integer": pa.int64(),
        "real": pa.float64(),
        "boolean": pa.bool_(),
    }[kind]


def arrow_schema(mart: MartSpec) -> pa.Schema:
    """The Arrow schema of a mart, derived from its dbt contract."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(c.name, arrow_type(column_kind(c)[1]), nullable=not c.not_null)
            for c in mart.columns
        ]
    )


#: ``open_batches(mart) -> (record batches in grain order, row count the source reports)``.
BatchOpener = Callable[[MartSpec], tuple[Iterator["pa.RecordBatch"], int | None]]


def bigquery_max_query(
    mart: MartSpec, column: str, project: str | None = None, dataset: str | None = None
) -> str:
    """The GoogleSQL query for ``max(column)`` of a mart (used to detect a new week)."""
    table = f"{project or mart.database}.{dataset or mart.schema}.{mart.alias}"
    return f"SELECT CAST(MAX(`{column}`) AS STRING) FROM `{table}`"


@dataclass
class ArrowSource:
    """Marts delivered as streams of Arrow record batches, already ordered by the grain.

    Every batch is cast to the contract schema, so a source that delivers
    other types fails loudly instead of writing wrong values.
    """

    open_batches: BatchOpener
    label: str = "arrow"
    #: Reads the dbt provenance log; None: this source has none (the export refuses).
    read_provenance: Callable[[MartSpec], list[ProvenanceEvent] | None] | None = None
    _views: list[str] = field(default_factory=list, init=False, repr=False)

    def open(self, con: duckdb.DuckDBPyConnection) -> None:
        """Nothing to attach: streams are registered per mart."""

    @staticmethod
    def _view(mart: MartSpec) -> str:
        return f"arrow_src_{mart.name}"

    def scan(self, con: duckdb.DuckDBPyConnection, mart: MartSpec) -> Scan:
        """Register the mart's batch stream as a DuckDB view and return its scan."""
        import pyarrow as pa

        schema = arrow_schema(mart)
        batches, count = self.open_batches(mart)

        def cast(it: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in it:
                try:
                    yield batch.select(schema.names).cast(schema)
                except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
                    raise ExportError(
                        f"mart {mart.name}: source batch does not match the contract: {exc}"
                    ) from None

        reader = pa.RecordBatchReader.from_batches(schema, cast(batches))
        view = self._view(mart)
        con.register(view, reader)
        self._views.append(view)
        # The stream is already in grain order (the source query orders it); DuckDB
        # keeps the scan order because preserve_insertion_order is on.
        return Scan((f"(SELECT {select_list(mart)} FROM {quote(view)})",), count)

    def max_value(self, con: duckdb.DuckDBPyConnection, mart: MartSpec, column: str) -> str | None:
        """Unknown for a plain stream (reading it would mean reading it all)."""
        return None

    def provenance(
        self, con: duckdb.DuckDBPyConnection, mart: MartSpec
    ) -> list[ProvenanceEvent] | None:
        """The log from :attr:`read_provenance` (None without one)."""
        return self.read_provenance(mart) if self.read_provenance else None

    def release(self, con: duckdb.DuckDBPyConnection, mart: MartSpec) -> None:
        """Unregister the mart's view (its stream has been read to the end)."""
        view = self._view(mart)
        if view in self._views:
            con.unregister(view)
            self._views.remove(view)

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        """Unregister the views."""
        for view in self._views:
            con.unregister(view)
        self._views.clear()


def bigquery_query(mart: MartSpec, project: str | None = None, dataset: str | None = None) -> str:
    """The GoogleSQL query the BigQuery reader issues for a mart.

    ``ORDER BY`` the grain makes the client read the result through a single
    ordered Storage API stream, so batches arrive in key order.
    """
    table = f"{project or mart.database}.{dataset or mart.schema}.{mart.alias}"
    cols = ", ".join(f"`{c.name}`" for c in mart.columns)
    keys = ", ".join(f"`{g}`" for g in mart.grain)
    return f"SELECT {cols} FROM `{table}` ORDER BY {keys}"


class BigQuerySource(ArrowSource):
    """Production marts read from BigQuery as Arrow record batches (Storage Read API).

    Cannot run offline: the google clients are imported only when a mart is read.
    """

    def __init__(self, project: str | None, dataset: str | None, location: str | None) -> None:
        super().__init__(
            open_batches=self._open_batches,
            label="bigquery",
            read_provenance=self._read_provenance,
        )
        self.project, self.dataset, self.location = project, dataset, location
        self._client: Any = None

    def max_value(self, con: duckdb.DuckDBPyConnection, mart: MartSpec, column: str) -> str | None:
        """``SELECT MAX(column)`` in BigQuery (a cheap query on a weekly mart)."""
        rows = list(
            self._bigquery_client()
            .query(bigquery_max_query(mart, column, self.project, self.dataset))
            .result()
        )
        value = rows[0][0] if rows else None
        return None if value is None else str(value)

    def _read_provenance(self, mart: MartSpec) -> list[ProvenanceEvent] | None:
        """The dbt provenance log in the marts' dataset (a tiny table; None when absent)."""
        from google.api_core.exceptions import NotFound

        table = f"{self.project or mart.database}.{self.dataset or mart.schema}.{PROVENANCE_TABLE}"
        sql = (
            "SELECT invocation_id, FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6S', run_started_at),"
            f" command, unique_id, event, status FROM `{table}`"
        )
        try:
            rows = list(self._bigquery_client().query(sql).result())
        except NotFound:
            return None
        except Exception as exc:  # the google clients raise many kinds; all mean "cannot read"
            raise ExportError(f"cannot read the dbt provenance log {table}: {exc}") from None
        return [tuple(str(v) for v in row.values()) for row in rows]  # type: ignore[misc]

    def _bigquery_client(self) -> Any:
        try:
            from google.cloud import bigquery
        except ImportError as exc:  # pragma: no cover - a locked dependency
            raise ExportError(f"google-cloud-bigquery is not installed: {exc}") from None
        if self._client is None:
            self._client = bigquery.Client(project=self.project, location=self.location)
        return self._client

    def _open_batches(self, mart: MartSpec) -> tuple[Iterator[pa.RecordBatch], int | None]:
        try:
            from google.cloud import bigquery_storage
        except ImportError as exc:  # pragma: no cover - a locked dependency
            raise ExportError(f"google-cloud-bigquery-storage is not installed: {exc}") from None
        sql = bigquery_query(mart, self.project, self.dataset)
        rows = self._bigquery_client().query(sql).result()
        read_client: Any = bigquery_storage.BigQueryReadClient  # untyped library
        batches = rows.to_arrow_iterable(bqstorage_client=read_client())
        return iter(batches), int(rows.total_rows) if rows.total_rows is not None else None
