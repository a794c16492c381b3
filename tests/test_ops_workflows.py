"""GitHub Actions workflows and the make targets that workflows and docs call.

The workflows cannot run here, so they are kept thin wrappers over make
targets: each must validate against the GitHub workflow schema (vendored in
check-jsonschema), use only first-party `actions/*`, and call make targets that
exist in the Makefile. The same target check covers docs/operations.md.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
# Targets the contracts may name before the Makefile has them: a missing one is
# reported as a skip by name, so the gap stays visible; any other missing target fails.
PENDING_TARGETS = {
    "refresh": "the production pipeline (python -m exports pipeline)",
    "run": "the README's one-command demo",
}


@functools.cache
def make_targets() -> frozenset[str]:
    """Targets from make's own database (so includes and patterns count)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-pRrq", "-f", "Makefile", ":"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    targets = set()
    for line in result.stdout.splitlines():
        match = re.match(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*):(?!=)", line)
        if match:
            targets.add(match.group(1))
    assert "help" in targets, result.stderr
    return frozenset(targets)


def make_calls(text: str) -> set[str]:
    """`make <target>` invocations in shell text (flags and VAR=value skipped)."""
    calls = set()
    for match in re.finditer(r"(?:^|[\s;&|(`])make((?:[ \t]+[^\s;&|)`]+)+)", text):
        for word in match.group(1).split():
            if word.startswith("-") or "=" in word:
                continue
            if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", word):
                break
            calls.add(word)
    return calls


def assert_targets_exist(calls: set[str], where: str) -> None:
    targets = make_targets()
    missing = calls - targets
    unexpected = missing - set(PENDING_TARGETS)
    assert not unexpected, f"{where} calls make targets that do not exist: {sorted(unexpected)}"
    if missing:
        pending = ", ".join(f"{t} ({PENDING_TARGETS[t]})" for t in sorted(missing))
        pytest.skip(f"{where}: pending make targets not written yet: {pending}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    # YAML 1.1 reads the bare key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def run_scripts(workflow: dict[str, Any]) -> str:
    return "\n".join(
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    )


def test_helpers_find_targets_and_calls() -> None:
    assert {"setup", "test", "lint", "lock", "setup-system"} <= make_targets()
    assert make_calls("make setup && make -j2 test X=1\n  make refresh # x") == {
        "setup",
        "test",
        "refresh",
    }
    assert make_calls("cmake build; automake") == set()


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "weekly.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"]
)
def test_workflow_schema(path: Path, schema: str) -> None:
    assert CHECK_JSONSCHEMA.exists(), "check-jsonschema comes from the dev lock: run `make setup`"
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_uses_only_first_party_actions(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"]), step["uses"]
    assert "://" not in path.read_text(), "no download URLs in workflows"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_make_targets_exist(path: Path) -> None:
    calls = make_calls(run_scripts(load(path)))
    assert calls, f"{path.name} runs no make target"
    assert_targets_exist(calls, path.name)


def test_ci_runs_the_ci_command() -> None:
    ci = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    scripts = run_scripts(ci)
    assert "make test" in scripts
    # .ci/run is the CI entry here; both must run the same command.
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make setup-system" in scripts


def test_weekly_refreshes_against_bigquery_and_publishes() -> None:
    weekly = load(ROOT / ".github" / "workflows" / "weekly.yml")
    assert "schedule" in weekly["on"] and "workflow_dispatch" in weekly["on"]
    assert weekly["concurrency"]["cancel-in-progress"] is False
    (job,) = weekly["jobs"].values()
    assert job["env"]["DBT_TARGET"] == "prod"
    assert "make refresh" in run_scripts(weekly)
    # Every BigQuery variable set here is one the dbt profile reads.
    profiles = (ROOT / "profiles" / "profiles.yml").read_text()
    read = set(re.findall(r"env_var\('([A-Z0-9_]+)'", profiles))
    set_here = {k for k in job["env"] if k.startswith("PYPI_TRENDS_BQ_")} | {
        "PYPI_TRENDS_BQ_KEYFILE"
    }
    assert set_here <= read, sorted(set_here - read)
    assert "PYPI_TRENDS_BQ_KEYFILE=" in run_scripts(weekly)
    assert "GOOGLE_APPLICATION_CREDENTIALS=" in run_scripts(weekly)
    # Secrets only through the secrets context, never inline.
    text = (ROOT / ".github" / "workflows" / "weekly.yml").read_text()
    assert "${{ secrets.PYPI_TRENDS_BQ_KEYFILE_JSON }}" in text
    upload = next(
        s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")
    )
    paths = set(upload["with"]["path"].split())
    assert {"data/pypi_trends.sqlite", "data/parquet/"} <= paths
    assert upload["with"]["if-no-files-found"] == "error"


def markdown_code(text: str) -> str:
    """Fenced blocks and inline code spans of a Markdown text, one per line."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return "\n".join(fenced + re.findall(r"`([^`\n]+)`", prose))


def test_operations_doc_make_targets_exist() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    assert "make lock" in markdown_code("x `make lock` and make sense\n```sh\nmake test\n```")
    assert "sense" not in make_calls(markdown_code("the make sense `make lock`"))
    calls = make_calls(markdown_code(text))
    assert {"refresh", "lock", "setup-system"} <= calls
    assert_targets_exist(calls, "docs/operations.md")


def test_readme_links_operations_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "](docs/operations.md)" in readme
