"""dbt's own docs work on a fresh clone: `dbt docs generate` before any build (`make docs`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.warehouse import MARTS, run_dbt

pytestmark = pytest.mark.slow


def test_docs_generate_before_the_first_build(tiny_raw_dir: Path, tmp_path: Path) -> None:
    # No warehouse yet: the reconciliation test must not query the rollup at compile time.
    warehouse, target = tmp_path / "warehouse.duckdb", tmp_path / "target"
    done = run_dbt(
        ["docs", "generate", "--static"],
        raw_dir=tiny_raw_dir, warehouse=warehouse, target_dir=target, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    page = target / "static_index.html"
    assert page.stat().st_size > 100_000
    # Offline: the page embeds the manifest and catalog instead of fetching them.
    assert '"nodes"' in page.read_text(encoding="utf-8")

    manifest = json.loads((target / "manifest.json").read_text())
    nodes = manifest["nodes"]
    for mart in MARTS:
        node = nodes[f"model.pypi_trends.{mart}"]
        assert node["description"], mart
        assert all(c["description"] for c in node["columns"].values()), mart
    reconcile = target / "compiled" / "pypi_trends" / "tests"
    sql = (reconcile / "assert_marts_reconcile_with_raw_downloads.sql").read_text()
    assert "no week built" in sql

    # Every model has at least one test (data or unit), the raw-metadata staging included.
    tested = {dep for node in nodes.values() if node["resource_type"] == "test"
              for dep in node["depends_on"]["nodes"]}  # fmt: skip
    tested |= {u["depends_on"]["nodes"][0] for u in manifest["unit_tests"].values()}
    models = {uid for uid, n in nodes.items() if n["resource_type"] == "model"}
    assert models - tested == set()
