"""Response cache and validators keyed by build id + canonical request.

Everything a cacheable response depends on is in the key: the build id (a new
build never serves old bytes), the path, the query string with its parameters
sorted, whether CSV was asked for through ``Accept``, and ``HX-Request`` (pages
render fragments for htmx). The ETag is a hash of the same key, so it can be
checked before any work is done.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass


def canonical_query(query_string: bytes) -> bytes:
    """The query string with its ``&``-separated parameters sorted.

    Sorting the raw pairs (no decoding) is enough for a cache key: two
    spellings of the same value get two entries, never a wrong answer.
    """
    if b"&" not in query_string:
        return query_string
    return b"&".join(sorted(query_string.split(b"&")))


def cache_key(build_id: bytes, path: bytes, query_string: bytes, csv: bool, htmx: bool) -> bytes:
    """The key of one cacheable representation."""
    flags = b"|c" if csv else b"|j"
    if htmx:
        flags += b"h"
    return build_id + b"|" + path + b"|" + canonical_query(query_string) + flags


def etag_for(key: bytes) -> bytes:
    """A strong ETag derived from the cache key (quoted, as the header wants)."""
    return b'"' + hashlib.blake2b(key, digest_size=12).hexdigest().encode() + b'"'


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


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A complete 200 response: headers (without per-request ones) and body."""

    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    route: str
    etag: bytes

    @property
    def size(self) -> int:
        """Approximate memory held, for the byte budget."""
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 200


class ResponseCache:
    """An LRU of responses bounded by entry count and bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, CachedResponse] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> CachedResponse | None:
        """The cached response for ``key``, marking it recently used."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, entry: CachedResponse) -> None:
        """Store a response, evicting the least recently used ones over budget."""
        if entry.size > self.max_bytes // 4:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[key] = entry
        self._bytes += entry.size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    def clear(self) -> None:
        """Drop everything (a new build was opened)."""
        self._entries.clear()
        self._bytes = 0
