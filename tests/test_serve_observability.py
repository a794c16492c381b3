"""Metrics and logs of a real ``python -m serve`` on 127.0.0.1, read as an operator would.

The request metrics are Litestar's Prometheus integration, with the requests the
edge answers before routing (cache hits, refused hosts, unknown paths) added to
the same families; the logs are Litestar's logging config, JSON off a terminal,
with the request id on every line written while a request is handled.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.server import serve_process

pytestmark = pytest.mark.slow


@dataclass
class Server:
    host: str
    port: int
    log: Path
    db: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        con = http.client.HTTPConnection(self.host, self.port, timeout=30)
        con.request("GET", path, headers={"Host": "127.0.0.1", **(headers or {})})
        response = con.getresponse()
        response.read()
        con.close()
        return response

    def scrape(self) -> tuple[http.client.HTTPResponse, dict[tuple[str, frozenset[Any]], float]]:
        con = http.client.HTTPConnection(self.host, self.port, timeout=30)
        con.request("GET", "/metrics", headers={"Host": "127.0.0.1"})
        response = con.getresponse()
        text = response.read().decode()
        con.close()
        samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        return response, samples

    def records(self, until: str | None = None) -> list[dict[str, Any]]:
        """The JSON log records; with ``until``, first wait for that request's access line.

        The access line is written after the last response byte is sent, so a
        client can see the response before the line is in the file.
        """
        deadline = time.monotonic() + 10
        while True:
            out = [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]
            done = until is None or any(
                r.get("request_id") == until and r["logger"] == "serve.access" for r in out
            )
            if done or time.monotonic() > deadline:
                return out
            time.sleep(0.05)


@pytest.fixture(scope="module")
def top(published_db: Path) -> str:
    con = sqlite3.connect(f"file:{published_db}?mode=ro", uri=True)
    try:
        return str(
            con.execute("SELECT package_name FROM packages ORDER BY rank LIMIT 1").fetchone()[0]
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def server(published_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("observability")
    # A private copy: one test damages it under the running server.
    db = tmp / "served.sqlite"
    shutil.copyfile(published_db.resolve(), db)
    log = tmp / "serve.log"
    env = {"PYPI_TRENDS_LOG_FORMAT": "json", "PYPI_TRENDS_ALLOWED_HOSTS": "127.0.0.1"}
    with serve_process(db, log, env=env) as base:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        yield Server(host, int(port), log, db)


def labels(path: str, status: int) -> frozenset[tuple[str, str]]:
    return frozenset(
        {
            "app_name": "pypi_trends",
            "method": "GET",
            "path": path,
            "status_code": str(status),
        }.items()
    )


def test_requests_are_counted_once_by_route_template_routed_or_not(
    server: Server, top: str
) -> None:
    _, before = server.scrape()

    def delta(after: dict[tuple[str, frozenset[Any]], float], path: str, status: int) -> float:
        key = ("pypi_trends_requests_total", labels(path, status))
        return after.get(key, 0.0) - before.get(key, 0.0)

    url = f"/api/packages/{top}/downloads?weeks=4"
    assert server.get(url).status == 200  # routed: Litestar's middleware
    assert server.get(url).status == 200  # a cache hit, answered in front of the router
    assert server.get("/no/such/page").status == 404
    assert server.get("/api/meta", {"Host": "evil.example"}).status == 400
    response, after = server.scrape()
    assert response.status == 200
    # One content type, one charset (it used to say "charset=utf-8; charset=utf-8").
    assert response.headers.get_all("content-type") == ["text/plain; version=1.0.0; charset=utf-8"]
    template = "/api/packages/{name}/downloads"
    assert delta(after, template, 200) == 2
    assert delta(after, "unrouted", 404) == 1
    assert delta(after, "unrouted", 400) == 1
    hits = ("pypi_trends_response_cache_total", frozenset({"result": "hit"}.items()))
    assert after[hits] - before.get(hits, 0.0) == 1
    # Bounded labels: no raw path (package names, query strings) ever becomes a label.
    paths = {dict(key)["path"] for name, key in after if name == "pypi_trends_requests_total"}
    assert not any(top in p or "?" in p for p in paths), paths
    latency = ("pypi_trends_request_duration_seconds_count", labels(template, 200))
    assert after[latency] - before.get(latency, 0.0) == 2


def test_one_access_line_per_request_with_the_request_id(server: Server) -> None:
    for n in range(3):
        response = server.get("/api/meta", {"X-Request-ID": f"obs-access-{n}"})
        assert response.headers["x-request-id"] == f"obs-access-{n}"
    generated = server.get("/healthz").headers["x-request-id"]
    records = server.records(until=generated)
    for n in range(3):
        mine = [r for r in records if r.get("request_id") == f"obs-access-{n}"]
        assert [(r["logger"], r["msg"], r["status"]) for r in mine] == [
            ("serve.access", "request", 200)
        ]
        assert mine[0]["level"] == "info" and mine[0]["ts"].endswith("Z")
    assert [r["path"] for r in records if r.get("request_id") == generated] == ["/healthz"]
    # Lines logged outside any request (start-up, the build switch) have no request id.
    assert any(r["logger"] == "serve.db" and "request_id" not in r for r in records)


def test_an_error_logged_under_a_request_carries_its_id(server: Server, top: str) -> None:
    # Damage the served file in place (same size, pages after the first zeroed): the
    # next uncached query fails in SQLite and the exception handler logs it.
    with server.db.open("r+b") as f:
        page = 4096
        f.seek(page)
        size = server.db.stat().st_size
        while f.tell() < size:
            f.write(b"\0" * min(1 << 20, size - f.tell()))
    response = server.get(f"/api/packages/{top}/downloads?weeks=7&z=1", {"X-Request-ID": "obs-err"})
    assert response.status == 503
    mine = [r for r in server.records(until="obs-err") if r.get("request_id") == "obs-err"]
    loggers = [r["logger"] for r in mine]
    assert "serve.errors" in loggers, mine
    assert loggers[-1] == "serve.access"
    error = next(r for r in mine if r["logger"] == "serve.errors")
    assert error["level"] == "warning" and error["msg"] == "storage error"
