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
          "detail": "3,119 vs 932 req/s",       # optional: the numbers behind it
          "headline": true               # optional: in the README's table (default: has a goal)
        }
      ],
      "tables": [                        # optional: measurements that need rows and columns
        {
          "title": "Per scale",          # sub-heading
          "note": "How to read it.",     # optional paragraph under the heading
          "columns": [                   # a unit formats the column's numbers; a goal
            {"name": "scale"},           # (same form as a figure's) judges each of them
            {"name": "peak RSS", "unit": "MB", "goal": {"op": "<=", "value": 150}}
          ],
          "rows": [                      # one cell per column: a string (verbatim), a
            ["1/100", 145],              # number, null (empty) or {"value": 43.5, "unit": "B"}
            ["1/10", {"value": 165, "unit": "MB"}]   # (its own unit)
          ]
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
goal (or ``headline`` set), each linking to its section: the README's numbers
are never typed. A table cell that misses its column's goal is marked too.

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
ORDER = ["sample", "dbt", "export", "api", "web", "scale"]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


class ShapeError(ValueError):
    """A bench JSON file breaks the documented shape."""


def _validate_goal(goal: Any, at: str) -> None:
    if not isinstance(goal, dict):
        raise ShapeError(f"{at}: 'goal' must be dict, not {goal!r}")
    op = _require(goal, "op", str, f"{at}.goal")
    if op not in OPS:
        raise ShapeError(f"{at}.goal: op must be one of {', '.join(OPS)}, not {op!r}")
    _require(goal, "value", (int, float), f"{at}.goal")


def _validate_table(table: Any, at: str) -> None:
    if not isinstance(table, dict):
        raise ShapeError(f"{at} must be an object")
    _require(table, "title", str, at)
    if "note" in table:
        _require(table, "note", str, at)
    columns = _require(table, "columns", list, at)
    if not columns:
        raise ShapeError(f"{at}: 'columns' is empty")
    for j, col in enumerate(columns):
        where = f"{at}.columns[{j}]"
        if not isinstance(col, dict):
            raise ShapeError(f"{where} must be an object")
        _require(col, "name", str, where)
        if "unit" in col:
            _require(col, "unit", str, where)
        if "goal" in col:
            _validate_goal(col["goal"], where)
    for r, row in enumerate(_require(table, "rows", list, at)):
        where = f"{at}.rows[{r}]"
        if not isinstance(row, list) or len(row) != len(columns):
            raise ShapeError(f"{where} must be a list of {len(columns)} cells (one per column)")
        for c, cell in enumerate(row):
            if isinstance(cell, dict):
                _require(cell, "value", (int, float), f"{where}[{c}]")
                _require(cell, "unit", str, f"{where}[{c}]")
            elif cell is not None and (
                isinstance(cell, bool) or not isinstance(cell, str | int | float)
            ):
                raise ShapeError(
                    f"{where}[{c}] must be a string, a number, null or {{value, unit}}, "
                    f"not {cell!r}"
                )


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ShapeError(f"{where}: missing {key!r}")
    value = obj[key]
    # bool is an int in Python, never a valid number here.
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
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
    if "tables" in report:
        _require(report, "tables", list, where)
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
            _validate_goal(fig["goal"], at)
        if "headline" in fig:
            _require(fig, "headline", bool, at)
    for i, table in enumerate(report.get("tables", [])):
        _validate_table(table, f"{where}: tables[{i}]")


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


def in_headline(fig: dict[str, Any]) -> bool:
    """Whether the figure goes to the summary tables: ``headline``, else whether it has a goal."""
    return bool(fig.get("headline", "goal" in fig))


def _goal_cell(value: float, unit: str, goal: dict[str, Any] | None) -> str:
    text = number(value, unit)
    if goal is None or OPS[goal["op"]](value, goal["value"]):
        return text
    return f"**{text}** (not met)"


def table_lines(table: dict[str, Any]) -> list[str]:
    """The Markdown of one of a report's ``tables``: heading, note, header with goals, rows."""
    columns = table["columns"]
    header = [
        _cell(c["name"])
        + (f" (goal {c['goal']['op']} {number(c['goal']['value'], c.get('unit', ''))})"
           if "goal" in c else "")
        for c in columns
    ]  # fmt: skip
    lines = [f"### {table['title']}", ""]
    if table.get("note"):
        lines += [table["note"].strip(), ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(columns)]
    for row in table["rows"]:
        cells = []
        for col, cell in zip(columns, row, strict=True):
            if cell is None:
                cells.append("")
            elif isinstance(cell, str):
                cells.append(_cell(cell))
            elif isinstance(cell, dict):
                cells.append(_goal_cell(cell["value"], cell["unit"], col.get("goal")))
            else:
                cells.append(_goal_cell(cell, col.get("unit", ""), col.get("goal")))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


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
    for table in report.get("tables", []):
        lines += table_lines(table)
    return lines


def render(reports: list[dict[str, Any]], unshaped: list[str]) -> str:
    """The whole page: a summary of the figures with a goal or ``headline``, then the sections."""
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/render.py from data/bench/*.json: do not edit by hand. "
        "`make bench` measures and renders, `make bench-docs` renders again. -->",
        "",
        "Every figure comes from the last run of its benchmark (`make bench`; the scale one by "
        "`make bench-scale`) on the machine named with it, a "
        "shared one: the cores and the load are given because they move the absolute "
        "numbers. A ratio compares two measurements of the same run, so load hits both.",
        "",
        "| benchmark | figure | value | goal | | load / cores |",
        "|---|---|---:|---|---|---|",
    ]
    for report in reports:
        for fig in report["figures"]:
            if "goal" in fig or fig.get("headline"):
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
    """The README's table: the headline figures (:func:`in_headline`), linked to ``page``."""
    lines = ["| measured | value | goal | | load / cores |", "|---|---:|---|---|---|"]
    for report in reports:
        for fig in report["figures"]:
            if in_headline(fig):
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
