"""Allocator settings of the export process: freed memory goes back to the OS promptly.

Two allocators share the exporter's process. DuckDB allocates through its own
jemalloc, which keeps freed pages for a second before returning them; the
exporter's threads free and allocate scan buffers all the time, so those
pages are a good share of the peak RSS. SQLite (Python's and the one inside
DuckDB's sqlite extension) allocates through glibc, whose mmap threshold
grows to the largest block freed so far: after the first page cache is freed,
every later one comes from a per-thread arena that keeps it. Returning both
at once lowers the peak RSS for a little system time (``make bench-scale``).

Both must be set before DuckDB loads and before threads start, so
``python -m exports`` calls :func:`configure` first. A value the user set
(``DUCKDB_JE_MALLOC_CONF``, or glibc's ``GLIBC_TUNABLES`` / ``MALLOC_*_``
variables) is kept.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: Environment variable DuckDB's bundled jemalloc reads its options from (its
#: symbol prefix, upper-cased, before ``MALLOC_CONF``).
JEMALLOC_CONF_VAR = "DUCKDB_JE_MALLOC_CONF"
#: Freed pages go back to the OS at once instead of after a second's decay.
JEMALLOC_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"

#: glibc's mmap and trim thresholds in bytes: its default starting value, now
#: fixed (setting them turns off glibc's growing of them).
GLIBC_THRESHOLD_BYTES = 128 << 10
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Variables through which a user tunes glibc's malloc: any of them set, ours is not.
_GLIBC_USER_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def configure() -> None:
    """Apply both settings to this process (call before DuckDB is imported)."""
    os.environ.setdefault(JEMALLOC_CONF_VAR, JEMALLOC_CONF)
    if sys.platform != "linux" or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    if any(var in os.environ for var in _GLIBC_USER_VARS):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, GLIBC_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, GLIBC_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass  # not glibc (e.g. musl): nothing to tune
