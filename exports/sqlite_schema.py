"""The SQLite layout: DDL for the mart tables and the self-describing tables.

Every mart becomes a ``STRICT, WITHOUT ROWID`` table whose ``PRIMARY KEY`` is
the mart grain: the API reads series by (package_name, week_start) prefix,
which is exactly the clustered key, so no secondary index is needed for it.
"""

from __future__ import annotations

import re

from exports.errors import ExportError
from exports.manifest import MART_META_KEYS, ColumnSpec, MartSpec

# Contract types (DuckDB and BigQuery spellings) -> (SQLite STRICT type, kind).
# ``kind`` tells the loader how to convert the value on its way to SQLite.
_TYPE_RULES: tuple[tuple[str, str, str], ...] = (
    (r"^(date)$", "TEXT", "date"),
    (r"^(timestamp|timestamptz|timestamp with time zone|datetime)(\(\d+\))?$", "TEXT", "timestamp"),
    (r"^(varchar|string|text|char|bpchar)(\(\d+\))?$", "TEXT", "text"),
    (
        r"^(tinyint|smallint|integer|int|int2|int4|int8|int64|bigint|hugeint|"
        r"utinyint|usmallint|uinteger|ubigint)$",
        "INTEGER",
        "integer",
    ),
    (
        r"^(double|float|float4|float8|float64|real|numeric|decimal|bignumeric)(\(.*\))?$",
        "REAL",
        "real",
    ),
    (r"^(boolean|bool)$", "INTEGER", "boolean"),
)

#: Secondary indexes, each for a documented query (README "The exported file").
#: packages(rank): "top N packages" reads `ORDER BY rank LIMIT n` without a sort
#: of every package. Everything else is served by the primary keys.
INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {"packages": (("rank",),)}

META_KEYS = (
    "build_id",
    "dbt_invocation_id",
    "source_target",
    "data_through",
    "exported_at",
    "schema_version",
)

#: Optional ``_meta`` keys, present when a mart declares them (see ``MART_META_KEYS``).
OPTIONAL_META_KEYS = MART_META_KEYS

META_DDL = (
    "CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID",
    "CREATE TABLE _tables (table_name TEXT PRIMARY KEY, row_count INTEGER NOT NULL,"
    " description TEXT NOT NULL) STRICT, WITHOUT ROWID",
    "CREATE TABLE _columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
    " data_type TEXT NOT NULL, description TEXT NOT NULL,"
    " PRIMARY KEY (table_name, column_name)) STRICT, WITHOUT ROWID",
)


def column_kind(col: ColumnSpec) -> tuple[str, str]:
    """Return ``(sqlite_type, kind)`` for a contract column.

    Raises:
        ExportError: for a contract type the SQLite file cannot represent.
    """
    for pattern, sqlite_type, kind in _TYPE_RULES:
        if re.match(pattern, col.data_type.strip()):
            return sqlite_type, kind
    raise ExportError(f"column {col.name}: contract type {col.data_type!r} has no SQLite mapping")


def quote(identifier: str) -> str:
    """Quote an SQL identifier (same rules in SQLite and DuckDB)."""
    return '"' + identifier.replace('"', '""') + '"'


def table_ddl(mart: MartSpec) -> str:
    """``CREATE TABLE`` for one mart: STRICT, WITHOUT ROWID, primary key on the grain."""
    cols = []
    for col in mart.columns:
        sqlite_type, _ = column_kind(col)
        not_null = " NOT NULL" if col.not_null or col.name in mart.grain else ""
        cols.append(f"{quote(col.name)} {sqlite_type}{not_null}")
    pk = ", ".join(quote(g) for g in mart.grain)
    body = ", ".join(cols)
    return f"CREATE TABLE {quote(mart.name)} ({body}, PRIMARY KEY ({pk})) STRICT, WITHOUT ROWID"


def staging_ddl(mart: MartSpec) -> str:
    """``CREATE TABLE`` for a staging copy of a mart: same name, columns and types, rowid, no key.

    Appending to a rowid table is the cheapest per-row insert SQLite has; the
    key (and NOT NULL) is enforced when the chunk is copied into the real table.
    """
    cols = ", ".join(f"{quote(c.name)} {column_kind(c)[0]}" for c in mart.columns)
    return f"CREATE TABLE {quote(mart.name)} ({cols}) STRICT"


def index_ddl(mart: MartSpec) -> list[str]:
    """``CREATE INDEX`` statements for the mart (only those in :data:`INDEXES`)."""
    out = []
    for cols in INDEXES.get(mart.name, ()):
        if all(any(c.name == name for c in mart.columns) for name in cols):
            idx = f"{mart.name}__{'_'.join(cols)}"
            keys = ", ".join(quote(c) for c in cols)
            out.append(f"CREATE INDEX {quote(idx)} ON {quote(mart.name)} ({keys})")
    return out


def to_sqlite_expr(col: ColumnSpec) -> str:
    """DuckDB expression turning a warehouse value into its SQLite representation.

    Dates become ISO ``YYYY-MM-DD`` text so that direct SQL reads naturally and
    sorts correctly; timestamps ISO 8601 UTC text; booleans 0/1.
    """
    _, kind = column_kind(col)
    name = quote(col.name)
    if kind == "date":
        # The cast prints ISO YYYY-MM-DD for years 1-9999 (every real week) at
        # half the cost of strftime.
        return f"CAST({name} AS VARCHAR) AS {name}"
    if kind == "timestamp":
        return f"strftime({name}, '%Y-%m-%dT%H:%M:%S.%fZ') AS {name}"
    if kind == "boolean":
        return f"CAST({name} AS INTEGER) AS {name}"
    if kind == "real":
        return f"CAST({name} AS DOUBLE) AS {name}"
    return name
