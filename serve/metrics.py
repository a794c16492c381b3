"""Prometheus metrics, one registry per app (tests build many apps).

The edge records every request itself, cache hits included, with the route
template as label so the label set stays bounded. (Litestar's Prometheus
middleware runs after routing and would not see responses the edge serves
from cache.) Counting happens in plain dicts on the event loop, with no lock
per request; prometheus-client turns them into the exposition format only
when ``/metrics`` is scraped. With several workers each has its own numbers.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from serve.filecheck import REASONS

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
QUERY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)


class _Histogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        cumulative = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            out.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
        return out


class Metrics(Collector):
    """Request counters, latency histograms, cache results and the served build."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.durations: dict[str, _Histogram] = {}
        self.cache: dict[str, int] = {}
        self.queries = _Histogram(QUERY_BUCKETS)
        self.build_id = ""
        self.data_through: date | None = None
        self.swaps = 0
        # Published files refused by serve/filecheck.py, by reason (each from 0,
        # so a first refusal is an increase).
        self.swap_failures: dict[str, int] = dict.fromkeys(REASONS, 0)
        self.registry = CollectorRegistry()
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float, cache: str) -> None:
        """Record one finished request."""
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.durations.get(route)
        if hist is None:
            hist = self.durations[route] = _Histogram()
        hist.observe(seconds)
        if cache:
            self.cache[cache] = self.cache.get(cache, 0) + 1

    def observe_query(self, seconds: float) -> None:
        """Record the duration of one SQLite query."""
        self.queries.observe(seconds)

    def set_build(self, build_id: str, data_through: str, swapped: bool) -> None:
        """Publish the served build id and its last complete week."""
        self.build_id = build_id
        try:
            self.data_through = date.fromisoformat(data_through)
        except ValueError:
            self.data_through = None
        if swapped:
            self.swaps += 1

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (called by prometheus-client on scrape)."""
        requests = CounterMetricFamily(
            "pypi_trends_requests",
            "HTTP requests by route template, method and status",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in sorted(self.requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        duration = HistogramMetricFamily(
            "pypi_trends_request_duration_seconds",
            "Time from request to last response byte, by route template",
            labels=["route"],
        )
        for route, hist in sorted(self.durations.items()):
            duration.add_metric([route], hist.buckets(), hist.total)
        yield duration
        queries = HistogramMetricFamily(
            "pypi_trends_db_query_seconds", "Time of one SQLite query (cache hits do not query)"
        )
        queries.add_metric([], self.queries.buckets(), self.queries.total)
        yield queries
        cache = CounterMetricFamily(
            "pypi_trends_response_cache", "Response cache lookups by result", labels=["result"]
        )
        for result, count in sorted(self.cache.items()):
            cache.add_metric([result], count)
        yield cache
        build = GaugeMetricFamily(
            "pypi_trends_build_info", "The build being served (always 1)", labels=["build_id"]
        )
        if self.build_id:
            build.add_metric([self.build_id], 1)
        yield build
        if self.data_through is not None:
            # The served data ends when its last complete week does: Monday + 7 days.
            end = datetime.combine(self.data_through + timedelta(days=7), dtime(0), tzinfo=UTC)
            yield GaugeMetricFamily(
                "pypi_trends_data_through_age_seconds",
                "Now minus the end of the last served complete week",
                value=time.time() - end.timestamp(),
            )
        yield CounterMetricFamily(
            "pypi_trends_build_swaps", "New builds opened while running", value=self.swaps
        )
        failures = CounterMetricFamily(
            "pypi_trends_swap_failures",
            "Published files refused (the served build stays), by reason",
            labels=["reason"],
        )
        for reason, count in sorted(self.swap_failures.items()):
            failures.add_metric([reason], count)
        yield failures

    def swap_failed(self, reason: str) -> None:
        """Count a published file the server refused to switch to."""
        self.swap_failures[reason] = self.swap_failures.get(reason, 0) + 1

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
