"""The one error shape: RFC 9457 ``application/problem+json``.

Every error, whether raised by a handler (:class:`ApiProblem`), by Litestar
(validation, 404 for unknown paths, 405) or by the edge (429, 414, bad Host),
is rendered by :func:`problem_body` into the same :class:`Problem` struct.
"""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from serve.db import DatabaseUnavailable, QueryTimeout, TooManyRows

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:pypi-trends:problem:"

log = logging.getLogger("serve.errors")


class ProblemError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One invalid input: which parameter and why."""

    message: str
    parameter: str | None = None


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem details object with this API's extension members."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    request_id: str | None = None
    suggestions: list[str] | None = None
    errors: list[ProblemError] | None = None


class ApiProblem(Exception):
    """Raise from a handler to answer with a problem response."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        suggestions: list[str] | None = None,
        errors: list[ProblemError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.suggestions = suggestions
        self.errors = errors
        self.headers = headers or {}


def bad_request(parameter: str, message: str) -> ApiProblem:
    """A 400 for one invalid parameter."""
    return ApiProblem(
        400,
        "invalid-parameter",
        f"{parameter}: {message}",
        errors=[ProblemError(message=message, parameter=parameter)],
    )


_ENCODER = msgspec.json.Encoder()


def problem_body(
    status: int,
    slug: str,
    detail: str,
    *,
    instance: str = "",
    request_id: str | None = None,
    suggestions: list[str] | None = None,
    errors: list[ProblemError] | None = None,
) -> bytes:
    """Encode a problem as JSON bytes.

    Args:
        status: HTTP status.
        slug: Short machine-readable kind, appended to the ``type`` URN.
        detail: Human-readable explanation of this occurrence.
        instance: The request path.
        request_id: The request id (also in the ``X-Request-ID`` header).
        suggestions: Close matches for an unknown package.
        errors: Per-parameter validation errors.

    Returns:
        The encoded body.
    """
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return _ENCODER.encode(
        Problem(
            type=TYPE_PREFIX + slug,
            title=title,
            status=status,
            detail=detail,
            instance=instance,
            request_id=request_id,
            suggestions=suggestions,
            errors=errors,
        )
    )


def _response(
    request: Request[Any, Any, Any], status: int, slug: str, detail: str, **kw: Any
) -> Response[bytes]:
    headers = kw.pop("headers", None) or {}
    body = problem_body(
        status,
        slug,
        detail,
        instance=request.scope.get("path", ""),
        request_id=request.scope.get("state", {}).get("request_id"),
        **kw,
    )
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def handle_api_problem(request: Request[Any, Any, Any], exc: ApiProblem) -> Response[bytes]:
    """Render an :class:`ApiProblem`."""
    return _response(
        request,
        exc.status,
        exc.slug,
        exc.detail,
        suggestions=exc.suggestions,
        errors=exc.errors,
        headers=exc.headers,
    )


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Render Litestar's parameter validation errors as one 400 problem."""
    errors: list[ProblemError] = []
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                errors.append(
                    ProblemError(
                        message=str(item.get("message", "invalid")), parameter=item.get("key")
                    )
                )
    detail = "; ".join(f"{e.parameter}: {e.message}" if e.parameter else e.message for e in errors)
    return _response(
        request, 400, "invalid-parameter", detail or str(exc.detail), errors=errors or None
    )


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Render Litestar's own HTTP errors (unknown path, wrong method, body too large)."""
    slugs = {404: "not-found", 405: "method-not-allowed", 413: "request-too-large"}
    slug = slugs.get(exc.status_code, "http-error")
    headers = dict(exc.headers or {})
    return _response(request, exc.status_code, slug, str(exc.detail), headers=headers)


def handle_db(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Render database limits: timeouts and oversized results."""
    if isinstance(exc, QueryTimeout):
        return _response(
            request, 503, "query-timeout", "the query took too long; narrow start/end or retry"
        )
    if isinstance(exc, TooManyRows):
        return _response(
            request, 400, "result-too-large", "the result is too large; narrow start/end"
        )
    return _response(request, 503, "database-unavailable", "the data file is not available")


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Log an unexpected error and answer 500 without leaking internals."""
    log.error("unhandled error", exc_info=exc, extra={"path": request.scope.get("path")})
    return _response(request, 500, "internal-error", "an unexpected error occurred")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    ApiProblem: handle_api_problem,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    QueryTimeout: handle_db,
    TooManyRows: handle_db,
    DatabaseUnavailable: handle_db,
    # The file failed under a request (truncated, replaced in place, I/O):
    # a storage fault, retryable once a valid build is published.
    sqlite3.DatabaseError: handle_db,
    Exception: handle_unexpected,
}


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
    )


# Documented on every route: what the edge and the error handlers can answer.
COMMON_RESPONSES: dict[int, ResponseSpec] = {
    400: _spec("Invalid parameter or Host header (problem+json, `errors` lists each parameter)"),
    414: _spec("Path or query string too long"),
    429: _spec("Rate limit exceeded; see `Retry-After` and `RateLimit-*` headers"),
    500: _spec("Unexpected error"),
    503: _spec("Query timed out or the data file is unavailable"),
}
PACKAGE_RESPONSES: dict[int, ResponseSpec] = {
    **COMMON_RESPONSES,
    404: _spec("Unknown package; `suggestions` lists close matches"),
}

__all__ = [
    "COMMON_RESPONSES",
    "EXCEPTION_HANDLERS",
    "PACKAGE_RESPONSES",
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "Problem",
    "ProblemError",
    "bad_request",
    "problem_body",
]
