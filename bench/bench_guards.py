"""Week-over-week changes of the facts the exporter's shrink guards compare.

Replays the weekly refreshes the published file holds: for each week w, the
facts of the file as it was when w was the last complete week (rows and
packages up to w, PyPI's downloads of w, the top 50 packages' downloads of w)
against the week before. Prints the largest drop of each fact next to its
default bound (exports/guards.py) and writes data/bench/guards.json. A bound
below a measured drop would refuse an ordinary refresh.

    .venv/bin/python bench/bench_guards.py [--db data/pypi_trends.sqlite]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import sys
from pathlib import Path

from published import ensure_published

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract import TABLES  # noqa: E402
from exports.guards import ShrinkBounds  # noqa: E402


def _change(before: float, after: float) -> float:
    return (after - before) / before if before else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("data/pypi_trends.sqlite"))
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "guards.json")
    args = parser.parse_args()
    db = ensure_published(args.db, "bench_guards")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    bounds = ShrinkBounds()
    weeks = [
        str(r[0]) for r in con.execute("SELECT week_start FROM pypi_downloads_weekly ORDER BY 1")
    ]
    per_week: dict[str, dict[str, int]] = {}
    # The week a row first appears in; the hand-kept log events are no weekly data.
    first_week = {"packages": "first_download_week", "package_releases": "first_upload_week"}
    for name in TABLES:
        if name == "data_events":
            continue
        week = first_week.get(name, "week_start")
        sql = f'SELECT {week}, count(*) FROM "{name}" GROUP BY 1'
        per_week[name] = {str(w): int(n) for w, n in con.execute(sql)}
    cumulative = {
        name: dict(zip(weeks, itertools.accumulate(counts.get(w, 0) for w in weeks), strict=True))
        for name, counts in per_week.items()
    }
    total = {w: sum(c[w] for c in cumulative.values()) for w in weeks}
    pypi = {
        str(w): int(n)
        for w, n in con.execute("SELECT week_start, downloads FROM pypi_downloads_weekly")
    }
    top = [
        r[0]
        for r in con.execute(
            "SELECT package_name FROM packages ORDER BY rank LIMIT ?", (bounds.top_packages,)
        )
    ]
    marks = ",".join("?" * len(top))
    top_sum = {
        str(w): int(n)
        for w, n in con.execute(
            f"SELECT week_start, sum(downloads) FROM package_downloads_weekly"
            f" WHERE package_name IN ({marks}) GROUP BY 1",
            top,
        )
    }
    con.close()
    pairs = list(itertools.pairwise(weeks))
    facts = {
        "total_rows": (bounds.total_rows, [_change(total[a], total[b]) for a, b in pairs]),
        "table_rows": (
            bounds.table_rows,
            [
                _change(c[a], c[b])
                for name, c in cumulative.items()
                if name != "packages"
                for a, b in pairs
            ],
        ),
        "packages": (
            bounds.packages,
            [_change(cumulative["packages"][a], cumulative["packages"][b]) for a, b in pairs],
        ),
        "last_week_downloads": (
            bounds.last_week_downloads,
            [_change(pypi[a], pypi[b]) for a, b in pairs],
        ),
        "top_downloads": (
            bounds.top_downloads,
            [_change(top_sum.get(a, 0), top_sum.get(b, 0)) for a, b in pairs],
        ),
    }
    report = {"db": str(db), "refreshes": len(pairs), "facts": {}}
    print(f"{len(pairs)} weekly refreshes replayed from {db}")
    print(f"{'fact':<22} {'largest drop':>12} {'largest rise':>12} {'bound':>8}")
    for name, (bound, changes) in facts.items():
        drop = max([0.0, *(-c for c in changes)])
        rise = max([0.0, *changes])
        report["facts"][name] = {"largest_drop": drop, "largest_rise": rise, "bound": bound}  # type: ignore[index]
        print(f"{name:<22} {drop:>11.1%} {rise:>12.1%} {bound:>8.0%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
