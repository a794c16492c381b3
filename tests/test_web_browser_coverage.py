"""Breakdown coverage in a real browser: chromium on a file built with a threshold.

A module of its own, with no async test: Playwright's sync API runs an event
loop on this thread while its fixture lives, which the async tests' runner
cannot share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.server import serve_process
from tests.fixtures.threshold import ThresholdExport
from tests.test_breakdown_coverage import Mixed, _week_seconds, mixed, threshold_sql
from tests.test_web_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_page

__all__ = ["mixed", "threshold_sql"]  # module fixtures reused from the API and page tests


@pytest.fixture(scope="module")
def threshold_server(
    threshold_export: ThresholdExport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real ``python -m serve`` on 127.0.0.1 over the file built with a threshold."""
    log = tmp_path_factory.mktemp("threshold-server") / "server.log"
    with serve_process(threshold_export.db, log, "--rate-limit", "100000/minute") as base:
        yield base


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Chromium through Playwright; missing chromium fails under CI, skips elsewhere."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{CHROMIUM} is missing: run `make setup-system`")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_in_chromium_the_note_shows_and_a_week_below_is_a_gap(
    threshold_server: str, chromium: Any, mixed: Mixed
) -> None:
    w = open_page(chromium, 1280, 900)
    page = w.page
    page.goto(f"{threshold_server}/packages/{mixed.name}?range=all")
    note = page.locator(".breakdown-note")
    assert note.is_visible()
    assert f"{len(mixed.below)} of the " in note.inner_text()
    holder = page.locator('[data-chart="chart-installers"].drawn')
    holder.wait_for()
    spec = json.loads(holder.get_attribute("data-spec") or "{}")
    xs = spec["x"]
    over = holder.locator(".u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None

    def hover(week: str) -> str:
        # uPlot's time axis spans the data exactly: a week's x is linear in the box.
        frac = (_week_seconds(week) - xs[0]) / (xs[-1] - xs[0])
        page.mouse.move(
            box["x"] + min(box["width"] - 1, max(1, frac * box["width"])),
            box["y"] + box["height"] / 2,
        )
        tip = holder.locator(".chart-tooltip")
        tip.wait_for(state="visible")
        page.wait_for_function(
            "([el, w]) => el.querySelector('strong')?.textContent === w",
            arg=[tip.element_handle(), week],
        )
        return tip.inner_text()

    gap = hover(mixed.below[0])
    assert "No breakdown this week" in gap
    assert "0.00 %" not in gap
    full = hover(mixed.above[0])
    assert "No breakdown this week" not in full and " %" in full
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".breakdown-grid").screenshot(path=str(ARTIFACTS / "breakdown-coverage.png"))
    assert w.problems() == []
