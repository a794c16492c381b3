"""Operational endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from litestar import Response, Router, get
from litestar.datastructures import State

from serve import models
from serve.db import Database
from serve.metrics import Metrics
from serve.problems import COMMON_RESPONSES


@get("/healthz", responses=COMMON_RESPONSES, summary="Liveness")
async def healthz() -> models.Health:
    """The process is up (no I/O)."""
    return models.Health(status="ok")


@get("/readyz", responses=COMMON_RESPONSES, summary="Readiness")
async def readyz(state: State) -> models.Health:
    """The build being served, and the last file refused (serve/filecheck.py); 503 if none is."""
    db: Database = state.db
    build, refused = await db.readiness()
    return models.Health(
        status="ready",
        build_id=build.build_id,
        data_through=build.data_through,
        data_through_age_days=data_through_age_days(build.data_through),
        detail=(
            f"serving build {build.build_id}, refused build {refused.build_id or '?'}: {refused}"
            if refused
            else None
        ),
    )


def data_through_age_days(data_through: str) -> float | None:
    """Days from the end of the last complete week (Monday ``data_through`` + 7) to now."""
    try:
        end = datetime.combine(
            date.fromisoformat(data_through) + timedelta(days=7), time(0), tzinfo=UTC
        )
    except ValueError:
        return None
    return round((datetime.now(UTC) - end).total_seconds() / 86400, 3)


@get(
    "/metrics",
    media_type="text/plain; version=0.0.4; charset=utf-8",
    responses=COMMON_RESPONSES,
    summary="Prometheus metrics",
    include_in_schema=True,
)
async def metrics(state: State) -> Response[bytes]:
    """Request counts, latencies, cache results and the served build (text format)."""
    registry: Metrics = state.metrics
    return Response(registry.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


ops_router = Router(path="/", route_handlers=[healthz, readyz, metrics], tags=["operations"])
