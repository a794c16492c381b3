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
