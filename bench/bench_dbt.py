"""dbt benchmark on DuckDB: the single-scan rollup against a hand-written
GROUP BY over the same parquet, and an incremental one-week run against a
full refresh over two years. Ratios come from the same run.

1. Generates (or reuses) the `demo` raw sample (what `make sample` builds: 728
   days, ~20M events, 6,000 packages) under data/bench/dbt/raw, so the full
   refresh does two years of warehouse work rather than dbt's fixed per-model
   cost dominating both runs.
2. Full refresh over every complete week but the newest (`dbt run
   --full-refresh --vars end_week`; the default 104-week history, capped by
   the first complete week of the sample).
3. The peer: one hand-written DuckDB `CREATE TABLE AS ... GROUP BY GROUPING
   SETS` over the same parquet and window with the same row expressions as
   the staging model, producing the same rows as the rollup (checked with
   EXCEPT ALL both ways); timed twice, the faster kept. It measures what dbt's
   layering (ephemeral staging, CTEs, incremental materialization) costs.
4. A plain incremental `dbt run` on that warehouse adds the newest week (plus
   the lookback week), as the weekly run does.
Costs: dbt's per-model execution times from run_results.json (the warehouse
work; with 2 threads, concurrent models overlap), dbt's run phase (the
elapsed time of executing the models, without start-up and parse), the
process wall time and the process CPU time (user + system, all threads).
Each dbt command uses a fresh target path, so both runs parse the project
from scratch: the wall and CPU times carry the same fixed start-up cost.

Usage: python bench/bench_dbt.py [--scale demo] [--events N] [--raw DIR] [--work DIR] [--json FILE];
writes data/bench/dbt.json by default.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
from record import figure, load_average, write

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
        date '0001-01-01' + cast(7 * ((epoch_us("timestamp") + 62135596800000000)
            // 604800000000) as integer) as week_start,
        coalesce(case
            when not (contains(coalesce(project, file.project), '_')
                or contains(coalesce(project, file.project), '.')
                or contains(coalesce(project, file.project), '--'))
            then lower(coalesce(project, file.project))
            else regexp_replace(lower(coalesce(project, file.project)), '[-_.]+', '-', 'g')
        end, 'unknown') as package_name,
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


def generate(raw: Path, scale: str, events: int | None) -> None:
    extra = ["--events", str(events)] if events else []
    print(f"sample: --scale {scale} {' '.join(extra)} -> {raw} (kept when up to date)")
    subprocess.run(
        [sys.executable, "-m", "sample", "generate", "--out", str(raw), "--scale", scale, *extra],
        cwd=ROOT, check=True,
    )  # fmt: skip


def last_complete_week(raw: Path) -> date:
    """The newest complete ISO week of the sample, as dbt decides it (newest `date=` dir)."""
    days = sorted(p.name.removeprefix("date=") for p in (raw / "file_downloads").glob("date=*"))
    after_last = date.fromisoformat(days[-1]) + timedelta(days=1)
    return after_last - timedelta(days=after_last.weekday() + 7)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dbt(args: list[str], raw: Path, warehouse: Path, target: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYPI_TRENDS_RAW_DIR": str(raw),
        "PYPI_TRENDS_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_TARGET"):
        env.pop(name, None)
    # A fresh target path: no partial-parse state, so every run parses alike.
    shutil.rmtree(target, ignore_errors=True)
    cpu0 = children_cpu_s()
    t0 = time.monotonic()
    done = subprocess.run(
        [str(DBT), *args, "--project-dir", "dbt", "--profiles-dir", "profiles",
         "--target", "ci", "--target-path", str(target), "--log-path", str(target / "logs")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - t0
    cpu = children_cpu_s() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{done.stdout[-5000:]}")
    run_results = json.loads((target / "run_results.json").read_text())
    models = {
        r["unique_id"].split(".")[-1]: r["execution_time"]
        for r in run_results["results"]
        if r["unique_id"].startswith("model.")
    }
    window = WINDOW.findall(done.stdout)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "run_phase_s": round(run_results["elapsed_time"], 2),
        "models_s": round(sum(models.values()), 3),
        "rollup_s": round(models.get(ROLLUP, 0.0), 3),
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


def table_rows(warehouse: Path, weeks: tuple[str, str] | None = None) -> dict[str, int]:
    """Rows per table (only those of the given weeks when set, for tables with weeks)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        weekly = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_columns() where column_name = 'week_start'"
            ).fetchall()
        }
        counts: dict[str, int] = {}
        for name in sorted(names):
            where = ""
            if weeks and name in weekly:
                where = f" where week_start between date '{weeks[0]}' and date '{weeks[1]}'"
            row = con.execute(f"select count(*) from {name}{where}").fetchone()
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


def ratio(part: float, whole: float) -> float:
    return round(part / whole, 3) if whole else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", default="demo", choices=["demo", "small", "tiny"], help="sample preset"
    )
    parser.add_argument("--events", type=int, default=None, help="override the preset's events")
    parser.add_argument(
        "--raw", type=Path, default=None, help="use this existing sample instead of generating"
    )
    parser.add_argument("--work", type=Path, default=WORK, help="sample, warehouse, targets")
    parser.add_argument("--json", type=Path, default=OUT / "dbt.json", help="result file")
    opts = parser.parse_args()
    load_before = load_average()

    work: Path = opts.work
    warehouse = work / "warehouse.duckdb"
    peer_db = work / "peer.duckdb"
    if opts.raw:
        raw = opts.raw.resolve()
        if not (raw / "_SUCCESS").exists():
            parser.error(f"--raw {raw}: no _SUCCESS (not a complete sample)")
    else:
        raw = work / "raw"
        generate(raw, opts.scale, opts.events)
    work.mkdir(parents=True, exist_ok=True)
    total_raw = raw_rows(raw)
    newest = last_complete_week(raw)
    previous = newest - timedelta(days=7)

    print(f"full refresh up to {previous} (dbt run --full-refresh) ...")
    for path in (warehouse, peer_db):
        path.unlink(missing_ok=True)
    # The seeds (log events) first, as `dbt build` would: a mart reads one.
    dbt(["seed"], raw, warehouse, work / "target-seed")
    full = dbt(
        ["run", "--full-refresh", "--vars", f"{{end_week: '{previous}'}}"],
        raw, warehouse, work / "target-full",
    )  # fmt: skip
    assert full["window"], "no download window in dbt output"
    start, end = full["window"]
    end_exclusive = str(date.fromisoformat(end) + timedelta(days=7))
    full_rows = table_rows(warehouse)
    window_raw = raw_rows(raw, start, end_exclusive)

    print("hand-written GROUP BY peer (twice, best kept) ...")
    peer_s = min(peer(raw, start, end_exclusive, peer_db) for _ in range(2))
    differing, rollup_rows = same_rows(warehouse, peer_db)
    assert differing == 0, f"peer and rollup differ in {differing} rows"
    peer_db.unlink()

    print(f"incremental: a plain dbt run adds the week of {newest} ...")
    incremental = dbt(["run"], raw, warehouse, work / "target-incremental")
    assert incremental["window"] is not None
    inc_start, inc_end = incremental["window"]
    assert inc_end == str(newest), f"incremental run ended at {inc_end}, not {newest}"
    inc_raw = raw_rows(raw, inc_start, str(date.fromisoformat(inc_end) + timedelta(days=7)))
    inc_rows = table_rows(warehouse, (inc_start, inc_end))

    result: dict[str, Any] = {
        "sample": {
            "raw_dir": str(raw),
            "options": json.loads((raw / "_SUCCESS").read_text()).get("options"),
            "raw_rows_total": total_raw,
        },
        "full_refresh": {
            **full,
            "weeks": (date.fromisoformat(end) - date.fromisoformat(start)).days // 7 + 1,
            "raw_rows_scanned": window_raw,
            "rows_out": full_rows,
        },
        "rollup_vs_hand_written": {
            "rollup_s": full["rollup_s"],
            "hand_written_group_by_s": round(peer_s, 3),
            "ratio": ratio(full["rollup_s"], peer_s),
            "target": 1.3,
            "rows": rollup_rows,
            "identical_rows": differing == 0,
        },
        "incremental_one_week": {
            **incremental,
            "raw_rows_scanned": inc_raw,
            # Rows of the rewritten weeks after the run (packages: every row, rebuilt).
            "rows_out": inc_rows,
            "ratio_models": ratio(incremental["models_s"], full["models_s"]),
            "ratio_run_phase": ratio(incremental["run_phase_s"], full["run_phase_s"]),
            "ratio_wall": ratio(incremental["wall_s"], full["wall_s"]),
            "ratio_cpu": ratio(incremental["cpu_s"], full["cpu_s"]),
            "target": 0.10,
        },
    }
    rv = result["rollup_vs_hand_written"]
    inc = result["incremental_one_week"]
    weeks = result["full_refresh"]["weeks"]
    write(
        opts.json,
        bench=opts.json.stem,
        title="dbt on DuckDB",
        method=(
            (f"The sample in {raw}" if opts.raw else f"The `{opts.scale}` sample")
            + f" ({total_raw:,} raw rows). A full refresh over {weeks} "
            "complete weeks (`dbt run --full-refresh --vars end_week`, one week short of the "
            "data), then a plain incremental `dbt run` adding the newest week plus the "
            "lookback week, each from a fresh target path so both parse from scratch. The "
            "rollup's peer is one hand-written DuckDB `CREATE TABLE AS ... GROUP BY GROUPING "
            "SETS` over the same parquet and weeks with the staging model's row expressions, "
            "checked to give the same rows (`EXCEPT ALL` both ways), timed twice with the "
            "faster kept. Model times come from dbt's `run_results.json`; process wall and "
            "CPU times include dbt's start-up and parse."
        ),
        figures=[
            figure(
                "the rollup model vs a hand-written GROUP BY",
                rv["ratio"],
                "x",
                "hand-written `GROUP BY GROUPING SETS` on the same rows (identical output)",
                goal=("<=", rv["target"]),
                detail=f"{rv['rollup_s']} s vs {rv['hand_written_group_by_s']} s, "
                f"{rollup_rows:,} rows out of {window_raw:,} raw rows",
            ),
            figure(
                "incremental week vs full refresh, model time",
                inc["ratio_models"],
                "x",
                f"full refresh over {weeks} weeks",
                goal=("<=", inc["target"]),
                detail=f"models {incremental['models_s']} s vs {full['models_s']} s; "
                f"raw rows scanned {inc_raw:,} vs {window_raw:,}",
            ),
            figure(
                "incremental week vs full refresh, whole process",
                inc["ratio_wall"],
                "x",
                f"full refresh over {weeks} weeks",
                detail=f"wall {incremental['wall_s']} s vs {full['wall_s']} s (dbt start-up "
                f"and parse included); CPU {incremental['cpu_s']} s vs {full['cpu_s']} s",
            ),
        ],
        load_before=load_before,
        results=result,
    )
    print(json.dumps(result, indent=2))
    print(
        f"\nrollup {rv['rollup_s']}s vs hand-written GROUP BY {rv['hand_written_group_by_s']}s: "
        f"ratio {rv['ratio']} (target <= 1.3), {rollup_rows:,} identical rows from "
        f"{window_raw:,} raw rows"
    )
    print(
        f"incremental one week vs full refresh over {result['full_refresh']['weeks']} weeks "
        f"(target <= 0.10): models {incremental['models_s']}s vs {full['models_s']}s "
        f"({inc['ratio_models']}); run phase {incremental['run_phase_s']}s vs "
        f"{full['run_phase_s']}s ({inc['ratio_run_phase']}); wall {incremental['wall_s']}s vs "
        f"{full['wall_s']}s ({inc['ratio_wall']}); CPU {incremental['cpu_s']}s vs "
        f"{full['cpu_s']}s ({inc['ratio_cpu']}); raw rows scanned {inc_raw:,} vs {window_raw:,}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
