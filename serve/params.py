"""Parsing and normalising request parameters shared by the API routes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from serve.problems import bad_request

_SEPARATORS = re.compile(r"[-_.]+")
_VALID_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
EXCLUDABLE = ("ci", "metadata", "mirror")
MAX_COMPARE = 10
DEFAULT_WEEKS = 52
ONE_WEEK = timedelta(weeks=1)

# dimension in the URL -> (table, value column); the only table names ever put in SQL.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "python_versions": ("package_python_versions_weekly", "python_version"),
    "installers": ("package_installers_weekly", "installer"),
    "systems": ("package_systems_weekly", "system"),
    "countries": ("package_countries_weekly", "country_code"),
    "versions": ("package_versions_weekly", "version"),
    "file_types": ("package_file_types_weekly", "file_type"),
}


def normalize_name(name: str) -> str:
    """Normalise a project name as PEP 503 does (lower case, runs of ``-_.`` to ``-``)."""
    return _SEPARATORS.sub("-", name).lower()


def is_valid_name(normalized: str) -> bool:
    """Whether a normalised name could be a PyPI project name at all."""
    return len(normalized) <= 200 and _VALID_NAME.match(normalized) is not None


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


# downloads minus the excluded categories, with the three flags as parameters.
EXCLUDED_DOWNLOADS_SQL = (
    "downloads - ? * downloads_ci - ? * downloads_mirror - ? * downloads_metadata"
)


def parse_exclude(value: str | None) -> Exclusion:
    """Parse ``exclude=mirror,ci,metadata``.

    Raises:
        ApiProblem: 400 for an unknown category.
    """
    if not value:
        return Exclusion()
    parts = {p.strip().lower() for p in value.split(",") if p.strip()}
    unknown = sorted(parts - set(EXCLUDABLE))
    if unknown:
        raise bad_request(
            "exclude", f"unknown value(s) {', '.join(unknown)[:200]}; use {', '.join(EXCLUDABLE)}"
        )
    return Exclusion(ci="ci" in parts, mirror="mirror" in parts, metadata="metadata" in parts)


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


def week_range(
    start: date | None, end: date | None, *, data_through: str, first_week: str | None
) -> WeekRange:
    """Resolve ``start``/``end`` into week starts within the data.

    Any date is accepted and snapped to the Monday of its ISO week. Without
    ``end`` the range ends at the last complete week; without ``start`` it
    covers 52 weeks. The result is clipped to the weeks the build has, so it
    may be empty (``start > end``).

    Raises:
        ApiProblem: 400 when ``start`` is after ``end``.
    """
    if start is not None and end is not None and start > end:
        raise bad_request("start", "start must not be after end")
    last = date.fromisoformat(data_through)
    first = date.fromisoformat(first_week) if first_week else last
    hi = min(monday(end), last) if end is not None else last
    if start is not None:
        lo = monday(start)
    else:
        lo = (
            hi - ONE_WEEK * (DEFAULT_WEEKS - 1) if hi >= date.min + ONE_WEEK * DEFAULT_WEEKS else hi
        )
    return WeekRange(start=max(lo, first), end=hi)


def parse_package_list(value: str) -> list[str]:
    """Parse ``packages=a,b,c`` into distinct normalised names (order kept).

    Raises:
        ApiProblem: 400 when empty or more than ten.
    """
    names: list[str] = []
    for part in value.split(","):
        name = normalize_name(part.strip())
        if name and name not in names:
            names.append(name)
            if len(names) > MAX_COMPARE:
                raise bad_request("packages", f"at most {MAX_COMPARE} packages")
    if not names:
        raise bad_request("packages", "give one to ten package names separated by commas")
    return names
