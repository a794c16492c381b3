"""Benchmark of the sample generator: end-to-end events/s, CPU seconds and peak RSS.

Each size runs the whole ``python -m sample generate --force`` command in a
child process (its wall time from start to exit, its CPU seconds and peak RSS
from the child's own rusage) into a temporary directory:

- ``small`` and ``large`` cover the same 26 weeks (``--scale small``) with 4x
  more events in the second: a flat peak RSS shows that memory does not grow
  with the number of events;
- ``demo`` is what ``make sample`` runs (``--scale demo``: 104 weeks, 20M
  events, 6,000 packages), the honest end-to-end rate.

The machine is shared, so each result comes with its CPU seconds and the
time its threads spent ready to run but waiting for a core (Linux
``/proc/<pid>/task/*/schedstat``, sampled every 0.1 s, so the last 0.1 s of
a thread may be missed), and two
peers are measured in the same run: DuckDB writing the small size's rows to
parquet with its own COPY, and optionally (``--baseline DIR``, a checkout of
an older version, e.g. made with ``git worktree add``) the same sizes run by
that version, interleaved with this one so that load changes hit both alike.

Each size runs three times by default and reports the run with the median
wall time (with every run kept in the JSON), after one untimed warm-up run
of the largest size (its figures are kept in the JSON as ``warmup``).

Usage: ``python bench/bench_sample.py [--quick] [--baseline DIR] [--repeat N]``;
writes data/bench/sample.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import figure, load_average, write

ROOT = Path(__file__).resolve().parent.parent
SIZES = {
    "small": ["--scale", "small", "--events", "1500000"],
    "large": ["--scale", "small", "--events", "6000000"],
    "demo": ["--scale", "demo"],
}
QUICK = {
    "small": ["--scale", "tiny"],
    "large": ["--scale", "tiny", "--events", "1200000"],
    "demo": ["--scale", "tiny", "--weeks", "20", "--events", "600000"],
}
#: The speed target (events per second of wall time, end to end, on 2 cores).
TARGET_EVENTS_PER_S = 2_000_000


def run(code: Path, args: list[str], out: Path) -> dict[str, float]:
    """Run the generator of checkout ``code`` in a child process; measure the whole command."""
    t0 = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "sample", "generate", "--force", "--out", str(out), *args],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        stderr=subprocess.DEVNULL,
    )
    # While it runs: how long its threads were ready to run but waited for a core
    # (the kernel's per-thread run-queue time). On this shared machine that wait,
    # not the code, decides much of the wall time.
    waits: dict[str, float] = {}
    while True:
        for stat in Path(f"/proc/{child.pid}/task").glob("*/schedstat"):
            # A thread (or the process) may end while being read.
            with contextlib.suppress(OSError, IndexError, ValueError):
                waits[stat.parent.name] = int(stat.read_text().split()[1]) / 1e9
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.1)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if child.returncode != 0:
        raise SystemExit(f"sample generate ({code}) failed with status {child.returncode}")
    record = json.loads((out / "_SUCCESS").read_text())
    rows = int(record["rows"]["file_downloads"])
    size = sum(f.stat().st_size for f in (out / "file_downloads").glob("*/*.parquet"))
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "events": rows,
        "days": len(list((out / "file_downloads").iterdir())),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "events_per_s": round(rows / wall),
        "events_per_cpu_s": round(rows / cpu) if cpu else 0,
        "runqueue_wait_s": round(sum(waits.values()), 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "file_downloads_mb": round(size / 1e6, 1),
        "bytes_per_event": round(size / rows, 1) if rows else 0,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def peer(raw: Path) -> dict[str, float]:
    """DuckDB's own parquet writer on the same rows (single file), in this process."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = f"{raw}/file_downloads/*/*.parquet"
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{glob}', hive_partitioning=false)")
    n = con.execute("SELECT count(*) FROM t").fetchone()
    t0, c0 = time.monotonic(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        con.execute(f"COPY t TO '{tmp}/peer.parquet' (FORMAT parquet)")
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    rows = int(n[0]) if n else 0
    return {
        "rows": rows,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rows_per_s": round(rows / wall),
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median wall time (its own numbers, not a mix of runs)."""
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def _figures(results: dict[str, object], *, quick: bool) -> list[dict[str, object]]:
    """The rendered figures: the demo's end-to-end rate, flat memory, speed against DuckDB."""
    this = results["this"]
    assert isinstance(this, dict)
    peer_run = results.get("peer_duckdb_copy_small")
    figures = []
    if "demo" in this:
        demo = this["demo"]
        figures.append(
            figure(
                "events/s end to end, "
                + ("largest quick size" if quick else "demo scale (`make sample`)"),
                demo["events_per_s"],
                "events/s",
                "",
                goal=(">=", TARGET_EVENTS_PER_S),
                detail=f"{demo['events']:,} events in {demo['wall_s']} s wall, "
                f"{demo['cpu_s']} CPU-s, threads waited {demo['runqueue_wait_s']} s for a "
                f"core, peak RSS {demo['peak_rss_mb']} MB",
            )
        )
    if "rss_ratio_large_vs_small" in this:
        small, large = this["small"], this["large"]
        figures.append(
            figure(
                "peak RSS at 4x the events over the same weeks",
                this["rss_ratio_large_vs_small"],
                "x",
                "the same command at a quarter of the events",
                goal=("<=", 1.25),
                detail=f"{large['peak_rss_mb']} MB vs {small['peak_rss_mb']} MB",
            )
        )
    if isinstance(peer_run, dict) and "small" in this:
        small = this["small"]
        figures.append(
            figure(
                "writing the small size's rows, generator vs DuckDB COPY",
                round(small["events_per_s"] / peer_run["rows_per_s"], 2),
                "x",
                "DuckDB `COPY ... (FORMAT parquet)` of the same rows, in memory",
                detail=f"{small['events_per_s']:,} events/s (generated from scratch) vs "
                f"{peer_run['rows_per_s']:,} rows/s (copied)",
            )
        )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument(
        "--baseline", type=Path, help="checkout of another version to run interleaved (A/B)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per size and version; each size reports its median run (default 3: "
        "single runs on a shared machine vary too much to compare)",
    )
    parser.add_argument("--only", nargs="+", choices=sorted(SIZES), help="run only these sizes")
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the untimed first run of the largest size",
    )
    args = parser.parse_args()
    load_before = load_average()
    sizes = QUICK if args.quick else SIZES
    if args.only:
        sizes = {name: size for name, size in sizes.items() if name in args.only}
    versions = {"this": ROOT}
    if args.baseline is not None:
        versions["baseline"] = args.baseline.resolve()
    results: dict[str, object] = {
        "cpus": os.cpu_count(),
        "load_avg_before": os.getloadavg(),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "versions": {name: str(path) for name, path in versions.items()},
    }
    runs: dict[str, dict[str, list[dict[str, float]]]] = {v: {} for v in versions}
    with tempfile.TemporaryDirectory(prefix="bench-sample-") as tmp:
        if args.warmup and sizes:
            # This VM backs its memory lazily: the first touch of a page costs the
            # host a fault, many times the cost of reusing a page. One run of the largest
            # size first, kept apart in the JSON, so that the measured runs compare
            # code, not which pages the kernel hands out.
            name, size_args = list(sizes.items())[-1]
            warm = run(ROOT, size_args, Path(tmp) / "warmup")
            results["warmup"] = {"size": name, **warm}
            print(f"sample warmup {name}: {json.dumps(warm)}", flush=True)
            shutil.rmtree(Path(tmp) / "warmup")
        for name, size_args in sizes.items():
            for i in range(args.repeat):
                # Alternate which version goes first: load changes hit both alike.
                order = list(versions) if i % 2 == 0 else list(reversed(versions))
                for version in order:
                    out = Path(tmp) / f"{version}-{name}"
                    result = run(versions[version], size_args, out)
                    runs[version].setdefault(name, []).append(result)
                    print(f"sample {version} {name}: {json.dumps(result)}", flush=True)
                    if name == "small" and version == "this" and i == 0:
                        out.rename(Path(tmp) / "peer-input")  # kept for the peer
                    else:
                        shutil.rmtree(out)
        if (Path(tmp) / "peer-input").exists():
            # Last: the peer's rows in this process would count in the peak RSS of later
            # children (Linux carries a forking parent's peak into the child's).
            # Only the rows of the small size, so the peer stays quick.
            results["peer_duckdb_copy_small"] = peer(Path(tmp) / "peer-input")
            print(f"sample peer: {json.dumps(results['peer_duckdb_copy_small'])}", flush=True)
    for version, by_size in runs.items():
        summary: dict[str, object] = {}
        for name, size_runs in by_size.items():
            summary[name] = {"args": sizes[name], **_median(size_runs), "runs": size_runs}
        small, large = summary.get("small"), summary.get("large")
        if isinstance(small, dict) and isinstance(large, dict):
            summary["rss_ratio_large_vs_small"] = round(
                large["peak_rss_mb"] / small["peak_rss_mb"], 2
            )
        results[version] = summary
    if "baseline" in runs:
        results["speedup_vs_baseline"] = {
            name: {
                "wall": round(
                    statistics.median(r["wall_s"] for r in runs["baseline"][name])
                    / statistics.median(r["wall_s"] for r in runs["this"][name]),
                    2,
                ),
                "cpu": round(
                    statistics.median(r["cpu_s"] for r in runs["baseline"][name])
                    / statistics.median(r["cpu_s"] for r in runs["this"][name]),
                    2,
                ),
            }
            for name in sizes
        }
    results["load_avg_after"] = os.getloadavg()
    this = results["this"]
    assert isinstance(this, dict)
    for name in sizes:
        r = this[name]
        print(
            f"sample {name}: {r['events']:,} events in {r['wall_s']} s wall = "
            f"{r['events_per_s']:,} events/s end to end ({r['events_per_cpu_s']:,} per CPU-second, "
            f"{r['cpu_s']} CPU-s, threads waited {r['runqueue_wait_s']} s for a core), "
            f"peak RSS {r['peak_rss_mb']} MB"
        )
    if "rss_ratio_large_vs_small" in this:
        print(f"sample peak RSS large/small (4x the events): {this['rss_ratio_large_vs_small']}")
    if "speedup_vs_baseline" in results:
        print(f"sample speedup vs baseline (wall, cpu): {results['speedup_vs_baseline']}")
    write(
        ROOT / "data" / "bench" / "sample.json",
        bench="sample",
        title="Sample generator",
        method=(
            "The whole `python -m sample generate --force` command in a child process: wall "
            "time from start to exit, CPU seconds and peak RSS from its rusage, and the "
            "seconds its threads waited for a core. Sizes: 26 weeks at 1.5M events and at 4x "
            "the events (memory must stay flat: at most 1.25x), and the demo scale that "
            "`make sample` builds. Each size runs "
            f"{args.repeat} time(s)"
            + (" after one untimed warm-up of the largest" if args.warmup else "")
            + "; the run with the median wall time is reported. The peer is DuckDB's own "
            "`COPY` of the small size's rows to one parquet file."
            + (" Quick sizes (`--quick`): a smoke run, not the demo." if args.quick else "")
        ),
        figures=_figures(results, quick=args.quick),
        load_before=load_before,
        results=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
