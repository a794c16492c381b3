"""Hostile inputs on every route: never a 5xx, every error in the one problem+json shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from serve.app import create_app
from serve.settings import RateLimit, Settings

pytestmark = pytest.mark.anyio

HOSTILE = [
    "' OR '1'='1",
    "'; DROP TABLE packages; --",
    '" UNION SELECT build_id FROM _meta --',
    "a" * 10_000,
    "\u540d\u524d-\u30d1\u30c3\u30b1\u30fc\u30b8",
    "\U0001f600\u200b\u202e",
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "\x00",
    "%",
    "_%_",
    "-2024-01-01",
    "2024-13-45",
    "0000-00-00",
    "99999-01-01",
    "-1",
    "1e309",
    "NaN",
    ",".join(f"p{i}" for i in range(1000)),
    "",
]

TEMPLATES = [
    "/api/packages?q={x}",
    "/api/packages?q=a&limit={x}",
    "/api/packages/{x}",
    "/api/packages/{x}/downloads",
    "/api/packages/{top}/downloads?start={x}&end={x}",
    "/api/packages/{top}/downloads?exclude={x}&cumulative={x}",
    "/api/packages/{top}/{x}",
    "/api/packages/{top}/installers?share={x}&start={x}",
    "/api/packages/{x}/countries?format={x}",
    "/api/packages/{x}/badge?period={x}",
    "/api/compare?packages={x}",
    "/api/compare?packages={top},{x}&start={x}&share={x}",
    "/api/trending?weeks={x}&limit={x}&min_downloads={x}",
    "/api/overall?start={x}&exclude={x}",
    "/api/meta?{x}={x}",
    "/{x}",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(published_db: Path) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = Settings(
        db_path=published_db,
        allowed_hosts=("testserver.local",),
        rate_limit=RateLimit(1_000_000, 60),
    )
    async with AsyncTestClient(create_app(settings)) as c:
        yield c


async def test_hostile_inputs_never_5xx(client: AsyncTestClient[Litestar]) -> None:
    top = (await client.get("/api/packages?limit=1")).json()["packages"][0]["package"]
    seen: dict[int, int] = {}
    for template in TEMPLATES:
        for raw in HOSTILE:
            url = template.format(x=quote(raw, safe=""), top=top)
            r = await client.get(url)
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            assert r.status_code < 500, (url[:200], r.status_code, r.text[:500])
            if r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/problem+json"), url[:200]
                body = r.json()
                assert body["status"] == r.status_code
                assert {"type", "title", "detail", "request_id"} <= body.keys()
    # The corpus reaches the handlers, not only the edge's limits.
    assert seen.get(400, 0) > 20 and seen.get(404, 0) > 10 and seen.get(414, 0) > 0, seen
    # And nothing was written: the file still answers as before.
    assert (await client.get("/api/packages?limit=1")).json()["packages"][0]["package"] == top
