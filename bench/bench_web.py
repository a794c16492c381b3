"""Benchmark the compare page: server time of a first full render of a 3-package compare.

Runs the real app in-process (``create_app`` with the response cache off, so
every request renders: queries, view-models, templates) over the published
sample file and reads each request's server time from the edge's access log
(request in to last response byte). Each request is a different set of three
popular packages (a "first render" of that page), on the default one-year
range. Peers in the same run: the same page as an htmx fragment, the JSON API
``/api/compare`` for the same packages, and a response-cache hit. Prints a
table and writes data/bench/web.json. Target: p95 <= 150 ms.

    .venv/bin/python bench/bench_web.py [--db data/pypi_trends.sqlite] [--renders 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from published import ensure_published
from record import figure, load_average, write

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from litestar.testing import AsyncTestClient  # noqa: E402

from serve.app import create_app  # noqa: E402
from serve.settings import RateLimit, Settings  # noqa: E402

TARGET_MS = 150.0


def triples(db: Path, count: int) -> list[tuple[str, str, str]]:
    """``count`` distinct triples of the 12 most downloaded packages."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [
            r[0] for r in con.execute("SELECT package_name FROM packages ORDER BY rank LIMIT 12")
        ]
    finally:
        con.close()
    if len(names) < 3:
        raise SystemExit(f"{db} has fewer than 3 packages")
    combos = list(itertools.combinations(sorted(names), 3))
    return [combos[i % len(combos)] for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "max_ms": round(max(ms), 2),
    }


async def measure(db: Path, renders: int) -> dict[str, Any]:
    sink = io.StringIO()
    base = Settings(
        db_path=db,
        log_format="json",
        rate_limit=RateLimit(10**9, 60),
        allowed_hosts=("*",),
    )

    def durations() -> list[float]:
        lines = [json.loads(x) for x in sink.getvalue().splitlines() if x.strip()]
        lines = [x for x in lines if x["logger"] == "serve.access"]
        sink.seek(0)
        sink.truncate()
        return [float(x["duration_ms"]) for x in lines]

    results: dict[str, Any] = {}
    sets = triples(db, renders)
    # The log handler writes to the sys.stderr of create_app time: the access lines land in sink.
    with contextlib.redirect_stderr(sink):
        app = create_app(base.replace(response_cache=False))
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as client:
        # The very first render of the process (templates compiled, connections warm-up).
        t0 = time.perf_counter()
        r = await client.get("/compare/" + "-vs-".join(sets[0]))
        cold_client_ms = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, r.text[:500]
        results["cold_first_render_ms"] = round(durations()[0], 2)
        results["cold_first_render_client_ms"] = round(cold_client_ms, 2)
        results["page_bytes"] = len(r.content)

        # Interleaved per triple, so load from elsewhere on the machine hits every kind alike.
        kinds: dict[str, list[float]] = {
            "full_page": [],
            "htmx_fragment": [],
            "api_compare_peer": [],
        }
        for names in sets:
            page = "/compare/" + "-vs-".join(names)
            api = "/api/compare?packages=" + ",".join(names)
            for kind, url, headers in (
                ("full_page", page, {}),
                ("htmx_fragment", page, {"HX-Request": "true"}),
                ("api_compare_peer", api, {}),
            ):
                r = await client.get(url, headers=headers)
                assert r.status_code == 200, url
                kinds[kind] += durations()
        for kind, ms in kinds.items():
            results[kind] = summary(ms)

    with contextlib.redirect_stderr(sink):
        cached = create_app(base)
    async with AsyncTestClient(cached, base_url="http://127.0.0.1") as client:
        url = "/compare/" + "-vs-".join(sets[0])
        await client.get(url)
        durations()
        for _ in range(renders):
            await client.get(url)
        results["cache_hit"] = summary(durations())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", type=Path, default=Path(os.environ.get("PYPI_TRENDS_DB", "data/pypi_trends.sqlite"))
    )
    parser.add_argument("--renders", type=int, default=60, help="renders per measured kind")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "web.json")
    args = parser.parse_args()
    load_before = load_average()
    db = ensure_published(args.db, "bench_web")
    real = db.resolve()
    con = sqlite3.connect(f"file:{real}?mode=ro", uri=True)
    try:
        weeks, packages = con.execute(
            "SELECT (SELECT count(*) FROM pypi_downloads_weekly), (SELECT count(*) FROM packages)"
        ).fetchone()
    finally:
        con.close()
    print(f"file {real} ({real.stat().st_size / 1e6:.1f} MB, {packages} packages, {weeks} weeks)")
    results = asyncio.run(measure(db, args.renders))
    full = results["full_page"]
    report = {
        "db": str(real),
        "db_bytes": real.stat().st_size,
        "packages": packages,
        "weeks": weeks,
        "target_p95_ms": TARGET_MS,
        "meets_target": full["p95_ms"] <= TARGET_MS,
        **results,
        "ratio_page_to_api_p50": round(full["p50_ms"] / results["api_compare_peer"]["p50_ms"], 2),
    }
    print(f"{'kind':<22}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for kind in ("full_page", "htmx_fragment", "api_compare_peer", "cache_hit"):
        s = results[kind]
        print(f"{kind:<22}{s['n']:>5}{s['p50_ms']:>10}{s['p95_ms']:>10}{s['max_ms']:>10}")
    print(f"cold first render: {results['cold_first_render_ms']} ms server")
    print(
        f"target p95 <= {TARGET_MS:g} ms for the full page: "
        f"{'met' if report['meets_target'] else 'NOT met'}"
    )
    api, hit = results["api_compare_peer"], results["cache_hit"]
    write(
        args.out,
        bench="web",
        title="Compare page",
        method=(
            "Server time (the edge's access log: request in to last byte) of "
            "`GET /compare/<a>-vs-<b>-vs-<c>` with the response cache off, the app run "
            f"in-process on the published file ({packages:,} packages, {weeks} weeks); each of "
            f"{args.renders} requests is a different triple of popular packages on the "
            "default one-year range. Peers in the same run, interleaved per triple: the same "
            "page as an htmx fragment and `/api/compare` for the same packages."
        ),
        figures=[
            figure(
                "full page render, p95",
                full["p95_ms"],
                "ms",
                "",
                goal=("<=", TARGET_MS),
                detail=f"p50 {full['p50_ms']} ms, max {full['max_ms']} ms; first render of "
                f"a fresh process {results['cold_first_render_ms']} ms",
            ),
            figure(
                "full page vs the JSON API, p50",
                report["ratio_page_to_api_p50"],
                "x",
                "`/api/compare` for the same packages",
                detail=f"{full['p50_ms']} vs {api['p50_ms']} ms; a response-cache hit "
                f"{hit['p50_ms']} ms",
            ),
        ],
        load_before=load_before,
        results=report,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
