"""The few request-path pieces Litestar has no feature for, one concern per unit.

Litestar itself does CORS (``CORSConfig``), rate limiting (``RateLimitConfig``,
see ``serve.ratelimit``), the response cache (``ResponseCacheConfig``, see
``serve.caching``), compression and the exception -> problem+json mapping. What
is left here:

* ``RequestContext`` (outermost): the request id (also on every log record
  while the request is handled), ``HEAD`` answered as ``GET`` without the body
  (RFC 9110), one access-log line per request, and the metrics of requests
  answered before routing (Litestar's Prometheus middleware counts the rest);
* ``HostGuard``: exactly one ``Host`` header, syntactically a host[:port], whose
  host is on the allow-list. Litestar's ``AllowedHostsConfig`` matches the
  first ``Host`` header with its port against the list (so ``localhost:8000``
  needs its own entry), and answers with a non-problem body;
* ``SizeLimit``: 414 for a path or query string over the configured length, 413
  for a declared body over its limit;
* ``Conditional`` (route middleware): the build-id ETag, ``Cache-Control``,
  and ``If-None-Match`` -> 304 before the handler runs;
* ``CachedHits``: responses the response cache holds, answered before
  routing;
* ``headers_finisher`` (applied by a ``before_send`` hook, and once per cache
  entry by ``CachedHits``): security headers per kind of page and one merged
  ``Vary``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from serve.caching import BoundedMemoryStore, etag_for, etag_matches
from serve.logs import REQUEST_ID, AccessLog
from serve.metrics import UNROUTED, AppMetrics, EdgeRecorder
from serve.problems import PROBLEM_MEDIA_TYPE, problem_body
from serve.security import security_headers

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# host (reg-name, IPv4, or bracketed IPv6) and an optional port: nothing else
# (no userinfo "@", no path, no spaces), so links built from it stay on this site.
_HOST = re.compile(
    rb"^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::[0-9]{1,5})?$"
)
_DROP_ON_304 = frozenset((b"content-length", b"content-type", b"content-encoding"))
_CACHED_VARY = (b"Accept", b"Accept-Encoding", b"HX-Request")
_MAX_ROUTES = 65536
_MAX_PASSED_HOSTS = 256
_MSGPACK = msgspec.msgpack.Decoder()


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    slug: str,
    detail: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with a problem+json body (used before routing, where no handler exists)."""
    body = problem_body(
        status,
        slug,
        detail,
        instance=scope["path"][:200],
        request_id=scope["state"].get("request_id"),
    )
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or ()),
    ]
    start = {"type": "http.response.start", "status": status, "headers": headers}
    await send(cast("Message", start))
    await send(cast("Message", {"type": "http.response.body", "body": body}))


class RequestContext:
    """Request id, HEAD as GET, and one access-log line per request.

    Litestar's Prometheus middleware times the requests that reach a handler;
    the ones answered in front of the router are recorded here into the same
    families (``serve.metrics.EdgeRecorder``), with the response-cache result.
    """

    def __init__(
        self, app: ASGIApp, metrics: AppMetrics, edge: EdgeRecorder, access_log: AccessLog
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.edge = edge
        self.access_log = access_log
        # Request ids: a random per-process prefix and a counter (unique, and cheap).
        self._prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        if given is not None and _REQUEST_ID.match(given):
            request_id = given
        else:
            request_id = f"{self._prefix}-{next(self._ids):x}"
        scope.setdefault("state", {})["request_id"] = request_id
        # Every record logged while this request is handled carries its id (serve.logs).
        token = REQUEST_ID.set(request_id)
        method = scope["method"]
        head = method == "HEAD"
        if head:
            # The router only knows GET handlers: the app sees a GET, and the body is
            # dropped on the way out (headers, Content-Length included, stay).
            scope = cast("Scope", {**scope, "method": "GET"})
        status = 500
        size = 0
        rid = (b"x-request-id", request_id.encode())

        async def wrapped(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid]}
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if head:
                    if message.get("more_body", False):
                        return
                    message = cast("Message", {"type": "http.response.body", "body": b""})
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            REQUEST_ID.reset(token)
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or UNROUTED
            handler = scope.get("route_handler")
            cache = scope["state"].get("cache", "")
            if cache == "hit" or handler is None:
                # Answered in front of the router: Litestar's middleware did not see it.
                self.edge.observe(route, method, status, seconds)
            elif getattr(handler, "cache", False):
                cache = "hit" if ScopeState.from_scope(scope).is_cached is True else "miss"
            if cache:
                self.metrics.cache_result(cache)
            self.access_log.write(
                {
                    "request_id": request_id,
                    "method": method,
                    "path": scope["path"][:500],
                    "query": scope["query_string"][:500].decode("latin-1"),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "bytes": size,
                    "client": (scope.get("client") or ("unknown",))[0],
                    "cache": cache,
                    "route": route,
                }
            )


class HostGuard:
    """Exactly one well-formed ``Host`` header naming an allowed host, else 400."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = None if "*" in allowed_hosts else frozenset(h.lower() for h in allowed_hosts)
        # Host values that passed both checks (a pure function of the value): a set
        # lookup instead of the regex on every request; bounded, so junk cannot grow it.
        self._passed: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        if len(hosts) == 1 and (hosts[0] in self._passed or self._check(hosts[0])):
            await self.app(scope, receive, send)
            return
        await send_problem(scope, send, 400, "invalid-host", "Host header not allowed")

    def _check(self, host: bytes) -> bool:
        if _HOST.match(host) is None or not self._allowed(host):
            return False
        if len(self._passed) < _MAX_PASSED_HOSTS:
            self._passed.add(host)
        return True

    def _allowed(self, host: bytes) -> bool:
        if self.allowed is None:
            return True
        text = host.decode("ascii").lower()
        name = text[: text.index("]") + 1] if text.startswith("[") else text.rsplit(":", 1)[0]
        return name in self.allowed


class SizeLimit:
    """414 for a path or query string over the limits, 413 for a declared body over its limit.

    Checked before routing, so an oversized request to any path (or with any
    method) gets the same answer without being parsed further.
    """

    def __init__(self, app: ASGIApp, max_path: int, max_query: int, max_body: int) -> None:
        self.app = app
        self.max_path = max_path
        self.max_query = max_query
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        if len(scope["path"]) > self.max_path or len(scope["query_string"]) > self.max_query:
            await send_problem(scope, send, 414, "uri-too-long", "path or query string too long")
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                await send_problem(scope, send, 413, "request-too-large", "request body too large")
                return
        await self.app(scope, receive, send)


class CachedHits:
    """Answer requests whose response Litestar's response cache holds, before routing.

    Litestar looks its cache up after routing, behind its exception and route
    middleware; bench/bench_api.py's in-process CPU per request on cached 52-week
    series measured that path at more than twice the cost of answering here, too
    slow for the goal of 10x datasette's requests per second. This unit only reads
    what Litestar's ``ResponseCacheMiddleware`` stores (its messages, msgpack-
    encoded) under the same key, and ``Conditional`` tags misses; a hit gets the
    same ETag and ``Cache-Control`` here, or a 304 when ``If-None-Match`` matches.

    An entry is decoded once and kept with its finished headers (the ones the
    ``before_send`` hook would compute, which then skips the message), since
    decoding and finishing per hit were most of a hit's cost.
    """

    def __init__(
        self,
        app: ASGIApp,
        store: BoundedMemoryStore,
        key: Callable[[Scope], str],
        build_id: Callable[[], str | None],
        max_age: int,
        routes: dict[str, str],
        finish: HeaderFinisher,
    ) -> None:
        self.app = app
        self.store = store
        self.key = key
        self.build_id = build_id
        self.cache_control = (b"cache-control", f"public, max-age={max_age}".encode())
        self.routes = routes
        self.finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "GET" or self.build_id() is None:
            await self.app(scope, receive, send)
            return
        key = self.key(scope)
        path = scope["path"]
        hit = self.store.peek_decoded(key, lambda raw: self._prepare(raw, key, path))
        if hit is None:
            await self.app(scope, receive, send)
            return
        state = scope["state"]
        state["cache"] = "hit"
        scope["path_template"] = self.routes.get(path, "cached")
        inm = None
        cors = False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                inm = value
            elif name == b"origin":
                cors = True
        if inm is not None and etag_matches(inm, hit.etag):
            validators = [(b"etag", hit.etag), self.cache_control]
            not_modified = {"type": "http.response.start", "status": 304, "headers": validators}
            await send(cast("Message", not_modified))
            await send(cast("Message", {"type": "http.response.body", "body": b""}))
            return
        if cors:
            # Litestar's CORS layer, further out, sets its own Vary: finish after it.
            start = hit.start
        else:
            start = hit.finished
            state[_FINISHED] = True
        # Fresh dicts and lists: later layers add headers to the message they are given.
        await send(cast("Message", {**start, "headers": [*start["headers"]]}))
        for body in hit.bodies:
            await send(cast("Message", dict(body)))

    def _prepare(self, raw: bytes, key: str, path: str) -> _Hit:
        """The stored messages, with the validators and the finished headers (once per entry)."""
        start: dict[str, Any] | None = None
        bodies: list[dict[str, Any]] = []
        etag = etag_for(key)
        for message in _MSGPACK.decode(raw):
            if message["type"] == "http.response.start":
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
                headers += [(b"etag", etag), self.cache_control]
                start = {**message, "headers": headers}
            else:
                bodies.append(message)
        if start is None:
            raise ValueError("cached response without a start message")
        finished = {**start, "headers": self.finish(start["headers"], start["status"], path)}
        return _Hit(etag, start, finished, bodies)


@dataclass(frozen=True, slots=True)
class _Hit:
    """A cached response as ``CachedHits`` sends it."""

    etag: bytes
    # The stored start message with the validators, and the same with finished headers.
    start: dict[str, Any]
    finished: dict[str, Any]
    bodies: list[dict[str, Any]]


class Conditional:
    """The build-id ETag on cacheable routes, and ``If-None-Match`` -> 304 without work.

    A route is cacheable when its handler sets ``opt={"cache": True}``. The ETag
    hashes the response cache's key (build id + canonical request), so it is
    known before the handler runs.
    """

    def __init__(
        self,
        app: ASGIApp,
        key: Callable[[Scope], str],
        build_id: Callable[[], str | None],
        max_age: int,
        routes: dict[str, str],
    ) -> None:
        self.app = app
        self.key = key
        self.build_id = build_id
        self.cache_control = (b"cache-control", f"public, max-age={max_age}".encode())
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        handler = scope.get("route_handler")
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] != "GET"
            or handler is None
            or not handler.opt.get("cache", False)
            or self.build_id() is None
        ):
            await self.app(scope, receive, send)
            return
        etag = etag_for(self.key(scope))
        # Route templates of cached paths, for the metrics of hits served before routing.
        if len(self.routes) > _MAX_ROUTES:
            self.routes.clear()
        self.routes[scope["path"]] = scope.get("path_template") or scope["path"]
        inm = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                inm = value
        validators = [(b"etag", etag), self.cache_control]
        if inm is not None and etag_matches(inm, etag):
            start = {"type": "http.response.start", "status": 304, "headers": validators}
            await send(cast("Message", start))
            await send(cast("Message", {"type": "http.response.body", "body": b""}))
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = {**message, "headers": [*message.get("headers", ()), *validators]}
            await send(message)

        await self.app(scope, receive, wrapped)


HeaderFinisher = Callable[[list[tuple[bytes, bytes]], int, str], list[tuple[bytes, bytes]]]
_FINISHED = "headers_finished"


def headers_finisher(cors_vary: bool) -> HeaderFinisher:
    """What every response's headers get last: one merged ``Vary``, and the security headers.

    Works on the raw header list (one pass, bytes only): Litestar's
    ``MutableScopeHeaders`` decodes every header on each lookup, which made
    this the largest single cost of a cached response.

    Args:
        cors_vary: Whether API responses vary by ``Origin`` (a list of allowed
            origins rather than ``*``).

    Returns:
        ``finish(headers, status, path)``: the finished header list (a new list).
    """

    def finish(
        headers: list[tuple[bytes, bytes]], status: int, path: str
    ) -> list[tuple[bytes, bytes]]:
        drop = _DROP_ON_304 if status == 304 else frozenset()
        kept: list[tuple[bytes, bytes]] = []
        vary: list[bytes] = []
        etag = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"vary":
                vary += value.split(b",")
                continue
            if lowered == b"etag":
                etag = True
            elif lowered in drop:
                continue
            kept.append((name, value))
        if etag:
            vary += _CACHED_VARY
        if cors_vary and path.startswith("/api/"):
            vary.append(b"Origin")
        if vary:
            seen: dict[bytes, bytes] = {}
            for v in vary:
                v = v.strip()
                if v:
                    seen.setdefault(v.lower(), v)
            if seen:
                kept.append((b"vary", b", ".join(seen.values())))
        kept += security_headers(path)
        return kept

    return finish


def header_finisher(finish: HeaderFinisher) -> Callable[[Message, Scope], Any]:
    """The ``before_send`` hook that applies ``finish`` to each response start.

    A start message whose headers ``CachedHits`` finished already (once per
    cache entry) is left alone.
    """

    async def finish_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["state"].get(_FINISHED):
            return
        message["headers"] = finish(
            list(message.get("headers", ())), message["status"], scope.get("path", "")
        )

    return finish_headers
