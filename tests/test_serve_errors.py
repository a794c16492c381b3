"""One error classifier, two renderings: every route and unknown paths, as JSON and as HTML.

Also: repeated and comma-separated list parameters mean the same everywhere,
and a storage error during a request is a 503. The app is the real one on a
file from the real exporter; expected numbers come from plain ``sqlite3``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from serve.app import create_app
from serve.problems import classify
from serve.settings import RateLimit, Settings
from tests.test_api import assert_problem

pytestmark = pytest.mark.anyio

JSON = {"Accept": "application/json"}
# What a browser sends for a navigation.
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _settings(db: Path) -> Settings:
    return Settings(
        db_path=db,
        allowed_hosts=("testserver.local", "127.0.0.1", "localhost"),
        rate_limit=RateLimit(1_000_000, 60),
    )


@pytest.fixture
def app(published_db: Path) -> Litestar:
    return create_app(_settings(published_db))


@pytest.fixture(scope="module")
def top(sql: sqlite3.Connection) -> str:
    return str(sql.execute("SELECT package_name FROM packages ORDER BY rank LIMIT 1").fetchone()[0])


# (url, status): at least one error of every route, and paths that match no route.
ROUTE_ERRORS = [
    # API
    ("/api/packages?limit=0", 400),
    ("/api/packages/no-such-package-zz", 404),
    ("/api/packages/{top}/downloads?exclude=bots", 400),
    ("/api/packages/{top}/badge?period=forever", 400),
    ("/api/packages/{top}/operating_systems", 400),
    ("/api/compare?packages=", 400),
    ("/api/trending?weeks=0", 400),
    ("/api/overall?start=yesterday", 400),
    ("/api/meta?x=1", 405),  # DELETE below
    # operations and docs
    ("/healthz", 405),
    ("/readyz", 405),
    ("/metrics", 405),
    ("/schema/openapi.json", 405),
    # pages
    ("/", 405),
    ("/compare?packages=bad%20name!", 400),
    ("/compare/{top}?range=7y", 400),
    ("/compare/%3Cscript%3E", 400),
    ("/packages/zzz-nope-zz", 404),
    ("/trending?weeks=3", 400),
    ("/web/search?packages=bad%20name!", 400),
    ("/web/add?packages=bad%20name!", 400),
    ("/compare-data.csv?packages={top}&chart=pie", 400),
    ("/compare-data.json?packages=zzz-nope-zz", 404),
    ("/embed/compare/zzz-nope-zz", 404),
    ("/embed/compare?packages=", 400),
    ("/static/abc/nothing.js", 404),
    # no route at all
    ("/nope", 404),
    ("/packages/", 404),
    ("/api/nope", 404),
]


async def _get(client: AsyncTestClient[Litestar], url: str, status: int, headers: Any) -> Any:
    if status == 405:
        return await client.delete(url, headers=headers)
    return await client.get(url, headers=headers)


@pytest.mark.parametrize(("template", "status"), ROUTE_ERRORS)
async def test_errors_are_problem_json_for_api_clients(
    client: AsyncTestClient[Litestar], top: str, template: str, status: int
) -> None:
    url = template.format(top=top)
    body = assert_problem(await _get(client, url, status, JSON), status)
    assert body["instance"] == url.split("?")[0].replace("%3C", "<").replace("%3E", ">")


@pytest.mark.parametrize(("template", "status"), ROUTE_ERRORS)
async def test_errors_are_the_site_page_for_browsers(
    client: AsyncTestClient[Litestar], top: str, template: str, status: int
) -> None:
    url = template.format(top=top)
    r = await _get(client, url, status, HTML)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert html.startswith("<!doctype html>")
    assert re.search(rf"<h1>{status} · [A-Z]", html), html[:2000]
    # Somewhere to go from here: the search form and links onward.
    assert 'id="add-form"' in html and 'name="add"' in html
    assert 'href="/trending"' in html and 'href="/"' in html
    assert r.headers["x-request-id"] in html
    # Whatever the path held is escaped, never markup.
    assert "<script>" not in html.replace('<script src="', "")


async def test_browser_default_on_pages_and_json_default_elsewhere(
    client: AsyncTestClient[Litestar],
) -> None:
    # No Accept preference (*/*): a page route answers its page, any other path JSON.
    page = await client.get("/packages/zzz-nope-zz")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    other = await client.get("/nope")
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    # htmx asks for the fragment: the error replaces <main> only.
    fragment = await client.get("/trending?weeks=3", headers={"HX-Request": "true", **HTML})
    assert fragment.status_code == 400
    assert "<html" not in fragment.text and '<main id="main"' in fragment.text


async def test_unknown_package_page_links_the_suggestions(
    client: AsyncTestClient[Litestar], top: str
) -> None:
    typo = top[:-1] + ("x" if top[-1] != "x" else "y")
    r = await client.get(f"/packages/{typo}", headers=HTML)
    assert r.status_code == 404
    assert f'<a href="/packages/{top}">{top}</a>' in r.text
    j = await client.get(f"/packages/{typo}", headers=JSON)
    assert top in j.json()["suggestions"]


# --- lists: repeated == comma-separated ----------------------------------------------------------


def _with_ci_and_mirror(sql: sqlite3.Connection) -> str:
    row = sql.execute(
        "SELECT package_name FROM package_downloads_weekly GROUP BY package_name "
        "HAVING sum(downloads_ci) > 0 AND sum(downloads_mirror) > 0 "
        "ORDER BY sum(downloads) DESC LIMIT 1"
    ).fetchone()
    assert row, "the sample needs a package with both CI and mirror downloads"
    return str(row[0])


async def test_repeated_and_comma_separated_exclude_give_the_same_answer(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection
) -> None:
    name = _with_ci_and_mirror(sql)
    first = sql.execute("SELECT min(week_start) FROM pypi_downloads_weekly").fetchone()[0]
    expected = dict(
        sql.execute(
            "SELECT week_start, downloads - downloads_ci - downloads_mirror "
            "FROM package_downloads_weekly WHERE package_name = ?",
            (name,),
        ).fetchall()
    )
    for route in (
        f"/api/packages/{name}/downloads",
        f"/api/packages/{name}/installers",
        f"/api/compare?packages={name}",
        "/api/overall",
    ):
        sep = "&" if "?" in route else "?"
        repeated = await client.get(f"{route}{sep}start={first}&exclude=mirror&exclude=ci")
        comma = await client.get(f"{route}{sep}start={first}&exclude=mirror,ci")
        assert repeated.status_code == 200, repeated.text
        assert repeated.json() == comma.json(), route
        assert repeated.json()["exclude"] == ["ci", "mirror"], route
    body = (
        await client.get(f"/api/packages/{name}/downloads?start={first}&exclude=mirror&exclude=ci")
    ).json()
    assert {w["week"]: w["downloads"] for w in body["weeks"] if w["week"] in expected} == expected
    # Package lists too.
    a, b = (r[0] for r in sql.execute("SELECT package_name FROM packages ORDER BY rank LIMIT 2"))
    split = await client.get(f"/api/compare?packages={a}&packages={b}")
    joined = await client.get(f"/api/compare?packages={a},{b}")
    assert split.status_code == 200 and split.json() == joined.json()


# --- storage errors ------------------------------------------------------------------------------


async def test_storage_errors_during_a_request_are_503(published_db: Path, tmp_path: Path) -> None:
    # A file that breaks under a request (the server's checks before a switch
    # refuse such files, tests/test_api_filecheck.py; this is what is left: a
    # fault while it is served): a real SQLite error from a real broken file.
    broken = tmp_path / "broken.sqlite"
    data = published_db.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    con = sqlite3.connect(f"file:{broken}?mode=ro", uri=True)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        con.execute("SELECT count(*) FROM package_downloads_weekly").fetchone()
    con.close()
    problem = classify(raised.value, "/api/packages/x/downloads")
    assert (problem.status, problem.slug) == (503, "storage-error")
    assert "malformed" not in problem.detail  # internals stay in the log


async def test_errors_give_the_connection_back(published_db: Path, top: str) -> None:
    # One pooled connection: a request that failed must not keep it.
    settings = _settings(published_db).replace(db_pool_size=1, response_cache=False)
    app = create_app(settings)
    async with AsyncTestClient(app) as c:
        for url in (
            f"/api/packages/{top}/downloads?start=yesterday",
            f"/api/packages/{top}/downloads?exclude=bots",
            "/api/packages/no-such-package-zz",
            f"/compare/{top}?range=7y",
            "/packages/zzz-nope-zz",
        ):
            assert (await c.get(url)).status_code in (400, 404), url
        ok = await asyncio.wait_for(c.get(f"/api/packages/{top}/downloads"), timeout=20)
        assert ok.status_code == 200
