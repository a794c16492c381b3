"""Check a published file before the server switches to it.

The exporter validates every file it publishes, but the server must not trust
whatever the published path points at: a file of another layout version, one
without a table or a column the API reads, a truncated copy, or a valid but
much smaller subset would turn a working API into 500s and 404s. Every check
here is cheap (no full scan): the header's page count against the file size,
``_meta``, the schema of every contract table, the first and last key of each
table, and the row counts in ``_tables`` against the build being served.

A file that fails is refused: the server keeps serving the build it has, and
reports the refusal (``/readyz``, ``pypi_trends_swap_failures_total``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from contract import (
    META_TABLE,
    PACKAGES,
    READABLE_SCHEMA_VERSIONS,
    TABLES,
    TABLES_TABLE,
    Meta,
)

#: Largest drop of all rows, or of ``packages`` rows, against the served build
#: that a new file may show without ``_meta.accepted_shrink``. Looser than the
#: exporter's guards (exports/guards.py): this is the last line, not the first.
MAX_SHRINK = 0.25


#: Every ``FileRefused.reason`` (the metric's label values, exposed from 0).
REASONS = (
    "unreadable",
    "truncated",
    "no-meta",
    "schema-version",
    "missing-table",
    "missing-column",
    "row-counts",
    "shrink",
)


class FileRefused(Exception):
    """The file fails a check; ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, message: str, build_id: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.build_id = build_id


@dataclass(frozen=True, slots=True)
class Checked:
    """What the check learned about a file that passed."""

    build_id: str
    row_counts: dict[str, int]


def _uri(path: str) -> str:
    return f"file:{path}?mode=ro&immutable=1"


def _name_build_id(path: str) -> str:
    """The build id in a release file's name (``pypi_trends-<build_id>.sqlite``), if any."""
    name = os.path.basename(path)
    if name.startswith("pypi_trends-") and name.endswith(".sqlite"):
        return name[len("pypi_trends-") : -len(".sqlite")]
    return ""


def check_size(path: str) -> None:
    """The file is as long as its header says (a truncated file is not).

    Reads the 100-byte header itself: SQLite may fail on a truncated file
    before it can be asked for its page count.

    Raises:
        FileRefused: ``truncated`` (or ``unreadable``).
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header = fh.read(100)
    except OSError as exc:
        raise FileRefused("unreadable", f"{path}: {exc}", _name_build_id(path)) from exc
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise FileRefused("unreadable", f"{path}: not an SQLite file", _name_build_id(path))
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    # The header's page count is valid only when written by SQLite >= 3.7.0
    # (version-valid-for == change counter); every published file is.
    if header[92:96] != header[24:28] or page_size * page_count != size:
        raise FileRefused(
            "truncated",
            f"{size:,} bytes but the header says {page_count:,} pages of {page_size:,}",
            _name_build_id(path),
        )


def check_file(path: str, serving: Mapping[str, int] | None = None) -> Checked:
    """Refuse a file the API cannot serve correctly.

    Args:
        path: the release file (the symlink resolved).
        serving: ``_tables`` row counts of the build being served (None: none is).

    Returns:
        The file's build id and row counts.

    Raises:
        FileRefused: on the first check that fails.
    """
    check_size(path)
    try:
        con = sqlite3.connect(_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise FileRefused("unreadable", f"{path}: {exc}", _name_build_id(path)) from exc
    try:
        return _check_open(con, path, serving)
    except sqlite3.Error as exc:
        raise FileRefused("unreadable", f"{path}: {exc}", _name_build_id(path)) from exc
    finally:
        con.close()


def _check_open(con: sqlite3.Connection, path: str, serving: Mapping[str, int] | None) -> Checked:
    try:
        meta = dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    except sqlite3.Error as exc:
        raise FileRefused(
            "no-meta", f"{path}: no readable {META_TABLE}: {exc}", _name_build_id(path)
        ) from exc
    build_id = str(meta.get(Meta.BUILD_ID) or "")
    if not build_id:
        raise FileRefused(
            "no-meta", f"{path}: {META_TABLE} has no {Meta.BUILD_ID}", _name_build_id(path)
        )
    version = str(meta.get(Meta.SCHEMA_VERSION) or "")
    if version not in {str(v) for v in READABLE_SCHEMA_VERSIONS}:
        raise FileRefused(
            "schema-version",
            f"{path}: schema_version {version or 'missing'} is not one this server reads"
            f" ({', '.join(str(v) for v in sorted(READABLE_SCHEMA_VERSIONS))})",
            build_id,
        )
    for table in TABLES.values():
        have = {str(r[1]) for r in con.execute(f'PRAGMA table_info("{table.name}")')}
        if not have:
            raise FileRefused("missing-table", f"table {table.name} is missing", build_id)
        missing = [c for c in table.columns if c not in have]
        if missing:
            raise FileRefused(
                "missing-column", f"table {table.name} lacks {', '.join(missing)}", build_id
            )
    try:
        counts = {
            str(t): int(n)
            for t, n in con.execute(f"SELECT table_name, row_count FROM {TABLES_TABLE}")
        }
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise FileRefused("row-counts", f"no readable {TABLES_TABLE}: {exc}", build_id) from exc
    for table in TABLES.values():
        listed = counts.get(table.name, 0)
        keys = ", ".join(f'"{k}"' for k in table.key)
        first = con.execute(f'SELECT {keys} FROM "{table.name}" ORDER BY {keys} LIMIT 1').fetchone()
        desc = ", ".join(f'"{k}" DESC' for k in table.key)
        last = con.execute(f'SELECT {keys} FROM "{table.name}" ORDER BY {desc} LIMIT 1').fetchone()
        if listed <= 0 or first is None or last is None:
            raise FileRefused(
                "row-counts", f"table {table.name} is empty (_tables says {listed})", build_id
            )
        if listed > 1 and first == last:
            raise FileRefused(
                "row-counts", f"table {table.name} has one key, _tables says {listed}", build_id
            )
    if serving and not meta.get(Meta.ACCEPTED_SHRINK):
        _check_shrink(counts, serving, build_id)
    return Checked(build_id, counts)


def _check_shrink(counts: Mapping[str, int], serving: Mapping[str, int], build_id: str) -> None:
    for what, before, after in (
        ("rows", sum(serving.values()), sum(counts.get(t, 0) for t in serving)),
        ("packages", serving.get(PACKAGES.name, 0), counts.get(PACKAGES.name, 0)),
    ):
        if before > 0 and (before - after) / before > MAX_SHRINK:
            raise FileRefused(
                "shrink",
                f"{what} drop from {before:,} to {after:,} against the served build"
                f" (more than {MAX_SHRINK:.0%}, and _meta records no accepted shrink)",
                build_id,
            )
