"""The packages of a sample: which ones, their display names and trajectories.

Real packages come from the calibration file (top of the ranking plus a
spread over the rest of the 15,000), synthetic ones make the long tail and
the packages that first appear in the middle of the range.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

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


class Units:
    """:func:`unit` of many items, for one tag at a time: ``unit(seed, tag, item)``.

    Bit-identical to :func:`unit`, a few times faster: each item's part of the hash
    input (the same ``repr`` of the tuple) is encoded once for every tag, the hash
    of the common start is copied rather than started anew, and the digests are
    converted together (uint64 to float64 rounds to nearest, like Python's
    ``int / 2**64``, and dividing by a power of two is exact).
    """

    def __init__(self, seed: int, items: Iterable[object]) -> None:
        """Encode the items once.

        Args:
            seed: the sample's seed.
            items: the last part of each tuple (a name, an index).
        """
        self.seed = seed
        self._tails = [f"{item!r})".encode() for item in items]

    def __call__(self, tag: str) -> npt.NDArray[np.float64]:
        """Return ``unit(seed, tag, item)`` for every item, in order."""
        head = hashlib.blake2b(f"({self.seed!r}, {tag!r}, ".encode(), digest_size=8)
        digests: list[bytes] = []
        append, copy = digests.append, head.copy
        for tail in self._tails:
            h = copy()
            h.update(tail)
            append(h.digest())
        return np.frombuffer(b"".join(digests), ">u8") / 2.0**64


def units(seed: int, tag: str, items: Iterable[object]) -> npt.NDArray[np.float64]:
    """Return ``unit(seed, tag, item)`` for every item, as one array (see :class:`Units`)."""
    return Units(seed, items)(tag)


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


@functools.cache
def _month_number(month: str) -> int:
    """Return ``year * 12 + month - 1`` for ``YYYY-MM`` (consecutive months differ by 1)."""
    return int(month[:4]) * 12 + int(month[5:]) - 1


def _month_name(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def _months_between(a: str, b: str) -> int:
    return _month_number(b) - _month_number(a)


def _add_months(month: str, n: int) -> str:
    return _month_name(_month_number(month) + n)


@dataclass(frozen=True)
class _Points:
    """The real (log) points of some projects, end to end, sorted by (project, month).

    Attributes:
        key: ``position << 20 | month number`` (month numbers stay below 2**20).
        month: the month number of each point.
        value: the log of the downloads of each point.
        start: where each project's points start (one more entry: the end).
    """

    key: npt.NDArray[np.int64]
    month: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    start: npt.NDArray[np.int64]


class Trajectories:
    """Monthly popularity of real packages, filled in between real points.

    Rules (see docs/sample.md): log-linear interpolation between months
    in the top 1,000; the 2026-04 snapshot anchors every package; before its
    first top-1,000 month a package follows PyPI's overall growth (or, for a
    fast riser such as uv, ramps up from a first upload a few months before);
    after 2026-04 it continues half its last-12-month trend.

    Many packages are computed at once, with numpy, with the same arithmetic in the
    same order as one value at a time (the same floats); logs and exps stay
    ``math`` calls, whose rounding numpy does not promise to match.
    """

    def __init__(self, cal: Calibration) -> None:
        """Prepare the global growth index from the calibration."""
        self.cal = cal
        self.first = cal.months[0]
        self.last = SNAPSHOT_MONTH
        self._growth_log = {m: math.log(v) for m, v in cal.growth.items() if v > 0}
        self._growth: dict[str, float] = {}
        self._points_of: dict[tuple[str, ...], _Points] = {}

    def growth(self, month: str) -> float:
        """Return log of PyPI's overall size at ``month`` (held flat outside the data)."""
        cached = self._growth.get(month)
        if cached is None:
            cached = self._growth[month] = self._growth_uncached(month)
        return cached

    def _growth_uncached(self, month: str) -> float:
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

    def _points(self, projects: Sequence[str]) -> _Points:
        """Return the points of ``projects``: their top-1,000 months plus the snapshot."""
        cache_key = tuple(projects)
        cached = self._points_of.get(cache_key)
        if cached is not None:
            return cached
        top, n_p = self.cal.top, len(projects)
        spans = np.array([top.rows.get(p, (0, 0)) for p in projects], np.int64).reshape(n_p, 2)
        lengths = spans[:, 1] - spans[:, 0]
        owner = np.repeat(np.arange(n_p, dtype=np.int64), lengths)
        # The row of each history point: its project's first row plus its rank.
        rows = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(
            spans[:, 0] - (np.cumsum(lengths) - lengths), lengths
        )
        downloads = top.downloads[rows]
        kept = downloads > 0
        snap = np.array([self.cal.snapshot.get(p) or 0 for p in projects], np.int64)
        with_snap = np.flatnonzero(snap != 0).astype(np.int64)
        key = np.concatenate(
            [
                (owner[kept] << 20) + top.month[rows][kept],
                (with_snap << 20) + _month_number(self.last),
            ]
        )
        count = np.concatenate([downloads[kept], snap[with_snap]])
        # The snapshot replaces a top-1,000 point of its month: a stable sort puts it
        # after that point, and the last point of each key is kept.
        order = np.argsort(key, kind="stable")
        key, count = key[order], count[order]
        last_of_key = np.append(key[1:] != key[:-1], True)[: len(key)]
        key, count = key[last_of_key], count[last_of_key]
        points = _Points(
            key=key,
            month=key & ((1 << 20) - 1),
            value=np.array(list(map(math.log, count.tolist())), np.float64),
            start=np.searchsorted(key >> 20, np.arange(n_p + 1)).astype(np.int64),
        )
        self._points_of[cache_key] = points
        return points

    def birth_month(self, project: str) -> str | None:
        """Return the month of the first upload of a fast riser, else None."""
        return self.birth_months([project])[0]

    def birth_months(self, projects: Sequence[str]) -> list[str | None]:
        """Return :meth:`birth_month` of each project.

        A fast riser entered the top 1,000 after 2018-08 (not at the snapshot) and
        grew 2.5x within 8 months of that; its first upload is 4 months before.
        """
        pts = self._points(projects)
        out: list[str | None] = [None] * len(projects)
        some = np.flatnonzero(pts.start[1:] > pts.start[:-1])
        first = pts.start[some]
        first_month = pts.month[first]
        # The last point within 8 months of the first.
        later = np.searchsorted(pts.key, pts.key[first] + 8, side="right") - 1
        riser = (
            (first_month > _month_number("2018-08"))
            & (first_month != _month_number(self.last))
            & (pts.value[later] - pts.value[first] >= math.log(2.5))
        )
        for i, month in zip(some[riser].tolist(), first_month[riser].tolist(), strict=True):
            out[i] = _month_name(month - 4)
        return out

    def log_value(self, project: str, month: str) -> float:
        """Return log of the 30-day downloads of ``project`` at ``month``."""
        return float(self.log_values([project], [month])[0, 0])

    def log_values(self, projects: Sequence[str], months: Sequence[str]) -> npt.NDArray[np.float64]:
        """Return log of the 30-day downloads of each project (rows) at each month (columns).

        One binary search per cell finds its point, or the two points around it.

        Args:
            projects: project names (with calibration points).
            months: ``YYYY-MM`` months.

        Returns:
            A float64 array of shape (len(projects), len(months)).

        Raises:
            KeyError: for a project without the points that a month needs (a month
                after the snapshot needs the project in the snapshot).
        """
        n_p, n_m = len(projects), len(months)
        if not n_p:
            return np.empty((0, n_m), np.float64)
        pts = self._points(projects)
        pm, pv, starts = pts.month, pts.value, pts.start
        for i in np.flatnonzero(starts[1:] == starts[:-1]).tolist()[:1]:
            raise KeyError(f"no calibration points for {projects[i]!r}")

        def find(q: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
            """Return where each key is or would be inserted, and whether it is there."""
            at = np.searchsorted(pts.key, q).astype(np.int64)
            return at, pts.key[np.minimum(at, len(pts.key) - 1)] == q

        t = np.array([_month_number(m) for m in months], np.int64)
        row = np.repeat(np.arange(n_p, dtype=np.int64), n_m)
        tt = np.tile(t, n_p)
        at, exact = find((row << 20) + tt)
        out = np.empty(n_p * n_m, np.float64)
        out[exact] = pv[at[exact]]
        last = _month_number(self.last)

        # After the snapshot: half the last-12-month trend of the package (of PyPI when
        # the package was not in the top 1,000 a year before), capped.
        after = ~exact & (tt > last)
        if after.any():
            base_at, has_base = find((np.arange(n_p, dtype=np.int64) << 20) + last)
            prev_at, has_prev = find((np.arange(n_p, dtype=np.int64) << 20) + last - 12)
            for i in row[after][~has_base[row[after]]].tolist()[:1]:
                raise KeyError(f"{projects[i]!r} is not in the snapshot")
            base_v = pv[np.minimum(base_at, len(pv) - 1)]
            prev_v = pv[np.minimum(prev_at, len(pv) - 1)]
            growth_slope = (self.growth(self.last) - self.growth(_add_months(self.last, -12))) / 12
            slope = np.where(has_prev, (base_v - prev_v) / 12, growth_slope)
            slope = np.maximum(-0.04, np.minimum(0.03, 0.5 * slope))
            r = row[after]
            out[after] = base_v[r] + slope[r] * (tt[after] - last)

        # Before the first point: PyPI's growth, a bit less (a fast riser: a steep ramp).
        before = ~exact & ~after & (at == starts[row])
        if before.any():
            r = row[before]
            first_at = starts[r]
            first_n, first_v = pm[first_at], pv[first_at]
            gap = first_n - tt[before]
            riser = np.array([b is not None for b in self.birth_months(projects)], np.bool_)
            lo = int(tt[before].min())
            growth = np.array(
                [self.growth(_month_name(n)) for n in range(lo, int(first_n.max()) + 1)]
            )
            out[before] = np.where(
                riser[r],
                first_v + gap * math.log(0.45),
                first_v + growth[tt[before] - lo] - growth[first_n - lo] + gap * math.log(0.995),
            )

        # Between two points: log-linear interpolation.
        inner = ~exact & ~after & ~before
        if inner.any():
            r, nxt = row[inner], at[inner]
            for i in r[nxt >= starts[r + 1]].tolist()[:1]:
                raise KeyError(f"{projects[i]!r} is not in the snapshot")
            prev = nxt - 1
            frac = (tt[inner] - pm[prev]) / (pm[nxt] - pm[prev])
            out[inner] = pv[prev] + frac * (pv[nxt] - pv[prev])
        return out.reshape(n_p, n_m)


def _synthetic_names(r: Units, n: int) -> list[str]:
    """Return the names of the first ``n`` synthetic packages (``r``: their units)."""
    w1 = (r("w1") * len(_WORDS)).astype(np.int64).tolist()
    w2 = (r("w2") * len(_WORDS)).astype(np.int64).tolist()
    sx = (r("sx") * len(_SUFFIXES)).astype(np.int64).tolist()
    return [
        _LONG_NAME if i == 0 else f"{_WORDS[w1[i]]}-{_WORDS[w2[i]]}{_SUFFIXES[sx[i]]}-{i}"
        for i in range(n)
    ]


def _spread(rest: list[str], need: int, seed: int) -> list[str]:
    """Pick ``need`` of ``rest`` at log-spaced ranks: a few mid-size, many small ones.

    A pick that lands on a name already picked takes the next free one; ``free``
    maps a position to the first free position at or after it (path halving).
    """
    free = list(range(len(rest) + 1))  # len(rest): none left
    picks: list[str] = []
    for j, u in enumerate(units(seed, "spread", range(need)).tolist()):
        x = (j + u) / need
        idx = min(len(rest) - 1, int(len(rest) ** x) - 1)
        while free[idx] != idx:
            free[idx] = free[free[idx]]
            idx = free[idx]
        if idx < len(rest):
            picks.append(rest[idx])
            free[idx] = idx + 1
    return picks


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
        chosen.extend(_spread(rest, need, seed))
    months = month_range(start, end)
    real = sorted(chosen, key=rank_of.__getitem__)
    # math.exp one value at a time: numpy's exp may round differently on some CPUs.
    monthly = list(map(math.exp, traj.log_values(real, months).ravel().tolist()))
    n_m = len(months)
    packages: list[Package] = []
    for k, (p, bm) in enumerate(zip(real, traj.birth_months(real), strict=True)):
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
                monthly=dict(zip(months, monthly[k * n_m : (k + 1) * n_m], strict=True)),
                birth=birth,
                synthetic=False,
            )
        )
    span = (end - start).days
    smallest = cal.snapshot[ranked[-1]]
    mid = _month_number(months[len(months) // 2])
    offsets = list(zip(months, [_month_number(m) - mid for m in months], strict=True))
    r = Units(seed, range(n_syn))
    names = _synthetic_names(r, n_syn)
    levels, slopes = r("lvl").tolist(), r("slope").tolist()
    borns = units(seed, "born", range(1, n_syn, 3)).tolist()
    for i, name in enumerate(names):
        level = smallest * 10 ** (-3 * levels[i])  # 1/1000 to 1x the 15,000th
        slope = (slopes[i] - 0.4) * 0.2  # per month, mostly growing
        born_in_range = i % 3 == 1
        if born_in_range:
            birth = start + timedelta(days=int(span * (0.1 + 0.8 * borns[i // 3])))
        else:
            birth = None
        packages.append(
            Package(
                name=normalise(name),
                display=name.replace("-", "_") if i % 7 == 3 else name,
                rank=len(ranked) + 1 + i,
                monthly={m: level * math.exp(slope * d) for m, d in offsets},
                birth=birth,
                synthetic=True,
            )
        )
    return packages
