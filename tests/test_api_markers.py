"""Routes of issue 17: sample notice, default exclusions, releases, log events, SVG badges.

The real app (Litestar AsyncTestClient) on the file built by the real
exporter; expected values are read from the same file with plain ``sqlite3``.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from serve.app import create_app
from serve.formats import humanize
from tests.test_api import api_settings, assert_problem

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app(published_db: Path) -> Litestar:
    return create_app(api_settings(published_db))


@pytest.fixture(scope="module")
def released(sql: sqlite3.Connection) -> str:
    """The package with the most major and minor releases in the file."""
    row = sql.execute(
        "SELECT package_name FROM package_releases WHERE release_kind IN ('major', 'minor') "
        "GROUP BY package_name ORDER BY count(*) DESC, package_name LIMIT 1"
    ).fetchone()
    assert row, "the sample should have major or minor releases"
    return str(row[0])


def meta(sql: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in sql.execute("SELECT key, value FROM _meta")}


async def test_meta_says_sample_and_its_scale(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection
) -> None:
    m = meta(sql)
    assert m["source_target"] != "prod"
    body = (await client.get("/api/meta")).json()
    assert body["sample"] is True
    scale = float(m["sample_scale"])
    assert body["sample_scale"] == pytest.approx(scale)
    assert f"1:{round(1 / scale):,}" in body["notice"]


async def test_default_exclusions_and_the_empty_list(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, released: str
) -> None:
    rows = sql.execute(
        "SELECT sum(downloads), sum(downloads_mirror), sum(downloads_metadata), sum(downloads_ci) "
        "FROM package_downloads_weekly WHERE package_name = ?",
        (released,),
    ).fetchone()
    total, mirror, metadata, ci = rows
    assert mirror + metadata > 0, "the sample should have mirror or metadata downloads"
    first = sql.execute("SELECT min(week_start) FROM pypi_downloads_weekly").fetchone()[0]
    url = f"/api/packages/{released}/downloads"

    async def summed(**params: str) -> tuple[list[str], int]:
        body = (await client.get(url, params={"start": first, **params})).json()
        return body["exclude"], sum(w["downloads"] for w in body["weeks"])

    assert await summed() == (["metadata", "mirror"], total - mirror - metadata)
    assert await summed(exclude="") == ([], total)
    assert await summed(exclude="ci") == (["ci"], total - ci)
    assert_problem(await client.get(url, params={"exclude": "bots"}), 400)


async def test_releases_match_the_file(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, released: str
) -> None:
    first = sql.execute("SELECT min(week_start) FROM pypi_downloads_weekly").fetchone()[0]
    expected = sql.execute(
        "SELECT version, release_line, release_kind, first_upload_week FROM package_releases "
        "WHERE package_name = ? AND release_kind IN ('major', 'minor') AND first_upload_week >= ? "
        "ORDER BY first_uploaded_at, version",
        (released, first),
    ).fetchall()
    url = f"/api/packages/{released.upper()}/releases"
    body = (await client.get(url, params={"start": first})).json()
    assert body["package"] == released
    assert body["kinds"] == ["major", "minor"]
    got = [
        (r["version"], r["release_line"], r["release_kind"], r["week"]) for r in body["releases"]
    ]
    assert got == [tuple(r) for r in expected]
    assert got, "the package was picked for having releases"

    patches = (await client.get(url, params={"start": first, "kind": "patch"})).json()
    assert {r["release_kind"] for r in patches["releases"]} <= {"patch"}
    n_patch = sql.execute(
        "SELECT count(*) FROM package_releases WHERE package_name = ? AND release_kind = 'patch' "
        "AND first_upload_week >= ?",
        (released, first),
    ).fetchone()[0]
    assert len(patches["releases"]) == n_patch

    table = list(
        csv.reader(io.StringIO((await client.get(url + "?format=csv&start=" + first)).text))
    )
    assert table[0][:3] == ["package", "version", "release_line"]
    assert len(table) == 1 + len(expected)
    assert_problem(await client.get(url, params={"kind": "nightly"}), 400)
    assert_problem(await client.get("/api/packages/no-such-pkg-zz/releases"), 404)


async def test_events_overlap_the_range(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection
) -> None:
    first = sql.execute("SELECT min(week_start) FROM pypi_downloads_weekly").fetchone()[0]
    last = meta(sql)["data_through"]
    sunday = (date.fromisoformat(last) + timedelta(days=6)).isoformat()
    expected = sql.execute(
        "SELECT start_date, title FROM data_events WHERE scope = 'all' AND start_date <= ? "
        "AND (end_date IS NULL OR end_date >= ?) ORDER BY start_date",
        (sunday, first),
    ).fetchall()
    body = (await client.get("/api/events", params={"start": first})).json()
    assert [(e["start_date"], e["title"]) for e in body["events"]] == [tuple(r) for r in expected]
    # A range of old weeks the file does not have is clipped to the file's weeks.
    everything = (await client.get("/api/events", params={"start": "2015-01-01"})).json()
    assert everything["start"] == first
    table = list(csv.reader(io.StringIO((await client.get("/api/events?format=csv")).text)))
    assert table[0] == [
        "scope",
        "start_date",
        "end_date",
        "effect",
        "title",
        "description",
        "source",
    ]


def svg_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


async def test_svg_badge_counts_as_the_pages_do(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, released: str
) -> None:
    last = meta(sql)["data_through"]
    month_start = (date.fromisoformat(last) - timedelta(weeks=3)).isoformat()

    def count(start: str, expr: str) -> int:
        row = sql.execute(
            f"SELECT coalesce(sum({expr}), 0) FROM package_downloads_weekly "
            "WHERE package_name = ? AND week_start BETWEEN ? AND ?",
            (released, start, last),
        ).fetchone()
        return int(row[0])

    default = "downloads - downloads_mirror - downloads_metadata"
    r = await client.get(f"/badge/{released}.svg")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.lstrip().startswith("<?xml") and "<svg" in r.text
    assert "downloads" in svg_texts(r.text)
    assert f"{humanize(count(last, default))}/week" in svg_texts(r.text)

    month = await client.get(f"/badge/{released}.svg", params={"period": "month"})
    assert f"{humanize(count(month_start, default))}/month" in svg_texts(month.text)
    total = await client.get(f"/badge/{released}.svg", params={"period": "total", "exclude": ""})
    assert f"{humanize(count('0000', 'downloads'))} total" in svg_texts(total.text)

    # Cached by build: an ETag, and 304 when it matches.
    etag = r.headers["etag"]
    again = await client.get(f"/badge/{released}.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304

    assert_problem(await client.get(f"/badge/{released}.png"), 400)
    assert_problem(await client.get("/badge/no-such-pkg-zz.svg"), 404)
    assert_problem(await client.get(f"/badge/{released}.svg", params={"period": "year"}), 400)

    shields = (await client.get(f"/api/packages/{released}/badge")).json()
    assert shields["message"] == f"{humanize(count(last, default))}/week"


async def test_search_puts_the_exact_name_first(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection
) -> None:
    # A name that is a prefix of a more downloaded one, if the sample has any; else any pair.
    pairs: list[Any] = sql.execute(
        "SELECT a.package_name, b.package_name FROM packages a JOIN packages b "
        "ON b.package_name > a.package_name AND substr(b.package_name, 1, length(a.package_name)) "
        "= a.package_name ORDER BY (b.downloads_last_4_weeks > a.downloads_last_4_weeks) DESC "
        "LIMIT 1"
    ).fetchall()
    assert pairs, "the sample should have a name that prefixes another"
    short, longer = pairs[0]
    body = (await client.get("/api/packages", params={"q": short.upper()})).json()
    names = [p["package"] for p in body["packages"]]
    assert names[0] == short
    assert longer in names
