"""Browser end-to-end tests: Playwright driving Debian's chromium against a real server.

``python -m serve`` runs on a free port over the file built by the real
exporter; chromium loads the pages as a user would. Every test fails on a
console error or a Content-Security-Policy violation. Screenshots go to
``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.server import serve_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"
# Records CSP violations in the page (runs before any page script; not subject to the CSP).
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


@pytest.fixture(scope="module")
def server(published_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``python -m serve`` on 127.0.0.1 (one worker) over the published file."""
    log = tmp_path_factory.mktemp("web-server") / "server.log"
    options = ("--log-format", "json", "--rate-limit", "100000/minute")
    with serve_process(published_db, log, *options) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium through Playwright; missing chromium fails under CI, skips elsewhere."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `make setup-system`"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Watched:
    """A page with its console errors collected."""

    page: Any
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        csp: list[str] = self.page.evaluate("window.__csp || []")
        return self.errors + [f"CSP: {v}" for v in csp]


def open_page(browser: Any, width: int, height: int) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    watched = Watched(page)
    page.on(
        "console",
        lambda m: (
            watched.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    page.on("pageerror", lambda e: watched.errors.append(f"page error: {e}"))
    page.set_default_timeout(10_000)
    return watched


@pytest.fixture(scope="module")
def names(published_db: Path) -> list[tuple[str, str]]:
    """(name, display name) of the most downloaded packages, by rank."""
    con = sqlite3.connect(f"file:{published_db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT package_name, display_name FROM packages ORDER BY rank LIMIT 10"
        ).fetchall()
    finally:
        con.close()
    assert len(rows) >= 3
    return [(str(a), str(b)) for a, b in rows]


def chart_series(page: Any, expected: int, chart: str = "chart-main") -> int | None:
    """How many series the drawn chart shows, once it shows ``expected`` (or after 10 s).

    htmx swaps the chart holder after a navigation, so a single read can see
    the old holder or a new one not drawn yet: poll until the drawn holder
    carries the expected count, and return what was last seen either way so
    that the caller's assertion reports it.
    """
    selector = f'[data-chart="{chart}"].drawn'
    script = "s => { const el = document.querySelector(s); return el ? el.dataset.series : null; }"
    deadline = time.monotonic() + 10
    while True:
        seen = page.evaluate(script, selector)
        value = None if seen is None else int(seen)
        if value == expected or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(50)


def settled(page: Any) -> None:
    """Wait until no htmx request is in flight.

    A control changed while the previous swap is still on its way can be
    replaced by that swap before its own request leaves (seen on a loaded
    machine: the second of two quick selects was lost), so each step of a
    journey starts from a settled page, as a person's next click would.
    """
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_search_add_chart_range_share_remove(
    server: str, browser: Any, names: list[tuple[str, str]]
) -> None:
    (a, a_label), (b, b_label) = names[0], names[1]
    w = open_page(browser, 1280, 900)
    page = w.page
    page.goto(server + "/")

    # Search as you type: prefix typed in another case and with "_" for "-".
    search = page.locator("#pkg-search")
    search.fill(a[: max(3, len(a) - 1)].upper().replace("-", "_"))
    first = page.locator("#suggestions a.suggestion").first
    first.wait_for()
    # Keyboard: ArrowDown moves into the list, Enter follows the focused entry.
    search.press("ArrowDown")
    focused = page.evaluate("document.activeElement.textContent")
    assert a_label in page.locator("#suggestions").inner_text()
    target = page.locator("#suggestions a.suggestion", has_text=a_label).first
    for _ in range(8):
        if a_label in focused:
            break
        page.keyboard.press("ArrowDown")
        focused = page.evaluate("document.activeElement.textContent")
    assert a_label in focused
    href = target.get_attribute("href")
    page.keyboard.press("Enter")
    page.wait_for_url(server + href)
    assert chart_series(page, 1) == 1

    # Add a second package by clicking its suggestion.
    page.locator("#pkg-search").fill(b)
    page.locator("#suggestions a.suggestion", has_text=b_label).first.click()
    both = "-vs-".join(sorted([a, b]))
    page.wait_for_url(f"{server}/compare/{both}")
    assert chart_series(page, 2) == 2
    labels = page.locator('[data-chart="chart-main"] .u-legend .u-series').all_inner_texts()
    assert any(a_label in t for t in labels) and any(b_label in t for t in labels)

    # Duplicates are answered inline.
    page.locator("#pkg-search").fill(a)
    page.locator("#add-form button[type=submit]").click()
    page.locator("#add-feedback", has_text="already in the comparison").wait_for()

    # Change the range, then show shares of all PyPI: the URL follows.
    settled(page)
    page.select_option('select[name="range"]', "3m")
    page.wait_for_url(f"{server}/compare/{both}?range=3m")
    settled(page)
    page.select_option('select[name="show"]', "pypi")
    page.wait_for_url(f"{server}/compare/{both}?range=3m&show=pypi")
    assert chart_series(page, 2) == 2

    # Hover shows a tooltip with both packages.
    over = page.locator('[data-chart="chart-main"] .u-over')
    # The sample notice above the page can push the chart below the fold.
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    tip = page.locator('[data-chart="chart-main"] .chart-tooltip')
    tip.wait_for(state="visible")
    assert a_label in tip.inner_text() and b_label in tip.inner_text()
    assert "%" in tip.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-desktop.png"), full_page=True)

    # The shared URL reproduces the same state in a fresh page (no JS-only state).
    shown = page.locator("#chart-main").get_attribute("data-spec")
    shared = page.url
    w2 = open_page(browser, 1280, 900)
    w2.page.goto(shared)
    assert chart_series(w2.page, 2) == 2
    assert w2.page.locator("#chart-main").get_attribute("data-spec") == shown
    assert w2.page.locator('select[name="range"]').input_value() == "3m"
    assert w2.page.locator('select[name="show"]').input_value() == "pypi"
    assert json.loads(shown)["percent"] is True

    # Remove one with one click.
    settled(page)
    page.locator(f'.chip a.remove[aria-label="Remove {b_label}"]').click()
    page.wait_for_url(f"{server}/compare/{a}?range=3m&show=pypi")
    assert chart_series(page, 1) == 1
    assert page.locator(".chip").count() == 1

    assert w.problems() == []
    assert w2.problems() == []


def test_phone_width_with_ten_packages_and_dark_theme(
    server: str, browser: Any, names: list[tuple[str, str]]
) -> None:
    ten = sorted(n for n, _ in names[:10])
    w = open_page(browser, 390, 844)
    page = w.page
    page.goto(f"{server}/compare/{'-vs-'.join(ten)}")
    assert chart_series(page, len(ten)) == len(ten)
    assert page.locator(".chip").count() == len(ten)
    if len(ten) == 10:
        assert page.locator("#pkg-search").is_disabled()
    # No horizontal scrolling of the page itself (wide tables scroll in their own box).
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    chart_box = page.locator('[data-chart="chart-main"]').bounding_box()
    assert chart_box["width"] <= 390
    page.locator("#theme-toggle").click()
    first = page.evaluate("document.documentElement.getAttribute('data-theme')")
    page.locator("#theme-toggle").click()
    second = page.evaluate("document.documentElement.getAttribute('data-theme')")
    assert {first, second} == {"light", "dark"}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-phone.png"), full_page=True)
    assert w.problems() == []


@pytest.fixture(scope="module")
def other_site() -> Iterator[str]:
    """Another origin on 127.0.0.1: a plain HTTP server with one blank page."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Blank(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>other site</title><p>other</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Blank)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_another_site_reads_the_api_through_a_cors_preflight(
    server: str, other_site: str, browser: Any
) -> None:
    # A page on another origin sends a request with a non-simple header, so Chromium
    # preflights it first; "*, *" (the header sent twice) failed both.
    w = open_page(browser, 800, 600)
    page = w.page
    page.goto(other_site + "/")
    result = page.evaluate(
        """async url => {
            try {
                const r = await fetch(url, {headers: {"HX-Request": "true"}});
                return {status: r.status, build: (await r.json()).build_id,
                        etag: r.headers.get("ETag")};
            } catch (e) { return {error: String(e)}; }
        }""",
        server + "/api/meta",
    )
    assert result.get("status") == 200, (result, w.errors)
    assert result["build"] and result["etag"], result


def test_api_docs_load_offline_under_the_page_csp(server: str, browser: Any) -> None:
    w = open_page(browser, 1280, 900)
    page = w.page
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(server + "/schema")
    # Swagger UI drew the operations from the local JSON document.
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock").count() >= 8
    assert "/api/packages/{name}/downloads" in page.content()
    outside = [u for u in requested if not u.startswith(server + "/") and not u.startswith("data:")]
    assert outside == []
    assert w.problems() == []
