"""Compare-page state and view-models: URL parsing/canonical form and chart arithmetic.

Pure functions, so expected values are worked out by hand here.
"""

from __future__ import annotations

import pytest

from serve import models
from serve.data import BreakdownRows
from serve.formats import NO_VALUE, humanize
from serve.params import parse_packages
from serve.problems import InvalidParameter
from serve.web import views
from serve.web.state import (
    CompareState,
    ViewOptions,
    compare_path,
    parse_options,
    split_slug,
)


def test_slug_is_normalised_then_split_on_vs() -> None:
    assert split_slug("Requests-vs-Scikit_Learn") == ["requests", "scikit-learn"]
    # Separators collapse first, so "_VS_" is the separator too.
    assert split_slug("Foo_VS_bar") == ["foo", "bar"]
    assert split_slug("-vs-") == []


def test_names_are_normalised_deduplicated_and_bounded() -> None:
    # Repeated and comma-separated alike; the order given is kept (the pages sort).
    assert parse_packages(["urllib3", "Requests,requests", "boto3"]) == (
        "urllib3",
        "requests",
        "boto3",
    )
    with pytest.raises(InvalidParameter, match="at most 10"):
        parse_packages([f"p{i}" for i in range(11)])
    with pytest.raises(InvalidParameter, match="not a valid package name"):
        parse_packages(["bad name!"])
    with pytest.raises(InvalidParameter, match="give one to ten"):
        parse_packages([""], required=True)


def test_canonical_path_form_and_query_form_for_vs_names() -> None:
    assert compare_path(["requests", "boto3"]) == "/compare/boto3-vs-requests"
    assert compare_path([]) == "/"
    # A name containing "-vs-" cannot be told apart in the path: query form instead.
    assert compare_path(["foo-vs-bar", "a"]) == "/compare?packages=a,foo-vs-bar"


def test_options_round_trip_and_defaults_stay_out_of_urls() -> None:
    opts = parse_options(
        {
            "range": ["3m"],
            "show": ["pypi"],
            "cumulative": ["1"],
            "exclude": ["mirror", "ci"],
            "dim": ["installers"],
        }
    )
    state = CompareState(("a", "b"), opts)
    assert state.url() == (
        "/compare/a-vs-b?range=3m&show=pypi&cumulative=1&exclude=ci&exclude=mirror"
    )
    assert parse_options({"exclude": ["ci,mirror"]}).exclude == ("ci", "mirror")
    assert CompareState(("a",)).url() == "/compare/a"
    assert CompareState(("a", "b"), opts).embed_url().startswith("/embed/compare/a-vs-b?range=3m")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"range": ["7y"]}, "range"),
        ({"show": ["nope"]}, "show"),
        ({"exclude": ["bots"]}, "exclude"),
        ({"cumulative": ["maybe"]}, "cumulative"),
        ({"dim": ["file_size"]}, "dim"),
    ],
)
def test_bad_options_name_the_parameter(params: dict[str, list[str]], parameter: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_options(params)
    assert info.value.parameter == parameter


def test_removing_a_package_drops_its_breakdown_choice() -> None:
    state = CompareState(("a", "b", "c"), ViewOptions(of="b"))
    assert state.with_packages(["a", "c"]).url() == "/compare/a-vs-c"
    assert state.url() == "/compare/a-vs-b-vs-c?of=b"


def _cmp(weeks: list[str], pypi: list[int], **downloads: list[int]) -> models.Comparison:
    return models.Comparison(
        start=weeks[0],
        end=weeks[-1],
        exclude=[],
        weeks=weeks,
        pypi_downloads=pypi,
        packages=[
            models.ComparedPackage(
                package=name,
                display_name=name.upper(),
                downloads=counts,
                share_of_combined=None,
                share_of_pypi=None,
            )
            for name, counts in downloads.items()
        ],
    )


def _row(name: str, first_release: str | None) -> models.Package:
    return models.Package(
        package=name,
        display_name=name.upper(),
        summary=None,
        latest_version="1.0",
        first_release_date=first_release,
        first_download_week=None,
        last_download_week=None,
        downloads_total=0,
        downloads_last_week=0,
        downloads_last_4_weeks=0,
        downloads_prev_4_weeks=0,
        growth_4_weeks=None,
        rank=1,
        data_through="2026-01-26",
    )


WEEKS = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]


def test_main_chart_downloads_cumulative_and_shares() -> None:
    cmp = _cmp(WEEKS, [100, 100, 200, 0], a=[10, 20, 30, 0], b=[30, 20, 10, 0])
    rows = {"a": _row("a", None), "b": _row("b", None)}
    plain = views.main_chart(cmp, rows, ViewOptions(), "2026-01-26")
    assert plain.x[0] == 1767571200  # 2026-01-05T00:00:00Z
    assert [s.label for s in plain.series] == ["A", "B"]
    assert plain.series[0].values == [10, 20, 30, 0]
    assert plain.marker == plain.x[-1]

    cumulative = views.main_chart(cmp, rows, ViewOptions(cumulative=True), "2026-01-26")
    assert cumulative.series[1].values == [30, 50, 60, 60]

    share = views.main_chart(cmp, rows, ViewOptions(show="share"), "2026-01-26")
    assert share.series[0].values == [25.0, 50.0, 75.0, None]
    assert share.percent

    pypi = views.main_chart(cmp, rows, ViewOptions(show="pypi", cumulative=True), "2026-01-26")
    # cumulative shares are ratios of running sums: (10+20+30) / (100+100+200)
    assert pypi.series[0].values[2] == 15.0

    header, table = plain.table()
    assert header == ["week", "a", "b"]
    assert table[1] == ["2026-01-12", 20, 20]


def test_aligned_chart_places_each_week_at_the_package_age() -> None:
    cmp = _cmp(WEEKS, [100] * 4, a=[5, 6, 7, 8], b=[0, 0, 1, 2])
    # a was released a week before the range starts; b in its third week
    # (a Wednesday, snapped to its Monday), so b's first two weeks are pre-release.
    rows = {"a": _row("a", "2025-12-29"), "b": _row("b", "2026-01-21")}
    chart = views.main_chart(cmp, rows, ViewOptions(align=True), "2026-01-26")
    assert not chart.time
    assert chart.x == [0, 1, 2, 3, 4]
    assert chart.series[0].values == [None, 5, 6, 7, 8]
    assert chart.series[1].values == [1, 2, None, None, None]
    # Both released long before the range: the axis covers only the ages shown.
    old = {"a": _row("a", "2025-01-06"), "b": _row("b", "2025-01-13")}
    chart = views.main_chart(cmp, old, ViewOptions(align=True, cumulative=True), "2026-01-26")
    assert chart.x == list(range(51, 56))
    assert chart.series[0].values == [None, 5, 11, 18, 26]
    assert chart.series[1].values == [0, 0, 1, 3, None]


def test_stacked_breakdown_folds_small_values_into_other() -> None:
    rows = [("a", "2026-01-05", f"v{i}", 10 - i) for i in range(10)]
    rows += [("a", "2026-01-12", "v0", 5), ("a", "2026-01-12", "other", 5)]
    data = BreakdownRows("installers", rows)
    chart = views.stacked_chart(data, "a", WEEKS[:3], "Installers")
    keys = [s.key for s in chart.series]
    assert keys == ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "other"]
    week1 = [s.values[0] for s in chart.series]
    # v7 + v8 + v9 = 3 + 2 + 1 of a total of 55
    assert week1[-1] == round(100 * 6 / 55, 4)
    assert sum(v for v in week1 if v is not None) == pytest.approx(100.0)
    assert chart.series[0].values[1] == 50.0
    assert all(s.values[2] is None for s in chart.series)


def test_value_share_across_packages() -> None:
    data = BreakdownRows(
        "installers",
        [
            ("a", "2026-01-05", "pip", 3),
            ("a", "2026-01-05", "uv", 1),
            ("b", "2026-01-05", "uv", 3),
        ],
    )
    assert views.value_options(data) == ["uv", "pip"]
    chart = views.value_share_chart(data, ["a", "b"], {"a": "A"}, "uv", WEEKS[:2])
    assert [s.values for s in chart.series] == [[25.0, None], [100.0, None]]
    assert [s.label for s in chart.series] == ["A", "b"]


def test_humanize_and_growth() -> None:
    assert humanize(1_250_000) == "1.2M"
    assert humanize(999) == "999"
    assert views.growth(0.125) == "+12.5 %"
    assert views.growth(None) == NO_VALUE
