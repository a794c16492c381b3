"""The rate limiter's algorithm: a sliding budget (GCRA) in bounded memory.

The shared-store case (several worker processes, a real Valkey/Redis) is in
``test_serve_edge.py``; these drive the in-process table with explicit times.
"""

from __future__ import annotations

from serve.ratelimit import OVERFLOW, MemoryGcra
from serve.settings import RateLimit


def test_gcra_has_no_window_edge_to_burst_across() -> None:
    limiter = MemoryGcra(RateLimit(20, 60))
    # A whole budget at the end of one minute...
    assert all(limiter.hit("a", 59.0 + i * 0.01).allowed for i in range(20))
    # ...leaves nothing at the start of the next: a fixed window allowed 20 more here.
    assert sum(limiter.hit("a", 60.1 + i * 0.01).allowed for i in range(20)) == 0
    # The budget comes back at 20/minute: one request per 3 s.
    assert limiter.hit("a", 62.3).allowed
    assert not limiter.hit("a", 62.4).allowed


def test_gcra_memory_is_bounded_and_never_forgives_a_blocked_client_early() -> None:
    limiter = MemoryGcra(RateLimit(5, 3600), max_clients=100)
    for i in range(5):
        assert limiter.hit("blocked", float(i)).allowed
    assert not limiter.hit("blocked", 10.0).allowed
    # Thousands of fresh identities in the same hour...
    for n in range(5000):
        limiter.hit(f"rotating-{n}", 11.0 + n * 0.001)
    assert len(limiter) <= 100 + 1  # the clients and the overflow bucket
    # ...neither grow the table nor unblock the first client.
    assert not limiter.hit("blocked", 20.0).allowed
    # New identities beyond the bound share one bucket, which soon runs dry.
    assert not limiter.hit("yet-another", 21.0).allowed
    assert OVERFLOW in limiter._tat


def test_an_unreachable_shared_store_lets_requests_through() -> None:
    import asyncio

    from litestar.stores.redis import RedisStore

    from serve.ratelimit import RedisGcra
    from tests.fixtures.server import free_port

    async def hit() -> bool:
        store = RedisStore.with_client(url=f"redis://127.0.0.1:{free_port()}/0")
        limiter = RedisGcra(store, RateLimit(1, 60))
        first = await limiter.hit("a")
        second = await limiter.hit("a")
        return first.allowed and second.allowed

    # The API stays up while the limiter's store is down (the outage is logged).
    assert asyncio.run(hit())
