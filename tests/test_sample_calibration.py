"""The sample follows the real figures it was calibrated on."""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from sample import calibration
from sample.catalog import Trajectories

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_calibration_file_is_compact_and_complete() -> None:
    assert calibration.CALIBRATION_FILE.stat().st_size <= 1_000_000
    cal = calibration.load()
    assert len(cal.snapshot) == 15_000
    assert cal.ranked()[:3] == ["boto3", "packaging", "setuptools"]
    assert len(cal.months) == 97 and cal.months[0] == "2018-02" and cal.months[-1] == "2026-04"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not available")
def test_committed_file_is_what_calibrate_derives(tmp_path: Path) -> None:
    out = tmp_path / "calibration.csv.gz"
    calibration.derive(SHARED, out)
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(
        calibration.CALIBRATION_FILE.read_bytes()
    )


def test_real_trajectories_uv_rises_pip_share_falls() -> None:
    traj = Trajectories(calibration.load())
    # Real points are kept (3 significant digits): uv 5.44M in 2024-05, 139M in 2026-04.
    assert round(traj.log_value("uv", "2024-05"), 3) == round(math.log(5_440_000), 3)
    uv_2024, uv_2026 = traj.log_value("uv", "2024-06"), traj.log_value("uv", "2026-04")
    assert uv_2026 - uv_2024 > math.log(10)
    assert traj.birth_month("uv") is not None and traj.birth_month("uv") < "2024-05"
    share = [traj.log_value("pip", m) - traj.growth(m) for m in ("2021-01", "2023-01", "2026-04")]
    assert share[0] > share[1] > share[2]


def _counts(raw: Path, where: str = "TRUE") -> dict[str, int]:
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT project, count(*) FROM read_parquet('{raw}/file_downloads/*/*.parquet')
            WHERE {where} GROUP BY 1"""
    ).fetchall()
    return {p: n for p, n in rows}


def _spearman(a: list[float], b: list[float]) -> float:
    def ranks(xs: list[float]) -> list[int]:
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        out = [0] * len(xs)
        for r, i in enumerate(order):
            out[i] = r
        return out

    ra, rb = ranks(a), ranks(b)
    n = len(a)
    d2 = sum((x - y) ** 2 for x, y in zip(ra, rb, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def test_top_packages_follow_the_calibration_order(tiny_raw_dir: Path) -> None:
    counts = _counts(tiny_raw_dir)
    ranked = [p for p in calibration.load().ranked() if p in counts][:40]
    generated_top10 = sorted(counts, key=lambda p: -counts[p])[:10]
    assert len(set(generated_top10) & set(ranked[:10])) >= 9
    # Rank correlation over the top 40 real packages of the sample.
    rho = _spearman([-i for i in range(len(ranked))], [counts[p] for p in ranked])
    assert rho > 0.8


def test_installers_and_pythons_shift_over_time(make_raw: Callable[..., Path]) -> None:
    small = ("--weeks", "1", "--events", "60000", "--packages", "80")
    early = make_raw(*small, "--end", "2024-06-12")
    late = make_raw(*small, "--end", "2026-10-14")

    def share(raw: Path, where: str) -> float:
        con = duckdb.connect()
        row = con.execute(
            f"""SELECT avg(CASE WHEN {where} THEN 1.0 ELSE 0.0 END)
                FROM read_parquet('{raw}/file_downloads/*/*.parquet')
                WHERE details.installer.name IS NOT NULL"""
        ).fetchone()
        assert row is not None
        return float(row[0])

    uv = "details.installer.name = 'uv'"
    assert share(late, uv) > 3 * share(early, uv) > 0
    py38 = "details.python LIKE '3.8.%'"
    assert share(early, py38) > 2 * share(late, py38)
    py313 = "details.python LIKE '3.13.%'"
    assert share(late, py313) > 3 * share(early, py313)
    # A package that did not exist yet in 2024-06 (uv was tiny; a fast riser).
    assert _counts(late).get("uv", 0) > 3 * _counts(early).get("uv", 0)
