"""Named crash points for the crash-safety tests.

When ``PYPI_TRENDS_EXPORT_KILL_AT`` names a step, the exporter SIGKILLs itself
on reaching it, exactly like a power cut or an OOM kill would stop it there.
The variable is read when the step is reached, never at import time.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "PYPI_TRENDS_EXPORT_KILL_AT"

#: Every step in publication order (the tests iterate over it).
POINTS = (
    "after_lock",
    "after_first_table",
    "after_temp_written",
    "after_validate",
    "after_release_renamed",
    "after_symlink_created",
    "after_swap",
    "after_parquet_published",
    "after_prune",
)


def reached(point: str) -> None:
    """SIGKILL this process if the kill point ``point`` is armed."""
    assert point in POINTS, point
    if os.environ.get(ENV_VAR) == point:
        os.kill(os.getpid(), signal.SIGKILL)
