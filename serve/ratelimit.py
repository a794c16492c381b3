"""Per-client rate limiting (fixed window) with ``RateLimit-*`` headers.

Fixed windows aligned to the clock keep the state to one counter per client
seen in the current window; the whole table is dropped when the window rolls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from serve.settings import RateLimit


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request against the budget."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self, policy: bytes) -> list[tuple[bytes, bytes]]:
        """``RateLimit-*`` response headers (IETF draft names)."""
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
            (b"ratelimit-policy", policy),
        ]


class RateLimiter:
    """Counts requests per client identity in the current window."""

    def __init__(self, limit: RateLimit, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.max_clients = max_clients
        self.policy = f"{limit.requests};w={limit.period_seconds}".encode()
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, client: str, now: float) -> Decision:
        """Count one request from ``client`` at time ``now`` (seconds).

        Args:
            client: The client identity (address, or the trusted proxy header's value).
            now: Wall-clock or monotonic seconds.

        Returns:
            Whether it is allowed, and the header values.
        """
        period = self.limit.period_seconds
        window = int(now // period)
        if window != self._window or len(self._counts) >= self.max_clients:
            # New window (or a flood of distinct clients): start counting afresh.
            self._window = window
            self._counts = {}
        count = self._counts.get(client, 0) + 1
        self._counts[client] = count
        reset = max(1, math.ceil((window + 1) * period - now))
        allowed = count <= self.limit.requests
        return Decision(allowed, self.limit.requests, max(0, self.limit.requests - count), reset)


def client_identity(
    scope_client: tuple[str, int] | list[object] | None,
    proxy_value: bytes | None,
) -> str:
    """Who is asking: the proxy header's last hop when one is trusted, else the peer.

    The right-most ``X-Forwarded-For`` entry is the one the trusted proxy
    appended itself; entries to its left are supplied by the client.
    """
    if proxy_value:
        last = proxy_value.decode("latin-1").rsplit(",", 1)[-1].strip()
        if last:
            return last[:100]
    if scope_client:
        return str(scope_client[0])
    return "unknown"
