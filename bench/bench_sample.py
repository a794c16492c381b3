"""Benchmark of the sample generator: events/s and peak RSS at two sizes.

Each size runs ``python -m sample generate`` in a child process (so its peak
RSS is the child's ``ru_maxrss``) into a temporary directory. The two sizes
cover the same 26 weeks with 4x more events in the second, so a flat peak RSS
shows that memory does not grow with the number of events. A peer measured
in the same run (DuckDB writing the same rows to parquet with its own COPY)
gives a ratio that is less sensitive to other load on the machine.

Usage: ``python bench/bench_sample.py [--quick]``; writes data/bench/sample.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {
    "small": ["--scale", "small", "--events", "1500000"],
    "large": ["--scale", "small", "--events", "6000000"],
}
QUICK = {
    "small": ["--scale", "tiny"],
    "large": ["--scale", "tiny", "--events", "1200000"],
}


def run(args: list[str], out: Path) -> dict[str, float]:
    """Run the generator in a child process; return its wall/CPU time and peak RSS."""
    t0 = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "sample", "generate", "--force", "--out", str(out), *args],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    # wait4 gives this child's own rusage (peak RSS, CPU), not a running maximum.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if child.returncode != 0:
        raise SystemExit(f"sample generate failed with status {child.returncode}")
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
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "file_downloads_mb": round(size / 1e6, 1),
        "bytes_per_event": round(size / rows, 1) if rows else 0,
    }


def peer(raw: Path) -> dict[str, float]:
    """DuckDB's own parquet writer on the same rows (single file), in this process."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = f"{raw}/file_downloads/*/*.parquet"
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{glob}', hive_partitioning=false)")
    n = con.execute("SELECT count(*) FROM t").fetchone()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        con.execute(f"COPY t TO '{tmp}/peer.parquet' (FORMAT parquet)")
    wall = time.monotonic() - t0
    rows = int(n[0]) if n else 0
    return {"rows": rows, "wall_s": round(wall, 2), "rows_per_s": round(rows / wall)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else SIZES
    results: dict[str, object] = {"cpus": os.cpu_count(), "load_avg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-sample-") as tmp:
        for name, size_args in sizes.items():
            out = Path(tmp) / name
            results[name] = {"args": size_args, **run(size_args, out)}
            print(f"sample {name}: {json.dumps(results[name])}", flush=True)
        # Only the rows of the first size, so the peer stays quick.
        results["peer_duckdb_copy_small"] = peer(Path(tmp) / "small")
        print(f"sample peer: {json.dumps(results['peer_duckdb_copy_small'])}", flush=True)
    small, large = results["small"], results["large"]
    assert isinstance(small, dict) and isinstance(large, dict)
    results["rss_ratio_large_vs_small"] = round(large["peak_rss_mb"] / small["peak_rss_mb"], 2)
    results["load_avg_after"] = os.getloadavg()
    out = ROOT / "data" / "bench" / "sample.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
