"""The server reads only the file layouts it knows (``contract.READABLE_SCHEMA_VERSIONS``).

At start-up a file of another ``schema_version`` stops the server with a clear
message; published later, it is refused and the build being served stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from contract import READABLE_SCHEMA_VERSIONS, Meta
from serve.app import create_app
from serve.settings import RateLimit, Settings
from tests.fixtures.server import free_port
from tests.fixtures.warehouse import REPO_ROOT

pytestmark = pytest.mark.anyio

UNKNOWN = str(max(READABLE_SCHEMA_VERSIONS) + 98)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _copy(published_db: Path, path: Path, *, build_id: str, schema_version: str | None) -> Path:
    path.write_bytes(published_db.read_bytes())
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE _meta SET value = ? WHERE key = ?", (build_id, Meta.BUILD_ID))
        if schema_version is not None:
            con.execute(
                "UPDATE _meta SET value = ? WHERE key = ?", (schema_version, Meta.SCHEMA_VERSION)
            )
    con.close()
    return path


def _publish(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def test_start_up_refuses_an_unknown_schema_version(published_db: Path, tmp_path: Path) -> None:
    db = _copy(published_db, tmp_path / "future.sqlite", build_id="future", schema_version=UNKNOWN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYPI_TRENDS_")}
    done = subprocess.run(
        [sys.executable, "-m", "serve", "--db", str(db), "--port", str(free_port())],
        cwd=REPO_ROOT,
        env={**env, "PYPI_TRENDS_LOG_FORMAT": "console"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    readable = ", ".join(sorted(str(v) for v in READABLE_SCHEMA_VERSIONS))
    message = f"schema_version {UNKNOWN} is not one this server reads ({readable})"
    assert f"refusing to start: {db}: {message}" in done.stderr


async def test_a_later_unknown_schema_version_is_refused_and_the_old_build_served(
    published_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = _copy(published_db, tmp_path / "a.sqlite", build_id="build-a", schema_version=None)
    bad = _copy(published_db, tmp_path / "b.sqlite", build_id="build-b", schema_version=UNKNOWN)
    newer = _copy(published_db, tmp_path / "c.sqlite", build_id="build-c", schema_version=None)
    link = tmp_path / "current.sqlite"
    _publish(link, good)
    settings = Settings(
        db_path=link,
        allowed_hosts=("testserver.local",),
        rate_limit=RateLimit(1_000_000, 60),
        reload_interval_seconds=0.05,
        response_cache=False,
    )
    app = create_app(settings)
    # create_app configures logging (Litestar's LoggingConfig), which replaces the root
    # logger's handlers, caplog's included: give it back.
    logging.getLogger().addHandler(caplog.handler)
    caplog.set_level(logging.ERROR, logger="serve.db")
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        assert (await c.get("/api/meta")).json()["build_id"] == "build-a"
        _publish(link, bad)
        await asyncio.sleep(0.5)  # ten reload intervals
        r = await c.get("/api/meta")
        assert r.status_code == 200 and r.json()["build_id"] == "build-a"
        # Readiness: still serving build-a (200), and says which file it refused and why.
        ready = await c.get("/readyz")
        assert ready.status_code == 200
        detail = ready.json()["detail"]
        assert "serving build build-a, refused build build-b" in detail
        assert f"schema_version {UNKNOWN}" in detail
        refusals = [rec for rec in caplog.records if UNKNOWN in getattr(rec, "error", "")]
        assert len(refusals) == 1, "the refused file is reported once, not retried"
        assert refusals[0].serving == "build-a"  # type: ignore[attr-defined]
        # A readable build published after it is picked up as usual.
        _publish(link, newer)
        for _ in range(100):
            if (await c.get("/api/meta")).json()["build_id"] == "build-c":
                break
            await asyncio.sleep(0.05)
        assert (await c.get("/api/meta")).json()["build_id"] == "build-c"
