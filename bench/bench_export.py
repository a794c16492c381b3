"""Export benchmark: throughput and peak RSS of `python -m exports` at 1M, 5M and 20M rows,
side by side with a PyPack-Trends-style baseline measured on the same 1M rows in the same run.

Synthesises package_downloads_weekly-shaped DuckDB warehouses under data/bench/export/
(a throwaway dbt-shaped manifest describes the one mart), runs the real exporter CLI in
a child process per size, and reads the child's peak RSS from os.wait4. Writes
data/bench/export.json.

Three warehouses per size: "ordered" is stored in grain order (CREATE TABLE AS ...
ORDER BY the grain), so the exporter's presorted fast path runs; "unordered" stores
the rows in hash order, so the exporter finds the order broken and falls back to its
range sort; "week" is stored ``ORDER BY week_start, package_name`` like dbt's weekly
marts (week-major keeps incremental deletes in the last row groups,
dbt/macros/storage_order.sql), so the exporter sorts key ranges that zonemaps prune
(its week_parts path).
``--code-dir`` runs another checkout's exporter (e.g. the previous commit) on the same
warehouses, for A/B numbers in one session. Each run reports wall and CPU seconds (the
child's user + system time: the machine is shared, CPU seconds show the work done) and
the phases from the exporter's log lines (``phases_s``: sort_s, stage_s summed over the
stager threads, sqlite_s appending, finish_s, validate_s, parquet_s).

Usage: .venv/bin/python bench/bench_export.py [--sizes 1000000,5000000,20000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from record import figure, load_average, write

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "bench"
WORK = OUT / "export"
WEEKS = 52
MART = "package_downloads_weekly"
COLUMNS = [
    ("package_name", "varchar", "PEP 503 project name."),
    ("week_start", "date", "Monday of the ISO week."),
    ("downloads", "bigint", "All downloads."),
    ("downloads_ci", "bigint", "CI downloads."),
    ("downloads_mirror", "bigint", "Mirror downloads."),
    ("downloads_metadata", "bigint", "Metadata downloads."),
]
GRAIN = ["package_name", "week_start"]


GENERATE = r'''
import sys, duckdb
path, packages, weeks, mart = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
order = sys.argv[5]
con = duckdb.connect(path, config={"memory_limit": "2GB"})
# Names of realistic length (PyPI median ~12 chars). "grain": stored in key order,
# as dbt's ORDER BY leaves the mart; "hash": in hash order, the exporter must sort;
# "week": week-major, in key order inside a week (dbt's weekly marts).
order_by = {
    "grain": "package_name, week_start",
    "hash": "hash(p, w)",
    "week": "week_start, package_name",
}[order]
con.execute(f"""
    CREATE TABLE main.{mart} AS
    SELECT 'pkg-' || substr(md5(p::VARCHAR), 1, 4 + (p % 12)) || '-' || p::VARCHAR AS package_name,
           (DATE '2025-01-06' + 7 * w::INTEGER)::DATE AS week_start,
           (hash(p, w) % 1000000)::BIGINT AS downloads,
           (hash(p, w, 1) % 1000)::BIGINT AS downloads_ci,
           (hash(p, w, 2) % 1000)::BIGINT AS downloads_mirror,
           (hash(p, w, 3) % 1000)::BIGINT AS downloads_metadata
    FROM range({packages}) t(p), range({weeks}) u(w)
    ORDER BY {order_by}""")
con.close()
'''


#: File name suffix of each stored order's warehouse.
SUFFIX = {"grain": "_ordered", "hash": "", "week": "_week"}


def make_warehouse(rows: int, order: str = "hash") -> tuple[Path, Path]:
    """A DuckDB file with ``rows`` rows (made once), and its target dir.

    ``order``: "grain" (key order), "hash" or "week" (see the module docstring).
    Generated in a child process: this process stays small, so the children it
    forks start small and their peak RSS is their own.
    """
    suffix = SUFFIX[order]
    path = WORK / f"warehouse_{rows}{suffix}.duckdb"
    target = WORK / f"target_{rows}"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = WORK / f"warehouse_{rows}{suffix}.tmp"
        tmp.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-c",
            GENERATE,
            str(tmp),
            str(rows // WEEKS),
            str(WEEKS),
            MART,
            order,
        ]
        subprocess.run(cmd, check=True)
        tmp.rename(path)
    return path, target


def write_manifest(target: Path) -> None:
    """Minimal manifest/run_results shaped like dbt's for the one benchmark mart."""
    target.mkdir(parents=True, exist_ok=True)
    uid = f"model.bench.{MART}"
    node = {
        "resource_type": "model",
        "name": MART,
        "database": "warehouse",
        "schema": "main",
        "alias": MART,
        "description": "Benchmark copy of the weekly downloads mart.",
        "tags": ["export"],
        "config": {"tags": ["export"], "contract": {"enforced": True}, "meta": {}},
        "constraints": [{"type": "primary_key", "columns": GRAIN}],
        "columns": {
            name: {
                "name": name,
                "data_type": dtype,
                "description": desc,
                "constraints": [{"type": "not_null"}],
            }
            for name, dtype, desc in COLUMNS
        },
    }
    manifest = {
        "metadata": {"invocation_id": "bench-invocation", "adapter_type": "duckdb"},
        "nodes": {uid: node},
        "exposures": {},
    }
    results = {
        "metadata": {"invocation_id": "bench-invocation"},
        "args": {"target": "bench"},
        "results": [{"unique_id": uid, "status": "success"}],
    }
    (target / "manifest.json").write_text(json.dumps(manifest))
    (target / "run_results.json").write_text(json.dumps(results))


def run_child(cmd: list[str], code_dir: Path = ROOT) -> dict[str, Any]:
    """Run a child process in ``code_dir``; return wall seconds and its own peak RSS (os.wait4)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYPI_TRENDS_", "DBT_"))}
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}):\n{out}\n{err}")
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "stdout": out,
        "stderr": err,
    }


def bench_exporter(
    rows: int, *extra: str, order: str = "grain", code_dir: Path = ROOT
) -> dict[str, Any]:
    warehouse, target = make_warehouse(rows, order)
    write_manifest(target)
    out_dir = WORK / f"out_{rows}"
    shutil.rmtree(out_dir, ignore_errors=True)
    db = out_dir / "pypi_trends.sqlite"
    cmd = [
        sys.executable, "-m", "exports", "export",
        "--warehouse", str(warehouse), "--target-dir", str(target), "--db", str(db),
        "--build-id", f"bench-{rows}", "--progress", "log",
        # A synthetic warehouse: no dbt run (and no test) vouches for it.
        "--force", *extra,
    ]  # fmt: skip
    res = run_child(cmd, code_dir)
    phases: dict[str, float] = {}
    for line in res["stderr"].splitlines():
        for key in (
            "sort_s", "stage_s", "sqlite_s", "finish_s", "validate_s", "parquet_s",
            "parquet_wait_s",
        ):  # fmt: skip
            for field in line.split():
                if field.startswith(key + "="):
                    phases[key] = phases.get(key, 0.0) + float(field.split("=", 1)[1])
    release = db.resolve()
    con = sqlite3.connect(release)
    n = con.execute(f"SELECT count(*) FROM {MART}").fetchone()[0]
    table_bytes = con.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (MART,)).fetchone()[
        0
    ]
    con.close()
    size = release.stat().st_size
    parquet = sum(p.stat().st_size for p in (out_dir / "parquet" / MART).glob("*.parquet"))
    return {
        "rows": n,
        "warehouse_order": order,
        "presorted_path": "presorted=True" in res["stderr"],
        # The exporter's path (presorted, week_parts, range_sort); older code
        # does not log it.
        "path": next(
            (f.split("=", 1)[1] for f in res["stderr"].split() if f.startswith("path=")), None
        ),
        "seconds": round(res["seconds"], 3),
        "rows_per_s": round(n / res["seconds"]),
        "cpu_s": round(res["cpu_s"], 3),
        "rows_per_cpu_s": round(n / res["cpu_s"]),
        "peak_rss_mb": round(res["peak_rss_mb"], 1),
        "file_bytes": size,
        "file_bytes_per_row": round(size / n, 2),
        "table_bytes_per_row": round(table_bytes / n, 2),
        "parquet_bytes": parquet,
        "phases_s": phases,
        "release": str(release.relative_to(ROOT)),
    }


BASELINE = r"""
import sqlite3, sys, duckdb
warehouse, db = sys.argv[1], sys.argv[2]
src = duckdb.connect(warehouse, read_only=True)
out = sqlite3.connect(db)
out.executescript('''
CREATE TABLE package_downloads_weekly (
  id INTEGER PRIMARY KEY, package_name TEXT NOT NULL, week_start TEXT NOT NULL,
  downloads INTEGER, downloads_ci INTEGER, downloads_mirror INTEGER, downloads_metadata INTEGER,
  UNIQUE (package_name, week_start));
CREATE INDEX ix_pdw_package ON package_downloads_weekly (package_name);
CREATE INDEX ix_pdw_week ON package_downloads_weekly (week_start);
''')
cur = src.execute(
    "SELECT package_name, strftime(week_start, '%Y-%m-%d') AS week_start, downloads,"
    " downloads_ci, downloads_mirror, downloads_metadata FROM main.package_downloads_weekly")
names = [d[0] for d in cur.description]
sql = (
    "INSERT INTO package_downloads_weekly (package_name, week_start, downloads, downloads_ci,"
    " downloads_mirror, downloads_metadata) VALUES (:package_name, :week_start, :downloads,"
    " :downloads_ci, :downloads_mirror, :downloads_metadata)"
    " ON CONFLICT (package_name, week_start) DO UPDATE SET"
    " downloads = excluded.downloads, downloads_ci = excluded.downloads_ci,"
    " downloads_mirror = excluded.downloads_mirror,"
    " downloads_metadata = excluded.downloads_metadata")
out.execute("BEGIN")
while True:
    page = [dict(zip(names, row)) for row in cur.fetchmany(5000)]
    if not page:
        break
    for row in page:
        out.execute(sql, row)
out.commit()
out.close()
"""


def bench_baseline(rows: int) -> dict[str, Any]:
    warehouse, _ = make_warehouse(rows, "grain")
    db = WORK / f"baseline_{rows}.sqlite"
    db.unlink(missing_ok=True)
    res = run_child([sys.executable, "-c", BASELINE, str(warehouse), str(db)])
    con = sqlite3.connect(db)
    n = con.execute("SELECT count(*) FROM package_downloads_weekly").fetchone()[0]
    con.close()
    size = db.stat().st_size
    return {
        "rows": n,
        "seconds": round(res["seconds"], 3),
        "rows_per_s": round(n / res["seconds"]),
        "peak_rss_mb": round(res["peak_rss_mb"], 1),
        "file_bytes": size,
        "file_bytes_per_row": round(size / n, 2),
    }


def bench_whole_file() -> dict[str, Any]:
    """The whole demo warehouse (every mart), ``python -m exports export`` end to end.

    Built the normal way (``make export``) when the demo warehouse is missing;
    the file goes to a scratch path, so the published one is not touched.
    """
    warehouse, target = ROOT / "data" / "warehouse.duckdb", ROOT / "dbt" / "target"
    if not warehouse.exists() or not (target / "manifest.json").exists():
        subprocess.run(["make", "export"], cwd=ROOT, check=True)
    out_dir = WORK / "out_demo"
    shutil.rmtree(out_dir, ignore_errors=True)
    db = out_dir / "pypi_trends.sqlite"
    cmd = [
        sys.executable, "-m", "exports", "export",
        "--warehouse", str(warehouse), "--target-dir", str(target), "--db", str(db),
        "--build-id", "bench-demo", "--progress", "log",
    ]  # fmt: skip
    res = run_child(cmd)
    con = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True)
    rows = sum(n for (n,) in con.execute("SELECT row_count FROM _tables"))
    tables = con.execute("SELECT count(*) FROM _tables").fetchone()[0]
    con.close()
    size = db.resolve().stat().st_size
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "rows": rows,
        "tables": tables,
        "seconds": round(res["seconds"], 2),
        "cpu_s": round(res["cpu_s"], 2),
        "rows_per_s": round(rows / res["seconds"]),
        "peak_rss_mb": round(res["peak_rss_mb"], 1),
        "file_bytes": size,
    }


#: The weekly table with integer keys: a package id (its rank in name order,
#: the rowid of a lookup table) and the week as a number.
_INT_KEYS_DDL = (
    "CREATE TABLE int_keys (package_id INTEGER NOT NULL, week INTEGER NOT NULL,"
    " downloads INTEGER NOT NULL, downloads_ci INTEGER NOT NULL,"
    " downloads_mirror INTEGER NOT NULL, downloads_metadata INTEGER NOT NULL,"
    " PRIMARY KEY (package_id, week)) STRICT, WITHOUT ROWID"
)


def key_encoding(release: Path) -> dict[str, Any]:
    """Text keys (as shipped) against integer keys: bytes per row and SQLite's append rate.

    Both tables are filled the way the exporter's appender fills a mart (one
    ``INSERT ... SELECT`` from a key-ordered rowid staging table), twice each,
    alternating, the faster kept.
    """
    tmp = WORK / "key_encoding.sqlite"
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp, isolation_level=None)
    con.execute("PRAGMA page_size = 65536")
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("ATTACH ? AS src", (f"file:{release}?mode=ro",))
    text_ddl = con.execute("SELECT sql FROM src.sqlite_schema WHERE name = ?", (MART,)).fetchone()[
        0
    ]
    con.execute(
        "CREATE TEMP TABLE ids AS SELECT package_name,"
        f" row_number() OVER (ORDER BY package_name) AS id FROM src.{MART} GROUP BY package_name"
    )
    con.execute(f"CREATE TEMP TABLE stage_text AS SELECT * FROM src.{MART} ORDER BY 1, 2")
    con.execute(
        "CREATE TEMP TABLE stage_int AS SELECT ids.id, CAST((julianday(t.week_start)"
        " - julianday('2000-01-03')) / 7 AS INTEGER), t.downloads, t.downloads_ci,"
        " t.downloads_mirror, t.downloads_metadata"
        " FROM temp.stage_text AS t JOIN temp.ids USING (package_name) ORDER BY 1, 2"
    )
    rows = con.execute("SELECT count(*) FROM temp.stage_text").fetchone()[0]
    best: dict[str, float] = {}
    size: dict[str, int] = {}
    for _ in range(2):
        for label, table, ddl, stage in (
            ("text", MART, text_ddl, "stage_text"),
            ("integer", "int_keys", _INT_KEYS_DDL, "stage_int"),
        ):
            con.execute(f"DROP TABLE IF EXISTS main.{table}")
            con.execute(ddl)
            started = time.perf_counter()
            con.execute("BEGIN")
            con.execute(f"INSERT INTO main.{table} SELECT * FROM temp.{stage} ORDER BY rowid")
            con.execute("COMMIT")
            best[label] = min(best.get(label, 1e9), time.perf_counter() - started)
            size[label] = con.execute(
                "SELECT sum(pgsize) FROM dbstat('main') WHERE name = ?", (table,)
            ).fetchone()[0]
    con.close()
    tmp.unlink()
    return {
        "rows": rows,
        "bytes_per_row": {k: round(v / rows, 1) for k, v in size.items()},
        "append_rows_per_s": {k: round(rows / v) for k, v in best.items()},
        "bytes_text_over_integer": round(size["text"] / size["integer"], 2),
        "append_speed_integer_over_text": round(best["text"] / best["integer"], 2),
    }


def index_costs(release: Path) -> dict[str, Any]:
    """Size of the one shipped index and of the index a by-week query would need."""
    tmp = WORK / "index_cost.sqlite"
    shutil.copyfile(release, tmp)
    con = sqlite3.connect(tmp)
    table = con.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (MART,)).fetchone()[0]
    con.execute(f"CREATE INDEX by_week ON {MART} (week_start)")
    week_idx = con.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'by_week'").fetchone()[0]
    # packages(rank) on a packages-shaped table of as many packages as the weekly table has.
    n_packages = con.execute(f"SELECT count(DISTINCT package_name) FROM {MART}").fetchone()[0]
    con.execute(
        "CREATE TABLE packages (package_name TEXT PRIMARY KEY, display_name TEXT NOT NULL,"
        " summary TEXT, latest_version TEXT, first_release_date TEXT, first_download_week TEXT,"
        " last_download_week TEXT, downloads_total INTEGER, downloads_last_week INTEGER,"
        " downloads_last_4_weeks INTEGER, downloads_prev_4_weeks INTEGER, growth_4_weeks REAL,"
        " rank INTEGER NOT NULL) STRICT, WITHOUT ROWID"
    )
    con.execute(
        f"INSERT INTO packages SELECT package_name, package_name, 'A summary of ' || package_name,"
        f" '1.2.3', '2020-01-01', min(week_start), max(week_start), sum(downloads),"
        f" max(downloads), sum(downloads), sum(downloads_ci), 0.1,"
        f" row_number() OVER (ORDER BY sum(downloads) DESC, package_name)"
        f" FROM {MART} GROUP BY package_name ORDER BY package_name"
    )
    con.commit()
    packages_table = con.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name = 'packages'"
    ).fetchone()[0]
    con.execute("CREATE INDEX packages__rank ON packages (rank)")
    rank_idx = con.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name = 'packages__rank'"
    ).fetchone()[0]
    con.close()
    tmp.unlink()
    return {
        "weekly_table_bytes": table,
        "weekly_by_week_index_bytes": week_idx,
        "weekly_by_week_index_pct_of_table": round(100 * week_idx / table, 1),
        "packages_rows": n_packages,
        "packages_table_bytes": packages_table,
        "packages_rank_index_bytes": rank_idx,
        "packages_rank_index_pct_of_table": round(100 * rank_idx / packages_table, 1),
    }


def _figures(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The rendered figures: speed and memory of each stored order, and against the peer."""
    checks, ratios, base = (
        results["checks"],
        results["ratios_at_baseline_rows"],
        results["baseline"],
    )

    def per_size(key: str, field: str, unit: str) -> str:
        return ", ".join(
            f"{int(rows):,} rows: {r[field]:,} {unit}" for rows, r in results[key].items()
        )

    whole, keys = results["whole_file"], results["key_encoding"]
    return [
        figure(
            "whole file, demo warehouse (every mart), end to end",
            whole["rows_per_s"],
            "rows/s",
            "",
            goal=(">=", 1_000_000),
            detail=f"{whole['rows']:,} rows in {whole['tables']} tables, {whole['seconds']} s"
            f" wall, {whole['cpu_s']} CPU-s, {whole['file_bytes'] / 1e6:,.0f} MB",
        ),
        figure(
            "whole file, demo warehouse, peak RSS",
            whole["peak_rss_mb"],
            "MB",
            "",
            goal=("<=", 150),
        ),
        figure(
            "bytes per row, text keys (shipped) over integer keys",
            keys["bytes_text_over_integer"],
            "x",
            "the same rows with an integer package id and week number as key",
            detail=f"{keys['bytes_per_row']['text']} vs {keys['bytes_per_row']['integer']} B/row,"
            f" {keys['rows']:,} rows",
        ),
        figure(
            "SQLite append rate, integer keys over text keys",
            keys["append_speed_integer_over_text"],
            "x",
            "the same rows with an integer package id and week number as key",
            detail=f"{keys['append_rows_per_s']['integer']:,} vs"
            f" {keys['append_rows_per_s']['text']:,} rows/s (INSERT ... SELECT from staging)",
        ),
        figure(
            "core weekly table (grain order), slowest size",
            checks["min_rows_per_s_core_table"],
            "rows/s",
            "",
            goal=(">=", 1_000_000),
            detail=per_size("exporter", "rows_per_s", "rows/s"),
        ),
        figure(
            "core weekly table, largest peak RSS",
            checks["max_peak_rss_mb"],
            "MB",
            "",
            goal=("<=", 150),
            detail=per_size("exporter", "peak_rss_mb", "MB"),
        ),
        figure(
            "other weekly marts (week-major), largest peak RSS",
            checks["max_peak_rss_mb_week"],
            "MB",
            "",
            goal=("<=", 150),
            detail=per_size("exporter_week", "peak_rss_mb", "MB"),
        ),
        figure(
            f"speed vs the peer at {ratios['rows']:,} rows",
            ratios["speed_exporter_over_baseline"],
            "x",
            "PyPack-Trends-style upsert loader, same rows",
            detail=f"peer {base['rows_per_s']:,} rows/s, peak RSS {base['peak_rss_mb']} MB",
        ),
        figure(
            "bytes per row, the peer's over ours",
            ratios["bytes_per_row_baseline_over_exporter"],
            "x",
            "PyPack-Trends-style upsert loader, same rows",
            detail=f"peer {base['file_bytes_per_row']} B/row",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    parser.add_argument("--baseline-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--code-dir",
        type=Path,
        help="also run the exporter of this checkout (e.g. the previous commit), interleaved",
    )
    args = parser.parse_args()
    load_before = load_average()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "loadavg_start": os.getloadavg(),
        },
        "exporter": {},
        "exporter_unordered": {},
        "exporter_week": {},
    }
    runs: list[tuple[str, str, Path]] = [
        ("exporter", "grain", ROOT),
        ("exporter_unordered", "hash", ROOT),
        ("exporter_week", "week", ROOT),
    ]
    if args.code_dir:
        results["other_code"] = {
            "dir": str(args.code_dir),
            "ordered": {},
            "unordered": {},
            "week": {},
        }
        runs += [
            ("other_ordered", "grain", args.code_dir),
            ("other_unordered", "hash", args.code_dir),
            ("other_week", "week", args.code_dir),
        ]
    for rows in sizes:
        # Interleaved per size: every variant sees about the same machine load.
        for label, order, code_dir in runs:
            r = bench_exporter(rows, order=order, code_dir=code_dir)
            if label.startswith("other_"):
                results["other_code"][label.removeprefix("other_")][str(rows)] = r
            else:
                results[label][str(rows)] = r
            print(
                f"{label:<19}{r['rows']:>11,} rows  {r['seconds']:7.2f} s"
                f"  {r['rows_per_s']:>10,} rows/s  cpu {r['cpu_s']:6.2f} s"
                f"  peak RSS {r['peak_rss_mb']:6.1f} MB"
                f"  {r['file_bytes_per_row']:5.1f} B/row  presorted={r['presorted_path']}"
                f"  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    # The unordered export with the sort of the next key range beside SQLite's load
    # (default memory cap: with one stager beside the sort it fits).
    overlap_rows = 5_000_000 if 5_000_000 in sizes else sizes[0]
    r = bench_exporter(overlap_rows, "--overlap", order="hash")
    results["exporter_overlap"] = {str(overlap_rows): r}
    print(
        f"overlap  {r['rows']:>11,} rows  {r['seconds']:7.2f} s  {r['rows_per_s']:>10,} rows/s"
        f"  cpu {r['cpu_s']:6.2f} s  peak RSS {r['peak_rss_mb']:6.1f} MB",
        flush=True,
    )
    base_rows = args.baseline_rows
    mine = results["exporter"].get(str(base_rows)) or bench_exporter(base_rows)
    base = bench_baseline(base_rows)
    results["baseline"] = base
    results["ratios_at_baseline_rows"] = {
        "rows": base_rows,
        "speed_exporter_over_baseline": round(mine["rows_per_s"] / base["rows_per_s"], 2),
        "bytes_per_row_baseline_over_exporter": round(
            base["file_bytes_per_row"] / mine["file_bytes_per_row"], 2
        ),
        "peak_rss_baseline_over_exporter": round(base["peak_rss_mb"] / mine["peak_rss_mb"], 2),
    }
    print(
        f"baseline {base['rows']:>11,} rows  {base['seconds']:7.2f} s"
        f"  {base['rows_per_s']:>10,} rows/s"
        f"  peak RSS {base['peak_rss_mb']:6.1f} MB  {base['file_bytes_per_row']:5.1f} B/row"
    )
    print("ratios:", results["ratios_at_baseline_rows"])
    results["index_costs"] = index_costs(ROOT / mine["release"])
    print("index costs:", results["index_costs"])
    results["key_encoding"] = key_encoding(ROOT / mine["release"])
    print("key encoding:", results["key_encoding"])
    results["whole_file"] = bench_whole_file()
    print("whole file:", results["whole_file"])
    rss = [r["peak_rss_mb"] for r in results["exporter"].values()]
    results["checks"] = {
        "min_rows_per_s_core_table": min(r["rows_per_s"] for r in results["exporter"].values()),
        "min_rows_per_s_unordered": min(
            r["rows_per_s"] for r in results["exporter_unordered"].values()
        ),
        "max_peak_rss_mb": max(rss),
        "max_peak_rss_mb_unordered": max(
            r["peak_rss_mb"] for r in results["exporter_unordered"].values()
        ),
        # dbt's other weekly marts (week-major): the same bars as the core table.
        "min_rows_per_s_week": min(r["rows_per_s"] for r in results["exporter_week"].values()),
        "max_peak_rss_mb_week": max(r["peak_rss_mb"] for r in results["exporter_week"].values()),
        "rss_spread_mb": round(max(rss) - min(rss), 1),
        "loadavg_end": os.getloadavg(),
    }
    print("checks:", results["checks"])
    write(
        OUT / "export.json",
        bench="export",
        title="Export to SQLite",
        method=(
            "Synthetic `package_downloads_weekly`-shaped DuckDB warehouses (52 weeks) of "
            + ", ".join(f"{n:,}" for n in sizes)
            + " rows, stored in grain order (as dbt stores that table), week-major (as dbt "
            "stores the other weekly marts) and in hash order; the real `python -m exports "
            "export` runs in a child process per warehouse, its peak RSS read with "
            "`os.wait4`. The peer, on the same grain-ordered rows: a PyPack-Trends-style "
            "loader (pages of 5,000 dict rows, one upsert per row, one transaction, a rowid "
            "table with a UNIQUE key and two secondary indexes). The whole file: every mart "
            "of the demo warehouse (`make export`'s), exported the same way to a scratch path."
        ),
        figures=_figures(results),
        load_before=load_before,
        results=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
