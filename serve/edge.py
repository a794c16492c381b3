"""The edge: one pure-ASGI layer in front of Litestar's router.

It does, in this order, everything that must apply to every request including
unknown paths and cache hits: request id, Host allow-list, size limits, rate
limit, CORS preflight, response cache / ``If-None-Match``, security and CORS
headers, ``HEAD`` (answered as ``GET`` without the body, as RFC 9110 asks of
every resource that has ``GET``), then one log line and the metrics. Cache hits are answered here
without routing or touching the database, which is what makes them cheap.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from serve.caching import CachedResponse, ResponseCache, cache_key, etag_for, etag_matches
from serve.db import Database
from serve.logs import AccessLog
from serve.metrics import Metrics
from serve.problems import PROBLEM_MEDIA_TYPE, problem_body
from serve.ratelimit import RateLimiter, client_identity
from serve.security import cors_headers, preflight_headers, security_headers
from serve.settings import Settings

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
_UNLIMITED_PATHS = frozenset(("/healthz", "/readyz", "/metrics"))
_VARY = (b"vary", b"Accept, HX-Request")
_DROP_ON_304 = frozenset((b"content-length", b"content-type"))


class Edge:
    """Wraps the Litestar ASGI handler; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        db: Database,
        cache: ResponseCache | None,
        limiter: RateLimiter,
        metrics: Metrics,
        access_log: AccessLog,
    ) -> None:
        self.app = app
        self.access_log = access_log
        # Request ids: a random per-process prefix and a counter (unique, and cheap).
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self.db = db
        self.cache = cache
        self.limiter = limiter
        self.metrics = metrics
        self.settings = settings
        hosts = settings.allowed_hosts
        self.allowed_hosts = (
            None if "*" in hosts else frozenset(h.lower().encode("idna") for h in hosts)
        )
        proxy = settings.trusted_proxy_header
        self.proxy_header = proxy.lower().encode() if proxy else None
        self.cache_control = (
            b"cache-control",
            f"public, max-age={settings.cache_max_age_seconds}".encode(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        host = inm = accept = htmx = rid = origin = proxy = length = None
        proxy_header = self.proxy_header
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"if-none-match":
                inm = value
            elif name == b"accept":
                accept = value
            elif name == b"hx-request":
                htmx = value
            elif name == b"x-request-id":
                rid = value
            elif name == b"origin":
                origin = value
            elif name == b"content-length":
                length = value
            elif name == proxy_header:
                proxy = value
        if rid is not None and _REQUEST_ID.match(rid):
            request_id = rid.decode()
        else:
            request_id = f"{self._id_prefix}-{next(self._ids):x}"
        scope["state"]["request_id"] = request_id
        path: str = scope["path"]
        method: str = scope["method"]
        # HEAD: the router only knows GET handlers, so the application sees a GET and
        # the body is dropped on the way out (headers, Content-Length included, stay).
        head = method == "HEAD"
        if head:
            scope = cast("Scope", {**scope, "method": "GET"})
        query: bytes = scope["query_string"]
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        extra += security_headers(path)
        is_api = path.startswith("/api/")
        if is_api and origin is not None:
            extra += cors_headers(self.settings.cors_origins, origin)
        client = client_identity(scope.get("client"), proxy)
        exchange = _Exchange(self, method, path, query, request_id, client, started)
        if head:
            method = "GET"

        async def reject(
            status: int, slug: str, detail: str, more: list[tuple[bytes, bytes]]
        ) -> None:
            body = problem_body(status, slug, detail, instance=path[:200], request_id=request_id)
            headers = [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *extra,
                *more,
            ]
            await _send_all(send, status, headers, b"" if head else body)
            exchange.finish(status, len(body), "", "edge")

        # 1. Host allow-list (before anything else, as it guards against DNS rebinding).
        if self.allowed_hosts is not None:
            hostname = _hostname(host)
            if hostname not in self.allowed_hosts:
                await reject(400, "invalid-host", "Host header not allowed", [])
                return
        # 2. Size limits.
        if len(path) > self.settings.max_path_length or len(query) > self.settings.max_query_length:
            await reject(414, "uri-too-long", "path or query string too long", [])
            return
        if length is not None and (
            not length.isdigit() or int(length) > self.settings.max_body_bytes
        ):
            await reject(413, "request-too-large", "request body too large", [])
            return
        # 3. Rate limit.
        if path not in _UNLIMITED_PATHS:
            decision = self.limiter.hit(client, time.time())
            extra += decision.headers(self.limiter.policy)
            if not decision.allowed:
                retry = [(b"retry-after", str(decision.reset_seconds).encode())]
                await reject(429, "rate-limited", "too many requests; slow down", retry)
                return
        # 4. CORS preflight.
        if method == "OPTIONS" and is_api:
            headers = [*extra, *preflight_headers(self.settings.cors_origins, origin)]
            await _send_all(send, 204, headers, b"")
            exchange.finish(204, 0, "", "preflight")
            return
        # 5. Response cache.
        key: bytes | None = None
        etag = b""
        build_id = self.db.build_id
        if method == "GET" and build_id is not None:
            csv = accept is not None and b"text/csv" in accept
            key = cache_key(
                build_id.encode(),
                path.encode("utf-8", "surrogateescape"),
                query,
                csv,
                htmx is not None,
            )
            if self.cache is not None:
                entry = self.cache.get(key)
                if entry is not None:
                    if inm is not None and etag_matches(inm, entry.etag):
                        headers = [(b"etag", entry.etag), self.cache_control, _VARY, *extra]
                        await _send_all(send, 304, headers, b"")
                        exchange.finish(304, 0, "hit", entry.route)
                    else:
                        body = b"" if head else entry.body
                        await _send_all(send, 200, [*entry.headers, *extra], body)
                        exchange.finish(200, len(entry.body), "hit", entry.route)
                    return
        # 6. The application.
        cache = self.cache
        state: dict[str, Any] = {
            "status": 500,
            "bytes": 0,
            "cacheable": False,
            "not_modified": False,
        }
        chunks: list[bytes] = []
        stored: list[tuple[bytes, bytes]] = []

        async def wrapped_send(message: Message) -> None:
            nonlocal etag
            if message["type"] == "http.response.start":
                status = message["status"]
                state["status"] = status
                headers = list(message.get("headers", ()))
                handler = scope.get("route_handler")
                if (
                    key is not None
                    and status == 200
                    and handler is not None
                    and handler.opt.get("cache", False)
                ):
                    state["cacheable"] = True
                    etag = etag_for(key)
                    headers += [(b"etag", etag), self.cache_control, _VARY]
                    stored[:] = headers
                    if inm is not None and etag_matches(inm, etag):
                        state["not_modified"] = True
                        headers = [h for h in headers if h[0].lower() not in _DROP_ON_304]
                        message = {**message, "status": 304}
                        state["status"] = 304
                await send({**message, "headers": headers + extra})
                return
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                state["bytes"] += len(body)
                if state["cacheable"]:
                    chunks.append(body)
                    # A build swap during the request: do not file new bytes under the old key.
                    if (
                        not message.get("more_body", False)
                        and cache is not None
                        and key is not None
                        and self.db.build_id == build_id
                    ):
                        route = scope.get("path_template") or path
                        entry = CachedResponse(tuple(stored), b"".join(chunks), route, etag)
                        cache.put(key, entry)
                if state["not_modified"] or head:
                    if message.get("more_body", False):
                        return
                    message = cast("Message", {"type": "http.response.body", "body": b""})
            await send(message)

        try:
            await self.app(scope, receive, wrapped_send)
        finally:
            result = ("miss" if cache is not None else "off") if state["cacheable"] else ""
            route = scope.get("path_template") or "unmatched"
            exchange.finish(state["status"], state["bytes"], result, route)


class _Exchange:
    """What the access log and metrics need about one request."""

    __slots__ = ("client", "edge", "method", "path", "query", "request_id", "started")

    def __init__(
        self,
        edge: Edge,
        method: str,
        path: str,
        query: bytes,
        request_id: str,
        client: str,
        started: float,
    ) -> None:
        self.edge = edge
        self.method = method
        self.path = path
        self.query = query
        self.request_id = request_id
        self.client = client
        self.started = started

    def finish(self, status: int, size: int, cache: str, route: str) -> None:
        seconds = time.perf_counter() - self.started
        self.edge.metrics.observe(route, self.method, status, seconds, cache)
        self.edge.access_log.write(
            {
                "request_id": self.request_id,
                "method": self.method,
                "path": self.path[:500],
                "query": self.query[:500].decode("latin-1"),
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "bytes": size,
                "client": self.client,
                "cache": cache,
                "route": route,
            }
        )


def _hostname(host: bytes | None) -> bytes:
    if not host:
        return b""
    host = host.lower()
    if host.startswith(b"["):
        return host[: host.find(b"]") + 1]
    return host.rsplit(b":", 1)[0]


async def _send_all(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send(
        cast("Message", {"type": "http.response.start", "status": status, "headers": headers})
    )
    await send(cast("Message", {"type": "http.response.body", "body": body}))
