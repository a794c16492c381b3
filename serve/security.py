"""Response security headers (CORS is Litestar's ``CORSConfig``, wired in ``serve.app``).

The API only returns data, so its policy forbids everything a browser could
do with it; pages (added later under ``/``) get a policy that allows their own
scripts and styles; ``/embed/`` pages may be framed anywhere.
"""

from __future__ import annotations

Headers = list[tuple[bytes, bytes]]

_COMMON: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
API_HEADERS: Headers = [
    *_COMMON,
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
]
PAGE_HEADERS: Headers = [
    *_COMMON,
    (
        b"content-security-policy",
        # Pages load scripts and styles from 'self' only: no inline code, no eval
        # (htmx runs with allowEval=false; charts set styles through the CSSOM).
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
]
EMBED_HEADERS: Headers = [
    *_COMMON,
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'self'",
    ),
]


def security_headers(path: str) -> Headers:
    """The security headers for a response to ``path``."""
    if path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics"):
        return API_HEADERS
    if path.startswith("/embed/"):
        return EMBED_HEADERS
    return PAGE_HEADERS
