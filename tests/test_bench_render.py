"""bench/render.py turns bench JSON of the documented shape into docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.warehouse import REPO_ROOT

RENDER = REPO_ROOT / "bench" / "render.py"

# Written by hand for this test: two benches, three figures, one goal missed.
QUEUE = {
    "bench": "queue",
    "title": "Queue throughput",
    "measured_at": "2026-01-02T03:04:05+00:00",
    "machine": {
        "cpus": 4,
        "cpu_model": "Test CPU 9000",
        "python": "3.11.0",
        "load_avg_before": [0.5, 0.4, 0.3],
        "load_avg_after": [2.25, 1.0, 0.5],
    },
    "method": "Pushes ten million items through the queue.",
    "command": "python bench/bench_queue.py --items 10000000",
    "figures": [
        {
            "name": "items/s vs deque",
            "value": 4.5,
            "unit": "x",
            "peer": "collections.deque, same run",
            "goal": {"op": ">=", "value": 3},
            "detail": "9,000 vs 2,000 items/s",
        },
        {
            "name": "p99 latency",
            "value": 31.25,
            "unit": "ms",
            "peer": "",
            "goal": {"op": "<=", "value": 25},
        },
    ],
    "results": {"anything": [1, 2, 3]},
}
ALPHA = {
    **QUEUE,
    "bench": "alpha",
    "title": "Alpha peak memory",
    "figures": [{"name": "peak RSS", "value": 1234567, "unit": "MB", "peer": "none"}],
}


def run(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RENDER), "--data", str(data), "--out", str(out),
         *(extra or ("--no-readme",))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def write(data: Path, name: str, report: Any) -> None:
    data.mkdir(exist_ok=True)
    (data / f"{name}.json").write_text(json.dumps(report))


def test_renders_method_machine_peer_and_verdicts(tmp_path: Path) -> None:
    data, out = tmp_path / "bench", tmp_path / "benchmarks.md"
    write(data, "queue", QUEUE)
    write(data, "alpha", ALPHA)
    write(data, "legacy", {"rows_per_s": 5})
    done = run(data, out)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "legacy.json" in done.stderr
    assert "`legacy.json`" in page
    assert "## Queue throughput" in page and "## Alpha peak memory" in page
    # Unknown benches come in name order.
    assert page.index("## Alpha peak memory") < page.index("## Queue throughput")
    assert "Measured 2026-01-02T03:04:05+00:00 on 4 cores (Test CPU 9000), Python 3.11.0" in page
    assert "load average (1 min) 0.50 before, 2.25 after" in page
    assert "`python bench/bench_queue.py --items 10000000`" in page
    assert "Pushes ten million items through the queue." in page
    assert (
        "| items/s vs deque | 4.5x | >= 3x | met | collections.deque, same run "
        "| 9,000 vs 2,000 items/s |" in page
    )
    assert "| p99 latency | 31.2 ms | <= 25 ms | **not met** |" in page
    assert "| peak RSS | 1,234,567 MB |  |  | none |  |" in page
    # The summary lists the figures with a goal, linked to their section.
    summary = (
        "| [Queue throughput](#queue) | p99 latency | 31.2 ms | <= 25 ms | **not met** | 2.2 / 4 |"
    )
    assert summary in page
    assert "The load exceeded the cores" not in page  # 2.25 on 4 cores
    assert '<a id="queue"></a>' in page
    assert "[Alpha peak memory](#alpha)" not in page  # no goal, no summary row
    assert "anything" not in page


def test_a_broken_figure_names_the_file_and_field(tmp_path: Path) -> None:
    data, out = tmp_path / "bench", tmp_path / "benchmarks.md"
    broken = json.loads(json.dumps(QUEUE))
    broken["figures"][1]["goal"]["op"] = "=="
    write(data, "queue", broken)
    done = run(data, out)
    assert done.returncode == 2
    assert "queue.json: figures[1].goal: op must be one of" in done.stderr
    assert not out.exists()

    del broken["figures"][1]["goal"]
    broken["figures"][0]["value"] = "fast"
    write(data, "queue", broken)
    done = run(data, out)
    assert done.returncode == 2
    assert "figures[0]: 'value' must be int or float" in done.stderr

    mismatch = {**QUEUE, "bench": "other"}
    write(data, "queue", mismatch)
    assert "'bench' is 'other'" in run(data, out).stderr


def test_no_data_is_a_clear_error(tmp_path: Path) -> None:
    done = run(tmp_path / "missing", tmp_path / "benchmarks.md")
    assert done.returncode == 2
    assert "run `make bench` first" in done.stderr


def test_readme_headline_table_is_rendered_between_the_markers(tmp_path: Path) -> None:
    data, docs = tmp_path / "bench", tmp_path / "docs"
    docs.mkdir()
    write(data, "queue", QUEUE)
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- bench:begin -->\nold numbers\n<!-- bench:end -->\n\nEnd.\n")
    done = run(data, docs / "benchmarks.md", "--readme", str(readme))
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.startswith("# Title\n\n<!-- bench:begin -->\n| measured | value | goal | |")
    overloaded = {**QUEUE, "machine": {**QUEUE["machine"], "load_avg_after": [9.0, 1, 1]}}
    write(data, "queue", overloaded)
    assert run(data, docs / "benchmarks.md").returncode == 0
    assert "The load exceeded the cores" in (docs / "benchmarks.md").read_text()
    write(data, "queue", QUEUE)
    assert (
        "| [Queue throughput: items/s vs deque](docs/benchmarks.md#queue) | 4.5x | >= 3x | met "
        "| 2.2 / 4 |" in text
    )
    assert text.endswith("| **not met** | 2.2 / 4 |\n<!-- bench:end -->\n\nEnd.\n")

    readme.write_text("# No markers\n")
    done = run(data, docs / "benchmarks.md", "--readme", str(readme))
    assert done.returncode == 2
    assert "no <!-- bench:begin -->" in done.stderr


# Written by hand: a figure kept out of the README, one headline figure without a
# goal, and a table whose columns carry units and a goal.
SIZES = {
    **QUEUE,
    "bench": "sizes",
    "title": "File sizes",
    "figures": [
        {"name": "file at full size, extrapolated", "value": 13.5, "unit": "GB", "peer": "",
         "goal": {"op": "<=", "value": 15}, "headline": False},
        {"name": "weekly bill", "value": 20.125, "unit": "USD", "peer": "", "headline": True},
    ],
    "tables": [
        {
            "title": "Per scale",
            "note": "Two scales, measured.",
            "columns": [
                {"name": "scale"},
                {"name": "rows"},
                {"name": "file", "unit": "GB"},
                {"name": "peak RSS", "unit": "MB", "goal": {"op": "<=", "value": 150}},
            ],
            "rows": [
                ["1/100", 12656845, None, 145],
                ["1/10", 126645083, {"value": 5496.8, "unit": "MB"}, 164.7],
            ],
        }
    ],
}  # fmt: skip


def test_tables_and_headline_flags(tmp_path: Path) -> None:
    data, docs = tmp_path / "bench", tmp_path / "docs"
    docs.mkdir()
    write(data, "sizes", SIZES)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- bench:begin -->\n<!-- bench:end -->\n")
    done = run(data, docs / "benchmarks.md", "--readme", str(readme))
    assert done.returncode == 0, done.stderr
    page = (docs / "benchmarks.md").read_text()
    assert "### Per scale\n\nTwo scales, measured.\n" in page
    assert "| scale | rows | file | peak RSS (goal <= 150 MB) |" in page
    assert "| 1/100 | 12,656,845 |  | 145 MB |" in page
    # A cell's own unit wins over the column's; a cell over the column's goal is marked.
    assert "| 1/10 | 126,645,083 | 5,497 MB | **165 MB** (not met) |" in page
    # The docs summary has every goal and every headline figure; the README drops
    # the figure marked headline false and keeps the one without a goal.
    assert "| [File sizes](#sizes) | file at full size, extrapolated | 13.5 GB |" in page
    assert "| [File sizes](#sizes) | weekly bill | 20.1 USD |  |  |" in page
    text = readme.read_text()
    assert "extrapolated" not in text
    assert "| [File sizes: weekly bill](docs/benchmarks.md#sizes) | 20.1 USD |  |  |" in text


def test_a_broken_table_names_the_file_and_cell(tmp_path: Path) -> None:
    data, out = tmp_path / "bench", tmp_path / "benchmarks.md"
    broken = json.loads(json.dumps(SIZES))
    broken["tables"][0]["rows"][1] = ["1/10", 1]
    write(data, "sizes", broken)
    done = run(data, out)
    assert done.returncode == 2
    assert "sizes.json: tables[0].rows[1] must be a list of 4 cells" in done.stderr
    broken["tables"][0]["rows"][1] = ["1/10", 1, [2], 3]
    write(data, "sizes", broken)
    assert "tables[0].rows[1][2] must be a string, a number" in run(data, out).stderr
    broken["tables"][0]["rows"][1] = ["1/10", 1, 2, 3]
    broken["tables"][0]["columns"][3]["goal"]["op"] = "=="
    write(data, "sizes", broken)
    assert "tables[0].columns[3].goal: op must be one of" in run(data, out).stderr
    broken["tables"][0]["columns"][3]["goal"]["op"] = "<="
    broken["figures"][1]["headline"] = "yes"
    write(data, "sizes", broken)
    assert "figures[1]: 'headline' must be bool" in run(data, out).stderr
    assert not out.exists()
