"""The generator's setup computes many packages at once: same values as one at a time."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pyarrow as pa

from sample import calibration, catalog, options, packages
from sample.catalog import Trajectories, unit, units


def test_units_equal_unit_one_at_a_time() -> None:
    # Names with quotes change how repr quotes them: the hash input must not change.
    items: list[object] = ["numpy", "o'brien", 'say "hi"', "ünïcode", "", 0, 7, 123_456]
    for seed, tag in ((42, "interval"), (0, "spread"), (2**31 - 1, "it's")):
        expected = [unit(seed, tag, item) for item in items]
        assert units(seed, tag, items).tolist() == expected


def test_trajectories_of_many_packages_equal_each_alone() -> None:
    cal = calibration.load()
    ranked = cal.ranked()
    # uv: a fast riser; pip: history all along; the tail: only the snapshot point.
    projects = ["uv", "pip", "ruff", *ranked[:5], *ranked[990:1010:4], *ranked[-3:]]
    months = [catalog.month_key(date(2017, 6, 1) + timedelta(days=61 * i)) for i in range(60)]
    many = Trajectories(cal)
    together, births = many.log_values(projects, months), many.birth_months(projects)
    assert births[0] is not None  # uv
    for row, birth, project in zip(together.tolist(), births, projects, strict=True):
        alone = Trajectories(cal)
        assert row == alone.log_values([project], months)[0].tolist(), project
        assert birth == alone.birth_month(project), project


def test_real_points_are_kept_and_the_trend_after_the_snapshot_is_capped() -> None:
    cal = calibration.load()
    traj = Trajectories(cal)
    for project in ("pip", "numpy", "uv", cal.ranked()[-1]):
        history = cal.history.get(project, {})
        months = sorted(history)
        values = traj.log_values([project], months)[0].tolist()
        assert values == [math.log(history[m]) for m in months]
        # Half the last-12-month trend, capped to -4% .. +3% a month.
        step = traj.log_value(project, "2026-05") - traj.log_value(project, "2026-04")
        assert -0.04 - 1e-12 <= step <= 0.03 + 1e-12


def test_month_and_day_tables_line_up() -> None:
    opts = options.resolve(scale="tiny", packages=30)
    pkgs = catalog.select(
        calibration.load(), count=opts.packages, seed=opts.seed, start=opts.start, end=opts.end
    )
    tables = packages.tables(opts, pkgs)
    n_months = len(catalog.month_range(opts.start, opts.end))
    month = tables["pkg_month"].to_pydict()
    assert len(month["pkg_id"]) == len(pkgs) * (n_months - 1)
    # Each row's next value is the following month's value of the same package.
    for i in range(len(month["pkg_id"]) - 1):
        if month["pkg_id"][i + 1] == month["pkg_id"][i]:
            assert month["mi"][i + 1] == month["mi"][i] + 1
            assert month["lv_next"][i] == month["lv"][i + 1]
    days = tables["days"].to_pydict()
    assert days["day"] == [opts.start + timedelta(days=i) for i in range(opts.days)]
    months = catalog.month_range(opts.start, opts.end)
    assert [months[i] for i in days["mi"]] == [catalog.month_key(d) for d in days["day"]]
    assert all(0 <= f < 1 for f in days["frac"])
    pkg = tables["pkg"].to_pydict()
    assert all(1 <= n <= 2000 for n in pkg["n_versions"])


def test_string_columns_stay_strings_when_every_value_is_null() -> None:
    # One package whose author_email is null: the column must still be a string
    # column (distribution_metadata's STRING), not Arrow's null type.
    opts = options.resolve(scale="tiny", weeks=1, packages=1)
    pkgs = catalog.select(
        calibration.load(), count=opts.packages, seed=opts.seed, start=opts.start, end=opts.end
    )
    schema = packages.tables(opts, pkgs)["pkg"].schema
    for name in ("summary", "author_email", "license", "home_page", "requires_python"):
        assert schema.field(name).type == pa.string(), name
