"""Scale benchmark: the exported file at 1/100, 1/30, 1/10 and 1/3 of PyPI, and at full scale.

For each scale, bench/scale_sim.py writes the marts of that fraction of PyPI
(real popularity, 104 weeks) into a DuckDB warehouse; the real exporter
(``python -m exports export``, a child process) turns it into the SQLite
file. Measured per scale: rows and bytes per row of every table (SQLite's
``dbstat``), file size, export wall and CPU seconds (the child's user +
system time) and peak RSS (``os.wait4``). An export shorter than
``REPEAT_UNDER_S`` runs three times: the run with the median wall time is
reported, with the highest peak RSS of the three (a few seconds of a shared
machine's load would otherwise decide the figure). On the 1/10 file (``--api-scale``) the
real API (``python -m serve``, response cache off, one keep-alive
connection) answers a 52-week series, a compare of 5 packages and a Python
version breakdown: first cold (the file's pages evicted from the page cache
with ``posix_fadvise(DONTNEED)`` before the server starts, each request a
package not read before), then warm (the same requests again).
Growth with scale is fitted as ``y = a * fraction^b`` (least squares in
log-log) over the measured scales and extrapolated to full PyPI: those
figures are marked ``extrapolated``. The peer is the goal itself (the
issue's targets at full scale), stated next to every figure.

Usage: .venv/bin/python bench/scale_bench.py [--scales 100,30,10,3] [--api-requests 200]
[--api-scale 10] [--breakdown-min-downloads N] (default: the BigQuery default threshold, the
design the full-scale file is built with). Each run writes its raw results to
data/bench/scale/results_t<N>.json, then data/bench/scale.json (the shape
bench/render.py renders) from every raw results file there
(bench/scale_report.py). ``--render-only [--from FILE ...]`` rebuilds
data/bench/scale.json from raw results without measuring.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from record import cpu_model  # noqa: E402
from scale_report import build, production_threshold  # noqa: E402

OUT = ROOT / "data" / "bench"
WORK = OUT / "scale"
PY = sys.executable
GOALS = {
    "file_bytes_full_scale": 15e9,
    "export_wall_s_full_scale": 30 * 60,
    "peak_rss_bytes_every_scale": 150e6,
    "api_p99_ms_warm_1_10": 25,
    "api_p99_ms_cold_1_10": 100,
    "export_rows_per_s": 1e6,
}
#: Exports faster than this run three times (median wall, highest peak RSS).
REPEAT_UNDER_S = 30.0
EXPORT_REPEATS = 3


def sim_code_hash() -> str:
    """Hash of the simulator and the mart contracts: a cached warehouse is reused only if equal."""
    h = hashlib.sha256((ROOT / "bench" / "scale_sim.py").read_bytes())
    h.update((ROOT / "dbt" / "models" / "marts" / "_marts__models.yml").read_bytes())
    return h.hexdigest()[:16]


def dbt_target(work: Path) -> Path:
    """A dbt target with the mart contracts (``dbt parse``) and a clean run_results.json."""
    target = work / "target"
    if not (target / "manifest.json").exists():
        subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "dbt"),
                "parse",
                "--project-dir",
                "dbt",
                "--profiles-dir",
                "profiles",
                "--target-path",
                str(target),
                "--quiet",
            ],
            cwd=ROOT,
            check=True,
            env={
                **os.environ,
                "DBT_PROFILES_DIR": "profiles",
                "PYPI_TRENDS_WAREHOUSE": str(work / "parse.duckdb"),
            },
        )
    manifest = json.loads((target / "manifest.json").read_text())
    results = {
        "metadata": {"invocation_id": manifest["metadata"]["invocation_id"]},
        "args": {"target": "scale-sim"},
        "results": [],
    }
    (target / "run_results.json").write_text(json.dumps(results))
    return target


def simulate(scale: int, work: Path, target: Path, min_downloads: int) -> dict[str, Any]:
    """The warehouse of one scale (reused when the simulator has not changed)."""
    path = work / (f"s{scale}_t{min_downloads}.duckdb" if min_downloads else f"s{scale}.duckdb")
    stamp = path.with_suffix(".json")
    code = sim_code_hash()
    if path.exists() and stamp.exists():
        cached = json.loads(stamp.read_text())
        if cached.get("code") == code:
            return dict(cached["result"], warehouse=str(path), reused=True)
    # In a child: a forked process starts with its parent's peak RSS as its own,
    # so the exporter's children must be forked from a small process.
    subprocess.run(
        [
            PY,
            str(ROOT / "bench" / "scale_sim.py"),
            "--scale",
            str(scale),
            "--out",
            str(path),
            "--target-dir",
            str(target),
            "--json",
            str(stamp),
            "--breakdown-min-downloads",
            str(min_downloads),
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({"code": code, "result": result}))
    return dict(result, warehouse=str(path), reused=False)


def export_median(warehouse: Path, target: Path, db: Path) -> dict[str, Any]:
    """:func:`export`, three times when it is short: the median-wall run, the highest peak RSS.

    Every run's wall time is kept (``walls_s``) so the spread is visible.
    """
    runs = [export(warehouse, target, db)]
    if runs[0]["wall_s"] < REPEAT_UNDER_S:
        runs += [export(warehouse, target, db) for _ in range(EXPORT_REPEATS - 1)]
    median = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {
        **median,
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
        "walls_s": [r["wall_s"] for r in runs],
    }


def export(warehouse: Path, target: Path, db: Path) -> dict[str, Any]:
    """Run the real exporter in a child; return wall, CPU, peak RSS and its closing event."""
    if db.parent.exists():
        shutil.rmtree(db.parent)
    db.parent.mkdir(parents=True)
    subprocess.run(["sync"], check=False)
    cmd = [
        PY,
        "-m",
        "exports",
        "export",
        "--warehouse",
        str(warehouse),
        "--target-dir",
        str(target),
        "--db",
        str(db),
        "--progress",
        "log",
        "--keep",
        "1",
        # The simulator writes marts without dbt, so no dbt run vouches for them.
        "--force",
    ]
    load_before = os.getloadavg()
    started = time.perf_counter()
    log = (db.parent / "export.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    log.close()
    text = (db.parent / "export.log").read_text()
    if status != 0:
        raise SystemExit(f"export failed ({status}):\n{text[-3000:]}")
    tables = [_logfmt(line) for line in text.splitlines() if "event=table_written" in line]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "paths": {t["table"]: t["path"] for t in tables},
    }


def _logfmt(line: str) -> dict[str, str]:
    out = {}
    for part in line.split():
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out


def table_bytes(db: Path) -> dict[str, dict[str, float]]:
    """Rows, bytes (pages of the table and its indexes) and bytes per row of every table."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM _tables ORDER BY 1")]
        sizes = dict(
            con.execute("SELECT name, sum(pgsize) FROM dbstat WHERE aggregate = 1 GROUP BY name")
        )
        index_of = dict(con.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'"))
        out: dict[str, dict[str, float]] = {}
        for table in tables:
            row = con.execute(
                "SELECT row_count FROM _tables WHERE table_name = ?", (table,)
            ).fetchone()
            rows = int(row[0]) if row else 0
            size = sizes.get(table, 0) + sum(
                v for k, v in sizes.items() if index_of.get(k) == table
            )
            out[table] = {
                "rows": rows,
                "bytes": int(size),
                "bytes_per_row": round(size / rows, 1) if rows else 0.0,
            }
        return out
    finally:
        con.close()


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (no root needed: POSIX_FADV_DONTNEED)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_latency(db: Path, requests: int) -> dict[str, Any]:
    """p50/p99 of three API calls on ``db``: cold (evicted, fresh server), then warm."""
    release = db.resolve()
    con = sqlite3.connect(f"file:{release}?mode=ro", uri=True)
    last = con.execute("SELECT value FROM _meta WHERE key = 'data_through'").fetchone()[0]
    names = [
        r[0]
        for r in con.execute(
            "SELECT package_name FROM packages WHERE downloads_last_4_weeks > 0 ORDER BY rank"
        )
    ]
    con.close()
    end = dt.date.fromisoformat(last)
    start = end - dt.timedelta(weeks=51)
    rnd = random.Random(14)
    # Popularity-weighted picks would hit the same few pages; uniform picks over
    # packages with data reach every part of the file.
    picks = rnd.sample(names, min(len(names), requests * 7))
    kinds = {
        "series_52w": lambda i: f"/api/packages/{picks[i]}/downloads?start={start}&end={end}",
        "compare_5": lambda i: (
            "/api/compare?packages="
            + ",".join(picks[requests + 5 * i : requests + 5 * i + 5])
            + f"&start={start}&end={end}"
        ),
        "breakdown_python_52w": lambda i: (
            f"/api/packages/{picks[6 * requests + i]}/python_versions?start={start}&end={end}"
        ),
    }
    evict(release)
    port = free_port()
    env = {
        **os.environ,
        "PYPI_TRENDS_DB": str(db),
        "PYPI_TRENDS_PORT": str(port),
        "PYPI_TRENDS_LOG_FORMAT": "json",
        "PYPI_TRENDS_RATE_LIMIT": "100000000/second",
        "PYPI_TRENDS_ALLOWED_HOSTS": "*",
        "PYPI_TRENDS_LOG_LEVEL": "WARNING",
    }
    log = (db.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [PY, "-m", "serve", "--response-cache", "off"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(port)
        result: dict[str, Any] = {}
        for label, lat in (("cold", None), ("warm", None)):
            del lat
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            per_kind: dict[str, Any] = {}
            for kind, make in kinds.items():
                times = []
                for i in range(requests):
                    t0 = time.perf_counter()
                    conn.request("GET", make(i), headers={"Accept": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    times.append((time.perf_counter() - t0) * 1000)
                    if resp.status != 200:
                        raise SystemExit(f"{make(i)} -> {resp.status}")
                per_kind[kind] = _summary(times)
            conn.close()
            result[label] = per_kind
        return result
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status < 300:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("serve did not start")


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1)], 2)

    return {
        "n": len(ms),
        "p50_ms": q(0.5),
        "p99_ms": q(0.99),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def fit(points: list[tuple[float, float]]) -> dict[str, float]:
    """``y = a * x^b`` by least squares on logs; returns a, b and y at x = 1 (full scale)."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(max(y, 1e-12)) for _, y in points]
    n = len(points)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 1.0
    a = math.exp(my - b * mx)
    return {"a": a, "exponent": round(b, 3), "full_scale": a}


def _cost() -> dict[str, Any] | None:
    """The BigQuery cost estimate of a run (exports/bigquery_cost.py)."""
    try:
        from exports.bigquery_cost import cost_report
    except ImportError:
        return None
    return cost_report()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="100,30,10,3", help="denominators: 1/N of full PyPI")
    parser.add_argument("--api-requests", type=int, default=200, help="requests per API call kind")
    parser.add_argument(
        "--api-scale", type=int, default=10, help="measure the API on the 1/N file (default 10)"
    )
    parser.add_argument(
        "--breakdown-min-downloads",
        type=int,
        default=None,
        help="package-weeks with fewer downloads get no dimension rows (dbt var; default: "
        "the BigQuery default, the design the file is built with at full scale)",
    )
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument(
        "--json", type=Path, default=OUT / "scale.json", help="the report bench/render.py renders"
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: rebuild --json from raw results files (--from)",
    )
    parser.add_argument(
        "--from",
        dest="sources",
        type=Path,
        nargs="+",
        help="raw results files (default: <work>/results_t*.json)",
    )
    args = parser.parse_args()
    if args.render_only:
        return write_report(args.sources or sorted(args.work.glob("results_t*.json")), args.json)
    if args.breakdown_min_downloads is None:
        args.breakdown_min_downloads = production_threshold()
    scales = sorted({int(s) for s in args.scales.split(",")}, reverse=True)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    target = dbt_target(work)
    runs: list[dict[str, Any]] = []
    for scale in scales:
        print(f"== 1/{scale}: simulate ...", flush=True)
        sim = simulate(scale, work, target, args.breakdown_min_downloads)
        print(
            f"   {sum(sim['rows'].values()):,} rows in {sim['simulate_s']} s; export ...",
            flush=True,
        )
        db = work / f"out{scale}_t{args.breakdown_min_downloads}" / "pypi_trends.sqlite"
        exp = export_median(Path(sim["warehouse"]), target, db)
        tables = table_bytes(db.resolve())
        rows = sum(t["rows"] for t in tables.values())
        size = db.resolve().stat().st_size
        run = {
            "scale": f"1/{scale}",
            "fraction": 1 / scale,
            "simulation": {k: v for k, v in sim.items() if k not in ("rows",)},
            "tables": tables,
            "rows": rows,
            "file_bytes": size,
            "bytes_per_row": round(size / rows, 1),
            "export": {
                **exp,
                "rows_per_s": round(rows / exp["wall_s"]),
                "rows_per_cpu_s": round(rows / exp["cpu_s"]),
            },
        }
        print(
            f"   {rows:,} rows, {size / 1e9:.2f} GB ({run['bytes_per_row']} B/row), export "
            f"{exp['wall_s']} s wall ({run['export']['rows_per_s']:,} rows/s), {exp['cpu_s']} "
            f"CPU-s, peak RSS {exp['peak_rss_bytes'] / 1e6:.0f} MB (walls {exp['walls_s']} s)",
            flush=True,
        )
        runs.append(run)
    api: dict[str, Any] | None = None
    if args.api_requests > 0:
        # The file for latency is 1/10; the largest measured when it is not.
        largest = next((r for r in runs if r["scale"] == f"1/{args.api_scale}"), runs[-1])
        api_scale = int(largest["scale"].removeprefix("1/"))
        print(f"== API on the {largest['scale']} file ...", flush=True)
        api = {
            "scale": largest["scale"],
            "method": "python -m serve --response-cache off, 1 keep-alive connection, sequential;"
            " cold: the file evicted from the page cache (posix_fadvise DONTNEED) before the"
            " server starts, every request a package not read before; warm: the same requests"
            " again",
            **api_latency(
                work / f"out{api_scale}_t{args.breakdown_min_downloads}" / "pypi_trends.sqlite",
                args.api_requests,
            ),
        }
    extrapolated: dict[str, Any] = {}
    if len(runs) >= 2:

        def pts(get: Any) -> list[tuple[float, float]]:
            return [(r["fraction"], float(get(r))) for r in runs]

        metrics = {
            "rows": lambda r: r["rows"],
            "file_bytes": lambda r: r["file_bytes"],
            "export_wall_s": lambda r: r["export"]["wall_s"],
            "export_cpu_s": lambda r: r["export"]["cpu_s"],
            "peak_rss_bytes": lambda r: r["export"]["peak_rss_bytes"],
        }
        for table in runs[-1]["tables"]:
            metrics[f"rows.{table}"] = lambda r, t=table: max(r["tables"][t]["rows"], 1)
            metrics[f"bytes.{table}"] = lambda r, t=table: max(r["tables"][t]["bytes"], 1)
        for name, get in metrics.items():
            f = fit(pts(get))
            extrapolated[name] = {"full_scale": round(f["full_scale"]), "exponent": f["exponent"]}
    result = {
        "benchmark": "scale",
        "method": __doc__,
        "peer": "the goals at full PyPI scale (no other tool exports this file)",
        "goals": GOALS,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "cpu_model": cpu_model(),
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "breakdown_min_downloads": args.breakdown_min_downloads,
        "command": " ".join(["python", "bench/scale_bench.py", *sys.argv[1:]]),
        "runs": runs,
        "api": api,
        "extrapolated_full_scale": {
            "note": "EXTRAPOLATED, not measured: y = a * fraction^b fitted over the measured"
            " scales, evaluated at fraction 1 (full PyPI, ~700,000 projects, 104 weeks)",
            **extrapolated,
        },
        "bigquery_cost": _cost(),
    }
    raw_path = work / f"results_t{args.breakdown_min_downloads}.json"
    raw_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {raw_path}")
    if extrapolated:
        e = extrapolated
        print(
            f"full scale (EXTRAPOLATED): {e['rows']['full_scale']:,} rows, "
            f"{e['file_bytes']['full_scale'] / 1e9:.1f} GB (goal <= 15), export "
            f"{e['export_wall_s']['full_scale'] / 60:.1f} min wall (goal <= 30), peak RSS "
            f"{e['peak_rss_bytes']['full_scale'] / 1e6:.0f} MB (goal <= 150)"
        )
    if api:
        for label in ("cold", "warm"):
            print(label, json.dumps(api[label]))
    if result["bigquery_cost"]:
        print(json.dumps(result["bigquery_cost"]["summary"], indent=2))
    return write_report(sorted(work.glob("results_t*.json")), args.json)


def write_report(sources: list[Path], out: Path) -> int:
    """Write ``out`` in bench/render.py's shape from the raw results files ``sources``."""
    if not sources:
        print("scale_bench: no raw results (run `make bench-scale` first)", file=sys.stderr)
        return 2
    raws = [json.loads(path.read_text()) for path in sources]
    thresholds = [r.get("breakdown_min_downloads", 0) for r in raws]
    if len(set(thresholds)) != len(thresholds):
        print(f"scale_bench: two results files for one threshold: {sources}", file=sys.stderr)
        return 2
    report = build(raws)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out} from {', '.join(str(p) for p in sources)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
