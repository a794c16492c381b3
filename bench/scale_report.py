"""Turn the raw results of bench/scale_bench.py into the JSON shape bench/render.py renders.

Each ``make bench-scale`` invocation writes one raw results file (one
breakdown threshold, one or more scales); this module merges them into
``data/bench/scale.json``: figures with the issue's goals, and tables per
scale, per table, of the fits, of the extrapolation to full PyPI (marked
extrapolated), of the API latency and of the BigQuery bill. Nothing is
measured here, so it can run again on old results
(``bench/scale_bench.py --render-only``).

Extrapolation: the configuration measured at two or more scales is fitted
(``y = a * fraction^b``, its own exponents); a configuration measured at one
scale only is carried to full scale with the exponents of that fit.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from record import figure

ROOT = Path(__file__).resolve().parents[1]
BREAKDOWN_MACRO = ROOT / "dbt" / "macros" / "breakdown.sql"
NO_PEER = ""
GB, MB, TB, MIN = 1e9, 1e6, 1e12, 60.0

#: Metrics fitted and extrapolated: key in a run, label, divisor, unit, goal key.
METRICS: tuple[tuple[str, str, float, str, str | None], ...] = (
    ("rows", "rows", 1.0, "", None),
    ("file_bytes", "file size", GB, "GB", "file_bytes_full_scale"),
    ("export_wall_s", "export wall", MIN, "min", "export_wall_s_full_scale"),
    ("export_cpu_s", "export CPU", MIN, "min", None),
    ("peak_rss_bytes", "peak RSS", MB, "MB", "peak_rss_bytes_every_scale"),
)


def production_threshold(macro: Path = BREAKDOWN_MACRO) -> int:
    """The BigQuery default of ``breakdown_min_downloads``, read from its dbt macro."""
    found = re.search(
        r"bigquery__breakdown_min_downloads\(\)\s*%}\s*{{\s*return\((\d+)\)", macro.read_text()
    )
    if found is None:
        raise SystemExit(f"{macro}: no bigquery__breakdown_min_downloads returning a number")
    return int(found.group(1))


def metric(run: dict[str, Any], key: str) -> float:
    """One run's value of a :data:`METRICS` key."""
    if key in ("rows", "file_bytes"):
        return float(run[key])
    return float(run["export"][key.removeprefix("export_")])


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """``(a, b)`` of ``y = a * x^b`` by least squares on logs."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(max(y, 1e-12)) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 1.0
    return math.exp(my - b * mx), b


def _goal(goals: dict[str, float], key: str | None, div: float) -> dict[str, Any] | None:
    if key is None or key not in goals:
        return None
    return {"op": "<=", "value": goals[key] / div}


def _col(name: str, unit: str = "", goal: dict[str, Any] | None = None) -> dict[str, Any]:
    """A table column; the unit and the goal only when there is one."""
    col: dict[str, Any] = {"name": name}
    if unit:
        col["unit"] = unit
    if goal is not None:
        col["goal"] = goal
    return col


def _threshold(raw: dict[str, Any]) -> int:
    return int(raw.get("breakdown_min_downloads", 0))


def _label(t: int) -> str:
    return f"{t:,}"


def extrapolate(raws: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The fit (of the configuration with the most scales) and every configuration at full scale.

    Returns:
        ``(base, full)``: base = {threshold, scales, exponents {key: b}}; full =
        {threshold: {key: value at fraction 1, "basis": text}}.
    """
    base_raw = max(raws, key=lambda r: (len(r["runs"]), -_threshold(r)))
    runs = base_raw["runs"]
    if len(runs) < 2:
        raise SystemExit("scale report: no configuration was measured at two or more scales")
    exponents: dict[str, float] = {}
    table_exponents: dict[str, float] = {}
    full: dict[int, dict[str, Any]] = {}
    base_full: dict[str, Any] = {
        "basis": "fit over " + ", ".join(r["scale"] for r in runs),
    }
    for key, *_ in METRICS:
        a, b = fit([(r["fraction"], metric(r, key)) for r in runs])
        exponents[key] = b
        base_full[key] = a
    for table in runs[-1]["tables"]:
        a, b = fit([(r["fraction"], max(r["tables"][table]["rows"], 1)) for r in runs])
        table_exponents[table] = b
        base_full[f"rows.{table}"] = a
    full[_threshold(base_raw)] = base_full
    for raw in raws:
        t = _threshold(raw)
        if t in full:
            continue
        run = raw["runs"][-1]
        scale_up = 1 / run["fraction"]
        full[t] = {
            "basis": f"{run['scale']} measured x {scale_up:g}^b, b of the fit at threshold "
            f"{_label(_threshold(base_raw))}",
            **{key: metric(run, key) * scale_up ** exponents[key] for key, *_ in METRICS},
        }
    base = {
        "threshold": _threshold(base_raw),
        "scales": [r["scale"] for r in runs],
        "exponents": exponents,
        "table_exponents": table_exponents,
    }
    return base, full


def build(raws: list[dict[str, Any]], macro: Path = BREAKDOWN_MACRO) -> dict[str, Any]:
    """The render-shape report (bench/render.py) of the raw results ``raws``."""
    raws = sorted(raws, key=_threshold)
    goals: dict[str, float] = raws[0]["goals"]
    prod = production_threshold(macro)
    by_t = {_threshold(r): r for r in raws}
    base, full = extrapolate(raws)
    # The headline figures are for the threshold BigQuery builds with; until it
    # is measured they show the fitted one and say so.
    shown = prod if prod in by_t else base["threshold"]
    shown_text = f"threshold {_label(shown)}" + (
        " (BigQuery default)"
        if shown == prod
        else f" (BigQuery's {_label(prod)} not measured: bench/scale_bench.py --scales 30 "
        f"--breakdown-min-downloads {prod})"
    )
    api_raw = next((r for r in raws if r.get("api")), None)
    cost = next((r["bigquery_cost"] for r in reversed(raws) if r.get("bigquery_cost")), None)
    all_runs = [(t, run) for t, r in by_t.items() for run in r["runs"]]
    worst_rss = max(all_runs, key=lambda tr: tr[1]["export"]["peak_rss_bytes"])
    prod_full = full[shown]
    prod_run = by_t[shown]["runs"][-1]

    figures = [
        figure(
            f"file size at full PyPI, EXTRAPOLATED, breakdown {shown_text}",
            round(prod_full["file_bytes"] / GB, 3),
            "GB",
            NO_PEER,
            goal=("<=", goals["file_bytes_full_scale"] / GB),
            detail=f"{prod_full['basis']}; {prod_run['scale']} file "
            f"{prod_run['file_bytes'] / GB:.3g} GB measured",
        ),
        figure(
            f"export wall at full PyPI, EXTRAPOLATED, threshold {_label(shown)}",
            round(prod_full["export_wall_s"] / MIN, 3),
            "min",
            NO_PEER,
            goal=("<=", goals["export_wall_s_full_scale"] / MIN),
            headline=False,
            detail=f"{prod_full['basis']}; {prod_run['scale']}: "
            f"{prod_run['export']['wall_s']} s wall, {prod_run['export']['cpu_s']} CPU-s, load "
            f"{prod_run['export']['load_avg_before'][0]} before",
        ),
        figure(
            f"whole-file export rate, slowest measured scale, threshold {_label(shown)}",
            min(r["export"]["rows_per_s"] for r in by_t[shown]["runs"]),
            "rows/s",
            NO_PEER,
            goal=(">=", 1_000_000),
            detail=", ".join(
                f"{r['scale']} {r['export']['rows_per_s']:,}" for r in by_t[shown]["runs"]
            )
            + " rows/s (wall, `python -m exports export` end to end)",
            headline=True,
        ),
        figure(
            "export peak RSS, highest of every measured scale and threshold",
            round(worst_rss[1]["export"]["peak_rss_bytes"] / MB, 1),
            "MB",
            NO_PEER,
            goal=("<=", goals["peak_rss_bytes_every_scale"] / MB),
            detail=f"{worst_rss[1]['scale']}, threshold {_label(worst_rss[0])}; at threshold "
            f"{_label(shown)}: "
            + ", ".join(
                f"{r['scale']} {r['export']['peak_rss_bytes'] / MB:.0f} MB"
                for r in by_t[shown]["runs"]
            ),
            headline=True,
        ),
    ]
    if api_raw is not None:
        api = api_raw["api"]
        for label, key in (("warm", "api_p99_ms_warm_1_10"), ("cold", "api_p99_ms_cold_1_10")):
            kind, worst = max(api[label].items(), key=lambda kv: kv[1]["p99_ms"])
            figures.append(
                figure(
                    f"API p99 on the {api['scale']} file, {label}, slowest call",
                    worst["p99_ms"],
                    "ms",
                    NO_PEER,
                    goal=("<=", goals[key]),
                    detail=f"{kind}, {worst['n']} requests, threshold "
                    f"{_label(_threshold(api_raw))}",
                    headline=False,
                )
            )
    if cost is not None:
        limit = cost["maximum_bytes_billed"]
        s = cost["summary"]
        for name, run_key in (
            ("BigQuery weekly run, rollup query bytes (estimate)", "weekly_run"),
            ("BigQuery weekly run with the lookback week rescanned, rollup bytes", "weekly_run_"
             "with_late_rows"),
        ):  # fmt: skip
            figures.append(
                figure(
                    name,
                    round(s[run_key]["rollup_query_bytes"] / TB, 2),
                    "TB",
                    NO_PEER,
                    goal=("<=", limit / TB),
                    detail="goal: maximum_bytes_billed; whole run "
                    f"{s[run_key]['run_bytes'] / TB:.3g} TB, {s[run_key]['run_dollars']} USD",
                    headline=run_key == "weekly_run",
                )
            )
        figures.append(
            figure(
                "BigQuery bill of a weekly run (estimate)",
                s["weekly_run"]["run_dollars"],
                "USD",
                NO_PEER,
                detail="with the lookback week rescanned "
                f"{s['weekly_run_with_late_rows']['run_dollars']} USD; first build "
                f"{s['first_build']['run_dollars']} USD in "
                f"{s['first_build']['windows_under_limit']} windows under the cap",
                headline=True,
            )
        )

    tables = [
        _measured_table(by_t, goals),
        _per_table_table(by_t[base["threshold"]], base, full[base["threshold"]]),
    ]
    if len(by_t) > 1:
        tables.append(_thresholds_table(by_t))
    tables += [_fit_table(by_t[base["threshold"]], base), _full_table(full, goals)]
    if api_raw is not None:
        tables.append(_api_table(api_raw, goals))
    if cost is not None:
        tables += _cost_tables(cost)

    dates = sorted(r["date"] for r in raws)
    first_load = by_t[base["threshold"]]["runs"][0]["export"]["load_avg_before"]
    machine = raws[-1]["machine"]
    commands = [r.get("command") or _command(r) for r in raws]
    return {
        "bench": "scale",
        "title": "Scale to full PyPI",
        "measured_at": dates[-1],
        "machine": {
            "cpus": machine["cores"],
            "cpu_model": machine.get("cpu_model"),
            "python": machine.get("python"),
            "load_avg_before": first_load,
            "load_avg_after": machine["load_avg_end"],
        },
        "method": _method(raws, base, prod, dates),
        "command": "; ".join(commands),
        "figures": figures,
        "tables": tables,
        "results": {"raw": raws},
    }


def _command(raw: dict[str, Any]) -> str:
    """The command of a raw file written before scale_bench.py recorded its own."""
    scales = ",".join(r["scale"].split("/")[1] for r in raw["runs"])
    cmd = f"python bench/scale_bench.py --scales {scales}"
    if raw.get("api"):
        cmd += f" --api-requests {raw['api']['warm']['series_52w']['n']}"
    else:
        cmd += " --api-requests 0"
    if _threshold(raw):
        cmd += f" --breakdown-min-downloads {_threshold(raw)}"
    return cmd


def _method(raws: list[dict[str, Any]], base: dict[str, Any], prod: int, dates: list[str]) -> str:
    runs = "; ".join(
        f"threshold {_label(_threshold(r))}: {', '.join(x['scale'] for x in r['runs'])}"
        for r in raws
    )
    return (
        "`bench/scale_sim.py` writes the marts of a fraction of PyPI (real popularity, 104 "
        "weeks) into a DuckDB warehouse; the real exporter (`python -m exports export`, a child "
        "process) turns it into the SQLite file. Measured per scale: rows and bytes per row of "
        "every table (SQLite's `dbstat`), file size, export wall and CPU seconds and peak RSS "
        "(the child's rusage; an export under 30 s runs three times, the median wall is given "
        "with the highest peak RSS of the three); on the largest file the real API (`python -m "
        "serve`, response cache off, one keep-alive connection) answers cold (the file evicted "
        "from the page cache, every request a package not read before), then warm. Breakdown "
        "threshold: "
        "package-weeks with fewer downloads get no dimension rows (`breakdown_min_downloads`; "
        f"{_label(prod)} is the BigQuery default). Runs ({dates[0]} to {dates[-1]}): {runs}. "
        "Full PyPI is EXTRAPOLATED, not measured: `y = a * fraction^b` fitted by least squares "
        f"in log-log over threshold {_label(base['threshold'])}'s scales, evaluated at fraction "
        "1; a threshold measured at one scale is carried up with the same exponents. The "
        "BigQuery bill is an estimate from `exports/bigquery_cost.py` (no BigQuery here). The "
        "goals are the issue's targets at full scale; no other tool exports this file, so "
        "there is no peer."
    )


def _load(run: dict[str, Any]) -> str:
    e = run["export"]
    return f"{e['load_avg_before'][0]:.1f} -> {e['load_avg_after'][0]:.1f}"


def _measured_table(by_t: dict[int, dict[str, Any]], goals: dict[str, float]) -> dict[str, Any]:
    rows = [
        [
            _label(t),
            run["scale"],
            run["rows"],
            {"value": run["file_bytes"] / GB, "unit": "GB"},
            run["bytes_per_row"],
            run["export"]["wall_s"],
            run["export"]["cpu_s"],
            run["export"]["rows_per_s"],
            run["export"]["peak_rss_bytes"] / MB,
            _load(run),
        ]
        for t, raw in by_t.items()
        for run in raw["runs"]
    ]
    return {
        "title": "Measured per scale",
        "note": "The exporter's load average (1 min, 2 cores) is given per run: wall times are "
        "inflated by it, CPU seconds are the work.",
        "columns": [
            {"name": "threshold"},
            {"name": "scale"},
            {"name": "rows"},
            {"name": "file"},
            {"name": "bytes/row", "unit": "B"},
            {"name": "export wall", "unit": "s"},
            {"name": "export CPU", "unit": "s"},
            {"name": "rows/s (wall)"},
            _col("peak RSS", "MB", _goal(goals, "peak_rss_bytes_every_scale", MB)),
            {"name": "load before -> after"},
        ],
        "rows": rows,
    }


def _per_table_table(
    raw: dict[str, Any], base: dict[str, Any], full: dict[str, Any]
) -> dict[str, Any]:
    runs = raw["runs"]
    tables = list(runs[-1]["tables"])
    columns: list[dict[str, Any]] = [{"name": "table"}]
    for run in runs:
        columns += [{"name": f"rows {run['scale']}"}, {"name": f"B/row {run['scale']}"}]
    columns += [{"name": "rows, full PyPI (EXTRAPOLATED)"}, {"name": "fitted exponent"}]
    rows = [
        [
            table,
            *[x for run in runs for x in (run["tables"][table]["rows"],
                                          run["tables"][table]["bytes_per_row"])],
            round(full[f"rows.{table}"]),
            {"value": base["table_exponents"][table], "unit": ""},
        ]
        for table in tables
    ]  # fmt: skip
    return {
        "title": f"Rows and bytes per row of each table, threshold {_label(base['threshold'])}",
        "note": "Bytes per row: the table's and its indexes' pages (`dbstat`) over its rows.",
        "columns": columns,
        "rows": rows,
    }


def _thresholds_table(by_t: dict[int, dict[str, Any]]) -> dict[str, Any]:
    common = set.intersection(*({r["scale"] for r in raw["runs"]} for raw in by_t.values()))
    scale = max(common, key=lambda s: int(s.split("/")[1])) if common else None
    if scale is None:
        raise SystemExit("scale report: the thresholds share no scale to compare")
    runs = {t: next(r for r in raw["runs"] if r["scale"] == scale) for t, raw in by_t.items()}
    columns: list[dict[str, Any]] = [{"name": "table"}]
    for t in runs:
        columns += [{"name": f"rows, threshold {_label(t)}"}, {"name": f"B/row, {_label(t)}"}]
    tables = list(next(iter(runs.values()))["tables"])
    rows = [
        [table, *[x for r in runs.values() for x in (r["tables"][table]["rows"],
                                                     r["tables"][table]["bytes_per_row"])]]
        for table in tables
    ]  # fmt: skip
    rows.append(
        ["whole file", *[x for r in runs.values() for x in (r["rows"], r["bytes_per_row"])]]
    )
    return {
        "title": f"Each table at {scale} by breakdown threshold",
        "columns": columns,
        "rows": rows,
    }


def _fit_table(raw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    runs = raw["runs"]
    rows = []
    for key, label, div, unit, _ in METRICS:
        a, b = fit([(r["fraction"], metric(r, key)) for r in runs])
        rows.append(
            [
                label,
                *[{"value": metric(r, key) / div, "unit": unit} for r in runs],
                {"value": round(b, 3), "unit": ""},
                {"value": a / div, "unit": unit},
            ]
        )
    return {
        "title": f"Fits over the measured scales, threshold {_label(base['threshold'])}",
        "note": "`y = a * fraction^b` by least squares on the logs; b = 1 is linear growth. "
        "The last column is the fit at fraction 1: EXTRAPOLATED, not measured.",
        "columns": [
            {"name": "metric"},
            *[{"name": f"measured {r['scale']}"} for r in runs],
            {"name": "exponent b"},
            {"name": "full PyPI (EXTRAPOLATED)"},
        ],
        "rows": rows,
    }


def _full_table(full: dict[int, dict[str, Any]], goals: dict[str, float]) -> dict[str, Any]:
    columns: list[dict[str, Any]] = [{"name": "threshold"}, {"name": "basis"}]
    for _, label, div, unit, goal_key in METRICS:
        columns.append(_col(label, unit, _goal(goals, goal_key, div)))
    rows = [
        [_label(t), f["basis"], *[round(f[key] / div, 3) for key, _, div, _, _ in METRICS]]
        for t, f in sorted(full.items())
    ]
    return {
        "title": "Full PyPI (~700,000 projects, 104 weeks): EXTRAPOLATED, not measured",
        "note": "Every number in this table is extrapolated from the measured scales above.",
        "columns": columns,
        "rows": rows,
    }


def _api_table(raw: dict[str, Any], goals: dict[str, float]) -> dict[str, Any]:
    api = raw["api"]
    rows = [
        [
            kind,
            api["warm"][kind]["n"],
            api["warm"][kind]["p50_ms"],
            api["warm"][kind]["p99_ms"],
            api["cold"][kind]["p50_ms"],
            api["cold"][kind]["p99_ms"],
        ]
        for kind in api["warm"]
    ]
    return {
        "title": f"API latency on the {api['scale']} file, threshold {_label(_threshold(raw))}",
        "note": api["method"] + ".",
        "columns": [
            {"name": "call"},
            {"name": "requests"},
            {"name": "p50 warm", "unit": "ms"},
            _col("p99 warm", "ms", _goal(goals, "api_p99_ms_warm_1_10", 1)),
            {"name": "p50 cold", "unit": "ms"},
            _col("p99 cold", "ms", _goal(goals, "api_p99_ms_cold_1_10", 1)),
        ],
        "rows": rows,
    }


def _cost_tables(cost: dict[str, Any]) -> list[dict[str, Any]]:
    limit = cost["maximum_bytes_billed"]
    columns = [
        [
            c["column"] + (f" (until {c['read_before']})" if c.get("read_before") else ""),
            c["bytes_per_row"],
            round(100 * c["share_weekly"], 1),
            round(100 * c["share_first_build"], 1),
            c["dollars_weekly_run"],
            c["dollars_first_build"],
        ]
        for c in cost["columns"]
    ]
    runs = [
        [
            label,
            s["first_day"],
            s["days"],
            s["rollup_query_bytes"] / TB,
            s["run_bytes"] / TB,
            s["run_dollars"],
            s.get("windows_under_limit"),
        ]
        for label, s in (
            ("weekly run", cost["summary"]["weekly_run"]),
            ("weekly run, lookback week rescanned", cost["summary"]["weekly_run_with_late_rows"]),
            ("first build", cost["summary"]["first_build"]),
        )
    ]
    return [
        {
            "title": "BigQuery bill per column (estimate)",
            "note": cost["method"] + ".",
            "columns": [
                {"name": "column read"},
                {"name": "bytes/row", "unit": "B"},
                {"name": "share of the weekly bill", "unit": "%"},
                {"name": "share of the first build", "unit": "%"},
                {"name": "weekly run", "unit": "USD"},
                {"name": "first build", "unit": "USD"},
            ],
            "rows": columns,
        },
        {
            "title": "BigQuery runs against maximum_bytes_billed (estimate)",
            "note": "The cap applies to each query; the rollup is the largest. The first build "
            "is over it by design: it is backfilled in windows (`--vars start_week/end_week`).",
            "columns": [
                {"name": "run"},
                {"name": "first day"},
                {"name": "days"},
                {"name": "rollup query", "unit": "TB", "goal": {"op": "<=", "value": limit / TB}},
                {"name": "whole run", "unit": "TB"},
                {"name": "bill", "unit": "USD"},
                {"name": "windows under the cap"},
            ],
            "rows": runs,
        },
    ]
