"""Page routes: server-rendered HTML that htmx enhances.

Every page renders its whole state from the URL. A request from htmx
(``HX-Request``) gets only the ``<main>`` element (and ``HX-Push-Url`` with the
canonical URL), everything else the full document; the edge's cache key and
``Vary`` header already tell the two apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import msgspec
from litestar import MediaType, Request, Response, Router, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_301_MOVED_PERMANENTLY, HTTP_303_SEE_OTHER

from contract import DIMENSIONS
from serve import data, models
from serve.db import Reader
from serve.formats import NO_VALUE, humanize, render_csv
from serve.params import (
    DEFAULT_RELEASE_KINDS,
    MAX_COMPARE,
    Window,
    is_valid_name,
    normalize_name,
    parse_exclude,
    parse_packages,
    range_weeks,
    split_values,
)
from serve.problems import Classified, InvalidParameter
from serve.web import views
from serve.web.assets import Assets, static_handler
from serve.web.state import (
    DATA_CHARTS,
    EXCLUDE_LABELS,
    RANGE_LABELS,
    SHOWS,
    CompareState,
    ViewOptions,
    compare_path,
    parse_options,
    split_slug,
)

_CACHED = {"cache": True}
RedirectStatus = Literal[301, 302, 303, 307, 308]
Slug = Annotated[str, PathParameter(description="Names joined by -vs-", max_length=2100)]
Name = Annotated[str, PathParameter(description="A package name", max_length=300)]
Weeks = Annotated[int, QueryParameter(description="Window length in weeks")]
HTMX_CONFIG = json.dumps(
    {
        "allowEval": False,
        "allowScriptTags": False,
        "includeIndicatorStyles": False,
        "selfRequestsOnly": True,
        "historyCacheSize": 0,
        "refreshOnHistoryMiss": True,
        "scrollIntoViewOnBoost": False,
        # Settling copies old attributes onto new elements with setAttribute, which
        # the CSP forbids for "style" (inline style attribute): settle classes only.
        "attributesToSettle": ["class"],
        # Error pages have a fragment form too: show them in place of <main>.
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[2345]..", "swap": True},
        ],
    },
    separators=(",", ":"),
)
_ENCODER = msgspec.json.Encoder()
SEARCH_LIMIT = 8
#: The embed's ``theme``: ``auto`` follows the reader's system setting.
EMBED_THEMES = ("auto", "light", "dark")
TRENDING_WINDOWS = (1, 2, 4, 8, 13, 26)


def chart_json(payload: Any) -> str:
    """A chart's data as JSON text for a ``data-spec`` attribute (Jinja escapes it there)."""
    return _ENCODER.encode(payload).decode()


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """Whether htmx sent the request (it then wants the ``<main>`` fragment only)."""
    return request.headers.get("hx-request") == "true"


def base_url(request: Request[Any, Any, Any]) -> str:
    """Scheme and host the page was asked under (for embed and badge code)."""
    return str(request.base_url).rstrip("/")


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    push_url: str | None = None,
) -> Template:
    """Render a page, or just its ``<main>`` for htmx."""
    fragment = is_htmx(request)
    headers: dict[str, str] = {}
    if fragment and push_url:
        headers["hx-push-url"] = push_url
    return Template(
        template_name=template,
        context={"fragment": fragment, "htmx_config": HTMX_CONFIG, **context},
        status_code=status,
        headers=headers,
    )


def _build_context(reader: Reader) -> dict[str, Any]:
    build = reader.build
    return {
        "data_through": build.data_through,
        "build_id": build.build_id,
        "sample_notice": data.sample_notice(build),
    }


def _head(request: Request[Any, Any, Any], canonical: str, description: str) -> dict[str, Any]:
    """What the ``<head>`` says about a page: absolute canonical URL and its description."""
    return {"canonical_url": base_url(request) + canonical, "description": description}


def web_link(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None.

    Home pages come from upload metadata, which anyone can write: a
    ``javascript:`` or relative URL must never become a link.
    """
    if not url or len(url) > 2000:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


@dataclass(frozen=True, slots=True)
class Link:
    """A package name and where clicking it goes."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class Feedback:
    """An inline answer of the add form."""

    kind: str  # "error" or "info"
    message: str
    suggestions: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class Chip:
    """A selected package and the URL without it."""

    name: str
    label: str
    remove_url: str
    color: int = 0


def _canonical_options(state: CompareState) -> CompareState:
    """Drop options equal to what the page would pick anyway (``of`` = first package)."""
    state = state.normalized()
    opts = state.options
    if opts.of is not None and state.packages and opts.of == state.packages[0]:
        state = CompareState(state.packages, replace(opts, of=None))
    return state


def _without(state: CompareState, name: str) -> str:
    return state.with_packages(p for p in state.packages if p != name).url()


def _picker_context(
    state: CompareState, labels: dict[str, str], feedback: Feedback | None
) -> dict[str, Any]:
    slots = views.colour_slots(state.packages)
    return {
        "chips": [Chip(n, labels.get(n, n), _without(state, n), slots[n]) for n in state.packages],
        "add_hidden": state.hidden_fields(),
        "full": len(state.packages) >= MAX_COMPARE,
        "feedback": feedback,
    }


async def _suggest(reader: Reader, name: str, state: CompareState) -> tuple[Link, ...]:
    close = await data.close_matches(reader, name, n=3)
    return tuple(Link(c, state.with_packages([*state.packages, c]).url()) for c in close)


def _share_context(
    request: Request[Any, Any, Any], state: CompareState, labels: dict[str, str]
) -> dict[str, Any]:
    base = base_url(request)
    embed = state.embed_url()
    title = " vs ".join(labels.get(n, n) for n in state.packages)
    # The exclusions of the page go into the badge, so it shows the number the page shows.
    excl = state.options.query(breakdown=False)
    badge_query = [(k, v) for k, v in excl if k == "exclude"]
    badges = []
    for name in state.packages:
        label = labels.get(name, name)
        svg = f"{base}/badge/{quote(name)}.svg"
        if badge_query:
            svg += "?" + urlencode(badge_query)
        page_url = f"{base}/packages/{quote(name)}"
        badges.append(
            {
                "name": name,
                "src": svg.removeprefix(base),
                "markdown": f"[![{label} downloads]({svg})]({page_url})",
                "rst": f".. image:: {svg}\n   :alt: {label} downloads\n   :target: {page_url}",
                "html": f'<a href="{page_url}"><img src="{svg}" alt="{label} downloads"></a>',
            }
        )
    # Room for the chart and a legend row per three packages, so the legend shows.
    height = 420 + 28 * ((len(state.packages) + 2) // 3)
    return {
        "csv_url": state.data_url("csv"),
        "json_url": state.data_url("json"),
        "embed_url": embed,
        "share_url": base + state.url(),
        "embed_code": (
            f'<iframe src="{base}{embed}" title="{title} downloads" width="100%" '
            f'height="{height}" loading="lazy" frameborder="0"></iframe>'
        ),
        "badges": badges,
        "badge_markdown": "\n".join(b["markdown"] for b in badges),
        "badge_rst": "\n\n".join(b["rst"] for b in badges),
        "badge_html": "\n".join(b["html"] for b in badges),
        "badge_rows": max(2, len(badges)),
    }


def _window(reader: Reader, opts: ViewOptions) -> Window:
    return Window(range_weeks(opts.range, reader.build), parse_exclude(opts.exclude))


async def _main_chart(
    reader: Reader, state: CompareState, rows: dict[str, models.Package]
) -> views.Chart:
    opts = state.options
    window = _window(reader, opts)
    cmp = await data.compare(reader, state.packages, window, share=False)
    chart = views.main_chart(cmp, rows, opts, reader.build.data_through)
    # Log events are always marked (they explain a dip); releases when the toggle says so.
    found = (
        await data.release_rows(reader, state.packages, window, DEFAULT_RELEASE_KINDS)
        if state.show_releases
        else {}
    )
    events = await data.events(reader, window, state.packages)
    return views.with_markers(chart, found, events.events, reader.build.data_through)


async def _counted(
    reader: Reader, state: CompareState, rows: dict[str, models.Package]
) -> dict[str, models.Package]:
    """The stats rows counted with the page's exclusions, in the page's package order."""
    return await data.with_exclusions(reader, rows, parse_exclude(state.options.exclude))


def _controls_context(state: CompareState) -> dict[str, Any]:
    return {
        "opts": state.options,
        "ranges": list(RANGE_LABELS.items()),
        "shows": list(SHOWS.items()),
        "excludes": list(EXCLUDE_LABELS.items()),
        "dimensions": [(d.slug, d.label) for d in DIMENSIONS.values()],
        "multi": len(state.packages) > 1,
        "excluded_text": ", ".join(EXCLUDE_LABELS[e] for e in state.options.exclude),
        "show_releases": state.show_releases,
    }


def _compare_context(
    reader: Reader, state: CompareState, labels: dict[str, str], feedback: Feedback | None
) -> dict[str, Any]:
    heading = " vs ".join(labels.get(n, n) for n in state.packages)
    return {
        **_build_context(reader),
        **_picker_context(state, labels, feedback),
        **_controls_context(state),
        "title": heading,
        "heading": heading,
        "canonical": state.url(),
    }


async def render_compare(
    request: Request[Any, Any, Any],
    reader: Reader,
    state: CompareState,
    *,
    feedback: Feedback | None = None,
    status: int = 200,
    notes: Sequence[str] = (),
) -> Template:
    """The compare page (or the start page for an empty set) of ``state``.

    Unknown names are dropped with a note (and close matches) while the others
    are compared; only a set with no known package at all is a 404.
    """
    if not state.packages:
        return await render_home(request, reader, feedback=feedback, status=status)
    rows = await data.package_rows(reader, state.packages)
    labels = {n: r.display_name for n, r in rows.items()}
    unknown_names = [n for n in state.packages if n not in rows]
    known = [n for n in state.packages if n in rows]
    unknown = [
        {"name": n, "suggestions": await _suggest(reader, n, state.with_packages(known))}
        for n in unknown_names
    ]
    if not known:
        canonical = state.url()
        ctx = _compare_context(reader, state, labels, feedback)
        ctx.update(_head(request, canonical, f"No package named {', '.join(unknown_names)}."))
        ctx["unknown"] = unknown
        ctx["notes"] = list(notes)
        return page(request, "compare.html.j2", ctx, status=404, push_url=canonical)
    state = state.with_packages(known)

    main_chart = await _main_chart(reader, state, rows)
    split = await _breakdown(reader, state, labels)
    state = split.state
    canonical = state.url()
    ctx = _compare_context(reader, state, labels, feedback)
    dim_label = split.dim_label
    path = compare_path(state.packages)
    query_form = "?" in path
    heading = ctx["heading"]
    ctx.update(
        {
            **_share_context(request, state, labels),
            **_head(
                request,
                canonical,
                f"Weekly PyPI downloads of {heading} compared: trends, share, "
                "release markers and breakdowns by installer, Python version, system, "
                "country and version.",
            ),
            "unknown": unknown,
            "notes": list(notes),
            "form_action": path.split("?")[0],
            "form_hidden": [("packages", ",".join(state.packages))] if query_form else [],
            "main_chart": main_chart,
            "releases_csv_url": state.data_url("csv", "releases"),
            "events_csv_url": state.data_url("csv", "events"),
            "stats": list(
                (await _counted(reader, state, {n: rows[n] for n in state.packages})).values()
            ),
            "breakdown_package": split.of,
            "dimension_label": dim_label,
            "stacked_chart": split.stacked,
            "breakdown_note": split.note,
            "stacked_caption": f"{dim_label} of {labels[split.of]}: share of weekly downloads",
            "stacked_csv_url": state.data_url("csv", "breakdown"),
            "value_chart": split.value_chart,
            "value_csv_url": state.data_url("csv", "values"),
            "value_choices": split.choices[:50],
            "value": split.value,
            "value_caption": (
                f"Share of each package's weekly downloads with {dim_label.lower()} = {split.value}"
            ),
        }
    )
    return page(request, "compare.html.j2", ctx, status=status, push_url=canonical)


@dataclass(frozen=True, slots=True)
class _Breakdown:
    """The breakdown section of a compare page: what its two charts show."""

    state: CompareState  # ``value`` dropped when it is the one the page picks anyway
    of: str
    dim_label: str
    stacked: views.Chart
    choices: list[str]
    value: str | None
    value_chart: views.Chart | None  # None for one package (nothing to compare)
    #: Weeks shown that have totals only (below the file's breakdown threshold).
    note: str | None = None


async def _breakdown(reader: Reader, state: CompareState, labels: dict[str, str]) -> _Breakdown:
    opts = state.options
    window = _window(reader, opts)
    weeks = window.weeks
    dimension = DIMENSIONS[opts.dim]
    rows = await data.breakdown_rows(reader, state.packages, dimension, window)
    coverage = await data.breakdown_coverage(reader, state.packages, window)
    of = state.breakdown_package or state.packages[0]
    dim_label = dimension.label
    choices = views.value_options(rows)
    default_value = _default_value(choices)
    value = opts.value if opts.value in choices else default_value
    if opts.value is not None and value == default_value:
        # The page would pick it anyway: keep it out of the canonical URL.
        state = CompareState(state.packages, replace(opts, value=None))
    value_chart = (
        views.value_share_chart(rows, state.packages, labels, value, weeks.weeks)
        if len(state.packages) > 1 and value is not None
        else None
    )
    return _Breakdown(
        state=state,
        of=of,
        dim_label=dim_label,
        stacked=views.stacked_chart(rows, of, weeks.weeks, dim_label),
        choices=choices,
        value=value,
        value_chart=value_chart,
        note=views.coverage_note(
            coverage, state.packages if value_chart else (of,), labels, weeks.weeks
        ),
    )


def _default_value(choices: list[str]) -> str | None:
    for value in choices:
        if value not in ("unknown", "other"):
            return value
    return choices[0] if choices else None


async def render_home(
    request: Request[Any, Any, Any],
    reader: Reader,
    *,
    feedback: Feedback | None = None,
    status: int = 200,
) -> Template:
    """The start page: search, most downloaded, rising."""
    state = CompareState(())
    popular = (await data.search_packages(reader, "", 12)).packages
    risers = await data.trending(reader, 4, 5, 100)
    example = [p.package for p in popular[:3]]
    ctx = {
        **_build_context(reader),
        **_picker_context(state, {}, feedback),
        "title": "Compare PyPI downloads",
        "canonical": "/",
        **_head(
            request,
            "/",
            "Compare weekly PyPI download trends of up to 10 Python packages, "
            "from the public download logs.",
        ),
        "popular": popular,
        "risers": risers.packages,
        "example_url": state.with_packages(example).url() if len(example) > 1 else None,
        "example_label": " vs ".join(p.display_name for p in popular[:3]),
    }
    return page(request, "home.html.j2", ctx, status=status, push_url="/")


def _names(values: Any) -> tuple[str, ...]:
    """A page's package set: parsed as the API parses it, then sorted (the canonical order)."""
    return tuple(sorted(parse_packages(values)))


def _link_names(values: Any) -> tuple[tuple[str, ...], list[str]]:
    """The package set of a page link, keeping the first ``MAX_COMPARE`` names given.

    A shared link with too many names still shows a comparison: the first ten
    in the link's order, and a note saying which were left out.

    Returns:
        The set (sorted) and the notes to show.
    """
    given = list(dict.fromkeys(normalize_name(v) for v in split_values(values)))
    kept, dropped = given[:MAX_COMPARE], given[MAX_COMPARE:]
    notes = []
    if dropped:
        notes.append(
            f"A comparison holds at most {MAX_COMPARE} packages: showing the first "
            f"{MAX_COMPARE} of the {len(given)} in the link, without "
            f"{', '.join(d[:100] for d in dropped[:20])}{'…' if len(dropped) > 20 else ''}."
        )
    return _names(kept), notes


def _query_names(request: Request[Any, Any, Any]) -> tuple[str, ...]:
    return _names(request.query_params.getall("packages", []))


def _state_from(request: Request[Any, Any, Any], names: tuple[str, ...]) -> CompareState:
    opts = parse_options(request.query_params.dict())
    return _canonical_options(CompareState(names, opts))


def _redirect(url: str, status: RedirectStatus = HTTP_301_MOVED_PERMANENTLY) -> Redirect:
    return Redirect(path=url, status_code=status)


@get("/", opt=_CACHED, include_in_schema=False)
async def home(request: Request[Any, Any, Any], reader: NamedDependency[Reader]) -> Template:
    """The start page."""
    return await render_home(request, reader)


@get("/compare", opt=_CACHED, include_in_schema=False)
async def compare_query(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader]
) -> Template | Redirect:
    """``/compare?packages=a,b``: redirect to the path form unless a name contains ``-vs-``."""
    names, notes = _link_names(request.query_params.getall("packages", []))
    state = _state_from(request, names)
    canonical = state.url()
    if notes:
        return await render_compare(request, reader, state, notes=notes)
    if not names or "?packages=" not in canonical or _query_differs(request, canonical):
        return _redirect(canonical)
    return await render_compare(request, reader, state)


def _query_differs(request: Request[Any, Any, Any], canonical: str) -> bool:
    current = request.url.path + ("?" + request.url.query if request.url.query else "")
    return current != canonical


@get("/compare/{slug:str}", opt=_CACHED, include_in_schema=False)
async def compare_page(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader], slug: Slug
) -> Template | Redirect:
    """``/compare/<a>-vs-<b>``: names normalised and sorted; other spellings redirect."""
    names, notes = _link_names(split_slug(slug))
    state = _state_from(request, names)
    if notes:
        # No redirect: the note would be lost. The page names its canonical URL.
        return await render_compare(request, reader, state, notes=notes)
    canonical_path = compare_path(state.packages)
    if request.url.path != canonical_path:
        # Keep the query as given: only the package part is canonicalised here.
        query = request.url.query
        target = canonical_path
        if query and "?" not in target:
            target += "?" + query
        elif "?" in target:
            target = state.url()
        return _redirect(target)
    return await render_compare(request, reader, state)


@get("/packages/{name:str}", opt=_CACHED, include_in_schema=False)
async def package_page(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader], name: Name
) -> Template | Redirect:
    """One package: its numbers, its chart and every breakdown."""
    normalized = normalize_name(name)
    if normalized != name:
        query = request.url.query
        return _redirect(f"/packages/{quote(normalized)}" + (f"?{query}" if query else ""))
    if not is_valid_name(normalized):
        raise InvalidParameter("name", "not a valid package name")
    opts = parse_options(request.query_params.dict())
    state = CompareState((normalized,), opts).normalized()
    opts = state.options
    row = await data.get_package(reader, normalized)
    rows = {normalized: row}
    labels = {normalized: row.display_name}
    main_chart = await _main_chart(reader, state, rows)
    window = _window(reader, opts)
    weeks = window.weeks
    coverage = await data.breakdown_coverage(reader, (normalized,), window)
    breakdown_note = views.coverage_note(coverage, (normalized,), labels, weeks.weeks)
    breakdowns = []
    for dim in DIMENSIONS.values():
        rows_dim = await data.breakdown_rows(reader, (normalized,), dim, window)
        breakdowns.append(
            {
                "key": dim.slug,
                "caption": f"{dim.label}: share of weekly downloads",
                "chart": views.stacked_chart(rows_dim, normalized, weeks.weeks, dim.label),
                "csv_url": CompareState((normalized,), replace(opts, dim=dim.slug)).data_url(
                    "csv", "breakdown"
                ),
            }
        )
    canonical = f"/packages/{normalized}"
    pairs = opts.query(breakdown=False)
    if pairs:
        canonical += "?" + urlencode(pairs, safe=",")
    ctx = {
        **_build_context(reader),
        **_picker_context(state, labels, None),
        **_controls_context(state),
        **_share_context(request, state, labels),
        "chips": [],
        **_head(
            request,
            canonical,
            f"Weekly PyPI downloads of {row.display_name}: "
            f"{humanize(row.downloads_last_week)} last week, release markers and breakdowns.",
        ),
        "title": row.display_name,
        "canonical": canonical,
        "share_url": base_url(request) + canonical,
        "form_action": f"/packages/{normalized}",
        "stats": list((await _counted(reader, state, rows)).values()),
        "main_chart": main_chart,
        "releases_csv_url": state.data_url("csv", "releases"),
        "events_csv_url": state.data_url("csv", "events"),
        "breakdowns": breakdowns,
        "breakdown_note": breakdown_note,
    }
    return page(request, "package.html.j2", ctx, push_url=canonical)


@get("/trending", opt=_CACHED, include_in_schema=False)
async def trending_page(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader], weeks: Weeks = 4
) -> Template:
    """The biggest risers over a window of weeks."""
    if weeks not in TRENDING_WINDOWS:
        raise InvalidParameter("weeks", f"use one of {', '.join(map(str, TRENDING_WINDOWS))}")
    min_downloads = 100
    result = await data.trending(reader, weeks, 50, min_downloads)
    top = [p.package for p in result.packages[:5]]
    ctx = {
        **_build_context(reader),
        "title": "Trending",
        "canonical": "/trending" + ("" if weeks == 4 else f"?weeks={weeks}"),
        **_head(
            request,
            "/trending" + ("" if weeks == 4 else f"?weeks={weeks}"),
            f"The fastest-growing PyPI packages over the last {weeks} weeks.",
        ),
        "weeks": weeks,
        "window_choices": TRENDING_WINDOWS,
        "min_downloads": min_downloads,
        "rows": result.packages,
        "compare_top_url": CompareState(tuple(sorted(top))).url(),
        "compare_top_count": len(top),
    }
    return page(request, "trending.html.j2", ctx, push_url=ctx["canonical"])


@get("/web/search", opt=_CACHED, include_in_schema=False)
async def search_fragment(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader]
) -> Template:
    """Search-as-you-type suggestions: links that add a package to the current set."""
    query = (request.query_params.get("add") or "").strip()[:200]
    names = _query_names(request)
    state = _state_from(request, names)
    matches = []
    if normalize_name(query):
        found = await data.search_packages(reader, query, SEARCH_LIMIT)
        for m in found.packages:
            matches.append(
                {
                    "label": m.display_name,
                    "summary": (m.summary or "")[:120],
                    "downloads": humanize(m.downloads_last_week),
                    "added": m.package in state.packages,
                    "url": state.with_packages([*state.packages, m.package]).url(),
                }
            )
    return Template(
        template_name="_suggestions.html.j2",
        context={"matches": matches, "query": query if normalize_name(query) else ""},
    )


@get("/web/add", include_in_schema=False)
async def add_package(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader]
) -> Template | Redirect | Response[bytes]:
    """The add form: go to the new comparison, or say inline why not."""
    names = _query_names(request)
    state = _state_from(request, names)
    typed = (request.query_params.get("add") or "").strip()
    name = normalize_name(typed)
    feedback: Feedback | None = None
    status = 200
    if not name:
        feedback, status = Feedback("error", "Type a package name."), 400
    elif not is_valid_name(name):
        feedback, status = Feedback("error", f"“{typed[:100]}” is not a valid package name."), 400
    elif name in state.packages:
        feedback, status = Feedback("info", f"{name} is already in the comparison."), 409
    elif len(state.packages) >= MAX_COMPARE:
        feedback, status = (
            Feedback("error", f"At most {MAX_COMPARE} packages; remove one first."),
            400,
        )
    elif not await data.package_rows(reader, (name,)):
        feedback = Feedback(
            "error", f"No package named “{name}”.", await _suggest(reader, name, state)
        )
        status = 404
    if feedback is None:
        target = state.with_packages([*state.packages, name]).url()
        if is_htmx(request):
            location = json.dumps({"path": target, "target": "#main", "swap": "outerHTML"})
            return Response(b"", status_code=200, headers={"hx-location": location})
        return _redirect(target, HTTP_303_SEE_OTHER)
    if is_htmx(request):
        # htmx swaps only 2xx answers: the inline message is the content here.
        return Template(template_name="_feedback.html.j2", context={"feedback": feedback})
    return await render_compare(request, reader, state, feedback=feedback, status=status)


@get(["/compare-data.csv", "/compare-data.json"], opt=_CACHED, include_in_schema=False)
async def compare_data(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader]
) -> Response[bytes]:
    """What one chart of the compare page shows, as CSV or JSON (a download).

    ``chart`` picks it: ``main`` (default), ``breakdown`` (the stacked shares of
    the ``of`` package by ``dim``) or ``values`` (one ``value`` of ``dim`` across
    the packages); the same options as the page give the same numbers.
    """
    names = _query_names(request)
    if not names:
        raise InvalidParameter("packages", "give one to ten package names separated by commas")
    which = request.query_params.get("chart", "main")
    if which not in DATA_CHARTS:
        raise InvalidParameter("chart", f"use one of {', '.join(DATA_CHARTS)}")
    state = _state_from(request, names)
    rows = await data.known_packages(reader, state.packages)
    stem = "-vs-".join(state.packages)[:150]
    if which in ("releases", "events"):
        return await _marker_table(request, reader, state, which, stem)
    if which == "main":
        chart = await _main_chart(reader, state, rows)
    else:
        labels = {n: r.display_name for n, r in rows.items()}
        split = await _breakdown(reader, state, labels)
        if which == "breakdown":
            chart = split.stacked
            stem = f"{split.of}-by-{state.options.dim}"
        elif split.value_chart is None:
            raise InvalidParameter("chart", "the values chart needs two or more packages")
        else:
            chart = split.value_chart
            stem = f"{stem}-{state.options.dim}-{split.value}"[:200]
    # A breakdown value comes from the download logs: keep the file name to safe
    # characters (a quote would end the header's quoted string).
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem)
    header, table = chart.table()
    extra: dict[str, Any] = {}
    if which == "main":
        # The markers the chart draws, as their own tables beside the series.
        extra = await _marker_tables(reader, state)
    else:
        # Why some weeks are empty: the page's note (null when none are cut).
        extra = {"note": split.note}
    return _download(request, reader, state, which, stem, header, table, chart, extra)


async def _marker_tables(reader: Reader, state: CompareState) -> dict[str, Any]:
    out = {}
    for which in ("releases", "events"):
        header, table = await _marker_rows(reader, state, which)
        out[which] = {"columns": header, "rows": table}
    return out


async def _marker_rows(
    reader: Reader, state: CompareState, which: str
) -> tuple[list[str], list[list[Any]]]:
    window = _window(reader, state.options)
    if which == "releases":
        found = await data.release_rows(reader, state.packages, window, DEFAULT_RELEASE_KINDS)
        header = ["package", *models.Release.__struct_fields__]
        return header, [
            [name, *(getattr(r, f) for f in models.Release.__struct_fields__)]
            for name, rel in found.items()
            for r in rel
        ]
    events = await data.events(reader, window, state.packages)
    fields = models.DataEvent.__struct_fields__
    return list(fields), [[getattr(e, f) for f in fields] for e in events.events]


async def _marker_table(
    request: Request[Any, Any, Any], reader: Reader, state: CompareState, which: str, stem: str
) -> Response[bytes]:
    header, table = await _marker_rows(reader, state, which)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", f"{stem}-{which}")
    return _download(request, reader, state, which, stem, header, table, None, {})


def _download(
    request: Request[Any, Any, Any],
    reader: Reader,
    state: CompareState,
    which: str,
    stem: str,
    header: list[str],
    table: list[list[Any]],
    chart: views.Chart | None,
    extra: dict[str, Any],
) -> Response[bytes]:
    if request.url.path.endswith(".csv"):
        body = render_csv(header, table)
        media = "text/csv"
        filename = f"{stem}.csv"
    else:
        body = _ENCODER.encode(
            {
                "packages": list(state.packages),
                "data_through": reader.build.data_through,
                "chart": which,
                "options": dict(state.options.query(breakdown=which != "main")),
                "x_label": chart.x_label if chart else None,
                "y_label": chart.y_label if chart else None,
                "columns": header,
                "rows": table,
                **extra,
            }
        )
        media = MediaType.JSON
        filename = f"{stem}.json"
    return Response(
        body,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


async def _embed(
    request: Request[Any, Any, Any], reader: Reader, names: tuple[str, ...]
) -> Template | Redirect:
    state = _state_from(request, names)
    if not names:
        raise InvalidParameter("packages", "give one to ten package names")
    rows = await data.known_packages(reader, state.packages)
    theme = request.query_params.get("theme", "auto")
    if theme not in EMBED_THEMES:
        raise InvalidParameter("theme", f"use one of {', '.join(EMBED_THEMES)}")
    chart = await _main_chart(reader, state, rows)
    labels = {n: r.display_name for n, r in rows.items()}
    return Template(
        template_name="embed.html.j2",
        context={
            "htmx_config": HTMX_CONFIG,
            "title": " vs ".join(labels[n] for n in state.packages),
            "page_url": base_url(request) + state.url(),
            "main_chart": chart,
            "theme": theme,
            **_build_context(reader),
        },
    )


@get("/embed/compare/{slug:str}", opt=_CACHED, include_in_schema=False)
async def embed_page(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader], slug: Slug
) -> Template | Redirect:
    """The main chart alone, for an ``<iframe>``, with a link back."""
    names = _names(split_slug(slug))
    path = "/embed" + compare_path(names)
    if request.url.path != path and "?" not in path:
        query = request.url.query
        return _redirect(path + (f"?{query}" if query else ""))
    return await _embed(request, reader, names)


@get("/embed/compare", opt=_CACHED, include_in_schema=False)
async def embed_query(
    request: Request[Any, Any, Any], reader: NamedDependency[Reader]
) -> Template | Redirect:
    """The embed of a set given as ``?packages=`` (names containing ``-vs-``)."""
    return await _embed(request, reader, _query_names(request))


def error_page(request: Request[Any, Any, Any], problem: Classified) -> Template:
    """The site's error page (or its ``<main>`` for htmx), with search and links onward."""
    return Template(
        template_name="error.html.j2",
        context={
            "fragment": is_htmx(request),
            "htmx_config": HTMX_CONFIG,
            "title": problem.title,
            "description": problem.detail,
            "heading": problem.title,
            "status": problem.status,
            "message": problem.detail,
            "suggestions": problem.suggestions or [],
            "request_id": request.scope.get("state", {}).get("request_id"),
            **_picker_context(CompareState(()), {}, None),
            "data_through": NO_VALUE,
            "build_id": NO_VALUE,
        },
        status_code=problem.status,
        headers=problem.headers,
    )


def pages_router(assets: Assets) -> Router:
    """Every page route, the fragments and the static files under one router."""
    return Router(
        path="/",
        route_handlers=[
            home,
            compare_query,
            compare_page,
            package_page,
            trending_page,
            search_fragment,
            add_package,
            compare_data,
            embed_page,
            embed_query,
            static_handler(assets),  # type: ignore[list-item]
        ],
        # Errors on these routes are pages too, unless the client asked for JSON.
        opt={"page": True},
        include_in_schema=False,
    )
