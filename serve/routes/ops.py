"""Operational endpoints: liveness, readiness (``/metrics`` is ``serve.metrics``)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from litestar import Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency

from serve import models
from serve.db import BuildInfo, Database
from serve.filecheck import FileRefused
from serve.problems import COMMON_RESPONSES


@get("/healthz", responses=COMMON_RESPONSES, summary="Liveness")
async def healthz() -> models.Health:
    """The process is up (no I/O)."""
    return models.Health(status="ok")


# Probe results are reused this long: a flood of /readyz opens the file once a second
# at most (the endpoint is rate limited like the API, too).
READY_CACHE_SECONDS = 1.0


@get("/readyz", responses=COMMON_RESPONSES, summary="Readiness")
async def readyz(db: NamedDependency[Database], state: State) -> models.Health:
    """The build being served, and the last file refused (serve/filecheck.py); 503 if none is."""
    now = time.monotonic()
    cached: tuple[float, BuildInfo, FileRefused | None] | None = state.get("ready_probe")
    if cached is not None and now - cached[0] < READY_CACHE_SECONDS:
        _, build, refused = cached
    else:
        build, refused = await db.readiness()
        state["ready_probe"] = (now, build, refused)
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
            date.fromisoformat(data_through) + timedelta(days=7), dtime(0), tzinfo=UTC
        )
    except ValueError:
        return None
    return round((datetime.now(UTC) - end).total_seconds() / 86400, 3)


ops_router = Router(path="/", route_handlers=[healthz, readyz], tags=["operations"])
