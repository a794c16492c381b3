"""``create_app(settings)``: the one place that wires the service together.

Read top to bottom: the shared objects (database, stores, metrics), the
lifespan that opens and closes the database, the routes (API, operations,
pages), then Litestar's own features configured for them (response cache,
compression, rate limit, CORS, OpenAPI with a local UI, error handlers), and
finally the few pieces of ``serve.edge`` around Litestar's router (request id
and logs, Host check, size limits).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.config.response_cache import ResponseCacheConfig
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, Server
from litestar.routes import HTTPRoute
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.types import ASGIApp, ControllerRouterHandler, Receive, Scope, Send

from serve.caching import BoundedMemoryStore, key_builder, scope_key
from serve.db import BuildInfo, Database
from serve.dependencies import dependencies
from serve.edge import (
    CachedHits,
    Conditional,
    HostGuard,
    RequestContext,
    SizeLimit,
    header_finisher,
    headers_finisher,
)
from serve.logs import AccessLog, logging_config, use_json
from serve.metrics import AppMetrics, EdgeRecorder, MetricsController, prometheus_config
from serve.openapi_ui import LocalSwaggerUI
from serve.problems import exception_handler
from serve.ratelimit import rate_limit_config
from serve.routes.api import api_router
from serve.routes.badge import badge_router
from serve.routes.ops import ops_router
from serve.settings import Settings
from serve.web import web_pages
from serve.web.routes import error_page

API_DESCRIPTION = """Weekly PyPI download trends from the published SQLite file.

Every error is `application/problem+json` (RFC 9457; a client that asks for
`text/html` first gets the site's error page instead) with `type`, `title`,
`status`, `detail`, `instance`, `request_id`, and `suggestions` (unknown
package) or `errors` (invalid parameters). Responses carry `ETag`
(build id + canonical query), `Cache-Control`, `X-Request-ID` and
`RateLimit-*` headers. Tables are also available as CSV (`?format=csv` or
`Accept: text/csv`)."""


def create_app(settings: Settings) -> Litestar:
    """Build the ASGI application.

    Args:
        settings: Everything configurable (see ``Settings``).

    Returns:
        The Litestar app (its ``asgi_handler`` wrapped by the edge).
    """
    if settings.sentry_dsn:
        import sentry_sdk
        from sentry_sdk.integrations.litestar import LitestarIntegration

        sentry_sdk.init(dsn=settings.sentry_dsn, integrations=[LitestarIntegration()])

    metrics = AppMetrics()
    prometheus = prometheus_config()
    db = Database(
        settings.db_path,
        pool_size=settings.db_pool_size,
        query_timeout=settings.query_timeout_seconds,
        reload_interval=settings.reload_interval_seconds,
        observe_query=metrics.observe_query,
    )
    cache = BoundedMemoryStore(settings.cache_max_entries, settings.cache_max_bytes)
    stores: dict[str, Store] = {"response_cache": cache, "rate_limit": _rate_limit_store(settings)}

    def on_new_build(build: BuildInfo, previous: str | None) -> None:
        # Keys carry the build id, so old entries could never be read again: free them.
        cache.clear()
        metrics.set_build(build.build_id, build.data_through, swapped=previous is not None)

    db.on_swap.append(on_new_build)
    db.on_refuse.append(metrics.swap_failed)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await db.start()
        try:
            yield
        finally:
            await db.close()

    def build_id() -> str | None:
        return db.build_id

    cache_key = scope_key(build_id)
    # Route templates of cached paths (for the metrics of hits answered before routing).
    cached_routes: dict[str, str] = {}
    pages = web_pages()
    routers: list[ControllerRouterHandler] = [
        api_router,
        badge_router,
        ops_router,
        MetricsController,
        pages.router,
    ]
    # Handlers mark themselves cacheable with opt={"cache": True}; Litestar's response
    # cache reads the handler's `cache` attribute, set here from the settings.
    for handler in _http_handlers(routers):
        if handler.opt.get("cache", False):
            handler.cache = settings.cache_max_age_seconds if settings.response_cache else False
    cors = CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "HEAD", "OPTIONS"],
        # Lower case: Litestar compares the preflight's requested names, lowered, with these.
        allow_headers=["accept", "if-none-match", "hx-request"],
        expose_headers=[
            "ETag",
            "X-Request-ID",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "RateLimit-Policy",
            "Retry-After",
        ],
        max_age=86400,
    )
    finish = headers_finisher(cors_vary="*" not in settings.cors_origins)
    app = Litestar(
        route_handlers=routers,
        lifespan=[lifespan],
        dependencies=dependencies(db),
        # One classifier for every error: problem+json, or the error page for browsers.
        exception_handlers={Exception: exception_handler(error_page)},
        openapi_config=OpenAPIConfig(
            title="PyPI Trends API",
            version="1",
            description=API_DESCRIPTION,
            path="/schema",
            render_plugins=[LocalSwaggerUI(pages.assets)],
            servers=[Server(url="/")],
            components=Components(),
        ),
        template_config=pages.template_config,
        request_max_body_size=settings.max_body_bytes,
        stores=stores,
        response_cache_config=ResponseCacheConfig(
            key_builder=key_builder(cache_key), store="response_cache", default_expiration=None
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=512),
        middleware=[
            # Outermost of the route middleware, so it also times Conditional's 304s.
            prometheus.middleware,
            DefineMiddleware(
                Conditional,
                key=cache_key,
                build_id=build_id,
                max_age=settings.cache_max_age_seconds,
                routes=cached_routes,
            ),
        ],
        before_send=[header_finisher(finish)],
        logging_config=logging_config(settings.log_format, settings.log_level),
    )
    # Outermost first: request id + log/metrics, Host, sizes, CORS for /api (Litestar's
    # CORSConfig applies to every path; the API is what browsers read cross-origin),
    # the rate limit, and cache hits, all in front of Litestar's router.
    limit = rate_limit_config(settings.rate_limit, settings.trusted_proxy_header)
    hits = CachedHits(
        app.asgi_handler,
        store=cache,
        key=cache_key,
        build_id=build_id,
        max_age=settings.cache_max_age_seconds,
        routes=cached_routes,
        finish=finish,
    )
    app.asgi_handler = RequestContext(
        HostGuard(
            SizeLimit(
                _ApiCors(limit.middleware_class(hits, limit), cors),
                settings.max_path_length,
                settings.max_query_length,
                settings.max_body_bytes,
            ),
            settings.allowed_hosts,
        ),
        metrics,
        EdgeRecorder(prometheus),
        AccessLog(sys.stderr, json=use_json(settings.log_format)),
    )
    return app


class _ApiCors:
    """Litestar's CORS middleware (from ``CORSConfig``) on ``/api/`` paths only.

    Only requests with an ``Origin`` header reach it: without one Litestar's
    middleware passes the request on untouched, after building a ``Headers``
    object to find that out.
    """

    def __init__(self, app: ASGIApp, config: CORSConfig) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and scope["path"].startswith("/api/")
            and any(name == b"origin" for name, _ in scope["headers"])
        ):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _rate_limit_store(settings: Settings) -> Store:
    """Valkey/Redis when configured (shared by workers), else process memory (one worker)."""
    if settings.redis_url:
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace="pypi_trends")
    return MemoryStore()


def _http_handlers(layers: Iterable[Any]) -> Iterable[HTTPRouteHandler]:
    for layer in layers:
        if isinstance(layer, HTTPRouteHandler):
            yield layer
        elif isinstance(layer, Router):
            for route in layer.routes:
                if isinstance(route, HTTPRoute):
                    yield from route.route_handlers
