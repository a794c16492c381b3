"""Scale simulator: the marts of a fraction of full PyPI, written straight into a DuckDB warehouse.

No raw events: the marts are drawn directly with PyPI's shape, in the
contract columns and types read from the dbt manifest, and stored in grain
order (the order dbt leaves them in, dbt/macros/storage_order.sql), so
``python -m exports export --warehouse <file>`` exports them as it would a
warehouse dbt built. Deterministic: every random draw is a hash of
(package, week, dimension, value index).

Shape (the figures behind each choice are in the ``model`` dict of the result):

* Packages: full PyPI has ``FULL_PACKAGES`` projects. Ranks 1-15,000 get the
  real 30-day counts of the calibration snapshot (sample/calibration.csv.gz);
  later ranks a power law continuing the snapshot's own tail (slope fitted
  on ranks 3,000-15,000). A scale 1/S keeps every S-th rank (rank 1 included),
  so each scale has the same popularity distribution, S times thinner.
* Weeks: a package's weekly mean is 7/30 of its 30-day count, with a trend
  (per package, -50% .. +100% over the 104 weeks) and lognormal weekly noise.
  A package is downloaded in a week with probability ``1 - (1 + m/k)^-k``
  (a negative binomial's non-zero share for mean ``m``), with ``k`` solved so
  that ``ACTIVE_PER_WEEK`` of the full-scale projects are downloaded in an
  average week ("several hundred thousand"); active weeks carry the mean
  divided by that probability, so the mean is kept.
* Dimensions: per package-week the number of distinct values grows with the
  week's downloads ``d``: ``n = D * log10(1 + d) / 7 + u`` (``u`` uniform in
  [0, 1)), clamped to [1, D], where ``D`` is the dimension's full spread (for
  versions: the package's number of releases). 5 downloads give 1-3 Python
  versions, 10M the full spread. Downloads are split over the values by a
  Zipf law (exponent 1.3) with cumulative floors, so the values of a
  package-week add up exactly to its ``package_downloads_weekly`` row; values
  past the top K (20) are folded into ``other`` as dbt does.

Usage: .venv/bin/python bench/scale_sim.py --scale 100 --out data/bench/scale/s100.duckdb
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import string
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exports.manifest import MartSpec, export_marts, load_manifest  # noqa: E402
from sample.calibration import load as load_calibration  # noqa: E402

FULL_PACKAGES = 700_000
ACTIVE_PER_WEEK = 400_000
WEEKS = 104
LAST_WEEK = date(2026, 11, 9)
TOP_K = 20
ZIPF = 1.3
#: Ranks whose real counts fit the tail's power law.
FIT_RANKS = (3_000, 15_000)
DAYS_PER_SNAPSHOT = 30
#: Rows of dimension marts inserted per statement (bounds the generator's memory).
CHUNK_ROWS = 3_000_000


@dataclass(frozen=True)
class Dimension:
    """A dimension mart: its value column and its values, most downloaded first."""

    mart: str
    column: str
    values: tuple[str, ...]


def _countries() -> tuple[str, ...]:
    common = "US CN DE IE GB FR JP IN NL SG KR CA BR AU RU SE HK TW FI CH PL IT ES IL VN ID"
    first = common.split()
    rest = [
        a + b for a in string.ascii_uppercase for b in string.ascii_uppercase if a + b not in first
    ]
    return tuple(first + rest[: 220 - len(first)])


def _versions() -> tuple[str, ...]:
    out = []
    for major in range(3, -1, -1):
        for minor in range(9, -1, -1):
            for patch in range(5, -1, -1):
                out.append(f"{major}.{minor}.{patch}")
    return tuple(out[:240])


DIMENSIONS = (
    Dimension(
        "package_python_versions_weekly",
        "python_version",
        (
            "3.12",
            "3.11",
            "3.10",
            "3.13",
            "3.9",
            "3.8",
            "3.14",
            "3.7",
            "unknown",
            "3.6",
            "2.7",
            "3.15",
            "3.5",
            "3.4",
            "2.6",
            "3.3",
            "3.2",
            "2.5",
        ),
    ),
    Dimension(
        "package_installers_weekly",
        "installer",
        (
            "pip",
            "uv",
            "poetry",
            "requests",
            "bandersnatch",
            "pdm",
            "Browser",
            "setuptools",
            "pex",
            "conda",
            "Nexus",
            "Artifactory",
            "devpi",
            "OS",
            "unknown",
            "pipenv",
            "hatch",
        ),
    ),
    Dimension(
        "package_systems_weekly",
        "system",
        (
            "Linux",
            "Windows",
            "Darwin",
            "unknown",
            "FreeBSD",
            "Emscripten",
            "OpenBSD",
            "AIX",
            "SunOS",
            "NetBSD",
        ),
    ),
    Dimension("package_countries_weekly", "country_code", _countries()),
    Dimension("package_versions_weekly", "version", _versions()),
    Dimension(
        "package_file_types_weekly",
        "file_type",
        ("bdist_wheel", "sdist", "unknown", "bdist_egg", "bdist_wininst"),
    ),
)
#: Share of a package's releases first uploaded inside the 104 weeks (the
#: package_releases mart keeps only those); an assumption: about a third of a
#: package's releases are from the last two years.
RELEASES_IN_WINDOW = 0.35
#: The hand-kept log events, exported as they are.
EVENTS_SEED = ROOT / "dbt" / "seeds" / "pypi_log_events.csv"


def monthly_counts() -> tuple[np.ndarray, list[str], dict[str, float]]:
    """30-day downloads of every full-scale rank, real names of the top, and the tail fit."""
    cal = load_calibration()
    ranked = sorted(cal.snapshot.items(), key=lambda kv: (-kv[1], kv[0]))
    real = np.array([v for _, v in ranked], dtype=np.float64)
    ranks = np.arange(1, len(real) + 1)
    lo, hi = FIT_RANKS
    sel = (ranks >= lo) & (ranks <= hi)
    slope, _ = np.polyfit(np.log(ranks[sel]), np.log(real[sel]), 1)
    tail_ranks = np.arange(len(real) + 1, FULL_PACKAGES + 1)
    last = real[-1]
    tail = last * (tail_ranks / len(real)) ** slope
    counts = np.concatenate([real, tail])
    fit = {"slope": round(float(slope), 4), "fit_ranks": list(FIT_RANKS)}
    return counts, [name for name, _ in ranked], fit


def solve_dispersion(weekly_mean: np.ndarray, active: float) -> float:
    """``k`` such that ``sum(1 - (1 + m/k)^-k) == active`` (bisection on log k)."""

    def expected(k: float) -> float:
        return float(np.sum(1.0 - np.power(1.0 + weekly_mean / k, -k)))

    lo, hi = 1e-4, 1e4
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if expected(mid) < active:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def synthetic_name(rank: int) -> str:
    """A PEP 503 name of realistic length (PyPI's median is ~12 characters)."""
    digest = hashlib.blake2b(str(rank).encode(), digest_size=8).hexdigest()
    return f"{digest[: 3 + rank % 10]}-{rank}"


def packages_frame(scale: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The packages of one scale: every ``scale``-th rank of full PyPI."""
    counts, real_names, fit = monthly_counts()
    weekly = counts * 7 / DAYS_PER_SNAPSHOT
    k = solve_dispersion(weekly, ACTIVE_PER_WEEK)
    ranks = np.arange(1, FULL_PACKAGES + 1, scale)
    names = [real_names[r - 1] if r <= len(real_names) else synthetic_name(r) for r in ranks]
    order = sorted(range(len(names)), key=lambda i: names[i].encode())
    pkg_id = np.empty(len(names), dtype=np.int64)
    pkg_id[np.array(order)] = np.arange(len(names))
    mean = weekly[ranks - 1]
    p_active = 1.0 - np.power(1.0 + mean / k, -k)
    model = {
        "full_packages": FULL_PACKAGES,
        "active_per_week_full_scale_target": ACTIVE_PER_WEEK,
        "dispersion_k": round(k, 4),
        "tail": fit,
        "real_ranks": len(real_names),
        "monthly_downloads_full_scale": int(counts.sum()),
        "expected_active_per_week": int(p_active.sum()),
        "top_k": TOP_K,
        "zipf_exponent": ZIPF,
        "dimension_spread": {d.column: len(d.values) for d in DIMENSIONS},
    }
    frame = {
        "pkg_id": pkg_id,
        "rank": ranks.astype(np.int64),
        "package_name": np.array(names, dtype=object),
        "mean": mean,
        "p_active": p_active,
    }
    return frame, model


def _duck_type(data_type: str) -> str:
    return {
        "string": "VARCHAR",
        "date": "DATE",
        "bigint": "BIGINT",
        "integer": "INTEGER",
        "double": "DOUBLE",
    }.get(data_type.lower(), data_type.upper())


def _create(con: duckdb.DuckDBPyConnection, mart: MartSpec) -> None:
    cols = ", ".join(f'"{c.name}" {_duck_type(c.data_type)}' for c in mart.columns)
    con.execute(f'CREATE TABLE main."{mart.alias}" ({cols})')


#: A uniform in [0, 1) from a hash of the given SQL expressions.
def _u(*parts: str) -> str:
    return f"((hash({', '.join(parts)}) % 1000003) / 1000003.0)"


def simulate(scale: int, out: Path, target_dir: Path, min_downloads: int = 0) -> dict[str, Any]:
    """Write the marts of PyPI at 1/``scale`` into a new DuckDB file ``out``.

    ``min_downloads``: package-weeks with fewer downloads get no dimension rows
    (dbt's var breakdown_min_downloads).

    Returns:
        The model's parameters and what was written (rows per table, seconds).
    """
    started = time.perf_counter()
    marts = {m.name: m for m in export_marts(load_manifest(target_dir))}
    frame, model = packages_frame(scale)
    out.unlink(missing_ok=True)
    con = duckdb.connect(str(out), config={"memory_limit": "1GB", "threads": 2})
    con.execute("SET preserve_insertion_order = true")
    pk = {k: v for k, v in frame.items()}
    con.register("pk_frame", _arrow(pk))
    first_week = LAST_WEEK - timedelta(days=7 * (WEEKS - 1))
    con.execute(
        f"""CREATE TEMP TABLE pk AS
        SELECT pkg_id, rank, package_name, mean, p_active,
               -- trend over the 104 weeks: x0.5 .. x2
               ln(0.5) + {_u("rank", "'trend'")} * ln(4.0) AS trend,
               -- CI / mirror / metadata shares of the package
               0.30 * {_u("rank", "'ci'")} AS f_ci,
               0.05 * {_u("rank", "'mirror'")} AS f_mirror,
               0.10 * {_u("rank", "'meta'")} AS f_meta,
               -- releases: more for popular packages
               least(240, 1 + floor(exp(1.0 + 0.25 * ln(1 + mean)
                   + 1.2 * {_u("rank", "'rel'")}))::INTEGER) AS releases
        FROM pk_frame ORDER BY pkg_id"""
    )
    # Weekly rows of active package-weeks, in grain order.
    con.execute(
        f"""CREATE TEMP TABLE core AS
        WITH pw AS (
            SELECT pk.*, w.w,
                   {_u("rank", "w.w", "'active'")} AS ua,
                   greatest({_u("rank", "w.w", "'n1'")}, 1e-9) AS n1,
                   {_u("rank", "w.w", "'n2'")} AS n2
            FROM pk, range({WEEKS}) w(w)
        ), drawn AS (
            SELECT pkg_id, rank, package_name, w, releases, f_ci, f_mirror, f_meta,
                   greatest(1, round(mean * exp(trend * (w - {WEEKS - 1}) / {WEEKS - 1})
                       / p_active * exp(0.3 * sqrt(-2 * ln(n1)) * cos(2 * pi() * n2) - 0.045)
                   ))::BIGINT AS d
            FROM pw WHERE ua < p_active
        )
        SELECT pkg_id, rank, package_name, w, releases, d,
               floor(d * f_ci)::BIGINT AS ci, floor(d * f_mirror)::BIGINT AS mi,
               floor(d * f_meta)::BIGINT AS me
        FROM drawn ORDER BY pkg_id, w"""
    )
    week = f"(DATE '{first_week}' + 7 * w::INTEGER)::DATE"
    core = marts["package_downloads_weekly"]
    _create(con, core)
    con.execute(
        f'INSERT INTO main."{core.alias}" SELECT package_name, {week}, d, ci, mi, me'
        " FROM core ORDER BY pkg_id, w"
    )
    pypi = marts["pypi_downloads_weekly"]
    _create(con, pypi)
    con.execute(
        f'INSERT INTO main."{pypi.alias}" SELECT {week}, sum(d), sum(ci), sum(mi), sum(me),'
        " count(*) FROM core GROUP BY w ORDER BY w"
    )
    _write_packages(con, marts["packages"], week)
    _write_releases(con, marts["package_releases"], first_week)
    _write_events(con, marts["data_events"])
    n_pkg = len(frame["pkg_id"])
    for dim in DIMENSIONS:
        _write_dimension(con, marts[dim.mart], dim, week, n_pkg, min_downloads)
    _write_release_lines(
        con, marts["package_version_lines_weekly"], marts["package_versions_weekly"]
    )
    rows = {
        name: int(con.execute(f'SELECT count(*) FROM main."{m.alias}"').fetchone()[0])  # type: ignore[index]
        for name, m in sorted(marts.items())
    }
    con.execute("CHECKPOINT")
    con.close()
    return {
        "scale": f"1/{scale}",
        "breakdown_min_downloads": min_downloads,
        "packages": n_pkg,
        "weeks": WEEKS,
        "rows": rows,
        "model": model,
        "simulate_s": round(time.perf_counter() - started, 1),
        "warehouse_bytes": out.stat().st_size,
    }


def _arrow(columns: dict[str, np.ndarray]) -> Any:
    import pyarrow as pa

    return pa.table({k: pa.array(v) for k, v in columns.items()})


def _write_packages(con: duckdb.DuckDBPyConnection, mart: MartSpec, week: str) -> None:
    """One row per package downloaded in the window, the contract's columns."""
    _create(con, mart)
    last = WEEKS - 1
    con.execute(
        f"""INSERT INTO main."{mart.alias}"
        WITH agg AS (
            SELECT pkg_id, any_value(package_name) AS package_name, any_value(releases) AS rel,
                   min(w) AS first_w, max(w) AS last_w, sum(d) AS total,
                   sum(d) FILTER (WHERE w = {last}) AS last_week,
                   sum(d) FILTER (WHERE w > {last - 4}) AS last4,
                   sum(d) FILTER (WHERE w > {last - 8} AND w <= {last - 4}) AS prev4
            FROM core GROUP BY pkg_id
        )
        SELECT package_name, package_name, 'A simulated package.', '1.' || rel::VARCHAR || '.0',
               'https://' || package_name || '.example.org/', NULL,
               (DATE '{LAST_WEEK}' - (7 * (first_w + 52))::INTEGER)::DATE,
               (DATE '{LAST_WEEK}' - (7 * ({last} - first_w))::INTEGER)::DATE,
               (DATE '{LAST_WEEK}' - (7 * ({last} - last_w))::INTEGER)::DATE,
               total, coalesce(last_week, 0), coalesce(last4, 0), coalesce(prev4, 0),
               CASE WHEN coalesce(prev4, 0) = 0 THEN NULL
                    ELSE (coalesce(last4, 0) - prev4) / prev4::DOUBLE END,
               row_number() OVER (ORDER BY coalesce(last_week, 0) DESC, package_name)::INTEGER
        FROM agg ORDER BY pkg_id"""
    )


def _write_release_lines(
    con: duckdb.DuckDBPyConnection, mart: MartSpec, versions: MartSpec
) -> None:
    """Release lines (major.minor) summed from the simulated version rows.

    Each version belongs to one line, so a package-week has at most as many
    lines as versions, as in the real data; the versions' `other` stays `other`.
    """
    _create(con, mart)
    con.execute(
        f"""INSERT INTO main."{mart.alias}"
        SELECT package_name, week_start, line, sum(downloads), sum(downloads_ci),
               sum(downloads_mirror), sum(downloads_metadata)
        FROM (SELECT *, CASE WHEN version = 'other' THEN 'other'
                             ELSE regexp_replace(version, '[.][^.]*$', '') END AS line
              FROM main."{versions.alias}")
        GROUP BY package_name, week_start, line
        ORDER BY package_name, week_start, line"""
    )


def _write_releases(con: duckdb.DuckDBPyConnection, mart: MartSpec, first_week: date) -> None:
    """The releases first uploaded inside the window: a share of each package's, spread evenly."""
    _create(con, mart)
    con.execute(
        f"""INSERT INTO main."{mart.alias}"
        WITH r AS (
            SELECT package_name, i, n
            FROM (SELECT package_name, floor(releases * {RELEASES_IN_WINDOW}
                         + {_u("rank", "'relwin'")})::INTEGER AS n FROM pk),
                 range(n) t(i)
        ), dated AS (
            SELECT package_name, (i // 10)::VARCHAR || '.' || (i % 10)::VARCHAR AS line,
                   (i // 10)::VARCHAR || '.' || (i % 10)::VARCHAR || '.0' AS version,
                   CASE WHEN i % 10 = 0 THEN 'major' ELSE 'minor' END AS kind,
                   TIMESTAMPTZ '{first_week} 00:00:00+00'
                       + to_seconds(((i + 0.5) / n * {WEEKS * 7 * 86400})::BIGINT) AS uploaded_at
            FROM r
        )
        SELECT package_name, version, line, kind, uploaded_at,
               (uploaded_at::DATE - (isodow(uploaded_at::DATE) - 1)::INTEGER)::DATE
        FROM dated ORDER BY package_name, version"""
    )


def _write_events(con: duckdb.DuckDBPyConnection, mart: MartSpec) -> None:
    """The log events seed, as the data_events mart stores it."""
    _create(con, mart)
    cols = ", ".join(f'"{c.name}"' for c in mart.columns)
    con.execute(
        f'INSERT INTO main."{mart.alias}" SELECT {cols} FROM read_csv(?, header = true)'
        " ORDER BY scope, start_date",
        [str(EVENTS_SEED)],
    )


def _write_dimension(
    con: duckdb.DuckDBPyConnection,
    mart: MartSpec,
    dim: Dimension,
    week: str,
    n_pkg: int,
    min_downloads: int,
) -> None:
    """The dimension mart, in grain order, in package-range chunks."""
    _create(con, mart)
    labels = list(dim.values)
    by_bytes = sorted([*labels, "other"], key=str.encode)
    key = {v: i for i, v in enumerate(by_bytes)}
    con.execute("DROP TABLE IF EXISTS vals")
    con.execute("CREATE TEMP TABLE vals (i INTEGER, label VARCHAR, label_key INTEGER)")
    con.executemany(
        "INSERT INTO vals VALUES (?, ?, ?)",
        [(i + 1, v, key[v]) for i, v in enumerate(labels)] + [(0, "other", key["other"])],
    )
    spread = "releases" if dim.column == "version" else str(len(labels))
    # Harmonic sums: H(n) = sum_{i<=n} i^-s, for the cumulative Zipf shares.
    con.execute("DROP TABLE IF EXISTS harm")
    con.execute(
        f"CREATE TEMP TABLE harm AS SELECT i, sum(pow(i, -{ZIPF})) OVER (ORDER BY i) AS h"
        f" FROM range(1, {len(labels) + 1}) t(i)"
    )
    per_chunk = max(1, int(n_pkg * CHUNK_ROWS / max(1, _estimate_rows(con, spread))))
    for lo in range(0, n_pkg, per_chunk):
        hi = lo + per_chunk
        con.execute(
            f"""INSERT INTO main."{mart.alias}"
            WITH pw AS (
                SELECT c.*, least({spread}, greatest(1, floor({spread} * log10(1 + d) / 7
                       + {_u("rank", "w", f"'{dim.column}'")})))::INTEGER AS n
                FROM core c WHERE pkg_id >= {lo} AND pkg_id < {hi} AND d >= {min_downloads}
            ), slots AS (
                -- values 1..min(n, K), and slot 0 ('other') when n > K
                SELECT pw.*, s.i FROM pw, range(0, {TOP_K + 1}) s(i)
                WHERE (s.i >= 1 AND s.i <= n) OR (s.i = 0 AND n > {TOP_K})
            ), shares AS (
                SELECT slots.pkg_id, slots.w, slots.i, slots.d, slots.ci, slots.mi, slots.me,
                       slots.package_name,
                       CASE WHEN slots.i = 0 THEN 1.0 ELSE hi_.h / hn.h END AS w_hi,
                       CASE WHEN slots.i = 0 THEN hk.h / hn.h WHEN slots.i = 1 THEN 0.0
                            ELSE lo_.h / hn.h END AS w_lo
                FROM slots
                JOIN harm hn ON hn.i = slots.n
                LEFT JOIN harm hi_ ON hi_.i = slots.i
                LEFT JOIN harm lo_ ON lo_.i = slots.i - 1
                LEFT JOIN harm hk ON hk.i = {TOP_K}
            ), counted AS (
                SELECT pkg_id, w, i,
                       (floor(d * w_hi) - floor(d * w_lo))::BIGINT AS dl,
                       (floor(ci * w_hi) - floor(ci * w_lo))::BIGINT AS c_ci,
                       (floor(mi * w_hi) - floor(mi * w_lo))::BIGINT AS c_mi,
                       (floor(me * w_hi) - floor(me * w_lo))::BIGINT AS c_me,
                       package_name
                FROM shares
            )
            SELECT package_name, {week}, v.label, dl, c_ci, c_mi, c_me
            FROM counted JOIN vals v ON v.i = counted.i
            WHERE dl + c_ci + c_mi + c_me > 0
            ORDER BY pkg_id, w, v.label_key"""
        )


def _estimate_rows(con: duckdb.DuckDBPyConnection, spread: str) -> int:
    """Rows a dimension will have (for the chunk size): sum of min(n, K+1) at u = 0.5."""
    row = con.execute(
        f"SELECT sum(least({TOP_K + 1}, greatest(1, floor({spread} * log10(1 + d) / 7 + 0.5))))"
        " FROM core"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100, help="1/SCALE of full PyPI")
    parser.add_argument("--out", type=Path, required=True, help="DuckDB file to write")
    parser.add_argument("--target-dir", type=Path, default=ROOT / "dbt" / "target")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument(
        "--breakdown-min-downloads", type=int, default=0, help="no breakdowns below this"
    )
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = simulate(args.scale, args.out, args.target_dir, args.breakdown_min_downloads)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
