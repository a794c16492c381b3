"""docs/schema.md is generated from the dbt manifest and kept up to date (docs/schema_doc.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.warehouse import REPO_ROOT

SCRIPT = REPO_ROOT / "docs" / "schema_doc.py"

# Hand-written: one exported mart with a two-column key, one NULL-able column.
MANIFEST = {
    "metadata": {"invocation_id": "x", "adapter_type": "duckdb"},
    "exposures": {},
    "nodes": {
        "model.p.widget_weeks": {
            "resource_type": "model",
            "name": "widget_weeks",
            "description": "Widgets sold per week. Grain: (widget, week_start).",
            "database": "w",
            "schema": "main",
            "alias": "widget_weeks",
            "tags": ["export"],
            "config": {"tags": ["export"], "contract": {"enforced": True}},
            "constraints": [{"type": "primary_key", "columns": ["widget", "week_start"]}],
            "columns": {
                "widget": {"name": "widget", "data_type": "varchar", "description": "Its name.",
                           "constraints": [{"type": "not_null"}]},
                "week_start": {"name": "week_start", "data_type": "date",
                               "description": "Monday.", "constraints": [{"type": "not_null"}]},
                "share": {"name": "share", "data_type": "double", "description": "A | ratio.",
                          "constraints": []},
            },
        },
        "model.p.hidden": {
            "resource_type": "model", "name": "hidden", "tags": [], "config": {}, "columns": {},
        },
    },
}  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_renders_keys_types_and_descriptions(tmp_path: Path) -> None:
    manifest, out = tmp_path / "manifest.json", tmp_path / "schema.md"
    manifest.write_text(json.dumps(MANIFEST))
    done = run("--manifest", str(manifest), "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    row = "| [`widget_weeks`](#widget_weeks) | widget, week_start | Widgets sold per week |"
    assert row in page
    assert "## `widget_weeks`" in page
    assert "Primary key: (`widget`, `week_start`)." in page
    assert "| `widget` | TEXT |  | Its name. |" in page
    assert "| `week_start` | TEXT |  | Monday. |" in page
    assert "| `share` | REAL | NULL | A \\| ratio. |" in page
    assert "hidden" not in page
    for key in ("build_id", "data_through", "schema_version"):
        assert f"| `{key}` |" in page
    assert "`_columns` (`table_name` TEXT, `column_name` TEXT" in page

    # --check compares without writing: equal passes, any difference fails.
    assert run("--manifest", str(manifest), "--out", str(out), "--check").returncode == 0
    out.write_text(page.replace("Its name.", "Its old name."))
    stale = run("--manifest", str(manifest), "--out", str(out), "--check")
    assert stale.returncode == 1
    assert "out of date: run `make schema-doc`" in stale.stderr
    assert "Its old name." in out.read_text()


@pytest.mark.slow
def test_committed_schema_md_is_up_to_date() -> None:
    done = run("--check")
    assert done.returncode == 0, done.stderr
