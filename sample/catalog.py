"""The packages of a sample: which ones, their display names and trajectories.

Real packages come from the calibration file (top of the ranking plus a
spread over the rest of the 15,000), synthetic ones make the long tail and
the packages that first appear in the middle of the range.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, timedelta

from sample.calibration import SNAPSHOT_MONTH, Calibration, normalise

#: Names as uploaded when they differ from the PEP 503 form (metadata ``name``).
DISPLAY_NAMES: dict[str, str] = {
    name.lower().replace(".", "-").replace("_", "-"): name
    for name in (
        "Django",
        "PyYAML",
        "ruamel.yaml",
        "zope.interface",
        "Jinja2",
        "MarkupSafe",
        "SQLAlchemy",
        "Pygments",
        "Flask",
        "Werkzeug",
        "typing_extensions",
        "Pillow",
        "PyJWT",
        "GitPython",
        "PyNaCl",
        "Babel",
        "Mako",
        "Deprecated",
        "Markdown",
        "PyMySQL",
        "SecretStorage",
        "ruamel.yaml.clib",
        "jaraco.classes",
        "backports.tarfile",
        "zope.event",
        "google_auth_oauthlib",
    )
}
#: Always part of a sample (when --packages allows): the names the issue and
#: the charts talk about (installers, non-normalised display names).
FEATURED = (
    "uv",
    "pip",
    "poetry",
    "pdm",
    "pipenv",
    "virtualenv",
    "setuptools",
    "django",
    "pyyaml",
    "ruamel-yaml",
    "zope-interface",
    "flask",
    "requests",
    "numpy",
    "pandas",
    "ruff",
    "black",
    "flake8",
)

_WORDS = [
    "async",
    "fast",
    "tiny",
    "data",
    "cloud",
    "json",
    "yaml",
    "http",
    "auth",
    "cache",
    "queue",
    "graph",
    "geo",
    "text",
    "image",
    "audio",
    "vector",
    "stream",
    "config",
    "schema",
    "sql",
    "orm",
    "test",
    "mock",
    "lint",
    "parse",
    "render",
    "plot",
    "stats",
    "ml",
    "torch",
    "agent",
    "llm",
    "prompt",
    "vault",
    "sync",
    "batch",
    "event",
    "log",
    "trace",
    "metric",
    "shell",
    "task",
    "flow",
    "grid",
    "mesh",
]
_SUFFIXES = ("", "py", "-tools", "-utils", "-client", "-sdk", "-lite", "x", "-core", "-kit")
_LONG_NAME = (
    "a-very-long-package-name-that-goes-on-and-on-for-testing-"
    "wrapping-and-truncation-in-every-chart-and-table-of-pypi-trends"
)


def unit(*parts: object) -> float:
    """Return a deterministic pseudo-random number in [0, 1) from ``parts``."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Package:
    """One package of the sample.

    Attributes:
        name: PEP 503 normalised name (``project`` in file_downloads).
        display: the name as uploaded (``name`` in distribution_metadata).
        rank: rank in the calibration snapshot (synthetic: after the last).
        monthly: month "YYYY-MM" -> 30-day downloads, for every month of the range.
        birth: first upload day when it falls in or near the range, else None.
        synthetic: True for the generated long tail.
    """

    name: str
    display: str
    rank: int
    monthly: dict[str, float]
    birth: date | None
    synthetic: bool


def month_key(day: date) -> str:
    """Return ``YYYY-MM`` for a day."""
    return f"{day.year:04d}-{day.month:02d}"


def month_range(first: date, last: date) -> list[str]:
    """Return every month from the month of ``first`` to the month after ``last``."""
    out = []
    year, month = first.year, first.month
    end = (last.year, last.month + 1) if last.month < 12 else (last.year + 1, 1)
    while (year, month) <= end:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return out


def _months_between(a: str, b: str) -> int:
    return (int(b[:4]) - int(a[:4])) * 12 + int(b[5:]) - int(a[5:])


def _add_months(month: str, n: int) -> str:
    total = int(month[:4]) * 12 + int(month[5:]) - 1 + n
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


class Trajectories:
    """Monthly popularity of real packages, filled in between real points.

    Rules (see README "Sample data"): log-linear interpolation between months
    in the top 1,000; the 2026-04 snapshot anchors every package; before its
    first top-1,000 month a package follows PyPI's overall growth (or, for a
    fast riser such as uv, ramps up from a first upload a few months before);
    after 2026-04 it continues half its last-12-month trend.
    """

    def __init__(self, cal: Calibration) -> None:
        """Prepare the global growth index from the calibration."""
        self.cal = cal
        self.first = cal.months[0]
        self.last = SNAPSHOT_MONTH
        self._growth_log = {m: math.log(v) for m, v in cal.growth.items() if v > 0}
        self._points: dict[str, dict[str, float]] = {}
        self._sorted: dict[str, list[str]] = {}
        self._birth: dict[str, str | None] = {}

    def growth(self, month: str) -> float:
        """Return log of PyPI's overall size at ``month`` (held flat outside the data)."""
        if month in self._growth_log:
            return self._growth_log[month]
        if month < self.first:
            return self._growth_log[self.first]
        if month > self.last:
            slope = (
                self._growth_log[self.last] - self._growth_log[_add_months(self.last, -12)]
            ) / 12
            return self._growth_log[self.last] + 0.5 * slope * _months_between(self.last, month)
        prev = max(m for m in self._growth_log if m < month)
        nxt = min(m for m in self._growth_log if m > month)
        frac = _months_between(prev, month) / _months_between(prev, nxt)
        return self._growth_log[prev] + frac * (self._growth_log[nxt] - self._growth_log[prev])

    def points(self, project: str) -> dict[str, float]:
        """Return the real (log) points of ``project``: history plus snapshot."""
        cached = self._points.get(project)
        if cached is not None:
            return cached
        pts = {m: math.log(v) for m, v in self.cal.history.get(project, {}).items() if v > 0}
        snap = self.cal.snapshot.get(project)
        if snap:
            pts[self.last] = math.log(snap)
        self._points[project] = pts
        self._sorted[project] = sorted(pts)
        return pts

    def birth_month(self, project: str) -> str | None:
        """Return the month of the first upload of a fast riser, else None."""
        pts = self.points(project)
        months = self._sorted[project]
        if not months or months[0] <= "2018-08" or months[0] == self.last:
            return None
        later = [m for m in months if _months_between(months[0], m) <= 8]
        if pts[later[-1]] - pts[months[0]] < math.log(2.5):
            return None
        return _add_months(months[0], -4)

    def log_value(self, project: str, month: str) -> float:
        """Return log of the 30-day downloads of ``project`` at ``month``."""
        pts = self.points(project)
        months = self._sorted[project]
        if month in pts:
            return pts[month]
        if month > self.last:
            base = self.last
            prev = _add_months(base, -12)
            prev_v = pts.get(prev)
            if prev_v is None:
                slope = (self.growth(base) - self.growth(prev)) / 12
            else:
                slope = (pts[base] - prev_v) / 12
            slope = max(-0.04, min(0.03, 0.5 * slope))
            return pts[base] + slope * _months_between(base, month)
        if month < months[0]:
            first = months[0]
            gap = _months_between(month, first)
            if self._birth.setdefault(project, self.birth_month(project)) is not None:
                return pts[first] + gap * math.log(0.45)
            return pts[first] + self.growth(month) - self.growth(first) + gap * math.log(0.995)
        i = bisect_left(months, month)
        prev, nxt = months[i - 1], months[i]
        frac = _months_between(prev, month) / _months_between(prev, nxt)
        return pts[prev] + frac * (pts[nxt] - pts[prev])


def _synthetic_name(seed: int, i: int) -> str:
    if i == 0:
        return _LONG_NAME
    w1 = _WORDS[int(unit(seed, "w1", i) * len(_WORDS))]
    w2 = _WORDS[int(unit(seed, "w2", i) * len(_WORDS))]
    suffix = _SUFFIXES[int(unit(seed, "sx", i) * len(_SUFFIXES))]
    return f"{w1}-{w2}{suffix}-{i}"


def select(cal: Calibration, *, count: int, seed: int, start: date, end: date) -> list[Package]:
    """Choose ``count`` packages and compute their monthly trajectories.

    About 85% are real: the featured names, then the top of the ranking, then
    a log-spaced spread over the remaining ranks (a long tail). The rest are
    synthetic small packages, a third of them first uploaded inside the range.

    Args:
        cal: the calibration.
        count: number of packages (>= 1).
        seed: the sample's seed.
        start: first day of the range.
        end: last day of the range.

    Returns:
        The packages, real ones in calibration order first.
    """
    traj = Trajectories(cal)
    ranked = cal.ranked()
    rank_of = {p: i + 1 for i, p in enumerate(ranked)}
    n_real = min(len(ranked), max(1, round(count * 0.85)))
    n_syn = count - n_real
    chosen: list[str] = [p for p in FEATURED if p in rank_of][: n_real // 4]
    taken = set(chosen)
    n_top = max(0, n_real // 2 - len(chosen))
    for p in ranked:
        if n_top == 0:
            break
        if p not in taken:
            chosen.append(p)
            taken.add(p)
            n_top -= 1
    rest = [p for p in ranked if p not in taken]
    need = n_real - len(chosen)
    if need > 0 and rest:
        # Log-spaced ranks over what is left: a few mid-size, many small ones.
        picks: list[str] = []
        for j in range(need):
            x = (j + unit(seed, "spread", j)) / need
            idx = min(len(rest) - 1, int(len(rest) ** x) - 1)
            while idx < len(rest) and rest[idx] in taken:
                idx += 1
            if idx < len(rest):
                picks.append(rest[idx])
                taken.add(rest[idx])
        chosen.extend(picks)
    months = month_range(start, end)
    packages: list[Package] = []
    for p in sorted(chosen, key=lambda x: rank_of[x]):
        bm = traj.birth_month(p)
        birth = (
            None
            if bm is None
            else date(int(bm[:4]), int(bm[5:]), 1)
            + timedelta(days=int(unit(seed, "birth", p) * 27))
        )
        packages.append(
            Package(
                name=p,
                display=DISPLAY_NAMES.get(p, p),
                rank=rank_of[p],
                monthly={m: math.exp(traj.log_value(p, m)) for m in months},
                birth=birth,
                synthetic=False,
            )
        )
    span = (end - start).days
    smallest = cal.snapshot[ranked[-1]]
    for i in range(n_syn):
        name = _synthetic_name(seed, i)
        level = smallest * 10 ** (-3 * unit(seed, "lvl", i))  # 1/1000 to 1x the 15,000th
        slope = (unit(seed, "slope", i) - 0.4) * 0.2  # per month, mostly growing
        born_in_range = i % 3 == 1
        if born_in_range:
            birth = start + timedelta(days=int(span * (0.1 + 0.8 * unit(seed, "born", i))))
        else:
            birth = None
        mid = months[len(months) // 2]
        packages.append(
            Package(
                name=normalise(name),
                display=name.replace("-", "_") if i % 7 == 3 else name,
                rank=len(ranked) + 1 + i,
                monthly={m: level * math.exp(slope * _months_between(mid, m)) for m in months},
                birth=birth,
                synthetic=True,
            )
        )
    return packages
