"""``create_app(settings)``: the one place that wires the service together.

Read top to bottom: the shared objects (database, cache, limiter, metrics),
the lifespan that opens and closes the database, the routes (API, operations,
and pages when present), OpenAPI, error handlers, and finally the edge layer
that wraps Litestar's router (request id, limits, cache, headers, logs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, Server

from serve.caching import ResponseCache
from serve.db import BuildInfo, Database
from serve.dependencies import dependencies
from serve.edge import Edge
from serve.logs import AccessLog, make_access_log
from serve.metrics import Metrics
from serve.problems import exception_handler
from serve.ratelimit import RateLimiter
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


def create_app(settings: Settings, *, access_log: AccessLog | None = None) -> Litestar:
    """Build the ASGI application.

    Args:
        settings: Everything configurable (see ``Settings``).
        access_log: Where request lines go (default: stderr in ``settings.log_format``).

    Returns:
        The Litestar app (its ``asgi_handler`` wrapped by the edge).
    """
    if settings.sentry_dsn:
        import sentry_sdk
        from sentry_sdk.integrations.litestar import LitestarIntegration

        sentry_sdk.init(dsn=settings.sentry_dsn, integrations=[LitestarIntegration()])

    metrics = Metrics()
    db = Database(
        settings.db_path,
        pool_size=settings.db_pool_size,
        query_timeout=settings.query_timeout_seconds,
        reload_interval=settings.reload_interval_seconds,
        observe_query=metrics.observe_query,
    )
    cache = (
        ResponseCache(settings.cache_max_entries, settings.cache_max_bytes)
        if settings.response_cache
        else None
    )

    def on_new_build(build: BuildInfo, previous: str | None) -> None:
        if cache is not None:
            cache.clear()
        metrics.set_build(build.build_id, build.data_through, swapped=previous is not None)

    db.on_swap.append(on_new_build)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await db.start()
        try:
            yield
        finally:
            await db.close()

    # The HTML pages (serve/web): same database, same edge (cache, limits, headers).
    pages = web_pages()
    app = Litestar(
        route_handlers=[api_router, badge_router, ops_router, pages.router],
        lifespan=[lifespan],
        dependencies=dependencies(db),
        state=State({"metrics": metrics}),
        # One classifier for every error: problem+json, or the error page for browsers.
        exception_handlers={Exception: exception_handler(error_page)},
        openapi_config=OpenAPIConfig(
            title="PyPI Trends API",
            version="1",
            description=API_DESCRIPTION,
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            servers=[Server(url="/")],
            components=Components(),
        ),
        template_config=pages.template_config,
        request_max_body_size=settings.max_body_bytes,
        # Logging is configured by serve.logs (JSON or console), not by Litestar.
        logging_config=None,
    )
    # The edge wraps Litestar's router (not a route-level middleware) so it also
    # sees unknown paths and can answer cache hits before routing.
    app.asgi_handler = Edge(
        app.asgi_handler,
        settings=settings,
        db=db,
        cache=cache,
        limiter=RateLimiter(settings.rate_limit),
        metrics=metrics,
        access_log=access_log or make_access_log(settings.log_format),
    )
    return app
