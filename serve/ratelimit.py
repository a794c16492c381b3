"""Per-client rate limit: Litestar's ``RateLimitConfig`` with a GCRA middleware class.

Litestar's own ``RateLimitMiddleware`` keeps, per client, a list of request
timestamps and a reset time, read and written back with two store calls under a
per-process lock: the window is fixed (a client may spend a whole budget at the
end of one window and again at the start of the next), the read-modify-write is
not atomic across workers sharing a Redis store (concurrent workers lose
counts), and each request encodes and decodes the timestamp list, which
measured (wrk, one worker, constant handler) as the one Litestar feature that
cut requests per second several-fold.

``GcraRateLimitMiddleware`` keeps the configuration surface (``RateLimitConfig``:
limit, exclusions, store name, ``RateLimit-*`` header names) and replaces the
algorithm with the generic cell rate algorithm, a sliding token bucket that
stores one number per client (its "theoretical arrival time"):

* with a ``RedisStore`` (Valkey/Redis) the check-and-update is one Lua script,
  atomic, on the server's clock, so all workers of all processes share one
  budget; a key expires exactly when its client is fully forgiven;
* with any other store (one worker) the table lives in process memory, bounded
  by ``max_clients`` (plus the overflow bucket): only entries already fully
  forgiven are dropped to make room, and when every entry is still owed, new
  identities share one overflow bucket instead of evicting anyone, so
  rotating identities never unblocks a blocked client.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.stores.redis import RedisStore
from redis.exceptions import RedisError

from serve.edge import send_problem
from serve.settings import RateLimit

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("serve.ratelimit")

OVERFLOW = "\x00overflow"

# KEYS[1]: the client's key; ARGV: emission interval, period (seconds, as strings).
# Returns {allowed, seconds until the bucket is full again} (as strings: Lua numbers
# returned to Redis are truncated to integers).
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new = tat + interval
if new - now > period then
  return {0, tostring(tat - now)}
end
local ttl = math.max(1, math.ceil((new - now) * 1000))
redis.call('SET', KEYS[1], string.format('%.6f', new), 'PX', ttl)
return {1, tostring(new - now)}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request against the budget."""

    allowed: bool
    # Seconds until the client's bucket is full again (after this request, if allowed).
    debt: float


class MemoryGcra:
    """The GCRA table of one process, bounded by ``max_clients`` (see module docstring)."""

    def __init__(self, limit: RateLimit, max_clients: int = 100_000) -> None:
        self.interval = limit.period_seconds / limit.requests
        self.period = float(limit.period_seconds)
        self.max_clients = max_clients
        self._tat: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._tat)

    def hit(self, client: str, now: float) -> Decision:
        """Count one request from ``client`` at monotonic time ``now``."""
        table = self._tat
        tat = table.get(client)
        if tat is None and len(table) >= self.max_clients:
            # Make room from entries that are fully forgiven; never from one still owed.
            for key in [k for k, v in table.items() if v <= now]:
                del table[key]
            if len(table) >= self.max_clients:
                client = OVERFLOW
            tat = table.get(client)
        if tat is None or tat < now:
            tat = now
        new = tat + self.interval
        if new - now > self.period:
            return Decision(False, tat - now)
        table[client] = new
        return Decision(True, new - now)


class RedisGcra:
    """The same algorithm on a Valkey/Redis server shared by every worker."""

    def __init__(self, store: RedisStore, limit: RateLimit) -> None:
        self.interval = limit.period_seconds / limit.requests
        self.period = float(limit.period_seconds)
        self._store = store
        self._script = store._redis.register_script(_GCRA_LUA)
        self._last_error = -1e9

    async def hit(self, client: str) -> Decision:
        """Count one request from ``client`` (one round trip, atomic on the server).

        When the server cannot be reached the request is let through (and logged,
        at most once a minute): an outage of the limiter's store must not take
        the API down with it.
        """
        key = self._store._make_key(f"gcra:{client}")
        try:
            allowed, debt = await self._script(keys=[key], args=[self.interval, self.period])
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._last_error > 60:
                self._last_error = now
                log.error("rate limit store unavailable; not limiting", extra={"error": str(exc)})
            return Decision(True, 0.0)
        return Decision(bool(int(allowed)), float(debt))


_STATE_KEY = "rate_limiter"


class GcraRateLimitMiddleware(RateLimitMiddleware):
    """``RateLimitMiddleware`` with the GCRA check (module docstring says why)."""

    def __init__(self, app: ASGIApp, config: RateLimitConfig) -> None:
        super().__init__(app, config)
        seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[self.unit]
        self.limit = RateLimit(self.max_requests, seconds)
        self.policy = f"{self.max_requests};w={seconds}"
        self._limit_key = config.rate_limit_limit_header_key.lower().encode()
        self._limit_value = str(self.max_requests).encode()
        self._policy_key = config.rate_limit_policy_header_key.lower().encode()
        self._policy_value = self.policy.encode()
        self._remaining_key = config.rate_limit_remaining_header_key.lower().encode()
        self._reset_key = config.rate_limit_reset_header_key.lower().encode()
        self._interval_seconds = self.limit.period_seconds / self.limit.requests
        # An identifier that can read the scope itself spares building a Request.
        self._from_scope: Callable[[Scope], str] | None = getattr(
            config.identifier_for_request, "from_scope", None
        )

    def _limiter(self, app: Litestar) -> MemoryGcra | RedisGcra:
        # Litestar builds one middleware instance per route: the table belongs to the
        # app (and its store) so that every route shares one budget per client.
        limiter = app.state.get(_STATE_KEY)
        if limiter is None:
            store = self.config.get_store_from_app(app)
            limiter = (
                RedisGcra(store, self.limit)
                if isinstance(store, RedisStore)
                else MemoryGcra(self.limit)
            )
            app.state[_STATE_KEY] = limiter
        return limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the budget; answer 429 (problem+json) or pass on with ``RateLimit-*`` headers."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        app = scope["litestar_app"]
        if self.check_throttle_handler is None and self._from_scope is not None:
            client = self._from_scope(scope)
        else:
            request = app.request_class(scope)
            if self.check_throttle_handler and not await self.check_throttle_handler(request):
                await self.app(scope, receive, send)
                return
            client = self.get_identifier_for_request(request)
        limiter = self._limiter(app)
        if isinstance(limiter, MemoryGcra):
            decision = limiter.hit(client, time.monotonic())
        else:
            decision = await limiter.hit(client)
        headers = self._headers(decision)
        if not decision.allowed:
            retry = max(1, math.ceil(decision.debt - self.limit.period_seconds + self._interval()))
            extra = [*headers, (b"retry-after", str(retry).encode())]
            await send_problem(
                scope, send, 429, "rate-limited", "too many requests; slow down", extra
            )
            return
        await self.app(scope, receive, self._with_headers(send, headers))

    def _interval(self) -> float:
        return self._interval_seconds

    def _headers(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        interval = self._interval_seconds
        spare = self.limit.period_seconds - decision.debt
        remaining = max(0, min(self.max_requests, math.floor(spare / interval + 1e-9)))
        return [
            (self._limit_key, self._limit_value),
            (self._remaining_key, str(remaining).encode()),
            (self._reset_key, str(max(0, math.ceil(decision.debt))).encode()),
            (self._policy_key, self._policy_value),
        ]

    @staticmethod
    def _with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        return wrapped


class ClientIdentity:
    """The ``identifier_for_request`` callable: the proxy header's last hop, else the peer.

    The right-most ``X-Forwarded-For`` entry is the one the trusted proxy
    appended itself; entries to its left are supplied by the client. Only the
    first such header counts (as ``request.headers.get`` would read it).
    ``from_scope`` gives the same answer from the ASGI scope, which
    ``GcraRateLimitMiddleware`` uses to skip building a ``Request``.
    """

    def __init__(self, trusted_proxy_header: str | None) -> None:
        self.header = trusted_proxy_header.lower().encode() if trusted_proxy_header else None

    def __call__(self, request: Any) -> str:
        """The identity of ``request``'s client."""
        return self.from_scope(request.scope)

    def from_scope(self, scope: Scope) -> str:
        """The identity of the client of ``scope``."""
        if self.header is not None:
            for name, value in scope["headers"]:
                if name == self.header:
                    last = value.decode("latin-1").rsplit(",", 1)[-1].strip()
                    if last:
                        return last[:100]
                    break
        client = scope.get("client")
        return str(client[0]) if client else "unknown"


def client_identity(trusted_proxy_header: str | None) -> ClientIdentity:
    """The ``identifier_for_request`` callable (see ``ClientIdentity``)."""
    return ClientIdentity(trusted_proxy_header)


def rate_limit_config(limit: RateLimit, trusted_proxy_header: str | None) -> RateLimitConfig:
    """The app's ``RateLimitConfig``: liveness and metrics are exempt, everything else counts.

    ``serve.app`` puts its middleware in front of Litestar's router (not in the
    route middleware) so that responses served from the cache before routing
    are counted too.
    """
    unit = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(limit.period_seconds)
    if unit is None:
        raise ValueError(f"unsupported period {limit.period_seconds}s")
    return RateLimitConfig(
        rate_limit=(unit, limit.requests),  # type: ignore[arg-type]
        exclude=["^/healthz$", "^/metrics$"],
        identifier_for_request=client_identity(trusted_proxy_header),
        middleware_class=GcraRateLimitMiddleware,
        store="rate_limit",
    )
