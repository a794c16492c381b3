"""Benchmark the HTTP API against datasette on the same file, same run.

Starts on 127.0.0.1: our app with the response cache off (uncached path),
our app with the cache on (cached path), and datasette (immutable mode)
answering the equivalent SQL; each one uvicorn worker. Drives each with a
bounded keep-alive HTTP/1.1 client (raw asyncio streams, so the client is
cheap): N connections, random packages, a 52-week series per request, in
alternating rounds for a fixed total duration per target. Prints a table and
writes data/bench/api.json.

    .venv/bin/python bench/bench_api.py [--db data/pypi_trends.sqlite] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from published import ensure_published
from record import figure, load_average, write

ROOT = Path(__file__).resolve().parent.parent
# The in-process CPU measurement imports the app from the repository.
sys.path.insert(0, str(ROOT))
REQUEST = "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not become ready")


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, ready_path: str) -> Iterator[None]:
    log = open(ROOT / "data" / "bench" / f"server-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_ready(port, ready_path)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def _connection(
    port: int, make_path: Callable[[], str], stop_at: float, record_from: float,
    latencies: list[float], errors: list[int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            path = make_path()
            writer.write(REQUEST.format(path=path).encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, chunked = 0, False
            for line in head.split(b"\r\n"):
                lowered = line.lower()
                if lowered.startswith(b"content-length:"):
                    length = int(line[15:])
                elif lowered.startswith(b"transfer-encoding:") and b"chunked" in lowered:
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            done = time.perf_counter()
            if now >= record_from:
                latencies.append(done - now)
                if status != 200:
                    errors.append(status)
    finally:
        writer.close()


async def load(
    port: int, make_path: Callable[[], str], connections: int, duration: float, warmup: float
) -> tuple[list[float], list[int]]:
    """Drive one server; return the latencies and non-200 statuses after the warm-up."""
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    record_from = start + warmup
    stop_at = record_from + duration
    await asyncio.gather(
        *(
            _connection(port, make_path, stop_at, record_from, latencies, errors)
            for _ in range(connections)
        )
    )
    return latencies, errors


def summarize(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    latencies = sorted(latencies)
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors,
        "req_per_s": round(n / seconds, 1),
        "p50_ms": round(latencies[n // 2] * 1000, 2) if n else 0.0,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 2) if n else 0.0,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if n else 0.0,
    }


async def _asgi_cpu(app: Any, make_path: Callable[[], str], requests: int) -> float:
    """CPU seconds (all threads of this process) per request, 32 requests in flight."""

    async def one(path_qs: str) -> None:
        path, _, query = path_qs.partition("?")
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "path": urllib.parse.unquote(path),
            "raw_path": path.encode(),
            "root_path": "",
            "scheme": "http",
            "query_string": query.encode(),
            "headers": [(b"host", b"127.0.0.1"), (b"accept", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"{path_qs}: {status}")

    async def worker(n: int) -> None:
        for _ in range(n):
            await one(make_path())

    started = time.process_time()
    await asyncio.gather(*(worker(requests // 32) for _ in range(32)))
    return (time.process_time() - started) / (requests // 32 * 32)


def cpu_per_request(
    db: Path, ours: Callable[[], str], theirs: Callable[[], str], requests: int, rounds: int
) -> dict[str, dict[str, float]]:
    """CPU time per request of each app called in-process: independent of machine load.

    The apps share one event loop and are measured in alternating rounds, after
    one unrecorded warm-up round each (page cache, response cache, connection
    pools); each app's least CPU per request over the rounds is its cost with
    the least interference from other processes (on a loaded machine, shared
    caches and frequency changes only ever add to it), the median is kept too.
    """
    from datasette.app import Datasette

    from serve.app import create_app
    from serve.settings import RateLimit, Settings

    apps: dict[str, tuple[Any, Callable[[], str]]] = {}
    for label, cache in (("ours_uncached", False), ("ours_cached", True)):
        settings = Settings(
            db_path=db,
            response_cache=cache,
            allowed_hosts=("*",),
            rate_limit=RateLimit(10**9, 1),
        )
        # Logs go to the sys.stderr of create_app time: /dev/null, open while the app runs.
        devnull = open(os.devnull, "w")  # noqa: SIM115
        with contextlib.redirect_stderr(devnull):
            app = create_app(settings)
        apps[label] = (app, ours)
    ds = Datasette(immutables=[str(db)])

    async def run() -> dict[str, list[float]]:
        await ds.invoke_startup()
        apps["datasette"] = (ds.app(), theirs)
        samples: dict[str, list[float]] = {label: [] for label in apps}
        async with _lifespan(apps["ours_uncached"][0]), _lifespan(apps["ours_cached"][0]):
            for n in range(rounds + 1):
                for label, (app, make_path) in apps.items():
                    cost = await _asgi_cpu(app, make_path, requests)
                    if n:  # round 0 warms every app up
                        samples[label].append(cost)
        return samples

    samples = asyncio.run(run())
    return {
        "min": {k: round(min(v) * 1e6, 1) for k, v in samples.items()},
        "median": {k: round(statistics.median(v) * 1e6, 1) for k, v in samples.items()},
    }


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    await outbox.get()
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


def pick_packages(db: Path, count: int) -> tuple[list[str], str, str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    through = con.execute("SELECT value FROM _meta WHERE key = 'data_through'").fetchone()[0]
    query = "SELECT package_name FROM packages WHERE downloads_last_4_weeks > 0 ORDER BY rank"
    names = [r[0] for r in con.execute(query + " LIMIT 5000")]
    con.close()
    if not names:
        raise SystemExit(f"{db} has no packages with recent downloads")
    random.Random(1).shuffle(names)
    end = dt.date.fromisoformat(through)
    start = end - dt.timedelta(weeks=51)
    return names[:count], start.isoformat(), end.isoformat()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", type=Path, default=Path(os.environ.get("PYPI_TRENDS_DB", "data/pypi_trends.sqlite"))
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of measured load per target"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds per target")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--cpu-requests", type=int, default=3200, help="in-process requests per app (CPU time)"
    )
    parser.add_argument(
        "--cpu-rounds", type=int, default=5, help="alternating in-process rounds (CPU time)"
    )
    parser.add_argument("--packages", type=int, default=200, help="distinct packages to pick from")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "api.json")
    args = parser.parse_args()
    db = ensure_published(args.db, "bench_api")
    (ROOT / "data" / "bench").mkdir(parents=True, exist_ok=True)
    names, start, end = pick_packages(db, args.packages)
    rnd = random.Random(2)
    print(
        f"file {db.resolve()} ({db.resolve().stat().st_size / 1e6:.1f} MB), "
        f"{len(names)} packages, weeks {start}..{end}"
    )

    def ours() -> str:
        return f"/api/packages/{rnd.choice(names)}/downloads?start={start}&end={end}"

    sql = (
        "select week_start, downloads from package_downloads_weekly "
        "where package_name = :p and week_start between :s and :e order by week_start"
    )
    db_name = db.name.rsplit(".", 1)[0]

    def theirs() -> str:
        q = urllib.parse.urlencode(
            {"sql": sql, "p": rnd.choice(names), "s": start, "e": end, "_shape": "array"}
        )
        return f"/{db_name}.json?{q}"

    base_env = {
        **os.environ,
        "PYPI_TRENDS_DB": str(db),
        "PYPI_TRENDS_LOG_FORMAT": "json",
        # The limiter still runs on every request; the budget is just out of reach.
        "PYPI_TRENDS_RATE_LIMIT": "100000000/second",
        "PYPI_TRENDS_ALLOWED_HOSTS": "*",
    }
    datasette = [PY, "-m", "datasette", "serve", "-i", str(db), "--host", "127.0.0.1"]
    # What Litestar alone does on this server config (bench/ceiling_app.py).
    ceiling = [PY, "-m", "uvicorn", "bench.ceiling_app:app", "--loop", "uvloop"]
    ceiling += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
    targets = [
        ("ours_uncached", [PY, "-m", "serve", "--response-cache", "off"], ours, "/readyz"),
        ("ours_cached", [PY, "-m", "serve"], ours, "/readyz"),
        ("datasette", datasette, theirs, "/-/versions.json"),
        ("litestar_ceiling", ceiling, lambda: "/constant", "/constant"),
    ]
    # All three run at once (idle ones cost nothing) and are measured in alternating
    # short rounds, so a change in machine load during the run hits all of them alike.
    latencies: dict[str, list[float]] = {label: [] for label, *_ in targets}
    errors: dict[str, int] = dict.fromkeys(latencies, 0)
    ports: dict[str, int] = {}
    load_before = load_average()
    with contextlib.ExitStack() as stack:
        for label, cmd, _, ready in targets:
            port = ports[label] = free_port()
            env = {**base_env, "PYPI_TRENDS_PORT": str(port)}
            stack.enter_context(server([*cmd, "--port", str(port)], env, port, ready))
        for label, _, make_path, _ in targets:  # warm up (caches, connections), unrecorded
            asyncio.run(load(ports[label], make_path, args.connections, 0.0, args.warmup))
        per_round = args.duration / args.rounds
        for n in range(args.rounds):
            order = targets[n % len(targets) :] + targets[: n % len(targets)]
            for label, _, make_path, _ in order:
                lat, err = asyncio.run(
                    load(ports[label], make_path, args.connections, per_round, 0.2)
                )
                latencies[label] += lat
                errors[label] += len(err)
    results = {
        label: summarize(latencies[label], errors[label], args.duration) for label in latencies
    }
    for label, r in results.items():
        print(
            f"{label:15} {r['req_per_s']:>9.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}"
        )

    cpu_stats = cpu_per_request(db, ours, theirs, args.cpu_requests, args.cpu_rounds)
    cpu = cpu_stats["min"]
    for stat, values in cpu_stats.items():
        print(
            f"CPU per request, in-process, {stat} of {args.cpu_rounds} rounds (us): "
            + ", ".join(f"{label} {value}" for label, value in values.items())
        )
    base = results["datasette"]["req_per_s"] or 1.0
    summary = {
        "uncached_vs_datasette": round(results["ours_uncached"]["req_per_s"] / base, 2),
        "cached_vs_datasette": round(results["ours_cached"]["req_per_s"] / base, 2),
        "ceiling_vs_datasette": round(results["litestar_ceiling"]["req_per_s"] / base, 2),
        "cpu_us_per_request": cpu,
        "cpu_us_per_request_median": cpu_stats["median"],
        "uncached_vs_datasette_cpu": round(cpu["datasette"] / cpu["ours_uncached"], 2),
        "cached_vs_datasette_cpu": round(cpu["datasette"] / cpu["ours_cached"], 2),
        "targets": {"uncached_vs_datasette": 3.0, "cached_vs_datasette": 10.0, "p99_ms": 25.0},
    }
    print(
        f"req/s: uncached {summary['uncached_vs_datasette']}x datasette, "
        f"cached {summary['cached_vs_datasette']}x; CPU per request: uncached "
        f"{summary['uncached_vs_datasette_cpu']}x less, "
        f"cached {summary['cached_vs_datasette_cpu']}x less"
    )
    report = {
        "file": str(db.resolve()),
        "file_bytes": db.resolve().stat().st_size,
        "connections": args.connections,
        "duration_s": args.duration,
        "packages": len(names),
        "weeks": [start, end],
        "workers": 1,
        "rounds": args.rounds,
        "results": results,
        **summary,
    }
    peer = "datasette (`-i`, immutable) answering the same SQL on the same file"
    write(
        args.out,
        bench="api",
        title="HTTP API",
        method=(
            "On 127.0.0.1, one uvicorn worker each: our app with the response cache off "
            "(uncached), with it on (cached), and datasette answering the same SQL through "
            f"`?sql=`, all on the same file ({db.resolve().stat().st_size / 1e6:.1f} MB). "
            f"{args.connections} keep-alive connections, random packages among {len(names)}, "
            f"a 52-week series per request, {args.duration:g} s per target in {args.rounds} "
            "alternating rounds, so load changes hit all three alike. Each app is also called "
            f"in-process to measure CPU time per request ({args.cpu_rounds} alternating rounds "
            f"of {args.cpu_requests} requests, the least per app), which depends far less on "
            "the load."
        ),
        figures=[
            *api_figures(results, summary, cpu, peer),
        ],
        load_before=load_before,
        results=report,
    )
    return 0


def api_figures(
    results: dict[str, Any], summary: dict[str, Any], cpu: dict[str, float], peer: str
) -> list[dict[str, Any]]:
    """The rendered figures of one run (``results`` and ``summary`` as in data/bench/api.json)."""
    ours_u, ours_c, ds = (results[k] for k in ("ours_uncached", "ours_cached", "datasette"))
    ceiling = results["litestar_ceiling"]
    targets = summary["targets"]
    return [
        figure(
            "requests/s, uncached",
            summary["uncached_vs_datasette"],
            "x",
            peer,
            goal=(">=", targets["uncached_vs_datasette"]),
            detail=f"{ours_u['req_per_s']:,} vs {ds['req_per_s']:,} req/s",
        ),
        figure(
            "requests/s, cached",
            summary["cached_vs_datasette"],
            "x",
            peer,
            goal=(">=", targets["cached_vs_datasette"]),
            detail=f"{ours_c['req_per_s']:,} vs {ds['req_per_s']:,} req/s",
        ),
        figure(
            "p99 latency, uncached",
            ours_u["p99_ms"],
            "ms",
            peer,
            goal=("<=", targets["p99_ms"]),
            detail=f"p50 {ours_u['p50_ms']} ms; datasette p99 {ds['p99_ms']} ms",
        ),
        figure(
            "CPU per request, uncached, datasette's over ours",
            summary["uncached_vs_datasette_cpu"],
            "x",
            peer,
            detail=f"{cpu['ours_uncached']} vs {cpu['datasette']} µs",
        ),
        figure(
            "CPU per request, cached, datasette's over ours",
            summary["cached_vs_datasette_cpu"],
            "x",
            peer,
            detail=f"{cpu['ours_cached']} vs {cpu['datasette']} µs",
        ),
        figure(
            "requests/s, uncached, as a fraction of the framework ceiling",
            round(ours_u["req_per_s"] / ceiling["req_per_s"], 3),
            "x",
            "a Litestar handler returning a constant (bench/ceiling_app.py), same server",
            detail=f"{ours_u['req_per_s']:,} vs {ceiling['req_per_s']:,} req/s; the ceiling is"
            f" {summary['ceiling_vs_datasette']}x datasette",
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
