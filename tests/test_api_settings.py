"""Settings, the command line, and the database layer's limits."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from serve.db import Database, QueryTimeout, TooManyRows
from serve.settings import RateLimit, Settings, SettingsError
from tests.fixtures.warehouse import REPO_ROOT

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_defaults_match_the_contract() -> None:
    s = Settings.from_env({})
    assert s.db_path == Path("data/pypi_trends.sqlite")
    assert (s.host, s.port, s.workers, s.log_format) == ("127.0.0.1", 8000, 1, "auto")
    assert s.allowed_hosts == ("127.0.0.1", "localhost")
    assert s.trusted_proxy_header is None and s.sentry_dsn is None
    assert s.rate_limit == RateLimit(600, 60)


def test_environment_overrides() -> None:
    s = Settings.from_env(
        {
            "PYPI_TRENDS_DB": "/srv/x.sqlite",
            "PYPI_TRENDS_PORT": "9000",
            "PYPI_TRENDS_WORKERS": "3",
            "PYPI_TRENDS_LOG_FORMAT": "json",
            "PYPI_TRENDS_ALLOWED_HOSTS": "a.example, b.example",
            "PYPI_TRENDS_TRUSTED_PROXY_HEADER": "X-Forwarded-For",
            "PYPI_TRENDS_RATE_LIMIT": "10/second",
            "PYPI_TRENDS_RESPONSE_CACHE": "off",
            "SENTRY_DSN": "",
        }
    )
    assert s.db_path == Path("/srv/x.sqlite") and s.port == 9000 and s.workers == 3
    assert s.allowed_hosts == ("a.example", "b.example")
    assert s.rate_limit == RateLimit(10, 1)
    assert s.response_cache is False and s.sentry_dsn is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PYPI_TRENDS_PORT", "eighty"),
        ("PYPI_TRENDS_PORT", "70000"),
        ("PYPI_TRENDS_LOG_FORMAT", "xml"),
        ("PYPI_TRENDS_RATE_LIMIT", "lots"),
        ("PYPI_TRENDS_RATE_LIMIT", "0/minute"),
        ("PYPI_TRENDS_RESPONSE_CACHE", "maybe"),
    ],
)
def test_bad_environment_values_are_rejected(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert value in str(caught.value)


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serve", *args],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_help_and_bad_settings() -> None:
    helped = _serve("--help")
    assert helped.returncode == 0 and "PYPI_TRENDS_DB" in helped.stdout
    bad = _serve(env={"PYPI_TRENDS_RATE_LIMIT": "fast"})
    assert bad.returncode == 2
    assert "rate limit 'fast'" in bad.stderr


async def test_connections_are_read_only_and_bounded(published_db: Path) -> None:
    db = Database(published_db, pool_size=1, query_timeout=1.0)
    await db.start()
    try:
        reader = await db.acquire()
        try:
            with pytest.raises(sqlite3.OperationalError):
                await reader.fetch("CREATE TABLE evil (x)", (), max_rows=1)
            with pytest.raises(sqlite3.OperationalError):
                await reader.fetch("DELETE FROM packages", (), max_rows=1)
            endless = (
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT count(*) FROM c"
            )
            with pytest.raises(QueryTimeout):
                await reader.fetch(endless, (), max_rows=1)
            with pytest.raises(QueryTimeout):
                await reader.fetch(endless, (), max_rows=1, inline=True)
            # Over the inline budget (5 ms) but within the full one: finished on the thread.
            longer = (
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
                "SELECT count(*) FROM c"
            )
            assert await reader.fetch(longer, (), max_rows=1, inline=True) == [(300000,)]
            with pytest.raises(sqlite3.OperationalError):
                await reader.fetch("DELETE FROM packages", (), max_rows=1, inline=True)
            with pytest.raises(TooManyRows):
                await reader.fetch("SELECT package_name FROM packages LIMIT 3", (), max_rows=1)
            # The connection is still usable after an interrupted query.
            rows = await reader.fetch("SELECT count(*) FROM packages", (), max_rows=1)
            assert rows[0][0] > 0
        finally:
            db.release(reader)
    finally:
        await db.close()


SENTRY_PROBE = """
import sentry_sdk
from serve.app import create_app
from serve.settings import Settings
create_app(Settings.from_env())
print(sentry_sdk.get_client().is_active())
"""


@pytest.mark.parametrize(
    ("dsn", "active"), [("", "False"), ("https://key@sentry.invalid/1", "True")]
)
def test_sentry_only_with_a_dsn(dsn: str, active: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SENTRY_PROBE],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "SENTRY_DSN": dsn},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == active
