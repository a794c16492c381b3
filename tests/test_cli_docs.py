"""The three CLIs read as one product, and every `make` target the docs name exists."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.fixtures.warehouse import REPO_ROOT

CLIS = {
    "sample": ["generate", "--events", "-5", "--out", "/nonexistent/raw"],
    "exports": ["export", "--keep", "0"],
    "serve": ["--rate-limit", "5/fortnight"],
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_help_has_examples_and_exit_statuses(cli: str) -> None:
    done = run(cli, "--help")
    assert done.returncode == 0
    assert "\nexamples:\n" in done.stdout
    examples = done.stdout.split("\nexamples:\n", 1)[1]
    assert f"python -m {cli}" in examples
    assert "Exit status: " in examples


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_bad_input_is_one_error_line_and_status_2(cli: str) -> None:
    done = run(cli, *CLIS[cli])
    assert done.returncode == 2
    assert done.stderr.startswith("error: "), done.stderr
    assert done.stdout == ""


def test_the_same_option_has_the_same_help() -> None:
    # --db names the same published file in the exporter and in the server.
    def db_help(text: str) -> str:
        match = re.search(r"\n  --db DB(?:, --out DB)?\s+(.*?)\n  --", text, flags=re.S)
        assert match, text
        return " ".join(match.group(1).split())

    exporter = db_help(run("exports", "export", "--help").stdout)
    server = db_help(run("serve", "--help").stdout)
    assert exporter == server
    assert "env PYPI_TRENDS_DB; default data/pypi_trends.sqlite" in server


def test_every_make_target_the_docs_name_exists() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-zA-Z0-9_-]+):", makefile, flags=re.M))
    docs = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    named: dict[str, str] = {}
    for doc in docs:
        for target in re.findall(r"`(?:[A-Z_]+=\S+ )*make ([a-z][a-z0-9-]*)", doc.read_text()):
            named.setdefault(target, doc.name)
    assert {"run", "test"} <= set(named)
    missing = {t: doc for t, doc in named.items() if t not in targets}
    assert missing == {}
