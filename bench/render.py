"""Render docs/benchmarks.md from the JSON files `make bench` writes to data/bench/.

Run last by `make bench`, or alone by `make bench-docs` (re-renders without
measuring again). Any file ``data/bench/<name>.json`` in this shape is
rendered (bench/record.py writes it for the scripts in bench/)::

    {
      "bench": "api",                    # short name: the file's stem and the page anchor
      "title": "HTTP API",               # section heading
      "measured_at": "2026-12-05T21:40:00+00:00",   # UTC, ISO 8601, end of the run
      "machine": {                       # where it ran: figures from a shared machine
        "cpus": 2,                       # need the cores and the load beside them
        "cpu_model": "...",              # optional
        "python": "3.11.9",              # optional
        "load_avg_before": [1.2, 1.1, 1.0],   # os.getloadavg() at the start
        "load_avg_after": [1.4, 1.2, 1.0]     # and at the end
      },
      "method": "What is measured and how, one paragraph.",
      "command": "python bench/bench_api.py",       # reproduces it
      "figures": [                       # at least one
        {
          "name": "requests/s, uncached, vs datasette",
          "value": 3.35,                 # a number (usually the ratio to the peer)
          "unit": "x",                   # "x" for a ratio, "ms", "rows/s", ...
          "peer": "datasette -i on the same file, same run",   # "" when none
          "goal": {"op": ">=", "value": 3.0},   # optional; op: >=, <=, >, <
          "detail": "3,119 vs 932 req/s"        # optional: the numbers behind it
        }
      ],
      "results": {...}                   # optional, anything: not rendered
    }

A file without ``figures`` is listed as not in this shape (and named on
stderr), so a new benchmark shows up before it is converted; a file that has
``figures`` but breaks the shape stops the render with a message naming the
file and the field. Whether a goal is met is decided here, from ``value`` and
``goal``, not by the scripts.

The README's headline table (between the ``<!-- bench:begin -->`` and
``<!-- bench:end -->`` lines) is rendered too, from the figures that have a
goal, each linking to its section: the README's numbers are never typed.

Usage: ``python bench/render.py [--data data/bench] [--out docs/benchmarks.md]
[--readme README.md]``.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Pipeline order; benches not listed follow in name order.
ORDER = ["sample", "dbt", "export", "api", "web"]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


class ShapeError(ValueError):
    """A bench JSON file breaks the documented shape."""


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ShapeError(f"{where}: missing {key!r}")
    value = obj[key]
    # bool is an int in Python, never a valid number here.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ShapeError(f"{where}: {key!r} must be {_kind_name(kind)}, not {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def validate(report: dict[str, Any], where: str) -> None:
    """Raise :class:`ShapeError` unless ``report`` follows the documented shape."""
    for key in ("bench", "title", "measured_at", "method", "command"):
        _require(report, key, str, where)
    machine = _require(report, "machine", dict, where)
    _require(machine, "cpus", int, f"{where}: machine")
    for key in ("load_avg_before", "load_avg_after"):
        loads = _require(machine, key, list, f"{where}: machine")
        if not loads or not all(isinstance(x, int | float) for x in loads):
            raise ShapeError(f"{where}: machine.{key} must be a list of numbers")
    figures = _require(report, "figures", list, where)
    if not figures:
        raise ShapeError(f"{where}: 'figures' is empty")
    for i, fig in enumerate(figures):
        at = f"{where}: figures[{i}]"
        if not isinstance(fig, dict):
            raise ShapeError(f"{at} must be an object")
        _require(fig, "name", str, at)
        _require(fig, "value", (int, float), at)
        _require(fig, "unit", str, at)
        _require(fig, "peer", str, at)
        if "goal" in fig:
            goal = _require(fig, "goal", dict, at)
            op = _require(goal, "op", str, f"{at}.goal")
            if op not in OPS:
                raise ShapeError(f"{at}.goal: op must be one of {', '.join(OPS)}, not {op!r}")
            _require(goal, "value", (int, float), f"{at}.goal")


def number(value: float, unit: str = "") -> str:
    """A figure for reading: thousands separators, three significant digits below 100."""
    text = f"{value:,.0f}" if isinstance(value, int) or abs(value) >= 100 else f"{value:.3g}"
    if unit == "x":
        return f"{text}x"
    return f"{text} {unit}" if unit else text


def verdict(fig: dict[str, Any]) -> str:
    """'met', 'not met' or '' (no goal), decided from the value and the goal."""
    goal = fig.get("goal")
    if goal is None:
        return ""
    return "met" if OPS[goal["op"]](fig["value"], goal["value"]) else "**not met**"


def goal_text(fig: dict[str, Any]) -> str:
    goal = fig.get("goal")
    return f"{goal['op']} {number(goal['value'], fig['unit'])}" if goal else ""


def load_text(report: dict[str, Any]) -> str:
    """The highest 1-minute load seen around the run over the cores, e.g. "3.1 / 2"."""
    m = report["machine"]
    peak = max(m["load_avg_before"][0], m["load_avg_after"][0])
    return f"{peak:.1f} / {m['cpus']}"


def _load(loads: list[float]) -> str:
    return f"{loads[0]:.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section(report: dict[str, Any]) -> list[str]:
    """The Markdown of one benchmark: heading, when/where, method, its figures."""
    m = report["machine"]
    cpu = f" ({m['cpu_model']})" if m.get("cpu_model") else ""
    python = f", Python {m['python']}" if m.get("python") else ""
    lines = [
        f'<a id="{report["bench"]}"></a>',
        "",
        f"## {report['title']}",
        "",
        f"Measured {report['measured_at']} on {m['cpus']} cores{cpu}{python}; load average "
        f"(1 min) {_load(m['load_avg_before'])} before, {_load(m['load_avg_after'])} after. "
        f"Reproduce: `{report['command']}`."
        + (
            " The load exceeded the cores: threads waited for a core, so absolute times and "
            "rates are worse than the code's; ratios to a peer of the same run hold better."
            if max(m["load_avg_before"][0], m["load_avg_after"][0]) > m["cpus"]
            else ""
        ),
        "",
        report["method"].strip(),
        "",
        "| figure | value | goal | | peer (same run) | measured |",
        "|---|---:|---|---|---|---|",
    ]
    for fig in report["figures"]:
        lines.append(
            f"| {_cell(fig['name'])} | {number(fig['value'], fig['unit'])} | {goal_text(fig)} "
            f"| {verdict(fig)} | {_cell(fig['peer'])} | {_cell(fig.get('detail', ''))} |"
        )
    lines.append("")
    return lines


def render(reports: list[dict[str, Any]], unshaped: list[str]) -> str:
    """The whole page: a summary of every figure with a goal, then one section per bench."""
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/render.py from data/bench/*.json: do not edit by hand. "
        "`make bench` measures and renders, `make bench-docs` renders again. -->",
        "",
        "Every figure comes from the last `make bench` run on the machine named with it, a "
        "shared one: the cores and the load are given because they move the absolute "
        "numbers. A ratio compares two measurements of the same run, so load hits both.",
        "",
        "| benchmark | figure | value | goal | | load / cores |",
        "|---|---|---:|---|---|---|",
    ]
    for report in reports:
        for fig in report["figures"]:
            if "goal" in fig:
                lines.append(
                    f"| [{_cell(report['title'])}](#{report['bench']}) | {_cell(fig['name'])} "
                    f"| {number(fig['value'], fig['unit'])} | {goal_text(fig)} | {verdict(fig)} "
                    f"| {load_text(report)} |"
                )
    lines.append("")
    for report in reports:
        lines += section(report)
    if unshaped:
        lines += [
            "## Not rendered",
            "",
            "These files in data/bench/ have no `figures` (bench/render.py documents the "
            "shape): " + ", ".join(f"`{name}`" for name in unshaped) + ".",
            "",
        ]
    return "\n".join(lines)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def headline(reports: list[dict[str, Any]], page: str) -> str:
    """The README's table: every figure with a goal, linked to its section of ``page``."""
    lines = ["| measured | value | goal | | load / cores |", "|---|---:|---|---|---|"]
    for report in reports:
        for fig in report["figures"]:
            if "goal" in fig:
                lines.append(
                    f"| [{_cell(report['title'])}: {_cell(fig['name'])}]({page}#{report['bench']}) "
                    f"| {number(fig['value'], fig['unit'])} | {goal_text(fig)} | {verdict(fig)} "
                    f"| {load_text(report)} |"
                )
    return "\n".join(lines)


def update_readme(readme: str, table: str) -> str:
    """``readme`` with the text between the bench markers replaced by ``table``."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start == -1 or end < start:
        raise ShapeError(f"the README has no {BEGIN} ... {END} block")
    return readme[: start + len(BEGIN)] + "\n" + table + "\n" + readme[end:]


def collect(data: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Read every ``*.json`` under ``data``: the shaped reports in order, the others' names."""
    reports: list[dict[str, Any]] = []
    unshaped: list[str] = []
    for path in sorted(data.glob("*.json")):
        try:
            report = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ShapeError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(report, dict) or "figures" not in report:
            unshaped.append(path.name)
            continue
        validate(report, str(path))
        if report["bench"] != path.stem:
            raise ShapeError(f"{path}: 'bench' is {report['bench']!r}, the file is {path.name}")
        reports.append(report)

    def rank(report: dict[str, Any]) -> tuple[int, str]:
        name = report["bench"]
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)

    return sorted(reports, key=rank), unshaped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--readme", type=Path, default=ROOT / "README.md", help="its headline table is rendered"
    )
    parser.add_argument("--no-readme", dest="readme", action="store_const", const=None)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"render: {args.data} does not exist; run `make bench` first", file=sys.stderr)
        return 2
    try:
        reports, unshaped = collect(args.data)
    except ShapeError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    if not reports:
        print(f"render: no bench JSON with figures in {args.data}", file=sys.stderr)
        return 2
    for name in unshaped:
        print(f"render: {args.data / name} has no 'figures': listed, not rendered", file=sys.stderr)
    readme = None
    if args.readme is not None:
        link = os.path.relpath(args.out, args.readme.parent)
        try:
            readme = update_readme(args.readme.read_text(), headline(reports, link))
        except ShapeError as exc:
            print(f"render: {args.readme}: {exc}", file=sys.stderr)
            return 2
    args.out.write_text(render(reports, unshaped))
    print(f"wrote {args.out} ({len(reports)} benchmarks)")
    if readme is not None and args.readme is not None:
        args.readme.write_text(readme)
        print(f"updated the headline table of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
