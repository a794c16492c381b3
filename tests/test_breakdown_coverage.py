"""Which package-weeks have a breakdown: the API, the pages and the file agree.

A file built by dbt with ``breakdown_min_downloads`` set (``threshold_export``)
has no dimension rows for package-weeks below it. The API says which weeks of
the range those are, the pages say it in a note and leave those weeks as gaps,
and the file still adds up exactly. A file built without a threshold (the
session's ``published_db``) shows nothing of the kind. Expected values come
from plain ``sqlite3`` on the same file.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

import contract
from serve.app import create_app
from serve.models import BreakdownCoverage
from serve.settings import RateLimit, Settings
from serve.web.views import coverage_note
from tests.fixtures.threshold import ThresholdExport

pytestmark = pytest.mark.anyio

CHART_RE = re.compile(r'<div class="chart" id="([\w-]+)" data-chart="[^"]*" data-spec="([^"]*)"')
NOTE_RE = re.compile(r'<p class="breakdown-note" role="note"><small>([^<]*)</small></p>')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(db: Path) -> Settings:
    return Settings(
        db_path=db,
        allowed_hosts=("testserver.local", "127.0.0.1", "localhost"),
        rate_limit=RateLimit(1_000_000, 60),
    )


def client_for(db: Path) -> AsyncTestClient[Any]:
    # Logs go to the sys.stderr of create_app time: keep them out of the test output.
    with contextlib.redirect_stderr(io.StringIO()):
        return AsyncTestClient(create_app(settings(db)))


@dataclass(frozen=True)
class Mixed:
    """A package of the threshold file with weeks on both sides of the threshold."""

    name: str
    threshold: int
    first_week: str  # the file's first week
    data_through: str
    below: list[str]  # weeks with downloads, fewer than the threshold
    above: list[str]  # weeks at or above it
    first_breakdown: str


@pytest.fixture(scope="module")
def threshold_sql(threshold_export: ThresholdExport) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(f"file:{threshold_export.db}?mode=ro", uri=True)
    yield con
    con.close()


def _weeks(con: sqlite3.Connection, name: str, op: str, n: int) -> list[str]:
    rows = con.execute(
        "SELECT week_start FROM package_downloads_weekly WHERE package_name = ? "
        f"AND downloads > 0 AND downloads {op} ? ORDER BY week_start",
        (name, n),
    ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def mixed(threshold_export: ThresholdExport, threshold_sql: sqlite3.Connection) -> Mixed:
    """The most downloaded package whose first week is below the threshold and a later one not."""
    con, n = threshold_sql, threshold_export.threshold
    meta = dict(con.execute("SELECT key, value FROM _meta").fetchall())
    first_week = con.execute("SELECT min(week_start) FROM package_downloads_weekly").fetchone()[0]
    for (name,) in con.execute("SELECT package_name FROM packages ORDER BY rank").fetchall():
        below, above = _weeks(con, name, "<", n), _weeks(con, name, ">=", n)
        if below and above and below[0] < above[0]:
            return Mixed(name, n, first_week, meta["data_through"], below, above, above[0])
    raise AssertionError("the threshold file has no package with weeks on both sides")


def test_the_file_still_adds_up_exactly(
    threshold_export: ThresholdExport, threshold_sql: sqlite3.Connection
) -> None:
    """Every package-week at or above the threshold sums exactly; none below has rows."""
    n = threshold_export.threshold
    sums = ", ".join(f"sum({c}) AS {c}" for c in contract.COUNT_COLUMNS)
    differs = " OR ".join(f"d.{c} != p.{c}" for c in contract.COUNT_COLUMNS)
    for dim in contract.DIMENSIONS.values():
        table = dim.table.name
        wrong = threshold_sql.execute(
            f"SELECT count(*), sum(p.downloads >= ?) FROM package_downloads_weekly p "
            f"LEFT JOIN (SELECT package_name, week_start, {sums} FROM {table} GROUP BY 1, 2) d "
            "USING (package_name, week_start) "
            f"WHERE CASE WHEN p.downloads >= ? THEN d.downloads IS NULL OR {differs} "
            "ELSE d.downloads IS NOT NULL END",
            (n, n),
        ).fetchone()
        assert wrong[0] == 0, (table, wrong)
        orphans = threshold_sql.execute(
            f"SELECT count(*) FROM {table} d LEFT JOIN package_downloads_weekly p "
            "USING (package_name, week_start) WHERE p.downloads IS NULL"
        ).fetchone()[0]
        assert orphans == 0, table


async def test_api_lists_the_weeks_without_breakdown(
    threshold_export: ThresholdExport, mixed: Mixed
) -> None:
    async with client_for(threshold_export.db) as client:
        r = await client.get(
            f"/api/packages/{mixed.name}/installers",
            params={"start": mixed.first_week, "end": mixed.data_through, "exclude": ""},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["breakdown_min_downloads"] == mixed.threshold
    assert body["weeks_without_breakdown"] == mixed.below
    assert body["first_breakdown_week"] == mixed.first_breakdown
    # The weeks with points are exactly those at or above the threshold.
    assert sorted({p["week"] for p in body["points"]}) == mixed.above


async def test_api_window_limits_the_weeks_listed(
    threshold_export: ThresholdExport, mixed: Mixed
) -> None:
    """A range after the first missing week lists only the missing weeks inside it."""
    start = mixed.above[0]
    async with client_for(threshold_export.db) as client:
        r = await client.get(
            f"/api/packages/{mixed.name}/countries",
            params={"start": start, "end": mixed.data_through},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["weeks_without_breakdown"] == [w for w in mixed.below if w >= start]
    # The first week with a breakdown is the package's, not the range's.
    assert body["first_breakdown_week"] == mixed.first_breakdown


async def test_api_without_threshold_lists_nothing(
    published_db: Path, sql: sqlite3.Connection
) -> None:
    name = sql.execute("SELECT package_name FROM packages ORDER BY rank DESC LIMIT 1").fetchone()[0]
    first = sql.execute(
        "SELECT min(week_start) FROM package_downloads_weekly WHERE package_name = ?", (name,)
    ).fetchone()[0]
    async with client_for(published_db) as client:
        r = await client.get(f"/api/packages/{name}/systems")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["breakdown_min_downloads"] == 0
    assert body["weeks_without_breakdown"] == []
    assert body["first_breakdown_week"] == first


async def test_openapi_describes_the_coverage_fields(published_db: Path) -> None:
    async with client_for(published_db) as client:
        r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    props = r.json()["components"]["schemas"]["DimensionSeries"]["properties"]
    said = {
        "breakdown_min_downloads": "`_meta.breakdown_min_downloads`",
        "weeks_without_breakdown": "fewer than `breakdown_min_downloads`",
        "first_breakdown_week": "first week with a breakdown",
    }
    for field, phrase in said.items():
        assert phrase in props[field]["description"], field


def _charts(html: str) -> dict[str, dict[str, Any]]:
    return {m.group(1): json.loads(unescape(m.group(2))) for m in CHART_RE.finditer(html)}


def _week_seconds(week: str) -> int:
    return (date.fromisoformat(week) - date(1970, 1, 1)).days * 86400


def _expected_note(mixed: Mixed, shown: int) -> str:
    missing = len(mixed.below)
    return (
        f"Breakdowns cover package-weeks with at least {mixed.threshold:,} downloads; "
        f"{missing} of the {shown} weeks shown {'has' if missing == 1 else 'have'} totals only "
        f"(first week with a breakdown: {mixed.first_breakdown})."
    )


async def test_package_page_notes_the_weeks_and_leaves_gaps(
    threshold_export: ThresholdExport, mixed: Mixed
) -> None:
    async with client_for(threshold_export.db) as client:
        r = await client.get(f"/packages/{mixed.name}", params={"range": "all"})
    assert r.status_code == 200, r.text
    charts = _charts(r.text)
    stacked = charts["chart-installers"]
    shown = len(stacked["x"])
    assert shown >= len(mixed.below) + len(mixed.above)
    assert NOTE_RE.findall(r.text) == [
        _expected_note(mixed, shown) + " Those weeks are gaps in the charts."
    ]
    for key in contract.DIMENSIONS:
        spec = charts[f"chart-{key}"]
        for week in mixed.below:
            i = spec["x"].index(_week_seconds(week))
            assert all(s["values"][i] is None for s in spec["series"]), (key, week)
        for week in mixed.above:
            i = spec["x"].index(_week_seconds(week))
            assert sum(s["values"][i] or 0 for s in spec["series"]) == pytest.approx(100, abs=0.01)


async def test_compare_page_notes_each_package(
    threshold_export: ThresholdExport, threshold_sql: sqlite3.Connection, mixed: Mixed
) -> None:
    """Two packages: the note names the one with weeks cut, the values chart has its gaps."""
    other = threshold_sql.execute(
        "SELECT package_name FROM packages WHERE package_name != ? ORDER BY rank LIMIT 1",
        (mixed.name,),
    ).fetchone()[0]
    other_below = _weeks(threshold_sql, other, "<", mixed.threshold)
    async with client_for(threshold_export.db) as client:
        r = await client.get(
            "/compare", params={"packages": f"{mixed.name},{other}", "range": "all"}
        )
    assert r.status_code == 200, r.text
    (note,) = NOTE_RE.findall(r.text)
    assert note.startswith(
        f"Breakdowns cover package-weeks with at least {mixed.threshold:,} downloads; "
    )
    assert f"{len(mixed.below)} of the " in note
    assert f"(first week with a breakdown: {mixed.first_breakdown})" in note
    assert (other in note) == bool(other_below)
    values = _charts(r.text)["chart-values"]
    series = next(s for s in values["series"] if mixed.name in s["label"].lower())
    for week in mixed.below:
        assert series["values"][values["x"].index(_week_seconds(week))] is None


async def test_pages_without_threshold_show_no_note(
    published_db: Path, sql: sqlite3.Connection
) -> None:
    name = sql.execute("SELECT package_name FROM packages ORDER BY rank DESC LIMIT 1").fetchone()[0]
    async with client_for(published_db) as client:
        page = await client.get(f"/packages/{name}", params={"range": "all"})
        compared = await client.get(f"/compare/{name}")
    assert page.status_code == 200 and compared.status_code == 200
    for html in (page.text, compared.text):
        assert "breakdown-note" not in html
        assert "Breakdowns cover" not in html


def test_schema_doc_queries_find_the_weeks(
    threshold_export: ThresholdExport, threshold_sql: sqlite3.Connection, mixed: Mixed
) -> None:
    """The queries docs/schema.md gives answer what the marts hold, on a real file."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "schema.md").read_text()
    section = page.split("## Which package-weeks have a breakdown", 1)[1].split("\n## ", 1)[0]
    threshold_q, weeks_q, first_q = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert threshold_sql.execute(threshold_q).fetchall() == [(threshold_export.threshold,)]
    ours = f"'{mixed.name}'"
    weeks = threshold_sql.execute(weeks_q.replace("'requests'", ours)).fetchall()
    assert [w for w, d, has in weeks if not has and d > 0] == mixed.below
    # Independently: a week has a breakdown exactly when every dimension mart has rows for it.
    for week, _, has in weeks:
        for dim in contract.DIMENSIONS.values():
            rows = threshold_sql.execute(
                f"SELECT count(*) FROM {dim.table.name} WHERE package_name = ? AND week_start = ?",
                (mixed.name, week),
            ).fetchone()[0]
            assert bool(rows) == bool(has), (dim.table.name, week)
    first = threshold_sql.execute(first_q.replace("'requests'", ours)).fetchall()
    assert first == [(mixed.first_breakdown,)]


async def test_package_with_no_breakdown_says_so(
    threshold_export: ThresholdExport, threshold_sql: sqlite3.Connection
) -> None:
    """A package always below the threshold: every breakdown chart is empty, and says why."""
    row = threshold_sql.execute(
        "SELECT package_name, count(*) FROM package_downloads_weekly GROUP BY package_name "
        "HAVING max(downloads) < ? ORDER BY sum(downloads) DESC LIMIT 1",
        (threshold_export.threshold,),
    ).fetchone()
    assert row is not None, "the threshold file needs a package always below it"
    name, weeks = row
    async with client_for(threshold_export.db) as client:
        r = await client.get(f"/packages/{name}", params={"range": "all"})
    assert r.status_code == 200, r.text
    (note,) = NOTE_RE.findall(r.text)
    assert f"; {weeks} of the " in note
    assert "(first week with a breakdown: none in the file)" in note
    assert r.text.count("No breakdown for the weeks shown.") == len(contract.DIMENSIONS)
    assert "No downloads in this range." not in r.text


def test_note_counts_only_the_weeks_shown() -> None:
    def cov(name: str, n: int, first: str | None, missing: list[str]) -> BreakdownCoverage:
        return BreakdownCoverage(name, n, first, missing)

    weeks = ["2026-01-05", "2026-01-12", "2026-01-19"]
    labels = {"a": "A", "b": "B"}
    # Weeks outside the ones shown do not count; none shown: no note.
    assert (
        coverage_note({"a": cov("a", 50, "2026-01-05", ["2025-12-29"])}, ["a"], labels, weeks)
        is None
    )
    # Threshold 0: no note whatever is listed.
    assert coverage_note({"a": cov("a", 0, None, weeks)}, ["a"], labels, weeks) is None
    one = {"a": cov("a", 2000, "2026-01-12", ["2026-01-05", "2025-12-29"])}
    assert coverage_note(one, ["a"], labels, weeks) == (
        "Breakdowns cover package-weeks with at least 2,000 downloads; 1 of the 3 weeks shown "
        "has totals only (first week with a breakdown: 2026-01-12)."
    )
    two = {**one, "b": cov("b", 2000, None, weeks), "c": cov("c", 2000, "2026-01-05", [])}
    assert coverage_note(two, ["a", "b", "c"], labels, weeks) == (
        "Breakdowns cover package-weeks with at least 2,000 downloads; A: 1 of the 3 weeks "
        "shown has totals only (first week with a breakdown: 2026-01-12); B: 3 of the 3 weeks "
        "shown have totals only (first week with a breakdown: none in the file)."
    )
