"""Swap under load: the real exporter publishes a new build while a real server answers requests.

Zero failed requests, and the new build id is served within 5 seconds of the
publish finishing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.export import export_in_process
from tests.fixtures.server import serve_process
from tests.fixtures.warehouse import Warehouse

pytestmark = pytest.mark.slow


@pytest.fixture
def served(warehouse: Warehouse, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "pypi_trends.sqlite"
    export_in_process(warehouse, db, "--build-id", "swap-a")
    env = {"PYPI_TRENDS_RATE_LIMIT": "1000000/second", "PYPI_TRENDS_LOG_FORMAT": "json"}
    with serve_process(db, tmp_path / "serve.log", env=env) as base:
        yield base, db


def test_new_build_is_served_without_failed_requests(
    served: tuple[str, Path], warehouse: Warehouse
) -> None:
    base, db = served
    first = httpx.get(base + "/api/meta").json()
    assert first["build_id"] == "swap-a"
    top = httpx.get(base + "/api/packages?limit=3").json()["packages"]
    etag_url = f"/api/packages/{top[0]['package']}/downloads"
    etag_before = httpx.get(base + etag_url).headers["etag"]
    paths = ["/api/meta", "/api/packages?q=a"] + [
        f"/api/packages/{p['package']}/downloads?start={first['first_week']}" for p in top
    ]

    async def run() -> tuple[list[str], list[int], float]:
        failures: list[str] = []
        statuses: list[int] = []
        switched_after = -1.0
        stop = asyncio.Event()
        published = asyncio.Event()
        published_at = 0.0

        async def worker(client: httpx.AsyncClient, n: int) -> None:
            i = n
            while not stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                try:
                    r = await client.get(path)
                    statuses.append(r.status_code)
                    if r.status_code != 200:
                        failures.append(f"{path}: {r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(f"{path}: {exc!r}")

        async def publish_then_watch(client: httpx.AsyncClient) -> None:
            nonlocal switched_after, published_at
            await asyncio.sleep(0.5)
            await asyncio.to_thread(export_in_process, warehouse, db, "--build-id", "swap-b")
            published_at = time.monotonic()
            published.set()
            while time.monotonic() - published_at < 10:
                meta = (await client.get("/api/meta")).json()
                if meta["build_id"] == "swap-b":
                    switched_after = time.monotonic() - published_at
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # keep the load on across the old build's close
            stop.set()

        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
            await asyncio.gather(
                publish_then_watch(client), *(worker(client, n) for n in range(16))
            )
        return failures, statuses, switched_after

    failures, statuses, switched_after = asyncio.run(run())
    assert not failures, failures[:5]
    assert len(statuses) > 100
    assert 0 <= switched_after <= 5.0, switched_after
    metrics = httpx.get(base + "/metrics").text
    assert "pypi_trends_build_swaps_total 1.0" in metrics
    assert 'pypi_trends_build_info{build_id="swap-b"} 1.0' in metrics
    # Representations of the old build are not served (or validated) under the new one.
    assert httpx.get(base + etag_url).headers["etag"] != etag_before
    stale = httpx.get(base + etag_url, headers={"If-None-Match": etag_before})
    assert stale.status_code == 200
