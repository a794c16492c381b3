"""The edge of the service: CORS, cache keys, Host, limits and rate limits.

In-process tests use the real app with Litestar's test client; the app-server
limits (header size, header deadline, proxy headers) and the rate limit shared
by worker processes run a real ``python -m serve`` (and a real Valkey/Redis
server) on 127.0.0.1 and talk to them over sockets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from serve.app import create_app
from serve.settings import RateLimit
from tests.fixtures.server import free_port, serve_process
from tests.test_api import api_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


settings_for = api_settings


@pytest.fixture
def app(published_db: Path) -> Litestar:
    return create_app(settings_for(published_db))


@pytest.fixture(scope="module")
def top(published_db: Path) -> str:
    con = sqlite3.connect(f"file:{published_db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT package_name FROM packages ORDER BY rank LIMIT 1").fetchone()
        return str(row[0])
    finally:
        con.close()


# --- CORS ----------------------------------------------------------------------------------


async def test_preflight_and_simple_responses_name_the_origin_once(
    client: AsyncTestClient[Litestar],
) -> None:
    origin = {"Origin": "https://a.example"}
    pre = await client.options(
        "/api/meta", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert pre.status_code == 204
    # Browsers reject "*, *": the header must appear exactly once, with one value.
    assert pre.headers.get_list("access-control-allow-origin") == ["*"]
    assert "GET" in pre.headers["access-control-allow-methods"]
    got = await client.get("/api/meta", headers=origin)
    assert got.headers.get_list("access-control-allow-origin") == ["*"]
    exposed = got.headers.get_list("access-control-expose-headers")
    assert len(exposed) == 1 and "ETag" in exposed[0] and "RateLimit-Remaining" in exposed[0]


async def test_a_list_of_origins_varies_by_origin(published_db: Path) -> None:
    settings = settings_for(published_db, cors_origins=("https://a.example", "https://b.example"))
    app = create_app(settings)
    async with AsyncTestClient(app) as c:
        a = await c.get("/api/meta", headers={"Origin": "https://a.example"})
        assert a.headers.get_list("access-control-allow-origin") == ["https://a.example"]
        vary = {v.strip().lower() for v in a.headers["vary"].split(",")}
        # Origin joins what the representation already varied by.
        assert {"origin", "accept", "hx-request"} <= vary
        assert len(a.headers.get_list("vary")) == 1
        other = await c.get("/api/meta", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        pre = await c.options(
            "/api/meta",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in pre.headers


# --- response cache key --------------------------------------------------------------------


async def test_cache_key_uses_the_value_of_hx_request(client: AsyncTestClient[Litestar]) -> None:
    url = "/trending?weeks=26&z=1"
    poisoned = await client.get(url, headers={"HX-Request": "no"})
    assert poisoned.status_code == 200
    assert "<!doctype html>" in poisoned.text.lower()
    fragment = await client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    # htmx asked: only <main>, never the page stored for "HX-Request: no".
    assert "<!doctype html>" not in fragment.text.lower()
    assert fragment.headers["etag"] != poisoned.headers["etag"]
    again = await client.get(url, headers={"HX-Request": "true"})
    assert again.text == fragment.text
    assert "hx-request" in again.headers["vary"].lower()


async def test_compressed_and_identity_bodies_are_cached_apart(
    client: AsyncTestClient[Litestar], top: str
) -> None:
    url = f"/compare/{top}"
    for _ in range(2):
        gz = await client.get(url, headers={"Accept-Encoding": "gzip"})
        plain = await client.get(url, headers={"Accept-Encoding": "identity"})
        assert gz.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in plain.headers
        assert gz.text == plain.text
        assert gz.headers["etag"] != plain.headers["etag"]
        assert "accept-encoding" in gz.headers["vary"].lower()


async def test_the_response_cache_is_bounded_and_serves_hits(published_db: Path, top: str) -> None:
    app = create_app(settings_for(published_db, cache_max_entries=5))
    store = app.stores.get("response_cache")
    async with AsyncTestClient(app) as c:
        for weeks in range(1, 21):
            assert (await c.get(f"/api/packages/{top}/downloads?weeks={weeks}")).status_code == 200
        assert 1 <= store.entries <= 5  # type: ignore[attr-defined]
        again = await c.get(f"/api/packages/{top}/downloads?weeks=20")
        assert again.status_code == 200
        metrics = (await c.get("/metrics")).text
        assert 'pypi_trends_response_cache_total{result="hit"} 1.0' in metrics


async def test_a_hit_has_the_headers_of_the_miss_that_stored_it(
    published_db: Path, top: str
) -> None:
    settings = settings_for(published_db, cors_origins=("https://a.example",))
    app = create_app(settings)
    per_request = {"x-request-id", "ratelimit-remaining", "ratelimit-reset", "date"}
    async with AsyncTestClient(app) as c:
        for headers in ({}, {"Origin": "https://a.example"}, {"Accept-Encoding": "identity"}):
            url = f"/api/packages/{top}/downloads?weeks=8&h={len(headers)}{sorted(headers)}"
            miss, hit = [await c.get(url, headers=headers) for _ in range(2)]
            assert (miss.status_code, hit.status_code) == (200, 200)
            assert hit.content == miss.content
            assert len(hit.headers.get_list("vary")) == 1
            assert len(hit.headers.get_list("x-frame-options")) == 1
            assert sorted((k, v) for k, v in hit.headers.multi_items() if k not in per_request) == (
                sorted((k, v) for k, v in miss.headers.multi_items() if k not in per_request)
            )
        metrics = (await c.get("/metrics")).text
        assert 'pypi_trends_response_cache_total{result="hit"} 3.0' in metrics


# --- Host ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hosts",
    [
        [("Host", "127.0.0.1:8101@evil.example")],
        [("Host", "localhost/evil.example")],
        [("Host", "localhost:80 evil.example")],
        [("Host", "evil.example"), ("Host", "localhost")],
        [("Host", "localhost"), ("Host", "evil.example")],
    ],
)
async def test_hostile_host_headers_are_rejected(
    client: AsyncTestClient[Litestar], hosts: list[tuple[str, str]]
) -> None:
    r = await client.get("/api/meta", headers=hosts)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_allowed_hosts_with_ports_and_ipv6(published_db: Path) -> None:
    settings = settings_for(published_db, allowed_hosts=("localhost", "[::1]"))
    app = create_app(settings)
    async with AsyncTestClient(app) as c:
        for host in ("localhost", "localhost:8000", "[::1]:8000", "LOCALHOST"):
            r = await c.get("/healthz", headers={"Host": host})
            assert r.status_code == 200, host
        assert (await c.get("/healthz", headers={"Host": "[::2]"})).status_code == 400


# --- operational endpoints -------------------------------------------------------------------


async def test_metrics_names_its_charset_once(client: AsyncTestClient[Litestar]) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].count("charset") == 1


async def test_readyz_is_rate_limited_and_probes_at_most_once_a_second(
    published_db: Path,
) -> None:
    app = create_app(settings_for(published_db, rate_limit=RateLimit(30, 60)))
    async with AsyncTestClient(app) as c:
        db = app.dependencies["db"].dependency()
        probes = 0
        real_readiness = db.readiness

        async def counting_readiness() -> Any:
            nonlocal probes
            probes += 1
            return await real_readiness()

        db.readiness = counting_readiness
        statuses = [(await c.get("/readyz")).status_code for _ in range(35)]
        assert statuses[:30] == [200] * 30
        assert set(statuses[30:]) == {429}
        assert probes <= 2


# --- the app server (a real uvicorn) -----------------------------------------------------------


def _raw(base: str, payload: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send bytes, read until the server closes; return what came back and the seconds."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        # The server may close while a huge request is still being sent.
        with contextlib.suppress(OSError):
            s.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


@pytest.fixture(scope="module")
def server(published_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("edge-server") / "server.log"
    env = {"PYPI_TRENDS_HEADER_TIMEOUT": "1.5", "PYPI_TRENDS_MAX_HEADER_BYTES": "16384"}
    with serve_process(published_db, log, "--rate-limit", "100000/minute", env=env) as base:
        yield base


def test_oversized_headers_get_431_and_the_server_keeps_serving(server: str) -> None:
    big = b"GET /api/meta HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    answer, seconds = _raw(server, big)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert seconds < 5
    with urllib.request.urlopen(server + "/healthz", timeout=5) as r:
        assert r.status == 200


def test_a_client_that_never_finishes_its_headers_is_cut_off(server: str) -> None:
    answer, seconds = _raw(server, b"GET /api/meta HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 1.0 <= seconds < 5
    # Connections that never send a byte are closed too (no fd exhaustion by idlers).
    idle = [socket.create_connection(server.removeprefix("http://").split(":")) for _ in range(20)]
    try:
        time.sleep(2.5)
        for s in idle:
            s.settimeout(2)
            assert s.recv(100).startswith(b"HTTP/1.1 408")
    finally:
        for s in idle:
            s.close()


def test_hostile_host_over_a_real_socket(server: str, top: str) -> None:
    def get(headers: bytes) -> bytes:
        request = (
            f"GET /embed/compare/{top} HTTP/1.1\r\n".encode()
            + headers
            + b"Connection: close\r\n\r\n"
        )
        return _raw(server, request)[0]

    assert get(b"Host: 127.0.0.1\r\n").startswith(b"HTTP/1.1 200")
    for headers in (
        b"Host: 127.0.0.1:8101@evil.example\r\n",
        b"Host: evil.example\r\nHost: 127.0.0.1\r\n",
        b"Host: 127.0.0.1\r\nHost: evil.example\r\n",
    ):
        answer = get(headers)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
        assert b"evil.example" not in answer


def _page(url: str, headers: dict[str, str]) -> str:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as r:
        return str(r.read().decode())


def test_snippets_are_https_behind_a_tls_proxy(server: str, top: str) -> None:
    url = f"{server}/compare/{top}"
    behind = _page(url, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"})
    host = server.removeprefix("http://")
    assert f"https://{host}/embed/" in behind
    assert f"http://{host}/embed/" not in behind
    direct = _page(url, {})
    assert f"http://{host}/embed/" in direct


def test_proxy_headers_only_from_allowed_addresses(
    published_db: Path, tmp_path: Path, top: str
) -> None:
    env = {"PYPI_TRENDS_FORWARDED_ALLOW_IPS": "192.0.2.1"}
    with serve_process(published_db, tmp_path / "log", env=env) as base:
        page = _page(f"{base}/compare/{top}", {"X-Forwarded-Proto": "https"})
        assert "https://" + base.removeprefix("http://") not in page


# --- the rate limit shared by worker processes (a real Valkey/Redis) ------------------------------


REDIS = shutil.which("valkey-server") or shutil.which("redis-server")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS is None:
        message = "valkey-server/redis-server is missing: run `make setup-system`"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers={**headers, "Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_workers_share_one_budget_through_redis(
    published_db: Path, tmp_path: Path, redis_url: str
) -> None:
    options = ("--workers", "2", "--redis-url", redis_url, "--rate-limit", "10/day")
    with serve_process(published_db, tmp_path / "log", *options) as base:
        # A client of its own (uvicorn takes X-Forwarded-For from 127.0.0.1), so the
        # readiness polls of the fixture do not spend its budget.
        who = {"X-Forwarded-For": "198.51.100.77"}
        statuses = [_status(base + "/api/meta", who) for _ in range(40)]
        assert statuses.count(200) == 10, statuses
        assert statuses[:10] == [200] * 10


def test_more_workers_need_a_shared_store(published_db: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "serve", "--db", str(published_db), "--workers", "2"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PYPI_TRENDS_REDIS_URL" in result.stderr
