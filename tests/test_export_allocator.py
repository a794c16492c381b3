"""The exporter's allocator setting reaches DuckDB's jemalloc (an ignored one would not fail)."""

from __future__ import annotations

import os
import subprocess
import sys

from exports import JEMALLOC_CONF, JEMALLOC_CONF_VAR


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
