"""The exporter's allocator settings reach DuckDB's jemalloc and glibc (ignored ones would pass)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from exports.allocator import GLIBC_THRESHOLD_BYTES, JEMALLOC_CONF, JEMALLOC_CONF_VAR


def _jemalloc_options(conf: str | None, code: str) -> str:
    """Run ``code`` with the variable set to ``conf`` (None: unset) plus a stats dump at exit."""
    env = {k: v for k, v in os.environ.items() if k != JEMALLOC_CONF_VAR}
    if conf is not None:
        env[JEMALLOC_CONF_VAR] = conf
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_duckdb_applies_the_exporters_setting() -> None:
    query = "import duckdb; duckdb.connect().execute('SELECT 1').fetchall()"
    ours = _jemalloc_options(f"{JEMALLOC_CONF},stats_print:true", query)
    theirs = _jemalloc_options("stats_print:true", query)
    assert "opt.dirty_decay_ms: 0 " in ours, ours[:3000]
    assert "opt.muzzy_decay_ms: 0 " in ours
    # DuckDB's own default differs: the setting changes something.
    assert "opt.dirty_decay_ms: 0 " not in theirs, theirs[:3000]


def test_python_m_exports_sets_it_before_duckdb_loads_and_keeps_a_users_value() -> None:
    # `python -m exports` imports the package first: it must not load DuckDB.
    code = (
        "import sys, exports; assert 'duckdb' not in sys.modules, 'exports imports duckdb'\n"
        "import os, runpy\n"
        "sys.argv = ['exports', '--help']\n"
        "try:\n"
        "    runpy.run_module('exports', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('VALUE=' + os.environ[{JEMALLOC_CONF_VAR!r}])\n"
    )
    assert f"VALUE={JEMALLOC_CONF}\n" in _jemalloc_options(None, code)
    assert "VALUE=narenas:1\n" in _jemalloc_options("narenas:1", code)


# Frees a 4 MiB block (glibc then raises its mmap threshold to 4 MiB unless it
# was fixed), allocates 1 MiB, and prints how many bytes that put in mmapped chunks.
_MMAPPED_AFTER_A_LARGE_FREE = """
import ctypes, sys
{setup}
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = Info
libc.free(libc.malloc(4 << 20))
before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)
print("MMAPPED=%d" % (libc.mallinfo2().hblkhd - before))
libc.free(block)
"""


def _mmapped(setup: str, env: dict[str, str] | None = None) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _MMAPPED_AFTER_A_LARGE_FREE.format(setup=setup)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split("MMAPPED=")[1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_glibc_returns_large_blocks_at_once_unless_the_user_tuned_it() -> None:
    configured = "from exports import allocator; allocator.configure()"
    # Fixed threshold: the 1 MiB block is its own mapping, unmapped when freed.
    assert _mmapped(configured) >= 1 << 20
    # glibc's default: the freed 4 MiB raised the threshold, the block comes from the heap.
    assert _mmapped("") == 0
    # A user's own threshold (8 MiB) wins over ours.
    assert _mmapped(configured, {"MALLOC_MMAP_THRESHOLD_": str(8 << 20)}) == 0
    assert GLIBC_THRESHOLD_BYTES < 1 << 20
