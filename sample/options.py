"""Options of a sample run, scale presets and their validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

#: A fixed Wednesday: the default range ends mid-week, never on "today".
DEFAULT_END = date(2026, 11, 18)

SCALES: dict[str, dict[str, int]] = {
    # Tests: about a second; partial first and last week.
    "tiny": {"weeks": 11, "events": 300_000, "packages": 250},
    # Benchmarks: a bigger sibling of tiny.
    "small": {"weeks": 26, "events": 2_000_000, "packages": 1_500},
    # `make sample`: two years of weeks.
    "demo": {"weeks": 104, "events": 20_000_000, "packages": 6_000},
}


class OptionsError(ValueError):
    """Raised for options that cannot describe a sample."""


@dataclass(frozen=True)
class Options:
    """Everything that determines the content of a sample.

    Attributes:
        start: first day (UTC) of the range, inclusive.
        end: last day (UTC) of the range, inclusive.
        events: approximate total number of download rows.
        packages: number of distinct packages.
        seed: the seed of every pseudo-random choice.
    """

    start: date
    end: date
    events: int
    packages: int
    seed: int

    def validate(self) -> None:
        """Check the options.

        Raises:
            OptionsError: with a message fit for the command line.
        """
        if self.start > self.end:
            raise OptionsError(f"start {self.start} is after end {self.end}")
        if (self.end - self.start).days > 366 * 12:
            raise OptionsError("the range is longer than 12 years")
        if self.events < 0:
            raise OptionsError(f"events must be >= 0, got {self.events}")
        if self.packages < 1:
            raise OptionsError(f"packages must be >= 1, got {self.packages}")
        if self.packages > 20_000:
            raise OptionsError(f"packages must be <= 20000, got {self.packages}")
        if not 0 <= self.seed < 2**31:
            raise OptionsError(f"seed must be in [0, 2**31), got {self.seed}")

    @property
    def days(self) -> int:
        """Number of days in the range."""
        return (self.end - self.start).days + 1

    def to_json(self) -> dict[str, Any]:
        """Return the options as JSON-ready values (dates as ISO strings)."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        return out


def resolve(
    *,
    scale: str = "tiny",
    start: date | None = None,
    end: date | None = None,
    weeks: int | None = None,
    events: int | None = None,
    packages: int | None = None,
    seed: int = 42,
) -> Options:
    """Build validated options from a scale preset and explicit overrides.

    Args:
        scale: name of a preset in :data:`SCALES`.
        start: first day; default ``end - weeks * 7 + 1``.
        end: last day; default :data:`DEFAULT_END`.
        weeks: range length when ``start`` is not given.
        events: approximate total of download rows.
        packages: number of packages.
        seed: the seed.

    Returns:
        The options.

    Raises:
        OptionsError: on an unknown scale or invalid values.
    """
    if scale not in SCALES:
        raise OptionsError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    preset = SCALES[scale]
    end = end or DEFAULT_END
    if weeks is not None and weeks < 1:
        raise OptionsError(f"weeks must be >= 1, got {weeks}")
    if start is None:
        start = end - timedelta(days=7 * (weeks or preset["weeks"]) - 1)
    opts = Options(
        start=start,
        end=end,
        events=preset["events"] if events is None else events,
        packages=preset["packages"] if packages is None else packages,
        seed=seed,
    )
    opts.validate()
    return opts


def default_out() -> Path:
    """Return the default output directory (``data/raw``)."""
    return Path("data/raw")
