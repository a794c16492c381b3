"""deploy/Caddyfile: validates, is formatted, and behaves as documented.

The behaviour tests run Debian's caddy with the real Caddyfile in front of a
small HTTP server on 127.0.0.1 that echoes what it received, so they check what
reaches the app (request id, client address) and what reaches the client
(compression, security headers, caching, /metrics hidden), and that a request
arriving while the app restarts waits for it instead of failing.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CADDYFILE = ROOT / "deploy" / "Caddyfile"
CADDY = shutil.which("caddy")

pytestmark = pytest.mark.skipif(
    CADDY is None, reason="caddy is not installed: run `make setup-system` (Debian package caddy)"
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _caddy_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYPI_TRENDS_", "CADDY_"))}
    # Caddy keeps certificates and autosaved config under these; keep them in tmp.
    env.update(HOME=str(tmp), XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "cfg"))
    env.update(extra)
    return env


def test_caddyfile_validates(tmp_path: Path) -> None:
    assert CADDY is not None
    for site in ("trends.example.org", "http://127.0.0.1:8080"):
        result = subprocess.run(
            [CADDY, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=_caddy_env(tmp_path, PYPI_TRENDS_SITE=site),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Valid configuration" in result.stdout + result.stderr


def test_caddyfile_is_formatted() -> None:
    assert CADDY is not None
    result = subprocess.run(
        [CADDY, "fmt", str(CADDYFILE)], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == CADDYFILE.read_text(), "run: caddy fmt --overwrite deploy/Caddyfile"


# --- behaviour -----------------------------------------------------------------


@dataclass
class Upstream:
    """An HTTP server standing where the app runs; records the requests it got."""

    port: int
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen.append((self.path, headers))
                # Big enough that the proxy compresses it.
                body = json.dumps({"path": self.path, "headers": headers, "pad": "x" * 4000})
                self.send_response(200)
                if self.path.startswith("/static/"):
                    self.send_header("Content-Type", "text/javascript")
                else:
                    self.send_header("Content-Type", "application/json")
                if self.path == "/own-headers":
                    self.send_header("Cache-Control", "no-store")
                    self.send_header("Content-Security-Policy", "default-src 'none'")
                    self.send_header("X-Frame-Options", "DENY")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None


@dataclass
class Proxy:
    base: str
    upstream: Upstream

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=40) as response:
                return (
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    response.read(),
                )
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    assert CADDY is not None
    tmp = tmp_path_factory.mktemp("caddy")
    upstream = Upstream(_free_port())
    upstream.start()
    port, admin = _free_port(), _free_port()
    env = _caddy_env(
        tmp,
        PYPI_TRENDS_SITE=f"http://127.0.0.1:{port}",
        PYPI_TRENDS_UPSTREAM_HOST="127.0.0.1",
        PYPI_TRENDS_UPSTREAM_PORT=str(upstream.port),
        CADDY_ADMIN=f"127.0.0.1:{admin}",
    )
    log = (tmp / "caddy.log").open("wb")
    process = subprocess.Popen(
        [CADDY, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "caddy.log").read_text()[-3000:]) from None
                time.sleep(0.1)
        yield Proxy(f"http://127.0.0.1:{port}", upstream)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if upstream.server is not None:
            upstream.stop()


def test_compresses_and_forwards_request_id_and_client(proxy: Proxy) -> None:
    status, headers, body = proxy.get(
        "/api/packages/requests",
        {"Accept-Encoding": "gzip", "X-Request-ID": "spoofed", "X-Forwarded-For": "203.0.113.9"},
    )
    assert status == 200
    assert headers.get("content-encoding") == "gzip"
    echoed = json.loads(gzip.decompress(body))
    received = echoed["headers"]
    # A fresh id per request, the client's own is not trusted.
    assert UUID_RE.match(received["x-request-id"]), received
    # The client's address, not a value the client claimed.
    assert received["x-forwarded-for"] == "127.0.0.1"
    _, _, body2 = proxy.get("/api/packages/requests", {"Accept-Encoding": "gzip"})
    assert json.loads(gzip.decompress(body2))["headers"]["x-request-id"] != received["x-request-id"]


def test_security_headers_on_pages(proxy: Proxy) -> None:
    status, headers, _ = proxy.get("/compare/requests")
    assert status == 200
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "server" not in headers


def test_embeds_can_be_framed(proxy: Proxy) -> None:
    status, headers, _ = proxy.get("/embed/requests")
    assert status == 200
    assert "x-frame-options" not in headers
    assert "frame-ancestors *" in headers["content-security-policy"]


def test_static_assets_are_cacheable(proxy: Proxy) -> None:
    _, headers, _ = proxy.get("/static/app.js")
    assert "max-age=604800" in headers["cache-control"]
    assert headers["cache-control"].startswith("public")


def test_app_headers_win_over_defaults(proxy: Proxy) -> None:
    _, headers, _ = proxy.get("/own-headers")
    assert headers["cache-control"] == "no-store"
    assert headers["content-security-policy"] == "default-src 'none'"


def test_app_security_headers_are_not_repeated(proxy: Proxy) -> None:
    # The app sets X-Frame-Options itself; the proxy adds it only when missing.
    request = urllib.request.Request(proxy.base + "/own-headers")
    with urllib.request.urlopen(request, timeout=40) as response:
        assert response.headers.get_all("X-Frame-Options") == ["DENY"]
        assert len(response.headers.get_all("Content-Security-Policy")) == 1


def test_the_app_learns_the_original_scheme_and_client(proxy: Proxy) -> None:
    # uvicorn (proxy_headers, forwarded_allow_ips) builds https links from these.
    proxy.get("/api/meta", {"X-Forwarded-Proto": "https"})
    _, received = proxy.upstream.seen[-1]
    assert received["x-forwarded-proto"] == "http"  # what Caddy itself was reached by
    assert received["x-forwarded-for"] == "127.0.0.1"
    assert received["host"] == proxy.base.removeprefix("http://")


def test_metrics_not_exposed(proxy: Proxy) -> None:
    before = len(proxy.upstream.seen)
    status, _, _ = proxy.get("/metrics")
    assert status == 404
    assert not any(path.startswith("/metrics") for path, _ in proxy.upstream.seen[before:])


def test_request_during_app_restart_waits_instead_of_failing(proxy: Proxy) -> None:
    upstream = proxy.upstream
    upstream.stop()
    down_for = 1.5

    def restart() -> None:
        time.sleep(down_for)
        upstream.start()

    restarter = threading.Thread(target=restart)
    restarter.start()
    started = time.monotonic()
    status, _, body = proxy.get("/api/during-restart")
    waited = time.monotonic() - started
    restarter.join()
    assert status == 200, body[:300]
    # It really was held while the app was down, then answered by the new one.
    assert waited >= down_for * 0.8
    assert upstream.seen[-1][0] == "/api/during-restart"
