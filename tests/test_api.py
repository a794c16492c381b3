"""Route tests: the real app (Litestar AsyncTestClient) on a file built by the real exporter.

Expected values come from reading the same SQLite file with plain ``sqlite3``
(an independent path), never from the code under test.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

import contract
from serve.app import create_app
from serve.settings import RateLimit, Settings

pytestmark = pytest.mark.anyio

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}
# The contract (checked against the dbt manifest by test_contract) names the marts.
DIMENSIONS = {slug: (d.table.name, d.column) for slug, d in contract.DIMENSIONS.items()}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def api_settings(db: Path, **changes: Any) -> Settings:
    base = Settings(
        db_path=db,
        allowed_hosts=("testserver.local", "127.0.0.1", "localhost"),
        rate_limit=RateLimit(1_000_000, 60),
        reload_interval_seconds=0.2,
    )
    return base.replace(**changes)


@pytest.fixture
def log_lines() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def app(published_db: Path, log_lines: io.StringIO) -> Litestar:
    # Litestar's logging config writes to the sys.stderr of create_app time.
    with contextlib.redirect_stderr(log_lines):
        return create_app(api_settings(published_db, log_format="json"))


def logged(lines: io.StringIO, logger: str) -> list[dict[str, Any]]:
    """The JSON log records ``logger`` wrote."""
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    return [r for r in records if r["logger"] == logger]


@pytest.fixture(scope="module")
def facts(sql: sqlite3.Connection) -> dict[str, Any]:
    """A few facts about the file, read directly."""
    meta = dict(sql.execute("SELECT key, value FROM _meta").fetchall())
    top = sql.execute(
        "SELECT package_name FROM packages ORDER BY downloads_total DESC, package_name LIMIT 3"
    ).fetchall()
    first_week = sql.execute("SELECT min(week_start) FROM pypi_downloads_weekly").fetchone()[0]
    return {
        "meta": meta,
        "top": [r[0] for r in top],
        "first_week": first_week,
        "data_through": meta["data_through"],
    }


def scraped(response: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a ``/metrics`` response by (name, label items)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"].startswith("urn:pypi-trends:problem:")
    assert body["request_id"] == response.headers["x-request-id"]
    return dict(body)


# --- meta, health, metrics -------------------------------------------------------------------


async def test_meta_reports_the_published_build(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, facts: dict[str, Any]
) -> None:
    r = await client.get("/api/meta")
    assert r.status_code == 200
    body = r.json()
    assert body["build_id"] == facts["meta"]["build_id"]
    assert body["data_through"] == facts["meta"]["data_through"]
    assert body["exported_at"] == facts["meta"]["exported_at"]
    counts = {t["table"]: t["rows"] for t in body["tables"]}
    for table in ("packages", "package_downloads_weekly", "pypi_downloads_weekly"):
        assert counts[table] == sql.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def test_health_ready_and_metrics(
    client: AsyncTestClient[Litestar], facts: dict[str, Any]
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    # Staleness: days since the last complete week (Monday + 7 days) ended.
    week_end = date.fromisoformat(facts["data_through"]) + timedelta(days=7)
    week_end_utc = datetime(week_end.year, week_end.month, week_end.day, tzinfo=UTC)
    expected_age = (datetime.now(UTC) - week_end_utc).total_seconds() / 86400
    assert abs(ready.pop("data_through_age_days") - expected_age) < 0.01
    assert ready == {
        "status": "ready",
        "build_id": facts["meta"]["build_id"],
        "data_through": facts["data_through"],
    }
    # Litestar's request families are process-wide (other tests' apps add to them): deltas.
    meta = frozenset(
        {
            "app_name": "pypi_trends",
            "method": "GET",
            "path": "/api/meta",
            "status_code": "200",
        }.items()
    )
    before = scraped(await client.get("/metrics")).get(("pypi_trends_requests_total", meta), 0.0)
    await client.get("/api/meta")  # a miss: Litestar's middleware counts it
    await client.get("/api/meta")  # a hit answered before routing: the edge counts it
    response = await client.get("/metrics")
    assert response.headers.get_list("content-type") == ["text/plain; version=1.0.0; charset=utf-8"]
    text = response.text
    assert scraped(response)[("pypi_trends_requests_total", meta)] == before + 2
    assert 'pypi_trends_response_cache_total{result="hit"} 1.0' in text
    assert f'pypi_trends_build_info{{build_id="{facts["meta"]["build_id"]}"}} 1.0' in text
    assert "pypi_trends_request_duration_seconds_bucket" in text
    assert "pypi_trends_build_swaps_total 0.0" in text
    # Both /api/meta requests were answered without a query (metadata read at open).
    assert "pypi_trends_db_query_seconds_count" in text
    assert "pypi_trends_data_through_age_seconds" in text
    assert "process_resident_memory_bytes" in text


async def test_readyz_is_503_when_the_file_is_missing(tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path / "missing.sqlite"))
    async with AsyncTestClient(app) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert_problem(await c.get("/readyz"), 503)
        assert_problem(await c.get("/api/meta"), 503)


# --- packages ----------------------------------------------------------------------------------


async def test_search_is_case_and_separator_insensitive_and_ranked(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection
) -> None:
    name = sql.execute(
        "SELECT package_name FROM packages WHERE package_name LIKE '%-%' "
        "ORDER BY downloads_last_4_weeks DESC LIMIT 1"
    ).fetchone()
    assert name, "the tiny sample should have a package with a separator in its name"
    name = name[0]
    head, tail = name.split("-", 1)
    query = f"{head.upper()}_{tail[:1]}"
    body = (await client.get("/api/packages", params={"q": query, "limit": 100})).json()
    names = [p["package"] for p in body["packages"]]
    assert name in names
    assert all(n.startswith(f"{head}-{tail[:1]}") for n in names)
    recent = [p["downloads_last_4_weeks"] for p in body["packages"]]
    assert recent == sorted(recent, reverse=True)

    top = (await client.get("/api/packages", params={"limit": 3})).json()["packages"]
    expected = sql.execute("SELECT package_name FROM packages ORDER BY rank LIMIT 3").fetchall()
    assert [p["package"] for p in top] == [r[0] for r in expected]


async def test_package_row_with_normalised_name(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, facts: dict[str, Any]
) -> None:
    name = facts["top"][0]
    row = sql.execute(
        "SELECT display_name, downloads_total, downloads_last_week, rank FROM packages "
        "WHERE package_name = ?",
        (name,),
    ).fetchone()
    weird = name.upper().replace("-", "._")
    body = (await client.get(f"/api/packages/{weird}")).json()
    assert body["package"] == name
    assert (body["display_name"], body["downloads_total"], body["downloads_last_week"]) == row[:3]
    assert body["rank"] == row[3]
    assert body["data_through"] == facts["data_through"]


async def test_unknown_package_is_404_with_suggestions(
    client: AsyncTestClient[Litestar], facts: dict[str, Any]
) -> None:
    name = facts["top"][0]
    typo = name[:-1] + ("x" if name[-1] != "x" else "y")
    body = assert_problem(await client.get(f"/api/packages/{typo}"), 404)
    assert name in body["suggestions"]
    body = assert_problem(await client.get(f"/api/packages/{typo}/downloads"), 404)
    assert name in body["suggestions"]


# --- series ------------------------------------------------------------------------------------


def weekly(sql: sqlite3.Connection, name: str) -> dict[str, tuple[int, int, int, int]]:
    rows = sql.execute(
        "SELECT week_start, downloads, downloads_ci, downloads_mirror, downloads_metadata "
        "FROM package_downloads_weekly WHERE package_name = ?",
        (name,),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


async def test_downloads_series_matches_the_file(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, facts: dict[str, Any]
) -> None:
    name = facts["top"][0]
    rows = weekly(sql, name)
    start, end = facts["first_week"], facts["data_through"]
    # ``exclude=`` (empty) counts every download.
    body = (
        await client.get(
            f"/api/packages/{name}/downloads", params={"start": start, "end": end, "exclude": ""}
        )
    ).json()
    assert body["exclude"] == []
    weeks = [w["week"] for w in body["weeks"]]
    assert weeks[0] == start and weeks[-1] == end
    steps = {date.fromisoformat(b) - date.fromisoformat(a) for a, b in itertools.pairwise(weeks)}
    assert steps <= {timedelta(weeks=1)}
    got = {w["week"]: w["downloads"] for w in body["weeks"]}
    for week in weeks:
        assert got[week] == rows.get(week, (0,))[0]

    excl = (
        await client.get(
            f"/api/packages/{name}/downloads",
            params={"start": start, "end": end, "exclude": "ci,mirror"},
        )
    ).json()
    assert excl["exclude"] == ["ci", "mirror"]
    for w in excl["weeks"]:
        d, ci, mirror, _ = rows.get(w["week"], (0, 0, 0, 0))
        assert w["downloads"] == d - ci - mirror

    # Without the parameter, mirrors and metadata fetches are left out.
    default = (
        await client.get(f"/api/packages/{name}/downloads", params={"start": start, "end": end})
    ).json()
    assert default["exclude"] == ["metadata", "mirror"]
    assert any(r[2] or r[3] for r in rows.values()), "the sample should have mirror/metadata rows"
    for w in default["weeks"]:
        d, _, mirror, metadata = rows.get(w["week"], (0, 0, 0, 0))
        assert w["downloads"] == d - mirror - metadata

    cum = (
        await client.get(
            f"/api/packages/{name}/downloads",
            params={"start": start, "end": end, "cumulative": "true", "exclude": ""},
        )
    ).json()
    assert cum["weeks"][-1]["downloads"] == sum(r[0] for w, r in rows.items() if start <= w <= end)


async def test_default_range_is_the_last_52_weeks_and_dates_snap_to_monday(
    client: AsyncTestClient[Litestar], facts: dict[str, Any]
) -> None:
    name = facts["top"][0]
    last = date.fromisoformat(facts["data_through"])
    body = (await client.get(f"/api/packages/{name}/downloads")).json()
    assert body["end"] == facts["data_through"]
    expected_start = max(last - timedelta(weeks=51), date.fromisoformat(facts["first_week"]))
    assert body["start"] == expected_start.isoformat()
    sunday = last + timedelta(days=6)
    snapped = (
        await client.get(
            f"/api/packages/{name}/downloads",
            params={"start": sunday.isoformat(), "end": sunday.isoformat()},
        )
    ).json()
    assert [w["week"] for w in snapped["weeks"]] == [facts["data_through"]]


async def test_csv_by_parameter_and_by_accept_header(
    client: AsyncTestClient[Litestar], facts: dict[str, Any]
) -> None:
    name = facts["top"][0]
    url = f"/api/packages/{name}/downloads"
    as_json = (await client.get(url)).json()
    by_param = await client.get(url, params={"format": "csv"})
    by_header = await client.get(url, headers={"Accept": "text/csv"})
    for r in (by_param, by_header):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        lines = r.text.strip().splitlines()
        assert lines[0] == "week,downloads"
        assert lines[1:] == [f"{w['week']},{w['downloads']}" for w in as_json["weeks"]]
    # The two representations are cached apart.
    assert by_header.headers["etag"] != (await client.get(url)).headers["etag"]
    assert "Accept" in by_header.headers["vary"]


@pytest.mark.parametrize("dimension", sorted(DIMENSIONS))
async def test_dimension_sums_to_the_weekly_total(
    client: AsyncTestClient[Litestar],
    sql: sqlite3.Connection,
    facts: dict[str, Any],
    dimension: str,
) -> None:
    name = facts["top"][0]
    rows = weekly(sql, name)
    params = {"start": facts["first_week"], "share": "true", "exclude": ""}
    body = (await client.get(f"/api/packages/{name}/{dimension}", params=params)).json()
    assert body["dimension"] == dimension
    per_week: dict[str, int] = {}
    share: dict[str, float] = {}
    for p in body["points"]:
        per_week[p["week"]] = per_week.get(p["week"], 0) + p["downloads"]
        share[p["week"]] = share.get(p["week"], 0.0) + p["share"]
    assert per_week, "no points"
    for week, total in per_week.items():
        assert total == rows[week][0]
        assert share[week] == pytest.approx(1.0)
    table, column = DIMENSIONS[dimension]
    values = {
        r[0]
        for r in sql.execute(
            f"SELECT DISTINCT {column} FROM {table} WHERE package_name = ? AND week_start >= ?",
            (name, facts["first_week"]),
        )
    }
    assert set(body["values"]) <= values


async def test_compare_aligns_weeks_and_shares(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, facts: dict[str, Any]
) -> None:
    a, b = facts["top"][:2]
    pypi = dict(sql.execute("SELECT week_start, downloads FROM pypi_downloads_weekly").fetchall())
    params = {
        "packages": f"{a.upper()},{b}",
        "start": facts["first_week"],
        "share": "true",
        "exclude": "",
    }
    body = (await client.get("/api/compare", params=params)).json()
    assert [p["package"] for p in body["packages"]] == [a, b]
    weeks = body["weeks"]
    assert body["pypi_downloads"] == [pypi.get(w, 0) for w in weeks]
    series = {p["package"]: p for p in body["packages"]}
    for name in (a, b):
        rows = weekly(sql, name)
        assert series[name]["downloads"] == [rows.get(w, (0,))[0] for w in weeks]
    for i, week in enumerate(weeks):
        combined = series[a]["downloads"][i] + series[b]["downloads"][i]
        if combined:
            total = series[a]["share_of_combined"][i] + series[b]["share_of_combined"][i]
            assert total == pytest.approx(1.0)
        if pypi.get(week):
            assert series[a]["share_of_pypi"][i] == pytest.approx(
                series[a]["downloads"][i] / pypi[week]
            )


async def test_compare_rejects_more_than_ten_and_unknown(
    client: AsyncTestClient[Litestar], facts: dict[str, Any]
) -> None:
    many = ",".join(f"pkg{i}" for i in range(11))
    assert_problem(await client.get("/api/compare", params={"packages": many}), 400)
    body = assert_problem(
        await client.get("/api/compare", params={"packages": f"{facts['top'][0]},no-such-pkg-zz"}),
        404,
    )
    assert "no-such-pkg-zz" in body["detail"]


async def test_trending_and_overall(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, facts: dict[str, Any]
) -> None:
    body = (await client.get("/api/trending", params={"min_downloads": 1, "limit": 100})).json()
    growth = [p["growth"] for p in body["packages"]]
    assert growth == sorted(growth, reverse=True)
    for p in body["packages"]:
        assert p["downloads_prev"] >= 1
        assert p["growth"] == pytest.approx(
            (p["downloads_last"] - p["downloads_prev"]) / p["downloads_prev"]
        )
    two = (await client.get("/api/trending", params={"weeks": 2, "min_downloads": 1})).json()
    last = date.fromisoformat(facts["data_through"])
    for p in two["packages"][:3]:
        rows = weekly(sql, p["package"])
        recent = sum(
            r[0] for w, r in rows.items() if date.fromisoformat(w) > last - timedelta(weeks=2)
        )
        assert p["downloads_last"] == recent

    overall = (
        await client.get("/api/overall", params={"start": facts["first_week"], "exclude": ""})
    ).json()
    expected = sql.execute(
        "SELECT week_start, downloads, packages FROM pypi_downloads_weekly ORDER BY week_start"
    ).fetchall()
    assert [(w["week"], w["downloads"], w["packages"]) for w in overall["weeks"]] == [
        tuple(r) for r in expected if r[0] <= facts["data_through"]
    ]


async def test_badge_is_a_shields_endpoint(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, facts: dict[str, Any]
) -> None:
    name = facts["top"][0]
    total = sql.execute(
        "SELECT downloads_total FROM packages WHERE package_name = ?", (name,)
    ).fetchone()[0]
    body = (await client.get(f"/api/packages/{name}/badge", params={"period": "total"})).json()
    assert body["schemaVersion"] == 1
    assert body["label"] == "downloads"
    assert body["message"].endswith(" total")
    if total < 1000:
        assert body["message"] == f"{total} total"
    week = (await client.get(f"/api/packages/{name}/badge")).json()
    assert week["message"].endswith("/week")


# --- caching -----------------------------------------------------------------------------------


async def test_etag_304_and_cache_headers(
    client: AsyncTestClient[Litestar], facts: dict[str, Any]
) -> None:
    name = facts["top"][0]
    url = f"/api/packages/{name}/downloads?start={facts['first_week']}&exclude=ci"
    first = await client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert "HX-Request" in first.headers["vary"]
    # Same query, parameters reordered: same representation.
    reordered = await client.get(
        f"/api/packages/{name}/downloads?exclude=ci&start={facts['first_week']}"
    )
    assert reordered.headers["etag"] == etag
    assert reordered.content == first.content
    not_modified = await client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    other = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    # Errors are never cached or tagged.
    missing = await client.get("/api/packages/no-such-package-zz")
    assert "etag" not in missing.headers


async def test_first_request_without_cache_gets_304_too(
    published_db: Path, facts: dict[str, Any]
) -> None:
    # With the cache off, If-None-Match is still answered from the build id + query.
    app = create_app(api_settings(published_db, response_cache=False))
    async with AsyncTestClient(app) as c:
        url = f"/api/packages/{facts['top'][0]}"
        etag = (await c.get(url)).headers["etag"]
        r = await c.get(url, headers={"If-None-Match": f'W/{etag}, "x"'})
        assert r.status_code == 304


# --- edge: limits, identity, headers, logs ------------------------------------------------------


async def test_rate_limit_headers_and_429(published_db: Path) -> None:
    app = create_app(api_settings(published_db, rate_limit=RateLimit(3, 60)))
    async with AsyncTestClient(app) as c:
        statuses = []
        for _ in range(4):
            r = await c.get("/api/meta")
            statuses.append(r.status_code)
        assert statuses == [200, 200, 200, 429]
        assert r.headers["ratelimit-limit"] == "3"
        assert r.headers["ratelimit-remaining"] == "0"
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["ratelimit-policy"] == "3;w=60"
        assert_problem(r, 429)
        # Probes are not limited.
        assert (await c.get("/healthz")).status_code == 200
        # Without a trusted proxy header, X-Forwarded-For does not buy a new budget.
        spoofed = await c.get("/api/meta", headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429


async def test_trusted_proxy_header_identifies_clients(published_db: Path) -> None:
    settings = api_settings(
        published_db, rate_limit=RateLimit(1, 60), trusted_proxy_header="X-Forwarded-For"
    )
    app = create_app(settings)
    async with AsyncTestClient(app) as c:
        a = {"X-Forwarded-For": "198.51.100.1, 203.0.113.1"}
        b = {"X-Forwarded-For": "198.51.100.1, 203.0.113.2"}
        assert (await c.get("/api/meta", headers=a)).status_code == 200
        assert (await c.get("/api/meta", headers=a)).status_code == 429
        assert (await c.get("/api/meta", headers=b)).status_code == 200


async def test_host_allow_list(client: AsyncTestClient[Litestar]) -> None:
    assert_problem(await client.get("/api/meta", headers={"Host": "evil.example"}), 400)
    assert (await client.get("/api/meta", headers={"Host": "localhost:8000"})).status_code == 200


async def test_cors_security_headers_and_request_id(
    client: AsyncTestClient[Litestar], log_lines: io.StringIO
) -> None:
    r = await client.get("/api/meta", headers={"Origin": "https://example.org"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "ETag" in r.headers["access-control-expose-headers"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    pre = await client.options(
        "/api/meta",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 204
    assert "GET" in pre.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in (await client.get("/healthz")).headers

    given = await client.get("/api/meta", headers={"X-Request-ID": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    bad = await client.get("/api/meta", headers={"X-Request-ID": "bad id with spaces"})
    assert bad.headers["x-request-id"] != "bad id with spaces"
    mine = [line for line in logged(log_lines, "serve.access") if line["request_id"] == "trace-123"]
    assert len(mine) == 1
    entry = mine[0]
    assert entry["status"] == 200 and entry["path"] == "/api/meta"
    assert entry["duration_ms"] >= 0 and entry["route"] == "/api/meta"


async def test_size_limits(client: AsyncTestClient[Litestar]) -> None:
    assert_problem(await client.get("/api/packages/" + "a" * 3000), 414)
    assert_problem(await client.get("/api/packages", params={"q": "a" * 9000}), 414)
    assert_problem(await client.post("/api/meta", content=b"x" * 5000), 413)


# --- one error shape, once per route ------------------------------------------------------------

ERROR_CASES = [
    ("/api/packages?limit=0", 400),
    ("/api/packages/{missing}", 404),
    ("/api/packages/{top}/downloads?start=2024-02-30", 400),
    ("/api/packages/{top}/downloads?exclude=bots", 400),
    ("/api/packages/{top}/badge?period=forever", 400),
    ("/api/packages/{top}/operating_systems", 400),
    ("/api/packages/{top}/installers?end=2020-01-01&start=2021-01-01", 400),
    ("/api/compare?packages=", 400),
    ("/api/trending?weeks=0", 400),
    ("/api/overall?start=yesterday", 400),
    ("/no/such/route", 404),
]


@pytest.mark.parametrize(("template", "status"), ERROR_CASES)
async def test_every_route_errors_as_problem_json(
    client: AsyncTestClient[Litestar], facts: dict[str, Any], template: str, status: int
) -> None:
    url = template.format(top=facts["top"][0], missing="no-such-package-zz")
    body = assert_problem(await client.get(url), status)
    assert body["instance"] == url.split("?")[0]


@pytest.mark.parametrize(
    "path", ["/api/meta", "/healthz", "/readyz", "/metrics", "/schema/openapi.json"]
)
async def test_routes_without_parameters_error_as_problem_json(
    client: AsyncTestClient[Litestar], path: str
) -> None:
    assert_problem(await client.get(path, headers={"Host": "not-allowed.example"}), 400)
    assert_problem(await client.delete(path), 405)


# --- HEAD ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "/",
        "/compare/{top}",
        "/api/meta",
        "/api/packages/{top}/downloads?weeks=8",
        "/api/packages/no-such-package-zz",
        "/healthz",
        "/no/such/route",
    ],
)
async def test_head_answers_like_get_without_the_body(
    client: AsyncTestClient[Litestar], facts: dict[str, Any], template: str
) -> None:
    # RFC 9110: HEAD is GET's status and headers with no content; link checkers, uptime
    # probes and `curl -I` send it. Twice each, so the response-cache path is covered too.
    url = template.format(top=facts["top"][0])
    got = await client.get(url)
    for _ in range(2):
        head = await client.head(url)
        assert head.status_code == got.status_code, head.text
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        # Content-Length counts the bytes as sent (compressed when gzip was accepted).
        assert head.headers.get("content-encoding") == got.headers.get("content-encoding")
        assert int(head.headers["content-length"]) == got.num_bytes_downloaded
        assert head.headers.get("etag") == got.headers.get("etag")
