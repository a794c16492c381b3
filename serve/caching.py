"""Response cache pieces for Litestar's ``ResponseCacheConfig``, and the build-id ETag.

Everything a cacheable response depends on is in the key: the build id (a new
build never serves old bytes), the scheme and Host (pages write absolute links
into their embed and badge snippets; Host is allow-listed first), the path, the
query string with its parameters sorted, whether CSV was asked for through
``Accept``, the content coding (compressed bytes are what the cache stores) and
the exact value of ``HX-Request`` (pages render a fragment only when it is
``true``; keying on mere presence let ``HX-Request: no`` store a full page
under the key a real htmx request then read). The ETag is a hash of the same
key, so a matching ``If-None-Match`` is answered before any work is done
(Litestar has no conditional-request support to do that).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from litestar import Request
from litestar.stores.base import Store
from litestar.types import Scope

T = TypeVar("T")
# Longest HX-Request value kept verbatim in the key (real ones are "true").
_HX_MAX = 32


def canonical_query(query_string: bytes) -> bytes:
    """The query string with its ``&``-separated parameters sorted.

    Sorting the raw pairs (no decoding) is enough for a cache key: two
    spellings of the same value get two entries, never a wrong answer.
    """
    if b"&" not in query_string:
        return query_string
    return b"&".join(sorted(query_string.split(b"&")))


def scope_key(build_id: Callable[[], str | None]) -> Callable[[Scope], str]:
    """The cache key of a request's scope over the current build id (also the ETag's input).

    The key is computed once per request and kept in its scope state: it is
    used before routing (cache hits), when Litestar looks up and again when it
    stores, and a build swap in between must not file the old build's bytes
    under the new id.
    """

    def build(scope: Scope) -> str:
        state = scope["state"]
        key: str | None = state.get("cache_key")
        if key is None:
            hx = accept = coding = host = None
            for name, value in scope["headers"]:
                if name == b"hx-request" and hx is None:
                    hx = value[:_HX_MAX].decode("latin-1").replace("|", "%7C")
                elif name == b"accept" and accept is None:
                    accept = value
                elif name == b"accept-encoding" and coding is None:
                    coding = value
                elif name == b"host" and host is None:
                    host = value.decode("latin-1")
            csv = "c" if accept is not None and b"text/csv" in accept else "j"
            gz = "gz" if coding is not None and b"gzip" in coding else "id"
            query = canonical_query(scope["query_string"]).decode("latin-1")
            # Pages write absolute links (embed and badge snippets) from scheme and Host.
            origin = f"{scope['scheme']}://{host or ''}"
            key = (
                f"{build_id() or ''}|{origin}|{scope['path']}|{query}|{csv}|{gz}|"
                f"{'-' if hx is None else hx}"
            )
            state["cache_key"] = key
        return key

    return build


def key_builder(key: Callable[[Scope], str]) -> Callable[[Request[Any, Any, Any]], str]:
    """``scope_key`` as Litestar's ``ResponseCacheConfig.key_builder`` wants it."""

    def build(request: Request[Any, Any, Any]) -> str:
        return key(request.scope)

    return build


def etag_for(key: str) -> bytes:
    """A strong ETag derived from the cache key (quoted, as the header wants)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
    return b'"' + digest.encode() + b'"'


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Whether an ``If-None-Match`` header value matches ``etag`` (weak comparison)."""
    if if_none_match.strip() == b"*":
        return True
    for candidate in if_none_match.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


class BoundedMemoryStore(Store):
    """A Litestar ``Store`` kept in process memory, bounded by entries and bytes (LRU).

    Litestar's ``MemoryStore`` grows without bound until entries expire: every
    distinct query string would stay in memory for the expiry time.

    ``peek_decoded`` keeps, next to an entry's bytes, the form a caller decoded
    them into, so a response served many times is decoded once. Each entry is
    charged twice its size against ``max_bytes`` for that reason.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._decoded: dict[str, Any] = {}
        self._bytes = 0

    @property
    def entries(self) -> int:
        """How many responses are held.

        Not ``__len__``: Litestar's store registry replaces a store that tests
        false, as an empty sized one would.
        """
        return len(self._entries)

    @staticmethod
    def _size(key: str, data: bytes) -> int:
        return 2 * len(data) + len(key) + 100

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        """Store ``value``, evicting the least recently used entries over budget."""
        data = value.encode() if isinstance(value, str) else value
        size = self._size(key, data)
        if size > self.max_bytes // 4:
            return
        if isinstance(expires_in, timedelta):
            expires_in = int(expires_in.total_seconds())
        expires = None if expires_in is None else time.monotonic() + expires_in
        self._drop(key)
        self._entries[key] = (data, expires)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        """The value for ``key`` unless missing or expired (marks it recently used)."""
        return self.peek(key)

    def peek(self, key: str) -> bytes | None:
        """``get`` without awaiting: the value for ``key`` unless missing or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def peek_decoded(self, key: str, decode: Callable[[bytes], T]) -> T | None:
        """``peek``, then ``decode`` of the value, computed once per stored value.

        The result is kept by key only: ``decode`` must give the same result for
        the same key and value, and callers must not mutate what it returns.
        """
        raw = self.peek(key)
        if raw is None:
            return None
        decoded: T | None = self._decoded.get(key)
        if decoded is None:
            decoded = self._decoded[key] = decode(raw)
        return decoded

    async def delete(self, key: str) -> None:
        """Remove ``key``."""
        self._drop(key)

    async def delete_all(self) -> None:
        """Remove everything."""
        self.clear()

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds an unexpired value."""
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        """Seconds until ``key`` expires (None: never or missing)."""
        entry = self._entries.get(key)
        if entry is None or entry[1] is None:
            return None
        return max(0, int(entry[1] - time.monotonic()))

    def clear(self) -> None:
        """Drop everything (synchronously: called when a new build is opened)."""
        self._entries.clear()
        self._decoded.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        old = self._entries.pop(key, None)
        self._decoded.pop(key, None)
        if old is not None:
            self._bytes -= self._size(key, old[0])
