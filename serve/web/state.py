"""The state of a compare page: parsed from the URL, rendered back into canonical URLs.

Everything the page shows is in its URL, so a shared link reproduces it:
the packages live in the path (``/compare/<a>-vs-<b>``, names normalised and
sorted) and the view options in the query string, which only ever carries
non-default values, in a fixed order.

A normalised name can itself contain ``-vs-`` (``foo-vs-bar``); the path form
cannot say that unambiguously, so such sets use the query form
``/compare?packages=a,foo-vs-bar`` as their canonical URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlencode

from contract import DIMENSIONS
from serve.params import DEFAULT_EXCLUDE, RANGES, normalize_name, parse_dimension, parse_exclude
from serve.problems import InvalidParameter

SEPARATOR = "-vs-"

RANGE_LABELS = {
    "1m": "1 month",
    "3m": "3 months",
    "6m": "6 months",
    "1y": "1 year",
    "2y": "2 years",
    "5y": "5 years",
    "all": "All",
}
DEFAULT_RANGE = "1y"

#: What the main chart's y axis shows.
SHOWS = {
    "downloads": "Downloads",
    "share": "Share of the selected total",
    "pypi": "Share of all PyPI",
}
DEFAULT_SHOW = "downloads"

DEFAULT_DIMENSION = next(iter(DIMENSIONS))

#: The charts of the compare page that ``/compare-data.{csv,json}?chart=`` serves.
DATA_CHARTS = ("main", "breakdown", "values", "releases", "events")
EXCLUDE_LABELS = {"mirror": "mirrors", "ci": "CI", "metadata": "metadata fetches"}


def split_slug(slug: str) -> list[str]:
    """The package names of a ``<a>-vs-<b>`` path segment, normalised, in order.

    The whole segment is normalised first, so ``Foo_VS_Bar`` means ``foo`` and ``bar``.
    """
    return [p for p in normalize_name(slug).split(SEPARATOR) if p]


def compare_path(names: Sequence[str]) -> str:
    """The canonical path (and, for ``-vs-`` names, query) of a package set.

    Returns ``/`` for no packages. The result never has a trailing ``?``.
    """
    ordered = sorted(names)
    if not ordered:
        return "/"
    if any(SEPARATOR in n for n in ordered):
        return "/compare?" + urlencode({"packages": ",".join(ordered)}, safe=",")
    return "/compare/" + quote(SEPARATOR.join(ordered))


def _join(path: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(query, safe=",")


@dataclass(frozen=True, slots=True)
class ViewOptions:
    """Everything besides the package set, with defaults that stay out of URLs."""

    range: str = DEFAULT_RANGE
    show: str = DEFAULT_SHOW
    cumulative: bool = False
    align: bool = False
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    dim: str = DEFAULT_DIMENSION
    of: str | None = None
    value: str | None = None
    #: Release markers on the main chart; None: on for one package, off for several.
    releases: bool | None = None

    def query(self, *, breakdown: bool = True) -> list[tuple[str, str]]:
        """The non-default options as ordered query pairs."""
        pairs: list[tuple[str, str]] = []
        if self.range != DEFAULT_RANGE:
            pairs.append(("range", self.range))
        if self.show != DEFAULT_SHOW:
            pairs.append(("show", self.show))
        if self.cumulative:
            pairs.append(("cumulative", "1"))
        if self.align:
            pairs.append(("align", "1"))
        if self.exclude != DEFAULT_EXCLUDE:
            # ``exclude=`` (empty) says "count everything", unlike no parameter at all.
            pairs.extend(("exclude", e) for e in self.exclude or ("",))
        if self.releases is not None:
            pairs.append(("releases", "1" if self.releases else "0"))
        if breakdown:
            if self.dim != DEFAULT_DIMENSION:
                pairs.append(("dim", self.dim))
            if self.of is not None:
                pairs.append(("of", self.of))
            if self.value is not None:
                pairs.append(("value", self.value))
        return pairs


def _flag(params: Mapping[str, list[str]], name: str) -> bool:
    values = params.get(name, [])
    if not values:
        return False
    value = values[-1].strip().lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no", ""):
        return False
    raise InvalidParameter(name, "use 1 or 0")


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = [v for v in params.get(name, []) if v.strip()]
    return values[-1].strip() if values else None


def parse_options(params: Mapping[str, list[str]]) -> ViewOptions:
    """Read the view options from query parameters (each name -> its values).

    ``exclude`` may be repeated (what an HTML form sends) or comma-separated
    (what the API takes); absent, it is ``DEFAULT_EXCLUDE``, and empty
    (``exclude=``) it excludes nothing. The form always sends an empty one, so
    unticking every box counts everything.

    Raises:
        InvalidParameter: for an unknown value.
    """
    rng: str = _one(params, "range") or DEFAULT_RANGE
    if rng not in RANGES:
        raise InvalidParameter("range", f"use one of {', '.join(RANGES)}")
    show = _one(params, "show") or DEFAULT_SHOW
    if show not in SHOWS:
        raise InvalidParameter("show", f"use one of {', '.join(SHOWS)}")
    dim = parse_dimension(_one(params, "dim") or DEFAULT_DIMENSION, "dim").slug
    of = _one(params, "of")
    value = _one(params, "value")
    if value is not None and len(value) > 200:
        raise InvalidParameter("value", "too long")
    return ViewOptions(
        range=rng,
        show=show,
        cumulative=_flag(params, "cumulative"),
        align=_flag(params, "align"),
        exclude=tuple(parse_exclude(params.get("exclude")).names),
        releases=_flag(params, "releases") if _one(params, "releases") is not None else None,
        dim=dim,
        of=normalize_name(of) if of else None,
        value=value,
    )


@dataclass(frozen=True, slots=True)
class CompareState:
    """A package set (sorted, normalised) and the view options."""

    packages: tuple[str, ...]
    options: ViewOptions = field(default_factory=ViewOptions)

    @property
    def breakdown_package(self) -> str | None:
        """The package whose stacked breakdown is shown (``of``, else the first)."""
        if self.options.of in self.packages:
            return self.options.of
        return self.packages[0] if self.packages else None

    @property
    def show_releases(self) -> bool:
        """Whether the main chart marks releases: as asked, else only for one package."""
        if self.options.releases is not None:
            return self.options.releases
        return len(self.packages) == 1

    def normalized(self) -> CompareState:
        """The same state without options that do not apply.

        ``of`` not selected, ``releases`` equal to what the package count picks anyway.
        """
        opts = self.options
        if opts.of is not None and opts.of not in self.packages:
            opts = replace(opts, of=None)
        if opts.releases is not None and opts.releases == (len(self.packages) == 1):
            opts = replace(opts, releases=None)
        return replace(self, options=opts)

    def url(self, **changes: object) -> str:
        """The canonical URL of this state, or of it with some options changed."""
        opts = replace(self.options, **changes) if changes else self.options  # type: ignore[arg-type]
        return _join(compare_path(self.packages), opts.query())

    def with_packages(self, names: Iterable[str]) -> CompareState:
        """The same options over another package set (sorted; ``of`` dropped if gone)."""
        return CompareState(tuple(sorted(set(names))), self.options).normalized()

    def embed_url(self) -> str:
        """The ``/embed/`` URL of the main chart (breakdown options left out)."""
        path = compare_path(self.packages)
        return _join("/embed" + path, self.options.query(breakdown=False))

    def data_url(self, fmt: str, chart: str = "main") -> str:
        """The CSV/JSON download URL of what one of the page's charts shows.

        ``chart`` is one of ``DATA_CHARTS``: the main chart needs no breakdown
        options; the breakdown (stacked shares of one package) and the values
        chart (one value across the packages) carry them.
        """
        main = chart == "main"
        pairs = [("packages", ",".join(self.packages)), *self.options.query(breakdown=not main)]
        if not main:
            pairs.append(("chart", chart))
        return _join("/compare-data." + fmt, pairs)

    def hidden_fields(self, *, breakdown: bool = True) -> list[tuple[str, str]]:
        """Form fields that carry this state through a form that does not show them."""
        return [("packages", ",".join(self.packages)), *self.options.query(breakdown=breakdown)]
