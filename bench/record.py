"""What every bench/bench_*.py writes: the self-describing JSON that bench/render.py renders.

The shape is documented once, in bench/render.py's docstring. Scripts build
their figures with :func:`figure` and write the file with :func:`write`, which
adds the date and the machine (cores, CPU model, load before and after).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded for reading."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (None where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine(load_before: list[float]) -> dict[str, Any]:
    """The ``machine`` object: cores, CPU model, Python and the load around the run."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
    }


def figure(
    name: str,
    value: float,
    unit: str,
    peer: str,
    *,
    goal: tuple[str, float] | None = None,
    detail: str = "",
    headline: bool | None = None,
) -> dict[str, Any]:
    """One figure: ``value`` (usually a ratio against ``peer``) and the goal it is judged by.

    Args:
        name: What the figure is, e.g. "requests/s, uncached, vs datasette".
        value: The number judged against the goal.
        unit: Its unit ("x" for a ratio, "ms", "rows/s", ...).
        peer: What it was compared with in the same run ("" when nothing).
        goal: (operator, bound) with operator one of ">=", "<=", ">", "<".
        detail: The measurements behind the value, for the reader.
        headline: Whether the README's table shows it (default: when it has a goal).
    """
    out: dict[str, Any] = {"name": name, "value": value, "unit": unit, "peer": peer}
    if goal is not None:
        out["goal"] = {"op": goal[0], "value": goal[1]}
    if detail:
        out["detail"] = detail
    if headline is not None:
        out["headline"] = headline
    return out


def write(
    path: Path,
    *,
    bench: str,
    title: str,
    method: str,
    figures: list[dict[str, Any]],
    load_before: list[float],
    results: dict[str, Any],
) -> None:
    """Write ``path``: the documented header fields first, the script's own ``results`` after.

    Args:
        path: data/bench/<bench>.json.
        bench: Short name, also the file's stem and the anchor in docs/benchmarks.md.
        title: Section title in docs/benchmarks.md.
        method: How it was measured, one paragraph.
        figures: Built with :func:`figure`.
        load_before: :func:`load_average` taken when the run started.
        results: Every raw measurement (not rendered; kept for comparison).
    """
    report = {
        "bench": bench,
        "title": title,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(load_before),
        "method": method,
        # The command line as run, options included: it reproduces the figures.
        "command": shlex.join(["python", *sys.argv]),
        "figures": figures,
        "results": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
