"""Response security headers and CORS for the API.

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
# The OpenAPI UI loads its renderer's assets from elsewhere, so it gets the page policy minus CSP.
SCHEMA_HEADERS: Headers = list(_COMMON)


def security_headers(path: str) -> Headers:
    """The security headers for a response to ``path``."""
    if path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics"):
        return API_HEADERS
    if path.startswith("/embed/"):
        return EMBED_HEADERS
    if path.startswith("/schema"):
        return SCHEMA_HEADERS
    return PAGE_HEADERS


def cors_headers(origins: tuple[str, ...], origin: bytes | None) -> Headers:
    """``Access-Control-*`` headers for an ``/api`` response, if the origin is allowed."""
    if origin is None:
        return []
    if "*" in origins:
        allow = b"*"
    elif origin.decode("latin-1") in origins:
        allow = origin
    else:
        return []
    return [
        (b"access-control-allow-origin", allow),
        (
            b"access-control-expose-headers",
            b"ETag, X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
            b"RateLimit-Policy, Retry-After",
        ),
    ]


def preflight_headers(origins: tuple[str, ...], origin: bytes | None) -> Headers:
    """Headers answering a CORS preflight (``OPTIONS``) for ``/api``."""
    base = cors_headers(origins, origin)
    if not base:
        return []
    return [
        *base,
        (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
        (b"access-control-allow-headers", b"Accept, If-None-Match, HX-Request"),
        (b"access-control-max-age", b"86400"),
    ]
