"""Request parameters, parsed one way for the API and the pages.

Package lists, exclusions, week ranges and dimensions: every list accepts
repeated parameters and comma-separated values alike (``?exclude=mirror&exclude=ci``
is ``?exclude=mirror,ci``), and every bad value is an :class:`InvalidParameter`
naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from contract import DIMENSIONS, Dimension
from serve.problems import InvalidParameter

if TYPE_CHECKING:
    from serve.db import BuildInfo

_SEPARATORS = re.compile(r"[-_.]+")
_VALID_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
EXCLUDABLE = ("ci", "metadata", "mirror")
#: Subtracted unless a request says otherwise: neither is a person installing
#: the package (a mirror copies every file; a ``.metadata`` fetch is a resolver
#: reading dependencies, not a download). Give ``exclude=`` (empty) to count them.
DEFAULT_EXCLUDE = ("metadata", "mirror")
MAX_COMPARE = 10
DEFAULT_WEEKS = 52
ONE_WEEK = timedelta(weeks=1)

#: The pages' range keys -> number of weeks (None: every week of the data).
RANGES: dict[str, int | None] = {
    "1m": 4,
    "3m": 13,
    "6m": 26,
    "1y": 52,
    "2y": 104,
    "5y": 260,
    "all": None,
}


def normalize_name(name: str) -> str:
    """Normalise a project name as PEP 503 does (lower case, runs of ``-_.`` to ``-``)."""
    return _SEPARATORS.sub("-", name).lower()


def is_valid_name(normalized: str) -> bool:
    """Whether a normalised name could be a PyPI project name at all."""
    return len(normalized) <= 200 and _VALID_NAME.match(normalized) is not None


def split_values(values: Iterable[str]) -> list[str]:
    """Repeated parameters and comma-separated values as one flat list (blanks dropped)."""
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def parse_packages(values: Iterable[str], *, required: bool = False) -> tuple[str, ...]:
    """Distinct normalised package names, in the order given.

    Raises:
        InvalidParameter: for an impossible name, more than ``MAX_COMPARE``
            names, or none when ``required``.
    """
    names: dict[str, None] = {}
    for part in split_values(values):
        name = normalize_name(part)
        if not is_valid_name(name):
            raise InvalidParameter("packages", f"{part[:100]!r} is not a valid package name")
        names[name] = None
        if len(names) > MAX_COMPARE:
            raise InvalidParameter("packages", f"at most {MAX_COMPARE} packages can be compared")
    if required and not names:
        raise InvalidParameter("packages", "give one to ten package names separated by commas")
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Which download categories to subtract from ``downloads``."""

    ci: bool = False
    mirror: bool = False
    metadata: bool = False

    @property
    def names(self) -> list[str]:
        """The excluded categories, sorted."""
        return [n for n in EXCLUDABLE if getattr(self, n)]

    @property
    def flags(self) -> tuple[int, int, int]:
        """``(ci, mirror, metadata)`` as 0/1 query parameters."""
        return (int(self.ci), int(self.mirror), int(self.metadata))


def parse_exclude(values: Iterable[str] | None) -> Exclusion:
    """Parse ``exclude`` (repeated, comma-separated, or both).

    ``None`` (the parameter is absent) means ``DEFAULT_EXCLUDE``; a present but
    empty parameter (``exclude=``) excludes nothing; otherwise exactly the
    categories listed are excluded.

    Raises:
        InvalidParameter: for an unknown category.
    """
    if values is None:
        return DEFAULT_EXCLUSION
    parts = _choices("exclude", values, EXCLUDABLE)
    return Exclusion(ci="ci" in parts, mirror="mirror" in parts, metadata="metadata" in parts)


DEFAULT_EXCLUSION: Final = Exclusion(
    ci="ci" in DEFAULT_EXCLUDE,
    mirror="mirror" in DEFAULT_EXCLUDE,
    metadata="metadata" in DEFAULT_EXCLUDE,
)


RELEASE_KINDS = ("major", "minor", "patch", "pre-release", "unknown")
#: What the charts mark: a patch or pre-release is noise at weekly scale.
DEFAULT_RELEASE_KINDS = ("major", "minor")


def parse_kinds(values: Iterable[str] | None) -> tuple[str, ...]:
    """Release kinds (``DEFAULT_RELEASE_KINDS`` when absent), in ``RELEASE_KINDS`` order.

    Raises:
        InvalidParameter: for an unknown kind.
    """
    if values is None:
        return DEFAULT_RELEASE_KINDS
    parts = _choices("kind", values, RELEASE_KINDS)
    return tuple(k for k in RELEASE_KINDS if k in parts)


def _choices(parameter: str, values: Iterable[str], allowed: tuple[str, ...]) -> set[str]:
    """The listed values, lower-cased, each one of ``allowed``.

    Raises:
        InvalidParameter: naming ``parameter``, for a value not in ``allowed``.
    """
    parts = {p.lower() for p in split_values(values)}
    unknown = sorted(parts - set(allowed))
    if unknown:
        raise InvalidParameter(
            parameter, f"unknown value(s) {', '.join(unknown)[:200]}; use {', '.join(allowed)}"
        )
    return parts


def parse_dimension(slug: str, parameter: str = "dimension") -> Dimension:
    """The breakdown named ``slug``.

    Raises:
        InvalidParameter: for an unknown one.
    """
    found = DIMENSIONS.get(slug)
    if found is None:
        raise InvalidParameter(parameter, f"unknown dimension; use one of {', '.join(DIMENSIONS)}")
    return found


def monday(day: date) -> date:
    """The Monday starting ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class WeekRange:
    """An inclusive range of week starts, already clipped to the data."""

    start: date
    end: date

    @property
    def weeks(self) -> list[str]:
        """Every week start in the range, ISO formatted."""
        return list(_week_axis(self.start, self.end))


@lru_cache(maxsize=1024)
def _week_axis(start: date, end: date) -> tuple[str, ...]:
    # Most requests ask for the same few ranges; formatting dates is not free.
    out: list[str] = []
    day = start
    while day <= end:
        out.append(day.isoformat())
        day += ONE_WEEK
    return tuple(out)


def week_range(start: date | None, end: date | None, build: BuildInfo) -> WeekRange:
    """Resolve ``start``/``end`` into week starts within the build's data.

    Any date is accepted and snapped to the Monday of its ISO week. Without
    ``end`` the range ends at the last complete week; without ``start`` it
    covers 52 weeks. The result is clipped to the weeks the build has, so it
    may be empty (``start > end``).

    Raises:
        InvalidParameter: when ``start`` is after ``end``.
    """
    if start is not None and end is not None and start > end:
        raise InvalidParameter("start", "start must not be after end")
    last = date.fromisoformat(build.data_through)
    first = date.fromisoformat(build.first_week) if build.first_week else last
    hi = min(monday(end), last) if end is not None else last
    if start is not None:
        lo = monday(start)
    else:
        lo = (
            hi - ONE_WEEK * (DEFAULT_WEEKS - 1) if hi >= date.min + ONE_WEEK * DEFAULT_WEEKS else hi
        )
    return WeekRange(start=max(lo, first), end=hi)


@dataclass(frozen=True, slots=True)
class Window:
    """What a series shows: which weeks, and which downloads."""

    weeks: WeekRange
    exclude: Exclusion = DEFAULT_EXCLUSION


def range_weeks(range_key: str, build: BuildInfo) -> WeekRange:
    """The weeks a page's range key covers, ending at the build's last complete week.

    Raises:
        KeyError: for a key that is not in ``RANGES`` (the pages parse it first).
    """
    weeks = RANGES[range_key]
    last = date.fromisoformat(build.data_through)
    start = (
        date.fromisoformat(build.first_week or build.data_through)
        if weeks is None
        else last - timedelta(weeks=weeks - 1)
    )
    return week_range(start, None, build)
