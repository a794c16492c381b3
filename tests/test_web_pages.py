"""Page and fragment routes: the real app (AsyncTestClient) on a file from the real exporter.

Expected numbers are read from the same SQLite file with plain ``sqlite3``,
never from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from datetime import date, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from serve.app import create_app
from serve.settings import RateLimit, Settings

pytestmark = pytest.mark.anyio

CHART_RE = re.compile(r'<div class="chart" id="([\w-]+)" data-chart="[^"]*" data-spec="([^"]*)"')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app(published_db: Path) -> Litestar:
    settings = Settings(
        db_path=published_db,
        allowed_hosts=("testserver.local", "127.0.0.1", "localhost"),
        rate_limit=RateLimit(1_000_000, 60),
    )
    return create_app(settings)


@pytest.fixture(scope="module")
def top(sql: sqlite3.Connection) -> list[str]:
    """The three most downloaded packages (last complete week)."""
    rows = sql.execute("SELECT package_name FROM packages ORDER BY rank LIMIT 3").fetchall()
    assert len(rows) == 3, "the sample needs at least three packages"
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def data_through(sql: sqlite3.Connection) -> str:
    return str(sql.execute("SELECT value FROM _meta WHERE key = 'data_through'").fetchone()[0])


def charts(html: str) -> dict[str, dict[str, Any]]:
    return {m.group(1): json.loads(unescape(m.group(2))) for m in CHART_RE.finditer(html)}


def weekly(sql: sqlite3.Connection, name: str, start: str, end: str) -> dict[str, int]:
    """A package's weekly downloads as the pages count them by default (no mirrors, no metadata)."""
    rows = sql.execute(
        "SELECT week_start, downloads - downloads_mirror - downloads_metadata "
        "FROM package_downloads_weekly "
        "WHERE package_name = ? AND week_start BETWEEN ? AND ?",
        (name, start, end),
    ).fetchall()
    return {str(w): int(d) for w, d in rows}


async def test_compare_page_renders_the_whole_state_from_the_url(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, top: list[str], data_through: str
) -> None:
    a, b = sorted(top[:2])
    r = await client.get(f"/compare/{a}-vs-{b}?range=3m")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert html.startswith("<!doctype html>")
    main = charts(html)["chart-main"]
    assert [s["label"] for s in main["series"]] == [
        sql.execute("SELECT display_name FROM packages WHERE package_name = ?", (n,)).fetchone()[0]
        for n in (a, b)
    ]
    # 3 months = 13 weeks ending at the last complete week, clipped to the data.
    last = date.fromisoformat(data_through)
    first = str(sql.execute("SELECT min(week_start) FROM pypi_downloads_weekly").fetchone()[0])
    start = max(last - timedelta(weeks=12), date.fromisoformat(first))
    expected_weeks = [
        (start + timedelta(weeks=i)).isoformat() for i in range((last - start).days // 7 + 1)
    ]
    assert len(main["x"]) == len(expected_weeks)
    counts = weekly(sql, a, expected_weeks[0], expected_weeks[-1])
    assert main["series"][0]["values"] == [counts.get(w, 0) for w in expected_weeks]
    assert main["marker"] == (last - date(1970, 1, 1)).days * 86400
    assert f"data through {data_through}" in html
    # Controls reflect the URL (no JavaScript-only state).
    assert '<option value="3m" selected>' in html
    # Stats table: last week of each package, from the file.
    # The stats count as the chart does: without mirrors and metadata fetches by default.
    lw = sql.execute(
        "SELECT downloads - downloads_mirror - downloads_metadata FROM package_downloads_weekly "
        "WHERE package_name = ? AND week_start = ?",
        (a, data_through),
    )
    assert f'title="{lw.fetchone()[0]:,}"' in html
    assert "chart-stacked" in charts(html)
    assert "chart-values" in charts(html)


async def test_page_is_cached_and_varies_on_htmx(
    client: AsyncTestClient[Litestar], top: list[str]
) -> None:
    url = f"/compare/{'-vs-'.join(sorted(top))}"
    full = await client.get(url)
    assert full.status_code == 200
    assert "HX-Request" in full.headers["vary"]
    assert full.headers["cache-control"].startswith("public, max-age=")
    etag = full.headers["etag"]

    fragment = await client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "HX-Request" in fragment.headers["vary"]
    assert fragment.headers["etag"] != etag
    assert fragment.headers["hx-push-url"] == url
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith("<title>")
    assert '<main id="main"' in fragment.text
    assert charts(fragment.text).keys() == charts(full.text).keys()

    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    cached = await client.get(url)
    assert cached.text == full.text
    assert cached.headers["etag"] == etag


async def test_other_orders_and_spellings_redirect_to_the_canonical_url(
    client: AsyncTestClient[Litestar], top: list[str]
) -> None:
    a, b = sorted(top[:2])
    r = await client.get(f"/compare/{b.upper()}-vs-{a}?range=6m", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == f"/compare/{a}-vs-{b}?range=6m"
    r = await client.get(f"/compare?packages={b},{a},{a}", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == f"/compare/{a}-vs-{b}"
    r = await client.get(f"/packages/{a.upper()}", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == f"/packages/{a}"
    r = await client.get("/compare/-vs-", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == "/"


async def test_a_name_containing_vs_uses_the_query_form(
    client: AsyncTestClient[Litestar], top: list[str]
) -> None:
    a = top[0]
    # Not in the sample: the page answers 404 inline, on the query-form URL (no redirect loop).
    r = await client.get(f"/compare?packages={a},Foo_VS_bar", follow_redirects=False)
    assert r.status_code == 301
    target = r.headers["location"]
    assert target == f"/compare?packages={','.join(sorted([a, 'foo-vs-bar']))}"
    r = await client.get(target, follow_redirects=False)
    # The unknown name is dropped with a note; the known one is still compared.
    assert r.status_code == 200
    assert "No package named <strong>foo-vs-bar</strong>: left out" in r.text
    assert f'<link rel="canonical" href="http://testserver.local/compare/{a}">' in r.text


async def test_unknown_package_is_answered_inline_with_suggestions(
    client: AsyncTestClient[Litestar], top: list[str]
) -> None:
    a = top[0]
    typo = a[:-1] + ("x" if a[-1] != "x" else "y")
    r = await client.get(f"/compare/{a}-vs-{typo}" if a < typo else f"/compare/{typo}-vs-{a}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert f"No package named <strong>{typo}</strong>: left out" in r.text
    assert "Did you mean" in r.text
    assert 'data-chart="chart-main"' in r.text  # the known package is charted
    # Nothing known at all: a 404 page.
    alone = await client.get(f"/compare/{typo}")
    assert alone.status_code == 404
    assert f"No package named <strong>{typo}</strong>" in alone.text


async def test_search_fragment_is_prefix_case_separator_insensitive_and_ranked(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, top: list[str]
) -> None:
    a = top[0]
    prefix = a[:2]
    expected = [
        r[0]
        for r in sql.execute(
            "SELECT display_name FROM packages WHERE package_name LIKE ? "
            "ORDER BY downloads_last_4_weeks DESC, package_name LIMIT 8",
            (prefix.replace("-", "_") + "%",),
        )
    ]
    typed = prefix.upper().replace("-", "_")
    r = await client.get("/web/search", params={"add": typed, "packages": a})
    assert r.status_code == 200
    assert "HX-Request" in r.headers["vary"]
    labels = re.findall(r"<strong>([^<]+)</strong>|<span class=\"added\">([^<]+) <small>", r.text)
    shown = [x or y for x, y in labels]
    assert shown == expected
    # The package already selected is marked, not offered again.
    display_a = sql.execute("SELECT display_name FROM packages WHERE package_name = ?", (a,))
    assert f'<span class="added">{display_a.fetchone()[0]} <small>already added' in r.text
    empty = await client.get("/web/search", params={"add": "zzzzzzzz-none"})
    assert "No package starts with" in empty.text


async def test_add_form_answers_inline_or_navigates(
    client: AsyncTestClient[Litestar], top: list[str]
) -> None:
    a, b = top[0], top[1]
    hx = {"HX-Request": "true"}
    ok = await client.get("/web/add", params={"packages": a, "add": b.upper()}, headers=hx)
    assert ok.status_code == 200
    location = json.loads(ok.headers["hx-location"])
    assert location["path"] == f"/compare/{'-vs-'.join(sorted([a, b]))}"
    assert location["target"] == "#main"

    dup = await client.get("/web/add", params={"packages": a, "add": a}, headers=hx)
    assert dup.status_code == 200
    assert "already in the comparison" in dup.text
    assert "hx-location" not in dup.headers

    unknown = await client.get("/web/add", params={"packages": a, "add": "zzz-nope"}, headers=hx)
    assert "No package named “zzz-nope”" in unknown.text

    ten = ",".join(f"p{i}" for i in range(10))
    full = await client.get("/web/add", params={"packages": ten, "add": a}, headers=hx)
    assert "At most 10 packages" in full.text

    # Without JavaScript: a redirect, or the whole page with the message.
    plain = await client.get(
        "/web/add", params={"packages": a, "add": b, "range": "6m"}, follow_redirects=False
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/compare/{'-vs-'.join(sorted([a, b]))}?range=6m"
    page = await client.get("/web/add", params={"packages": a, "add": "zzz-nope"})
    assert page.status_code == 404
    assert "<!doctype html>" in page.text
    assert "No package named “zzz-nope”" in page.text


async def test_csv_and_json_downloads_match_the_file(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, top: list[str], data_through: str
) -> None:
    a, b = sorted(top[:2])
    r = await client.get("/compare-data.csv", params={"packages": f"{b},{a}", "range": "1m"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["week", a, b]
    assert len(table) == 1 + 4
    counts = weekly(sql, b, table[1][0], data_through)
    assert [int(row[2]) for row in table[1:]] == [counts.get(row[0], 0) for row in table[1:]]

    j = await client.get("/compare-data.json", params={"packages": f"{a},{b}", "range": "1m"})
    body = j.json()
    assert body["columns"] == ["week", a, b]
    assert body["rows"] == [[row[0], int(row[1]), int(row[2])] for row in table[1:]]
    assert body["data_through"] == data_through


async def test_pages_send_a_strict_csp_and_carry_no_inline_code(
    client: AsyncTestClient[Litestar], top: list[str]
) -> None:
    a, b = sorted(top[:2])
    for url in ["/", f"/compare/{a}-vs-{b}", f"/packages/{a}", "/trending"]:
        r = await client.get(url)
        assert r.status_code == 200, url
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        for tag in re.findall(r"<script\b[^>]*>", r.text):
            assert "src=" in tag, tag
        assert "<style" not in r.text
        assert " style=" not in r.text
        assert re.search(r"\son[a-z]+=", r.text) is None  # no event-handler attributes
        config = re.search(r'<meta name="htmx-config" content="([^"]+)"', r.text)
        assert config is not None
        parsed = json.loads(config.group(1).replace("&#34;", '"').replace("&quot;", '"'))
        assert parsed["allowEval"] is False and parsed["includeIndicatorStyles"] is False
    embed = await client.get(f"/embed/compare/{a}-vs-{b}")
    assert embed.status_code == 200
    assert "frame-ancestors" not in embed.headers["content-security-policy"]
    assert "x-frame-options" not in embed.headers
    assert f'href="http://testserver.local/compare/{a}-vs-{b}"' in embed.text


async def test_static_files_come_from_node_modules_with_long_cache(
    client: AsyncTestClient[Litestar],
) -> None:
    home = await client.get("/")
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', home.text)
    names = {u.rsplit("/", 1)[1] for u in urls}
    assert {"htmx.min.js", "uPlot.iife.min.js", "pico.min.css", "app.js", "app.css"} <= names
    root = Path(__file__).resolve().parents[1]
    for url in urls:
        r = await client.get(url)
        assert r.status_code == 200, url
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        if url.endswith("htmx.min.js"):
            assert r.content == (root / "node_modules/htmx.org/dist/htmx.min.js").read_bytes()
    missing = await client.get("/static/abc/nothing.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")


async def test_package_trending_and_bad_parameters(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, top: list[str]
) -> None:
    a = top[0]
    r = await client.get(f"/packages/{a}")
    assert r.status_code == 200
    found = charts(r.text)
    assert {"chart-main", "chart-installers", "chart-python_versions", "chart-versions"} <= set(
        found
    )
    assert len(found["chart-main"]["series"]) == 1
    r = await client.get("/packages/zzz-nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    t = await client.get("/trending")
    assert t.status_code == 200
    risers = [
        row[0]
        for row in sql.execute(
            "SELECT display_name FROM packages WHERE downloads_prev_4_weeks >= 100 "
            "AND growth_4_weeks IS NOT NULL ORDER BY growth_4_weeks DESC, package_name LIMIT 3"
        )
    ]
    positions = [t.text.find(f">{name}</a>") for name in risers]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    bad = await client.get(f"/compare/{a}?range=7y")
    assert bad.status_code == 400
    assert "range" in bad.text
    bad = await client.get("/trending?weeks=3")
    assert bad.status_code == 400


async def test_exclusions_cumulative_and_shares_follow_the_file(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, top: list[str], data_through: str
) -> None:
    a, b = sorted(top[:2])
    params = {"packages": f"{a},{b}", "range": "1m", "exclude": "ci,mirror", "cumulative": "1"}
    body = (await client.get("/compare-data.json", params=params)).json()
    weeks = [row[0] for row in body["rows"]]
    rows = sql.execute(
        "SELECT week_start, downloads - downloads_ci - downloads_mirror "
        "FROM package_downloads_weekly WHERE package_name = ? AND week_start BETWEEN ? AND ?",
        (a, weeks[0], data_through),
    ).fetchall()
    by_week = dict(rows)
    running, expected = 0, []
    for week in weeks:
        running += by_week.get(week, 0)
        expected.append(running)
    assert [row[1] for row in body["rows"]] == expected
    assert body["options"]["cumulative"] == "1"

    share = (
        await client.get(
            "/compare-data.json", params={"packages": f"{a},{b}", "range": "1m", "show": "pypi"}
        )
    ).json()
    pypi = dict(
        sql.execute(
            "SELECT week_start, downloads - downloads_mirror - downloads_metadata "
            "FROM pypi_downloads_weekly WHERE week_start >= ?",
            (weeks[0],),
        ).fetchall()
    )
    plain = weekly(sql, b, weeks[0], data_through)
    for week, _, b_share in share["rows"]:
        assert b_share == pytest.approx(100 * plain.get(week, 0) / pypi[week], abs=1e-3)


def csv_links(html: str) -> dict[str, str]:
    """The page's "CSV of this chart" links, by the id of the chart they sit under."""
    found: dict[str, str] = {}
    for figure in re.findall(r'<figure class="chart-figure">(.*?)</figure>', html, re.S):
        chart = CHART_RE.search(figure)
        link = re.search(r'<a href="([^"]+)"[^>]*>CSV of this chart</a>', figure)
        if chart and link:
            found[chart.group(1)] = unescape(link.group(1))
    return found


async def test_breakdown_charts_download_what_they_draw(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, top: list[str]
) -> None:
    a, b = sorted(top[:2])
    # Non-default options everywhere, so a link that dropped one would draw other numbers.
    page = await client.get(
        f"/compare/{a}-vs-{b}", params={"dim": "countries", "of": b, "range": "3m", "exclude": "ci"}
    )
    assert page.status_code == 200
    drawn = charts(page.text)
    links = csv_links(page.text)
    assert set(links) == {"chart-main", "chart-stacked", "chart-values"}, links
    for chart_id, url in links.items():
        r = await client.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(r.text)))
        spec = drawn[chart_id]
        assert len(table[0]) == 1 + len(spec["series"])
        assert len(table) == 1 + len(spec["x"])
        for i, s in enumerate(spec["series"], start=1):
            got = [float(row[i]) if row[i] else None for row in table[1:]]
            assert got == s["values"], (chart_id, s["label"])

    # The stacked shares against the file itself: one week, the biggest country of b.
    table = list(csv.reader(io.StringIO((await client.get(links["chart-stacked"])).text)))
    week, first = table[-1][0], table[0][1]
    counts = dict(
        sql.execute(
            "SELECT country_code, downloads - downloads_ci FROM package_countries_weekly "
            "WHERE package_name = ? AND week_start = ?",
            (b, week),
        ).fetchall()
    )
    assert first in counts
    expected = 100.0 * counts[first] / sum(counts.values())
    assert float(table[-1][1]) == pytest.approx(expected, abs=1e-3)

    # The package page links each of its breakdowns the same way.
    pkg = await client.get(f"/packages/{a}", params={"range": "1m"})
    links = csv_links(pkg.text)
    assert {"chart-main", "chart-installers", "chart-countries", "chart-versions"} <= set(links)
    r = await client.get(links["chart-versions"])
    header = next(csv.reader(io.StringIO(r.text)))
    assert header[1:] == [s["label"] for s in charts(pkg.text)["chart-versions"]["series"]]

    # What cannot be drawn is a 400 naming the parameter.
    bad = await client.get("/compare-data.csv", params={"packages": a, "chart": "pie"})
    assert bad.status_code == 400 and "chart" in bad.text
    one = await client.get("/compare-data.csv", params={"packages": a, "chart": "values"})
    assert one.status_code == 400 and "two or more packages" in one.text


async def test_chart_download_names_keep_to_safe_characters(
    published_db: Path, tmp_path: Path, top: list[str]
) -> None:
    # A breakdown value comes from the download logs and can hold any character:
    # plant one with a quote, a semicolon and a slash in a copy of the file.
    a, b = sorted(top[:2])
    db = tmp_path / "crafted.sqlite"
    db.write_bytes(published_db.read_bytes())
    crafted = 'x"; filename=evil/..\\.exe'
    with sqlite3.connect(db) as con:
        (country,) = con.execute(
            "SELECT country_code FROM package_countries_weekly WHERE package_name = ? "
            "GROUP BY country_code ORDER BY sum(downloads) DESC LIMIT 1",
            (a,),
        ).fetchone()
        changed = con.execute(
            "UPDATE package_countries_weekly SET country_code = ? WHERE country_code = ?",
            (crafted, country),
        ).rowcount
    assert changed > 0
    settings = Settings(
        db_path=db,
        allowed_hosts=("testserver.local",),
        rate_limit=RateLimit(1_000_000, 60),
    )
    crafted_app = create_app(settings)
    async with AsyncTestClient(app=crafted_app, base_url="http://testserver.local") as c:
        r = await c.get(
            "/compare-data.csv",
            params={
                "packages": f"{a},{b}",
                "chart": "values",
                "dim": "countries",
                "value": crafted,
            },
        )
    assert r.status_code == 200, r.text
    disposition = r.headers["content-disposition"]
    # The value chose the chart (it names the file) and nothing of it escaped the quotes.
    assert "filename=evil" not in disposition
    match = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)\.csv"', disposition)
    assert match is not None, disposition
    assert match.group(1).startswith(f"{a}-vs-{b}-countries-x__")
