"""A DuckDB connection for the writer, with the SQLite extension loaded offline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

from exports.errors import ExportError


def sqlite_extension_path() -> Path:
    """Return the sqlite extension file shipped by the ``duckdb-extension-sqlite`` wheel.

    Raises:
        ExportError: when the wheel is missing or was built for another DuckDB.
    """
    try:
        import duckdb_extension_sqlite
    except ImportError:
        raise ExportError("duckdb-extension-sqlite is not installed: run `make setup`") from None
    path = (
        Path(duckdb_extension_sqlite.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "sqlite.duckdb_extension"
    )
    if not path.is_file():
        raise ExportError(f"no sqlite extension for DuckDB {duckdb.__version__} at {path}")
    return path


def connect(
    memory_limit: str, spill_dir: Path | None, threads: int = 2
) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with a memory cap, a spill directory and the sqlite extension.

    The cap keeps the peak RSS flat whatever the table size: sorts beyond it
    spill to ``spill_dir`` (None: the caller sets ``temp_directory`` later).

    Raises:
        ExportError: when the extension cannot be loaded.
    """
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "threads": threads,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if spill_dir is not None:
        config["temp_directory"] = str(spill_dir)
    con = duckdb.connect(config=config)
    # Progress is counted in chunks and parts (exports.report); DuckDB's own
    # tracking slows every insert, and must never print a bar.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET enable_progress_bar_print = false")
    # Return freed memory to the OS promptly: RSS then follows the buffer cap.
    con.execute("SET allocator_flush_threshold = '8MB'")
    # The wheel ships the file as "sqlite.duckdb_extension" but its entry point is
    # named after "sqlite_scanner"; DuckDB derives the entry point from the file
    # name, so load it through a correctly named symlink.
    with tempfile.TemporaryDirectory(prefix="pypi-trends-ext-") as tmp:
        link = Path(tmp) / "sqlite_scanner.duckdb_extension"
        os.symlink(sqlite_extension_path(), link)
        try:
            con.execute(f"LOAD '{link}'")
        except duckdb.Error as exc:
            con.close()
            raise ExportError(f"cannot load the DuckDB sqlite extension: {exc}") from None
    return con
