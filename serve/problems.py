"""Every error, classified once and rendered in one of two forms.

:func:`classify` turns any exception (raised by a handler, by Litestar for an
unknown path or a bad parameter, or by the storage) into one
:class:`Classified` answer; :func:`exception_handler` renders it as RFC 9457
``application/problem+json`` for API clients, or through the site's HTML
error page for browsers (``Accept: text/html``, or any page route unless JSON
was asked for). ``problem_body`` is also used by the edge for the answers it
gives before routing.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from serve.db import DatabaseUnavailable, QueryTimeout, TooManyRows, UnreadableSchema

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
    """Raise from a handler to answer with a problem (JSON or HTML page)."""

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


class InvalidParameter(ApiProblem):
    """A 400 for one request parameter the server cannot use."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(
            400,
            "invalid-parameter",
            f"{parameter}: {message}",
            errors=[ProblemError(message=message, parameter=parameter)],
        )
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True, slots=True)
class Classified:
    """What any error means to the client, whatever form it is rendered in."""

    status: int
    slug: str
    detail: str
    suggestions: list[str] | None = None
    errors: list[ProblemError] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The status's reason phrase."""
        return _title(self.status)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_HTTP_SLUGS = {
    404: "not-found",
    405: "method-not-allowed",
    413: "request-too-large",
    414: "uri-too-long",
    429: "rate-limited",
}


def classify(exc: Exception, path: str = "") -> Classified:
    """The one answer for an exception (unexpected ones are logged here).

    Args:
        exc: What was raised while handling the request.
        path: The request path, for the log line of an unexpected error.

    Returns:
        Status, problem kind, detail and extension members.
    """
    if isinstance(exc, ApiProblem):
        return Classified(
            exc.status, exc.slug, exc.detail, exc.suggestions, exc.errors, exc.headers
        )
    if isinstance(exc, ValidationException):
        errors = [
            ProblemError(message=str(item.get("message", "invalid")), parameter=item.get("key"))
            for item in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(item, dict)
        ]
        detail = "; ".join(
            f"{e.parameter}: {e.message}" if e.parameter else e.message for e in errors
        )
        return Classified(
            400, "invalid-parameter", detail or str(exc.detail), errors=errors or None
        )
    if isinstance(exc, HTTPException):
        slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
        return Classified(exc.status_code, slug, str(exc.detail), headers=dict(exc.headers or {}))
    if isinstance(exc, QueryTimeout):
        return Classified(
            503, "query-timeout", "the query took too long; narrow the range or retry"
        )
    if isinstance(exc, TooManyRows):
        return Classified(400, "result-too-large", "the result is too large; narrow the range")
    if isinstance(exc, UnreadableSchema):
        return Classified(
            503,
            "unreadable-schema",
            "the published file's schema_version is not one this server reads",
        )
    if isinstance(exc, DatabaseUnavailable):
        return Classified(503, "database-unavailable", "the data file is not available")
    if isinstance(exc, sqlite3.Error):
        log.warning("storage error", extra={"path": path, "error": str(exc)})
        return Classified(503, "storage-error", "the data file could not be read; retry shortly")
    log.error("unhandled error", exc_info=exc, extra={"path": path})
    return Classified(500, "internal-error", "an unexpected error occurred")


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
    return _ENCODER.encode(
        Problem(
            type=TYPE_PREFIX + slug,
            title=_title(status),
            status=status,
            detail=detail,
            instance=instance,
            request_id=request_id,
            suggestions=suggestions,
            errors=errors,
        )
    )


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """Whether to answer with the HTML page: HTML accepted, or a page route and no JSON asked."""
    accept = b""
    for name, value in request.scope["headers"]:
        if name == b"accept":
            accept = value
            break
    html, json = accept.find(b"text/html"), accept.find(b"json")
    if html >= 0 or json >= 0:
        # Whichever the client names first (browsers name HTML first, API clients JSON).
        return json < 0 or 0 <= html < json
    handler = request.scope.get("route_handler")
    return handler is not None and bool(handler.opt.get("page", False))


HtmlRenderer = Callable[[Request[Any, Any, Any], Classified], Response[Any]]


def exception_handler(
    html: HtmlRenderer | None,
) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    """The app's one exception handler.

    Args:
        html: Renders the site's error page (None: problem+json only).

    Returns:
        A Litestar exception handler for ``Exception``.
    """

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        path = request.scope.get("path", "")
        problem = classify(exc, path)
        # The same URL answers in two forms: shared caches must keep them apart.
        problem.headers.setdefault("vary", "Accept")
        if html is not None and wants_html(request):
            return html(request, problem)
        body = problem_body(
            problem.status,
            problem.slug,
            problem.detail,
            instance=path,
            request_id=request.scope.get("state", {}).get("request_id"),
            suggestions=problem.suggestions,
            errors=problem.errors,
        )
        return Response(
            body,
            status_code=problem.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=problem.headers,
        )

    return handle


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
    )


# Documented on every route: what the edge and the error handler can answer.
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
