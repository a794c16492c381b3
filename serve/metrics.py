"""Prometheus metrics: Litestar's integration, plus the few numbers only this app knows.

Per-request HTTP metrics are Litestar's (``PrometheusConfig``): its middleware
counts and times every request that reaches a route handler, labelled by route
template (``group_path``), method, status code and app name, on
prometheus-client's default registry, which Litestar's ``PrometheusController``
serves at ``/metrics``. Requests the edge answers in front of the router
(response-cache hits, refused hosts, 413/414, 429, CORS preflights, unknown
paths) never reach that middleware, so ``serve.edge.RequestContext`` records
them into the same two families through ``EdgeRecorder``, which uses the
middleware's own accessors: one request total, one latency histogram.

``AppMetrics`` is a collector on the same registry for what Litestar has no
metric for: the served build, build swaps and refused files, response-cache
results, SQLite query time. Production runs one app per process; tests build
many, and the newest app's collector replaces the previous one (a registry
refuses two collectors of the same names), while Litestar's request families
are process-wide and only ever grow.

Cost, measured with bench/bench_api.py's in-process CPU per request
(uncached 52-week series, same process, alternating, 4 rounds of 3,200
requests on a loaded 2-core machine): with Litestar's middleware 254-301 us,
with it replaced by a pass-through 215-277 us, a median difference of about
25 us, roughly 10% of the request (it calls prometheus-client's ``labels()``
four times per request, including an in-progress gauge, and builds the
request URL). Kept, as the one library piece for these metrics; the edge's
own recording keeps its labelled children (1.5 us per request).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, ClassVar

from litestar import Response, get
from litestar.enums import MediaType, ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.plugins.prometheus.middleware import PrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from serve.filecheck import REASONS
from serve.problems import COMMON_RESPONSES

PREFIX = "pypi_trends"
# Finer than prometheus-client's defaults at the low end: most answers take 1-10 ms.
BUCKETS: list[float | str] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
QUERY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)
# The path label of requests answered before routing whose route is not known.
UNROUTED = "unrouted"
# Methods recorded by name; any other a client sends is "OTHER" (a bounded label set).
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def prometheus_config() -> PrometheusConfig:
    """Litestar's Prometheus middleware, labelled by route template (bounded label set)."""
    return PrometheusConfig(
        app_name=PREFIX, prefix=PREFIX, group_path=True, buckets=BUCKETS, scopes={ScopeType.HTTP}
    )


class MetricsController(PrometheusController):
    """``GET /metrics``: Litestar's exposition of the default registry (text format).

    Re-declared only to document it in the OpenAPI schema as what it sends
    (``text/plain``) with the app's error responses; the body is Litestar's.
    """

    path = "/metrics"
    tags = ["operations"]  # noqa: RUF012 (Litestar declares it as a plain class attribute)

    @get(
        media_type=MediaType.TEXT,
        responses=COMMON_RESPONSES,
        summary="Prometheus metrics",
        description="Request counts and latencies by route template, cache results,"
        " the served build (names: the Metrics table of docs/architecture.md).",
    )
    async def get(self) -> Response[bytes]:
        """The text exposition format."""
        response: Response[bytes] = await PrometheusController.get.fn(self)
        return response


class EdgeRecorder:
    """Records a request answered in front of the router into Litestar's request families.

    The labelled children are looked up once per label set and kept:
    prometheus-client's ``labels()`` validates and locks on every call, which
    made recording cost more than answering a cache hit.
    """

    def __init__(self, config: PrometheusConfig) -> None:
        # The middleware is only used for its metric accessors (they create the
        # process-wide families on first use, with the label names given).
        self._middleware = PrometheusMiddleware(_no_app, config)
        self._app_name = config.app_name
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, path: str, method: str, status: int, seconds: float) -> None:
        """Count and time one request (``path`` is a route template or ``UNROUTED``)."""
        if method not in METHODS:
            method = "OTHER"
        key = (path, method, status)
        children = self._children.get(key)
        if children is None:
            labels: dict[str, str | int | float] = {
                "method": method,
                "path": path,
                "status_code": status,
                "app_name": self._app_name,
            }
            values = labels.values()
            children = self._children[key] = (
                self._middleware.request_count(labels).labels(*values),
                self._middleware.request_time(labels).labels(*values),
            )
        children[0].inc()
        children[1].observe(seconds)


async def _no_app(*_: Any) -> None:  # pragma: no cover - never called
    raise RuntimeError("EdgeRecorder's middleware does not handle requests")


class AppMetrics(Collector):
    """The served build, swaps and refusals, response-cache results, SQLite query time."""

    _current: ClassVar[dict[int, AppMetrics]] = {}

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        # Unregistered metric objects: collect() yields them (see the module docstring).
        self.cache = Counter(
            f"{PREFIX}_response_cache",
            "Response cache lookups by result",
            ["result"],
            registry=None,
        )
        self.queries = Histogram(
            f"{PREFIX}_db_query_seconds",
            "Time of one SQLite query (cache hits do not query)",
            buckets=QUERY_BUCKETS,
            registry=None,
        )
        self._cache_children: dict[str, Any] = {}
        self.observe_query = self.queries.observe
        self.build_id = ""
        self.data_through: date | None = None
        self.swaps = 0
        # Published files refused by serve/filecheck.py, by reason (each from 0,
        # so a first refusal is an increase).
        self.swap_failures: dict[str, int] = dict.fromkeys(REASONS, 0)
        previous = AppMetrics._current.pop(id(registry), None)
        if previous is not None:
            registry.unregister(previous)
        registry.register(self)
        AppMetrics._current[id(registry)] = self

    def cache_result(self, result: str) -> None:
        """Count one response-cache lookup (``hit`` or ``miss``)."""
        child = self._cache_children.get(result)
        if child is None:
            # labels() validates and locks on each call: look each child up once.
            child = self._cache_children[result] = self.cache.labels(result)
        child.inc()

    def set_build(self, build_id: str, data_through: str, swapped: bool) -> None:
        """Publish the served build id and its last complete week."""
        self.build_id = build_id
        try:
            self.data_through = date.fromisoformat(data_through)
        except ValueError:
            self.data_through = None
        if swapped:
            self.swaps += 1

    def swap_failed(self, reason: str) -> None:
        """Count a published file the server refused to switch to."""
        self.swap_failures[reason] = self.swap_failures.get(reason, 0) + 1

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (called by prometheus-client on scrape)."""
        yield from self.cache.collect()
        yield from self.queries.collect()
        build = GaugeMetricFamily(
            f"{PREFIX}_build_info", "The build being served (always 1)", labels=["build_id"]
        )
        if self.build_id:
            build.add_metric([self.build_id], 1)
        yield build
        if self.data_through is not None:
            # The served data ends when its last complete week does: Monday + 7 days.
            end = datetime.combine(self.data_through + timedelta(days=7), dtime(0), tzinfo=UTC)
            yield GaugeMetricFamily(
                f"{PREFIX}_data_through_age_seconds",
                "Now minus the end of the last served complete week",
                value=time.time() - end.timestamp(),
            )
        yield CounterMetricFamily(
            f"{PREFIX}_build_swaps", "New builds opened while running", value=self.swaps
        )
        failures = CounterMetricFamily(
            f"{PREFIX}_swap_failures",
            "Published files refused (the served build stays), by reason",
            labels=["reason"],
        )
        for reason, count in sorted(self.swap_failures.items()):
            failures.add_metric([reason], count)
        yield failures
