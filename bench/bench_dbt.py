"""dbt benchmark on DuckDB: the single-scan rollup against a hand-written
GROUP BY over the same parquet, and an incremental one-week run against a
full refresh over two years. Ratios come from the same run.

1. Generates (or reuses) a 105-week raw sample under data/bench/dbt/raw.
2. Full refresh (`dbt run --full-refresh`, the default 104-week window).
3. The peer: one hand-written DuckDB `CREATE TABLE AS ... GROUP BY GROUPING
   SETS` over the same parquet and window, producing the same rows as the
   rollup (checked with EXCEPT ALL both ways); timed twice, the faster kept.
4. Reset to one week short (`--full-refresh --vars end_week`), then a plain
   incremental `dbt run` adds the newest week (plus the lookback week).
Costs are dbt's per-model execution times from run_results.json (the
warehouse work); process wall times, which add dbt's fixed start-up and
parse cost, are reported too.

Usage: python bench/bench_dbt.py [--events N] [--weeks N]; writes data/bench/dbt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "bench"
WORK = OUT / "dbt"
DBT = Path(sys.executable).with_name("dbt")
ROLLUP = "int_downloads_rolled_up_weekly"
WINDOW = re.compile(r"download window: weeks (\d{4}-\d{2}-\d{2}) \.\. (\d{4}-\d{2}-\d{2})")

PEER_SQL = """
create or replace table peer as
with staged as (
    select
        cast(date_trunc('week', "timestamp") as date) as week_start,
        coalesce(regexp_replace(lower(coalesce(project, file.project)), '[-_.]+', '-', 'g'),
                 'unknown') as package_name,
        coalesce(nullif(regexp_extract(details.python, '^([0-9]+[.][0-9]+)', 1), ''),
                 'unknown') as python_version,
        coalesce(nullif(trim(details.installer.name), ''), 'unknown') as installer,
        coalesce(nullif(trim(details.system.name), ''), 'unknown') as system,
        coalesce(nullif(trim(country_code), ''), 'unknown') as country_code,
        coalesce(nullif(trim(file.version), ''), 'unknown') as version,
        coalesce(nullif(trim(file.type), ''), 'unknown') as file_type,
        case
            when file.filename like '%.metadata' then 'metadata'
            when lower(nullif(trim(details.installer.name), '')) in ('bandersnatch',
                'z3c.pypimirror', 'artifactory', 'devpi', 'nexus', 'pep381client') then 'mirror'
            when details.ci then 'ci'
            else 'user'
        end as category
    from read_parquet('{raw}/file_downloads/*/*.parquet')
    where "timestamp" >= timestamp '{start} 00:00:00' and "timestamp" < timestamp '{end} 00:00:00'
)
select
    week_start,
    package_name,
    case
        when grouping(python_version) = 0 then 'python_version'
        when grouping(installer) = 0 then 'installer'
        when grouping(system) = 0 then 'system'
        when grouping(country_code) = 0 then 'country_code'
        when grouping(version) = 0 then 'version'
        when grouping(file_type) = 0 then 'file_type'
        else 'total'
    end as dimension,
    coalesce(python_version, installer, system, country_code, version, file_type, 'total')
        as dimension_value,
    count(*) as downloads,
    count(*) filter (where category = 'ci') as downloads_ci,
    count(*) filter (where category = 'mirror') as downloads_mirror,
    count(*) filter (where category = 'metadata') as downloads_metadata
from staged
group by grouping sets (
    (week_start, package_name),
    (week_start, package_name, python_version),
    (week_start, package_name, installer),
    (week_start, package_name, system),
    (week_start, package_name, country_code),
    (week_start, package_name, version),
    (week_start, package_name, file_type)
)
"""


def generate(raw: Path, weeks: int, events: int) -> None:
    print(f"sample: {weeks} weeks, ~{events:,} events -> {raw} (kept when up to date)")
    subprocess.run(
        [sys.executable, "-m", "sample", "generate", "--out", str(raw), "--weeks", str(weeks),
         "--events", str(events), "--packages", "1500"],
        cwd=ROOT, check=True,
    )  # fmt: skip


def dbt(args: list[str], raw: Path, warehouse: Path, target: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYPI_TRENDS_RAW_DIR": str(raw),
        "PYPI_TRENDS_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_TARGET"):
        env.pop(name, None)
    t0 = time.monotonic()
    done = subprocess.run(
        [str(DBT), *args, "--project-dir", "dbt", "--profiles-dir", "profiles",
         "--target", "ci", "--target-path", str(target), "--log-path", str(target / "logs")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{done.stdout[-5000:]}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    models = {
        r["unique_id"].split(".")[-1]: r["execution_time"]
        for r in results
        if r["unique_id"].startswith("model.")
    }
    window = WINDOW.findall(done.stdout)
    return {
        "wall_s": round(wall, 2),
        "models_s": round(sum(models.values()), 3),
        "rollup_s": round(models[ROLLUP], 3),
        "model_s": {k: round(v, 3) for k, v in sorted(models.items())},
        "window": window[-1] if window else None,
    }


def peer(raw: Path, start: str, end_exclusive: str, db: Path) -> float:
    with duckdb.connect(str(db)) as con:
        con.execute("set TimeZone = 'UTC'")
        t0 = time.monotonic()
        con.execute(PEER_SQL.format(raw=raw, start=start, end=end_exclusive))
        return time.monotonic() - t0


def same_rows(warehouse: Path, peer_db: Path) -> tuple[int, int]:
    columns = (
        "week_start, package_name, dimension, dimension_value, downloads, downloads_ci, "
        "downloads_mirror, downloads_metadata"
    )
    with duckdb.connect() as con:
        con.execute(f"attach '{warehouse}' as wh (read_only)")
        con.execute(f"attach '{peer_db}' as p (read_only)")
        a = f"select {columns} from wh.main.{ROLLUP}"
        b = f"select {columns} from p.main.peer"
        diff = con.execute(
            f"select (select count(*) from ({a} except all {b})) "
            f"+ (select count(*) from ({b} except all {a}))"
        ).fetchone()
        rows = con.execute(f"select count(*) from ({a})").fetchone()
    assert diff is not None and rows is not None
    return int(diff[0]), int(rows[0])


def table_rows(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        counts: dict[str, int] = {}
        for name in sorted(names):
            row = con.execute(f"select count(*) from {name}").fetchone()
            counts[name] = int(row[0]) if row else 0
        return counts


def raw_rows(raw: Path, start: str | None = None, end_exclusive: str | None = None) -> int:
    where = (
        f"where \"timestamp\" >= timestamp '{start} 00:00:00' "
        f"and \"timestamp\" < timestamp '{end_exclusive} 00:00:00'"
        if start
        else ""
    )
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        row = con.execute(
            f"select count(*) from read_parquet('{raw}/file_downloads/*/*.parquet') {where}"
        ).fetchone()
    assert row is not None
    return int(row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3_000_000, help="raw download rows")
    parser.add_argument("--weeks", type=int, default=105, help="weeks of raw data")
    opts = parser.parse_args()

    raw = WORK / "raw"
    warehouse = WORK / "warehouse.duckdb"
    target = WORK / "target"
    peer_db = WORK / "peer.duckdb"
    generate(raw, opts.weeks, opts.events)
    total_raw = raw_rows(raw)

    print("full refresh (dbt run --full-refresh) ...")
    for path in (warehouse, peer_db):
        path.unlink(missing_ok=True)
    full = dbt(["run", "--full-refresh"], raw, warehouse, target)
    assert full["window"], "no download window in dbt output"
    start, end = full["window"]
    end_exclusive = str(date.fromisoformat(end) + timedelta(days=7))
    full_rows = table_rows(warehouse)
    window_raw = raw_rows(raw, start, end_exclusive)

    print("hand-written GROUP BY peer (twice, best kept) ...")
    peer_s = min(peer(raw, start, end_exclusive, peer_db) for _ in range(2))
    differing, rollup_rows = same_rows(warehouse, peer_db)
    assert differing == 0, f"peer and rollup differ in {differing} rows"

    print("incremental: reset to one week short, then add the newest week ...")
    previous = str(date.fromisoformat(end) - timedelta(days=7))
    dbt(["run", "--full-refresh", "--vars", f"{{end_week: '{previous}'}}"], raw, warehouse, target)
    incremental = dbt(["run"], raw, warehouse, target)
    assert incremental["window"] is not None
    inc_start, inc_end = incremental["window"]
    inc_raw = raw_rows(raw, inc_start, str(date.fromisoformat(inc_end) + timedelta(days=7)))

    result: dict[str, Any] = {
        "raw_rows_total": total_raw,
        "full_refresh": {
            **full,
            "weeks": (date.fromisoformat(end) - date.fromisoformat(start)).days // 7 + 1,
            "raw_rows_scanned": window_raw,
            "rows_out": full_rows,
        },
        "rollup_vs_hand_written": {
            "rollup_s": full["rollup_s"],
            "hand_written_group_by_s": round(peer_s, 3),
            "ratio": round(full["rollup_s"] / peer_s, 3),
            "target": 1.3,
            "rows": rollup_rows,
            "identical_rows": differing == 0,
        },
        "incremental_one_week": {
            **incremental,
            "raw_rows_scanned": inc_raw,
            "ratio_models": round(incremental["models_s"] / full["models_s"], 3),
            "ratio_wall": round(incremental["wall_s"] / full["wall_s"], 3),
            "target": 0.10,
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dbt.json").write_text(json.dumps(result, indent=2) + "\n")
    rv = result["rollup_vs_hand_written"]
    inc = result["incremental_one_week"]
    print(json.dumps(result, indent=2))
    print(
        f"\nrollup {rv['rollup_s']}s vs hand-written GROUP BY {rv['hand_written_group_by_s']}s: "
        f"ratio {rv['ratio']} (target <= 1.3), {rollup_rows:,} identical rows from "
        f"{window_raw:,} raw rows"
    )
    print(
        f"incremental one week: models {incremental['models_s']}s vs full refresh "
        f"{full['models_s']}s over {result['full_refresh']['weeks']} weeks: ratio "
        f"{inc['ratio_models']} (target <= 0.10); wall {incremental['wall_s']}s vs "
        f"{full['wall_s']}s (ratio {inc['ratio_wall']}); "
        f"raw rows scanned {inc_raw:,} vs {window_raw:,}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
