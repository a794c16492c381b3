"""Pages of issue 17: sample notice, markers, badges, links, notes, head tags, colours.

Route tests use the real app on the exported test file; the browser tests
drive Debian's chromium (Playwright) against a real ``python -m serve``, with
the fixtures of ``test_web_browser``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from serve.app import create_app
from serve.data import BreakdownRows
from serve.web import views
from serve.web.routes import web_link
from tests.test_api import api_settings
from tests.test_web_browser import (  # noqa: F401  (fixtures)
    browser,
    names,
    open_page,
    server,
    settled,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app(published_db: Path) -> Litestar:
    return create_app(api_settings(published_db))


def spec(html: str, chart: str = "chart-main") -> dict[str, Any]:
    found = re.search(rf'data-chart="{chart}" data-spec="([^"]*)"', html)
    assert found, f"no {chart}"
    return dict(json.loads(unescape(found.group(1))))


@pytest.fixture(scope="module")
def released(sql: sqlite3.Connection) -> str:
    row = sql.execute(
        "SELECT r.package_name FROM package_releases AS r "
        "JOIN (SELECT min(week_start) AS first FROM pypi_downloads_weekly) AS w "
        "ON r.first_upload_week >= w.first WHERE r.release_kind IN ('major', 'minor') "
        "GROUP BY r.package_name ORDER BY count(*) DESC, r.package_name LIMIT 1"
    ).fetchone()
    assert row
    return str(row[0])


# --- pure functions ----------------------------------------------------------------------------


def test_colour_slots_stay_when_a_package_joins() -> None:
    chosen = ["requests", "numpy", "boto3", "uv"]
    before = views.colour_slots(chosen)
    assert len(set(before.values())) == len(chosen)
    # Names sorting first join one at a time; every earlier package keeps its
    # slot unless the newcomer wanted exactly that slot.
    for newcomer in ("aaa", "aab", "0x", "a-b-c"):
        after = views.colour_slots([*chosen, newcomer])
        wanted = views.colour_slots([newcomer])[newcomer]
        for n in chosen:
            if before[n] != wanted:
                assert after[n] == before[n], (newcomer, n)


def test_stacked_breakdown_ranks_by_the_latest_weeks() -> None:
    weeks = [f"2026-0{m}-0{d}" for m, d in ((1, 5), (2, 2), (3, 2), (4, 6), (5, 4), (6, 1))]
    rows = []
    for i, w in enumerate(weeks):
        # "1.x" led the range on the whole; "2.x" leads its last 4 weeks.
        rows.append(("p", w, "1.x", 1000 if i < 2 else 10))
        rows.append(("p", w, "2.x", 0 if i < 2 else 50))
    for i in range(8):
        rows.append(("p", weeks[-1], f"tiny{i}", 1))
    chart = views.stacked_chart(BreakdownRows("version_lines", rows), "p", weeks, "Release lines")
    labels = [s.label for s in chart.series]
    assert labels[0] == "2.x"
    assert labels[1] == "1.x"
    assert labels[-1] == "other"


def test_web_link_takes_only_absolute_http_urls() -> None:
    assert web_link("https://example.org/x") == "https://example.org/x"
    assert web_link("http://example.org") == "http://example.org"
    for bad in ("javascript:alert(1)", "/relative", "example.org", "ftp://x.org", "", None):
        assert web_link(bad) is None


# --- routes ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_package_page_marks_releases_and_events_and_labels_the_sample(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection, released: str
) -> None:
    r = await client.get(f"/packages/{released}")
    assert r.status_code == 200
    html = r.text
    assert "Sample data, not real download counts." in html
    assert "Invented sample summary" in html or "No summary." in html
    main = spec(html)
    versions = {
        str(v)
        for (v,) in sql.execute(
            "SELECT version FROM package_releases WHERE package_name = ? "
            "AND release_kind IN ('major', 'minor')",
            (released,),
        )
    }
    marked = {m["label"].split(" ")[1] for m in main["releases"]}
    assert marked and marked <= versions
    assert main["events"], "the sample's range overlaps a known log event"
    # Several packages: releases off unless asked; the URL keeps only a non-default choice.
    other = sql.execute(
        "SELECT package_name FROM packages WHERE package_name != ? ORDER BY rank LIMIT 1",
        (released,),
    ).fetchone()[0]
    pair = "-vs-".join(sorted([released, other]))
    off = spec((await client.get(f"/compare/{pair}")).text)
    assert off["releases"] == [] and off["events"]
    on = (await client.get(f"/compare/{pair}?releases=1")).text
    assert spec(on)["releases"]
    assert f'<link rel="canonical" href="http://testserver.local/compare/{pair}?releases=1">' in on
    # One package with releases=1 is the default: the canonical URL drops it.
    one = (await client.get(f"/packages/{released}?releases=1")).text
    assert f'href="http://testserver.local/packages/{released}"' in one

    # Release and event tables as downloads.
    rel = await client.get("/compare-data.csv", params={"packages": released, "chart": "releases"})
    assert rel.text.splitlines()[0].startswith("package,version,release_line")
    ev = await client.get("/compare-data.json", params={"packages": released, "chart": "events"})
    assert ev.json()["columns"][0] == "scope"
    main_json = (await client.get("/compare-data.json", params={"packages": released})).json()
    assert {"releases", "events"} <= main_json.keys()


@pytest.mark.anyio
async def test_head_tags_links_badges_and_notes(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection
) -> None:
    rows = sql.execute(
        "SELECT package_name, display_name, home_page FROM packages ORDER BY rank LIMIT 12"
    ).fetchall()
    a, a_label, home = rows[0]
    html = (await client.get(f"/packages/{a}")).text
    assert '<meta name="description" content="Weekly PyPI downloads of' in html
    assert f'<meta property="og:url" content="http://testserver.local/packages/{a}">' in html
    assert '<meta name="twitter:card" content="summary">' in html
    if home:
        assert f'<a href="{home}" rel="nofollow noopener"' in html
    # The embed panel previews the SVG badge and gives three snippets.
    assert f'<img src="/badge/{a}.svg"' in html
    assert f"[![{a_label} downloads](http://testserver.local/badge/{a}.svg)]" in html
    assert f".. image:: http://testserver.local/badge/{a}.svg" in html
    assert 'data-copy="share-url"' in html
    assert (
        f'id="share-url" class="share-url" readonly value="http://testserver.local/packages/{a}"'
        in html
    )

    # Twelve names in a link: the first ten in the link's order, and a note.
    given = [r[0] for r in rows]
    r = await client.get("/compare", params={"packages": ",".join(given)})
    assert r.status_code == 200
    assert "at most 10 packages" in r.text
    shown = spec(r.text)["series"]
    assert sorted(s["label"] for s in shown) == sorted(r[1] for r in rows[:10])
    kept = "-vs-".join(sorted(given[:10]))
    assert f'<link rel="canonical" href="http://testserver.local/compare/{kept}">' in r.text

    # Embed: legend room and a fixed theme.
    share = (await client.get(f"/compare/{'-vs-'.join(sorted(given[:2]))}")).text
    height = int(re.search(r'height=&#34;(\d+)&#34;|height="(\d+)"', unescape(share)).group(2))
    assert height > 420
    dark = await client.get(f"/embed/compare/{'-vs-'.join(sorted(given[:2]))}?theme=dark")
    assert '<html lang="en" data-theme="dark">' in dark.text
    assert (await client.get(f"/embed/compare/{a}?theme=pink")).status_code == 400


@pytest.mark.anyio
async def test_stats_count_with_the_page_exclusions(
    client: AsyncTestClient[Litestar], sql: sqlite3.Connection
) -> None:
    (a, last_4, total), (b, *_) = sql.execute(
        "SELECT package_name, downloads_last_4_weeks, downloads_total FROM packages "
        "ORDER BY rank LIMIT 2"
    ).fetchall()
    pair = "-vs-".join(sorted([a, b]))
    data_through = sql.execute("SELECT max(week_start) FROM pypi_downloads_weekly").fetchone()[0]
    d = "downloads - downloads_mirror - downloads_metadata"
    recent, whole = sql.execute(
        f"SELECT sum(CASE WHEN week_start > date(?, '-28 days') THEN {d} ELSE 0 END), sum({d}) "
        "FROM package_downloads_weekly WHERE package_name = ?",
        (data_through, a),
    ).fetchone()
    assert (recent, whole) != (last_4, total), "the sample should have mirrors or metadata"
    default = (await client.get(f"/compare/{pair}")).text
    assert f'title="{recent:,}"' in default and f'title="{whole:,}"' in default
    everything = (await client.get(f"/compare/{pair}?exclude=")).text
    assert f'title="{last_4:,}"' in everything and f'title="{total:,}"' in everything


# --- browser -----------------------------------------------------------------------------------
# Last in the module: Playwright's sync API keeps its event loop running until the
# module's browser fixture closes, which async tests after these could not share.


@pytest.mark.browser
def test_browser_sees_markers_notice_and_badge(server: str, browser: Any, released: str) -> None:  # noqa: F811
    w = open_page(browser, 1280, 900)
    page = w.page
    page.goto(f"{server}/packages/{released}")
    page.locator('[data-chart="chart-main"].drawn').wait_for()
    assert page.locator(".sample-notice").is_visible()
    assert "scaled down" in page.locator(".sample-notice").inner_text()
    tick = page.locator('[data-chart="chart-main"] .release-tick').first
    tick.wait_for()
    assert released in (tick.get_attribute("title") or "")
    band = page.locator('[data-chart="chart-main"] .event-band').first
    assert band.is_visible()
    box = band.bounding_box()
    assert box and box["width"] > 2
    # Hovering the tick's week lists the release in the tooltip.
    page.locator('[data-chart="chart-main"]').scroll_into_view_if_needed()
    tbox = tick.bounding_box()
    assert tbox
    page.mouse.move(tbox["x"] + 2, tbox["y"] - 30)
    tip = page.locator('[data-chart="chart-main"] .chart-tooltip')
    tip.wait_for(state="visible")
    assert "Release:" in tip.inner_text()
    # The badge preview is an SVG the browser could draw.
    page.locator(".share summary").click()
    img = page.locator(".badge-preview img").first
    img.wait_for()
    page.wait_for_function("() => document.querySelector('.badge-preview img').naturalWidth > 0")
    page.screenshot(path=str(Path("test-artifacts") / "markers.png"), full_page=False)
    assert w.problems() == []


@pytest.mark.browser
def test_keyboard_focus_stays_on_the_changed_control(
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    names: list[tuple[str, str]],  # noqa: F811
) -> None:
    a = names[0][0]
    w = open_page(browser, 1280, 900)
    page = w.page
    page.goto(f"{server}/packages/{a}")
    page.locator('[data-chart="chart-main"].drawn').wait_for()
    page.locator('input[name="cumulative"]').focus()
    page.keyboard.press("Space")
    page.wait_for_url(f"{server}/packages/{a}?cumulative=1")
    settled(page)
    page.wait_for_function("() => document.activeElement && document.activeElement.name")
    assert page.evaluate("document.activeElement.name") == "cumulative"
    assert page.evaluate("document.activeElement.checked") is True
    page.wait_for_function("() => document.getElementById('announce').textContent !== ''")
    assert "Updated" in page.locator("#announce").inner_text()
    # A checkbox of a group: the same box (name and value) gets the focus back.
    page.locator('input[name="exclude"][value="ci"]').focus()
    page.keyboard.press("Space")
    page.wait_for_url(re.compile(r".*exclude=ci.*"))
    settled(page)
    page.wait_for_function("() => document.activeElement && document.activeElement.value === 'ci'")
    assert page.evaluate("document.activeElement.name") == "exclude"
    # A select changed from the keyboard.
    page.locator('select[name="range"]').focus()
    page.locator('select[name="range"]').select_option("3m")
    page.wait_for_url(re.compile(r".*range=3m.*"))
    settled(page)
    page.wait_for_function("() => document.activeElement && document.activeElement.name")
    assert page.evaluate("document.activeElement.name") == "range"
    assert w.problems() == []


@pytest.mark.browser
def test_phone_shows_the_chart_before_the_controls(
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    names: list[tuple[str, str]],  # noqa: F811
) -> None:
    pair = "-vs-".join(sorted(n for n, _ in names[:2]))
    w = open_page(browser, 390, 844)
    page = w.page
    page.goto(f"{server}/compare/{pair}")
    chart = page.locator('[data-chart="chart-main"].drawn')
    chart.wait_for()
    controls = page.locator('select[name="range"]')
    assert chart.bounding_box()["y"] < controls.bounding_box()["y"]
    assert w.problems() == []
