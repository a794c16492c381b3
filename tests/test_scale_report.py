"""bench/scale_bench.py --render-only turns raw scale results into the renderer's shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.warehouse import REPO_ROOT

SCALE_BENCH = REPO_ROOT / "bench" / "scale_bench.py"
GOALS = {
    "file_bytes_full_scale": 15e9,
    "export_wall_s_full_scale": 1800,
    "peak_rss_bytes_every_scale": 150e6,
    "api_p99_ms_warm_1_10": 25,
    "api_p99_ms_cold_1_10": 100,
}


def scale_run(n: int, rows: int, file_bytes: int, wall: float, rss: int) -> dict[str, Any]:
    """One measured scale 1/n, written by hand: one table holding every row."""
    return {
        "scale": f"1/{n}",
        "fraction": 1 / n,
        "tables": {"t": {"rows": rows, "bytes": file_bytes, "bytes_per_row": file_bytes / rows}},
        "rows": rows,
        "file_bytes": file_bytes,
        "bytes_per_row": file_bytes / rows,
        "export": {
            "wall_s": wall,
            "cpu_s": wall / 2,
            "peak_rss_bytes": rss,
            "load_avg_before": [1.0, 1.0, 1.0],
            "load_avg_after": [1.5, 1.0, 1.0],
            "rows_per_s": round(rows / wall),
        },
    }


def raw(threshold: int, runs: list[dict[str, Any]], date: str) -> dict[str, Any]:
    return {
        "benchmark": "scale",
        "goals": GOALS,
        "date": date,
        "machine": {"cores": 2, "load_avg_end": [2.0, 1.0, 1.0], "python": "3.11.7"},
        "breakdown_min_downloads": threshold,
        "runs": runs,
        "api": None,
        "bigquery_cost": None,
    }


def render_only(tmp_path: Path, *raws: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    paths = []
    for i, r in enumerate(raws):
        paths.append(tmp_path / f"results_{i}.json")
        paths[-1].write_text(json.dumps(r))
    return subprocess.run(
        [sys.executable, str(SCALE_BENCH), "--render-only", "--json", str(tmp_path / "scale.json"),
         "--from", *map(str, paths)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_extrapolates_the_fit_and_carries_one_scale_up_with_its_exponents(tmp_path: Path) -> None:
    # Threshold 0: linear bytes (1e8 -> 1e9), wall growing as fraction^1.5
    # (10 s -> 316.2 s), flat memory. Threshold 2000 (BigQuery's default) at 1/10 only.
    base = raw(
        0,
        [
            scale_run(100, 1000, 10**8, 10.0, 100_000_000),
            scale_run(10, 10_000, 10**9, 10 * 10**1.5, 100_000_000),
        ],
        "2026-01-01T00:00:00",
    )
    prod = raw(2000, [scale_run(10, 3000, 4 * 10**8, 20.0, 120_000_000)], "2026-01-02T00:00:00")
    done = render_only(tmp_path, prod, base)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "scale.json").read_text())
    assert report["bench"] == "scale" and report["measured_at"] == "2026-01-02T00:00:00"
    figs = {f["name"].split(",")[0]: f for f in report["figures"]}
    size = figs["file size at full PyPI"]
    # 0.4 GB at 1/10, bytes exponent 1: 4 GB at full scale.
    assert size["value"] == 4.0 and size["unit"] == "GB"
    assert size["goal"] == {"op": "<=", "value": 15.0}
    # 20 s at 1/10 with the wall exponent 1.5: 20 * 10^1.5 s = 10.5 min.
    assert abs(figs["export wall at full PyPI"]["value"] - 20 * 10**1.5 / 60) < 0.01
    assert figs["export peak RSS"]["value"] == 120.0
    full = next(t for t in report["tables"] if t["title"].startswith("Full PyPI"))
    assert [row[0] for row in full["rows"]] == ["0", "2,000"]
    # 10 s at 1/100, exponent 1.5: 10 * 100^1.5 s at full scale.
    assert full["rows"][0][2:5] == [10_000 * 10, 10.0, round(10 * 100**1.5 / 60, 3)]
    # The renderer accepts it.
    page = tmp_path / "benchmarks.md"
    rendered = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "render.py"), "--data", str(tmp_path),
         "--out", str(page), "--no-readme"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    assert "EXTRAPOLATED" in page.read_text()


def test_refuses_results_without_two_scales_or_twice_one_threshold(tmp_path: Path) -> None:
    one = raw(2000, [scale_run(10, 3000, 4 * 10**8, 20.0, 1)], "2026-01-02T00:00:00")
    done = render_only(tmp_path, one)
    assert done.returncode != 0
    assert "no configuration was measured at two or more scales" in done.stderr
    done = render_only(tmp_path, one, one)
    assert done.returncode == 2 and "two results files for one threshold" in done.stderr


def test_without_the_bigquery_threshold_the_figures_say_which_one_they_show(
    tmp_path: Path,
) -> None:
    # What a first `make bench-scale` leaves: threshold 0 at two scales only.
    base = raw(0, [scale_run(100, 1000, 10**8, 10.0, 1), scale_run(10, 10_000, 10**9, 100.0, 1)],
               "2026-01-01T00:00:00")  # fmt: skip
    done = render_only(tmp_path, base)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "scale.json").read_text())
    size = report["figures"][0]
    assert "threshold 0 (BigQuery's 2,000 not measured" in size["name"]
    assert size["value"] == 10.0
