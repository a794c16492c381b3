"""View-models: query results turned into what the charts and tables show.

Pure functions (no I/O), so every transformation the page applies (ranges,
cumulative, alignment by weeks since release, shares, stacked breakdowns) is
tested directly. A chart is a :class:`Chart`: one x axis and named series of
the same length; the browser only draws it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from serve import models
from serve.data import BreakdownRows
from serve.formats import NO_VALUE
from serve.params import monday
from serve.web.state import ViewOptions

EPOCH = date(1970, 1, 1)
#: Values beyond this many per stacked breakdown are folded into "other".
STACK_TOP = 7
OTHER_VALUES = ("other",)

Number = float | int | None
#: Colours of the chart palette (app.js PALETTE, app.css --pt-s*).
PALETTE_SIZE = 10
#: A stacked breakdown ranks its values by this many last weeks of the range:
#: what leads now, not what led on average (a new major version starts small).
RECENT_WEEKS = 4


def colour_slots(names: Sequence[str]) -> dict[str, int]:
    """A palette index per package that does not move when another is added.

    Each name prefers the slot its hash picks; a clash goes to the next free
    slot, taking names in sorted order. So a package keeps its colour when one
    joins unless the newcomer wanted the same slot and sorts first, which is
    far rarer than with colours given by position in the sorted set (where
    adding ``aaa`` shifts every colour).
    """
    taken: dict[int, str] = {}
    out: dict[str, int] = {}
    for name in sorted(set(names)):
        slot = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=2).digest()) % PALETTE_SIZE
        while slot in taken and len(taken) < PALETTE_SIZE:
            slot = (slot + 1) % PALETTE_SIZE
        taken[slot] = name
        out[name] = slot
    return out


def week_seconds(week: str) -> int:
    """Unix seconds of a week's Monday 00:00 UTC (uPlot's time axis unit)."""
    return (date.fromisoformat(week) - EPOCH).days * 86400


def release_week(row: models.Package | None, fallback: str) -> date:
    """The Monday of a package's first release (else its first downloaded week)."""
    day = (row.first_release_date or row.first_download_week) if row else None
    return monday(date.fromisoformat(day or fallback))


@dataclass(frozen=True, slots=True)
class Series:
    """One named line or band."""

    label: str
    values: list[Number]
    key: str = ""
    #: Palette index (None: by position).
    color: int | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything one chart draws; ``payload()`` is what the page embeds as JSON."""

    kind: str  # "lines" or "stacked"
    x: list[int]
    series: list[Series]
    time: bool = True
    percent: bool = False
    x_label: str = "Week"
    y_label: str = "Downloads per week"
    marker: int | None = None
    marker_label: str = ""
    x_names: list[str] = field(default_factory=list)
    #: Release ticks: ``{"x", "series", "label"}`` (x in the axis' unit).
    releases: list[dict[str, Any]] = field(default_factory=list)
    #: Log-event bands: ``{"x0", "x1", "label"}``.
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw."""
        return not self.x or all(v in (None, 0) for s in self.series for v in s.values)

    def payload(self) -> dict[str, Any]:
        """The JSON the browser script draws from."""
        return {
            "kind": self.kind,
            "time": self.time,
            "percent": self.percent,
            "xLabel": self.x_label,
            "yLabel": self.y_label,
            "x": self.x,
            "series": [
                {"label": s.label, "values": s.values, "color": s.color} for s in self.series
            ],
            "marker": self.marker,
            "markerLabel": self.marker_label,
            "releases": self.releases,
            "events": self.events,
        }

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """The chart as a table: a header and one row per x value (for CSV)."""
        header = [self.x_label.lower().replace(" ", "_"), *[s.key or s.label for s in self.series]]
        rows = [
            [self.x_names[i] if self.x_names else x, *[s.values[i] for s in self.series]]
            for i, x in enumerate(self.x)
        ]
        return header, rows


def _ratio(num: Sequence[Number], den: Sequence[Number], cumulative: bool) -> list[Number]:
    """``num / den`` in percent per position; running sums first when cumulative."""
    out: list[Number] = []
    n_sum = d_sum = 0.0
    for n, d in zip(num, den, strict=True):
        if n is None or d is None:
            out.append(None)
            continue
        if cumulative:
            n_sum += n
            d_sum += d
            n, d = n_sum, d_sum
        out.append(round(100.0 * n / d, 4) if d else None)
    return out


def _running(values: Sequence[Number]) -> list[Number]:
    out: list[Number] = []
    total = 0
    for v in values:
        if v is None:
            out.append(None)
        else:
            total += int(v)
            out.append(total)
    return out


def _combine(
    counts: dict[str, list[Number]], pypi: list[Number], opts: ViewOptions
) -> dict[str, list[Number]]:
    """Apply ``show`` and ``cumulative`` to per-package counts on one axis."""
    if opts.show == "downloads":
        return {n: (_running(c) if opts.cumulative else list(c)) for n, c in counts.items()}
    if opts.show == "pypi":
        return {n: _ratio(c, pypi, opts.cumulative) for n, c in counts.items()}
    length = len(pypi)
    totals: list[Number] = []
    for i in range(length):
        present = [int(c[i] or 0) for c in counts.values() if c[i] is not None]
        totals.append(sum(present) if present else None)
    return {n: _ratio(c, totals, opts.cumulative) for n, c in counts.items()}


def _y_label(opts: ViewOptions) -> str:
    base = {
        "downloads": "Downloads per week",
        "share": "% of the selected packages",
        "pypi": "% of all PyPI downloads",
    }[opts.show]
    if opts.cumulative:
        base = {
            "downloads": "Downloads since the start",
            "share": "% of the selected packages, cumulative",
            "pypi": "% of all PyPI downloads, cumulative",
        }[opts.show]
    return base


def main_chart(
    cmp: models.Comparison,
    rows: dict[str, models.Package],
    opts: ViewOptions,
    data_through: str,
) -> Chart:
    """The main chart: one line per package, as the options ask.

    ``cmp`` covers the range's calendar weeks. When aligned, the same weeks are
    placed by each package's age instead (weeks since the Monday of its first
    release), so the x axis spans the ages the range covers for any package;
    ages a package has no week for in the range are gaps (None), not zeros.
    """
    labels = {
        p.package: rows[p.package].display_name if p.package in rows else p.package
        for p in cmp.packages
    }
    marker_label = f"data through {data_through}"
    slots = colour_slots([p.package for p in cmp.packages])
    if not opts.align:
        counts: dict[str, list[Number]] = {p.package: list(p.downloads) for p in cmp.packages}
        pypi: list[Number] = list(cmp.pypi_downloads)
        values = _combine(counts, pypi, opts)
        return Chart(
            kind="lines",
            x=[week_seconds(w) for w in cmp.weeks],
            x_names=list(cmp.weeks),
            series=[Series(labels[n], values[n], n, slots[n]) for n in counts],
            percent=opts.show != "downloads",
            y_label=_y_label(opts),
            marker=week_seconds(data_through),
            marker_label=marker_label,
        )
    if not cmp.weeks:
        return Chart(kind="lines", x=[], series=[], time=False, x_label="Weeks since release")
    start = date.fromisoformat(cmp.weeks[0])
    n_axis = len(cmp.weeks)
    # Age (weeks since release) of the window's first week, per package.
    first_age = {
        p.package: (start - release_week(rows.get(p.package), cmp.weeks[0])).days // 7
        for p in cmp.packages
    }
    low = max(0, min(first_age.values()))
    high = max(age + n_axis - 1 for age in first_age.values())
    ages = list(range(low, high + 1)) if high >= low else []
    aligned: dict[str, list[Number]] = {}
    pypi_aligned: dict[str, list[Number]] = {}
    for p in cmp.packages:
        age0 = first_age[p.package]
        # Week i of the window is age age0 + i; before release (age < 0) is no data.
        index = [a - age0 if 0 <= a - age0 < n_axis else None for a in ages]
        aligned[p.package] = [p.downloads[i] if i is not None else None for i in index]
        pypi_aligned[p.package] = [cmp.pypi_downloads[i] if i is not None else None for i in index]
    if opts.show == "pypi":
        values = {n: _ratio(c, pypi_aligned[n], opts.cumulative) for n, c in aligned.items()}
    else:
        values = _combine(aligned, [0] * len(ages), opts)
    return Chart(
        kind="lines",
        x=ages,
        series=[Series(labels[n], values[n], n, slots[n]) for n in aligned],
        time=False,
        percent=opts.show != "downloads",
        x_label="Weeks since release",
        y_label=_y_label(opts),
    )


def with_markers(
    chart: Chart,
    releases: dict[str, list[models.Release]],
    events: Sequence[models.DataEvent],
    data_through: str,
) -> Chart:
    """The main chart with release ticks and log-event bands (time axis only)."""
    if not chart.time or not chart.x:
        return chart
    index = {s.key: i for i, s in enumerate(chart.series)}
    ticks = [
        {
            "x": week_seconds(r.week),
            "series": index[name],
            "label": f"{chart.series[index[name]].label} {r.version} ({r.release_kind})",
        }
        for name, found in releases.items()
        if name in index
        for r in found
    ]
    last = date.fromisoformat(data_through) + timedelta(days=6)
    bands = []
    for e in events:
        end = date.fromisoformat(e.end_date) if e.end_date else last
        until = e.end_date or "now"
        dates = e.start_date if e.end_date == e.start_date else f"{e.start_date} to {until}"
        bands.append(
            {
                "x0": week_seconds(monday(date.fromisoformat(e.start_date)).isoformat()),
                "x1": week_seconds((monday(min(end, last)) + timedelta(days=7)).isoformat()),
                "label": f"{e.title} ({dates})",
            }
        )
    return replace(chart, releases=ticks, events=bands)


def _by_package_week(
    rows: BreakdownRows,
) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for package, week, value, count in rows.rows:
        out.setdefault(package, {}).setdefault(week, {})[value] = (
            out.get(package, {}).get(week, {}).get(value, 0) + count
        )
    return out


def value_options(rows: BreakdownRows) -> list[str]:
    """A dimension's values over the selected packages, most downloaded first."""
    totals: dict[str, int] = {}
    for _, _, value, count in rows.rows:
        totals[value] = totals.get(value, 0) + count
    return sorted(totals, key=lambda v: (-totals[v], v))


def stacked_chart(rows: BreakdownRows, package: str, weeks: Sequence[str], label: str) -> Chart:
    """One package's downloads split by the dimension, as shares stacked to 100 %.

    The ``STACK_TOP`` values with the most downloads in the range's last
    ``RECENT_WEEKS`` weeks are kept (ties: the whole range), the rest (and the
    marts' own ``other``) are summed into ``other``.
    """
    data = _by_package_week(rows).get(package, {})
    recent_weeks = set(weeks[-RECENT_WEEKS:])
    totals: dict[str, int] = {}
    recent: dict[str, int] = {}
    for week, per_value in data.items():
        for value, count in per_value.items():
            totals[value] = totals.get(value, 0) + count
            if week in recent_weeks:
                recent[value] = recent.get(value, 0) + count
    order = sorted(totals, key=lambda v: (-recent.get(v, 0), -totals[v], v))
    ranked = [v for v in order if v not in OTHER_VALUES]
    kept = ranked[:STACK_TOP]
    has_other = len(ranked) > STACK_TOP or any(v in totals for v in OTHER_VALUES)
    keys = [*kept, *(["other"] if has_other else [])]
    columns: dict[str, list[Number]] = {k: [] for k in keys}
    for week in weeks:
        per_value = data.get(week, {})
        week_total = sum(per_value.values())
        for k in keys:
            if k == "other":
                count = sum(c for v, c in per_value.items() if v not in kept)
            else:
                count = per_value.get(k, 0)
            columns[k].append(round(100.0 * count / week_total, 4) if week_total else None)
    return Chart(
        kind="stacked",
        x=[week_seconds(w) for w in weeks],
        x_names=list(weeks),
        series=[Series(k, columns[k], k) for k in keys],
        percent=True,
        y_label=f"% of {package} downloads by {label.lower()}",
    )


def value_share_chart(
    rows: BreakdownRows,
    packages: Sequence[str],
    labels: dict[str, str],
    value: str,
    weeks: Sequence[str],
) -> Chart:
    """For each package, the share of its weekly downloads that have ``value``."""
    data = _by_package_week(rows)
    series = []
    for package in packages:
        per_week = data.get(package, {})
        values: list[Number] = []
        for week in weeks:
            per_value = per_week.get(week, {})
            total = sum(per_value.values())
            values.append(round(100.0 * per_value.get(value, 0) / total, 4) if total else None)
        series.append(Series(labels.get(package, package), values, package))
    return Chart(
        kind="lines",
        x=[week_seconds(w) for w in weeks],
        x_names=list(weeks),
        series=series,
        percent=True,
        y_label=f"% of downloads with {value}",
    )


def growth(value: float | None) -> str:
    """A growth ratio as a signed percentage (a dash when undefined)."""
    if value is None:
        return NO_VALUE
    return f"{value * 100:+.1f} %"


def coverage_note(
    coverage: dict[str, models.BreakdownCoverage],
    packages: Sequence[str],
    labels: dict[str, str],
    weeks: Sequence[str],
) -> str | None:
    """What the breakdown charts leave out, in a sentence (None when nothing is).

    Package-weeks below the file's threshold have totals only; the charts
    leave them as gaps (no share, not zero), and this says why. With one
    package the sentence names no package; with several, each one that has
    such weeks shown.
    """
    shown = set(weeks)
    parts = []
    threshold = 0
    for name in packages:
        found = coverage.get(name)
        if found is None or found.breakdown_min_downloads <= 0:
            continue
        threshold = found.breakdown_min_downloads
        missing = sum(1 for w in found.weeks_without_breakdown if w in shown)
        if not missing:
            continue
        first = found.first_breakdown_week or "none in the file"
        verb = "has" if missing == 1 else "have"
        counted = f"{missing} of the {len(weeks)} weeks shown {verb} totals only"
        parts.append((labels.get(name, name), f"{counted} (first week with a breakdown: {first})"))
    if not parts:
        return None
    head = f"Breakdowns cover package-weeks with at least {threshold:,} downloads; "
    if len(packages) == 1:
        return head + parts[0][1] + "."
    return head + "; ".join(f"{label}: {text}" for label, text in parts) + "."
