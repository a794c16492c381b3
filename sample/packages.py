"""The tables the generator loads into DuckDB: per package, per package-month, per day.

Each table is built column by column with numpy and Arrow (not row by row): the
setup runs on one core before the writer threads can start. The values are the
same floats as one row at a time: the same arithmetic in the same order, the
pseudo-random numbers from :func:`sample.catalog.units`, and ``pow``/``log`` as
``math`` calls (numpy does not promise the same rounding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from operator import itemgetter

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sample import catalog
from sample.catalog import Package, Units
from sample.options import Options

_SUMMARIES = (
    "fast and simple utilities",
    "a client library",
    "the missing toolkit",
    "type-safe helpers",
    "command line interface",
    "data processing made easy",
    "bindings and extensions",
    "tools for developers",
)
_LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", None, "GPL-3.0")
_REQUIRES_PYTHON = (">=3.9", ">=3.8", None, ">=3.10", ">=3.7")
_BINARY_TAG = "cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64"
_PURE_TAG = "py3-none-any"
_EPOCH = date(1970, 1, 1)
_DAY_US = 86_400_000_000
#: Weekly seasonality, Monday first (weekends lower).
_WEEKDAY_FACTOR = np.array([1.02, 1.03, 1.02, 1.0, 0.94, 0.62, 0.60])


def _pick(options: tuple[str | None, ...], u: npt.NDArray[np.float64]) -> list[str | None]:
    """Return ``options[int(u * len(options))]`` for each number of ``u``."""
    return [options[i] for i in (u * len(options)).astype(np.int64).tolist()]


def _strings(values: Sequence[str | None], where: npt.NDArray[np.bool_]) -> pa.Array:
    """Return the strings where ``where`` holds, nulls elsewhere."""
    return pa.array(values, pa.string(), mask=~where)


def _package_rows(pkgs: list[Package], opts: Options) -> pa.Table:
    """Per-package release and file-shape parameters (deterministic from the seed)."""
    n = len(pkgs)
    names = [p.name for p in pkgs]
    displays = [p.display for p in pkgs]
    rank = np.array([p.rank for p in pkgs], np.int64)

    r = Units(opts.seed, names)
    hist_start = opts.start - timedelta(days=400)
    born = np.array([p.birth is not None and p.birth > hist_start for p in pkgs], np.bool_)
    birth_day = np.array(
        [(p.birth - _EPOCH).days if p.birth is not None else 0 for p in pkgs], np.int64
    )
    base = np.select([rank <= 20, rank <= 300, rank <= 5000], [4, 10, 30], 90)
    interval = np.maximum(2.0, base * (0.5 + 1.5 * r("interval")))
    first_day = np.where(
        born, birth_day, (hist_start - _EPOCH).days + (r("first") * interval).astype(np.int64)
    )
    first_us = first_day * _DAY_US + (r("sec") * 86400).astype(np.int64) * 1_000_000
    end_us = (opts.end + timedelta(days=1) - _EPOCH).days * _DAY_US
    # Whole days from the first upload to the end of the range (floored, as timedelta.days).
    days_left = (end_us - first_us) // _DAY_US
    n_versions = np.clip(np.floor(days_left / interval).astype(np.int64) + 1, 1, 2000)
    binary = r("binary") < 0.2
    sizes = [int(20 + 2000 * u**3) for u in r("size").tolist()]  # float pow, as before
    with_summary = r("nosum") >= 0.03
    summaries = _pick(_SUMMARIES, r("sum"))
    with_mail = r("mail") >= 0.3
    with_home = r("home") >= 0.25
    homes = [f"https://{name}.example.org/" for name in names]
    return pa.table(
        {
            "pkg_id": pa.array(np.arange(n, dtype=np.int64)),
            "name": pa.array(names, pa.string()),
            "display": pa.array(displays, pa.string()),
            "wheel_dist": pc.replace_substring_regex(
                pa.array(displays, pa.string()), r"[-_.]+", "_"
            ),
            "first_upload": pa.array(first_us, pa.timestamp("us", tz="UTC")),
            "interval_days": pa.array(interval),
            "n_versions": pa.array(n_versions),
            "k0": pa.array(np.where(born, 0, (r("k0") * 60).astype(np.int64))),
            "major0": pa.array(np.where(born, 0, (r("major") * 4).astype(np.int64))),
            "pa": pa.array(2 + (r("pa") * 5).astype(np.int64)),
            "pb": pa.array(3 + (r("pb") * 8).astype(np.int64)),
            "calver": pa.array(r("calver") < 0.06),
            "has_wheel": pa.array((rank <= 100) | (r("wheel") < 0.9)),
            "wheel_tag": pa.array(np.where(binary, _BINARY_TAG, _PURE_TAG).tolist(), pa.string()),
            "sdist_share": pa.array(0.01 + 0.12 * r("sdist")),
            "mean_back": pa.array(np.minimum(8.0, 0.4 + 12.0 / interval)),
            "size_kb": pa.array(sizes, pa.int64()),
            "summary": _strings(
                [f"{d}: {s}" for d, s in zip(displays, summaries, strict=True)], with_summary
            ),
            "author": pa.array([f"{d} maintainers" for d in displays], pa.string()),
            "author_email": _strings([f"dev@{name}.example.org" for name in names], with_mail),
            "license": pa.array(_pick(_LICENSES, r("lic")), pa.string()),
            "keywords": pa.nulls(n),
            "classifiers": _constant_lists(n, ["Programming Language :: Python :: 3"]),
            "home_page": _strings(homes, with_home),
            "requires_python": pa.array(_pick(_REQUIRES_PYTHON, r("rp")), pa.string()),
            "requires_dist": pa.ListArray.from_arrays(
                pa.array(np.zeros(n + 1, np.int32)), pa.nulls(0)
            ),
            "project_urls": pa.ListArray.from_arrays(
                pa.array(np.arange(n + 1, dtype=np.int32)),
                pa.array([f"Homepage, {home}" for home in homes], pa.string()),
            ),
        }
    )


def _constant_lists(n: int, items: list[str]) -> pa.Array:
    """Return ``n`` lists, each holding ``items``."""
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * len(items))
    return pa.ListArray.from_arrays(offsets, pa.array(items * n, pa.string()))


def _days(opts: Options, months: list[str]) -> pa.Table:
    """One row per day: its month (index into the consecutive ``months``) and factors.

    The day factor is the weekly seasonality (weekends lower), times 0.75 on the
    end-of-year holidays (December 24 to January 1).
    """
    epoch_day = np.arange(opts.days, dtype=np.int64) + (opts.start - _EPOCH).days
    day = epoch_day.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    month_start = month.astype("datetime64[D]")
    day_of_month = (day - month_start).astype(np.int64) + 1
    month_days = ((month + 1).astype("datetime64[D]") - month_start).astype(np.int64)
    month_of_year = month.astype(np.int64) % 12 + 1
    # 1970-01-01 was a Thursday (weekday 3).
    factor = _WEEKDAY_FACTOR[(epoch_day + 3) % 7]
    holiday = ((month_of_year == 12) & (day_of_month >= 24)) | (
        (month_of_year == 1) & (day_of_month == 1)
    )
    factor = np.where(holiday, factor * 0.75, factor)
    return pa.table(
        {
            "day_idx": pa.array(np.arange(opts.days, dtype=np.int64)),
            "day": pa.array(day, pa.date32()),
            "epoch_day": pa.array(epoch_day),
            "day_us": pa.array(epoch_day * _DAY_US),
            "mi": pa.array((month - np.datetime64(months[0], "M")).astype(np.int64)),
            "frac": pa.array((day_of_month - 1) / month_days),
            "day_factor": pa.array(factor),
        }
    )


def tables(opts: Options, pkgs: list[Package]) -> dict[str, pa.Table]:
    """Return the packages, their monthly rates and the days, as Arrow tables for DuckDB.

    Args:
        opts: the sample's options.
        pkgs: the packages, from :func:`sample.catalog.select` with the same options.

    Returns:
        ``pkg`` (one row per package), ``pkg_month`` (one per package and month but
        the last: the log daily rate at its start and at the next month's) and
        ``days`` (one per day of the range).
    """
    months = catalog.month_range(opts.start, opts.end)
    n_p, n_m = len(pkgs), len(months)
    # Log of the daily rate (30-day counts / 30) at the start of each month and the next;
    # a day interpolates between the two.
    get = itemgetter(*months)
    monthly = np.array([get(p.monthly) for p in pkgs], np.float64).reshape(n_p, n_m)
    rate = (np.maximum(monthly, 1e-3) / 30.0).ravel().tolist()
    lv = np.array(list(map(math.log, rate)), np.float64).reshape(n_p, n_m)
    month_tbl = pa.table(
        {
            "pkg_id": pa.array(np.repeat(np.arange(n_p, dtype=np.int64), n_m - 1)),
            "mi": pa.array(np.tile(np.arange(n_m - 1, dtype=np.int64), n_p)),
            "lv": pa.array(lv[:, :-1].ravel()),
            "lv_next": pa.array(lv[:, 1:].ravel()),
        }
    )
    return {"pkg": _package_rows(pkgs, opts), "pkg_month": month_tbl, "days": _days(opts, months)}
