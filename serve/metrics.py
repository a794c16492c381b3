"""Prometheus metrics, one registry per app (tests build many apps).

The edge records every request itself, cache hits included, with the route
template as label so the label set stays bounded. (Litestar's Prometheus
middleware runs after routing and would not see responses the edge serves
from cache.) With several workers each has its own numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Request counters and latency histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pypi_trends_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "pypi_trends_request_duration_seconds",
            "Time from request to last response byte, by route template",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "pypi_trends_response_cache",
            "Response cache lookups by result",
            ["result"],
            registry=self.registry,
        )
        self.build = Gauge(
            "pypi_trends_build_info",
            "The build being served (value 1, build id as label)",
            ["build_id"],
            registry=self.registry,
        )
        self.swaps = Counter(
            "pypi_trends_build_swaps", "New builds opened while running", registry=self.registry
        )
        # Bound children, looked up once per label set (cheaper than .labels()).
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._durations: dict[str, Histogram] = {}

    def observe(self, route: str, method: str, status: int, seconds: float, cache: str) -> None:
        """Record one finished request."""
        key = (route, method, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        hist = self._durations.get(route)
        if hist is None:
            hist = self._durations[route] = self.duration.labels(route)
        hist.observe(seconds)
        if cache:
            self.cache.labels(cache).inc()

    def set_build(self, build_id: str, swapped: bool) -> None:
        """Publish the served build id."""
        self.build.clear()
        self.build.labels(build_id).set(1)
        if swapped:
            self.swaps.inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
