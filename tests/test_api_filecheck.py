"""A running server checks a published file before it switches (issue #16's probes).

Each bad file is published over a good one while a real ``python -m serve``
answers on 127.0.0.1: the server refuses it, keeps answering 200 from the good
build, counts the refusal in ``pypi_trends_swap_failures_total`` and names it
in ``/readyz``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from serve.routes.ops import READY_CACHE_SECONDS
from tests.fixtures.export import Published
from tests.fixtures.server import free_port, serve_process
from tests.fixtures.warehouse import REPO_ROOT

pytestmark = pytest.mark.slow

ENV = {"PYPI_TRENDS_RATE_LIMIT": "1000000/second"}


def _publish(db: Path, release: Path) -> None:
    """Point the published symlink at ``release`` atomically (as the exporter does)."""
    tmp = db.parent / f".{db.name}.tmp-test"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(release, db.parent), tmp)
    os.replace(tmp, db)


def _edit(path: Path, *sql: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in sql:
            con.execute(statement)
    finally:
        con.close()


def _no_weekly_tables(path: Path) -> None:
    con = sqlite3.connect(path)
    names = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'package_%_weekly'"
        )
    ]
    con.close()
    _edit(path, *(f'DROP TABLE "{n}"' for n in names), "VACUUM")


def _schema_version_2(path: Path) -> None:
    _edit(path, "UPDATE _meta SET value = '2' WHERE key = 'schema_version'")


def _renamed_columns(path: Path) -> None:
    _edit(
        path,
        "ALTER TABLE package_downloads_weekly RENAME COLUMN downloads TO downloads_all",
        "ALTER TABLE packages RENAME COLUMN downloads_last_week TO last_week",
    )


def _valid_subset(path: Path) -> None:
    """Only the top 20 packages: a valid file, with most of the data missing."""
    con = sqlite3.connect(path)
    tables = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'package%'"
        )
    ]
    con.close()
    doomed = "SELECT package_name FROM packages WHERE rank > 20"
    _edit(
        path,
        *(f'DELETE FROM "{t}" WHERE package_name IN ({doomed})' for t in tables if t != "packages"),
        f"DELETE FROM packages WHERE package_name IN ({doomed})",
        *(
            f'UPDATE _tables SET row_count = (SELECT count(*) FROM "{t}")'
            f" WHERE table_name = '{t}'"
            for t in tables
        ),
        "VACUUM",
    )


def _truncated(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


BAD_FILES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "no-weekly-tables": (_no_weekly_tables, "missing-table", "package_"),
    "schema-version-2": (_schema_version_2, "schema-version", "schema_version 2"),
    "renamed-columns": (_renamed_columns, "missing-column", "lacks"),
    "valid-subset": (_valid_subset, "shrink", "drop from"),
    "truncated": (_truncated, "truncated", "bytes but the header says"),
}


def _release(published: Published, root: Path, build_id: str) -> Path:
    """A copy of the session's release under a new build id."""
    release = root / "releases" / f"pypi_trends-{build_id}.sqlite"
    release.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(published.release, release)
    _edit(release, f"UPDATE _meta SET value = '{build_id}' WHERE key = 'build_id'")
    return release


@pytest.fixture
def served(published_export: Published, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "pypi_trends.sqlite"
    _publish(db, _release(published_export, tmp_path, "good"))
    with serve_process(db, tmp_path / "serve.log", env=ENV) as base:
        yield base, db


def _wait_for(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_refused_and_the_good_build_stays(
    served: tuple[str, Path], published_export: Published, tmp_path: Path, case: str
) -> None:
    base, db = served
    top = httpx.get(base + "/api/packages?limit=40").json()["packages"]
    assert len(top) == 40
    make_bad, reason, message = BAD_FILES[case]
    bad = _release(published_export, tmp_path, f"bad-{case}")
    make_bad(bad)
    _publish(db, bad)

    def refused() -> bool:
        return f"refused build bad-{case}" in httpx.get(base + "/readyz").text

    assert _wait_for(refused), httpx.get(base + "/readyz").text
    ready = httpx.get(base + "/readyz")
    assert ready.status_code == 200
    detail = ready.json()["detail"]
    assert detail.startswith(f"serving build good, refused build bad-{case}: "), detail
    assert message in detail, detail
    assert ready.json()["build_id"] == "good"
    metrics = httpx.get(base + "/metrics").text
    assert f'pypi_trends_swap_failures_total{{reason="{reason}"}} 1.0' in metrics
    # Every package of the good build is still served, from the good build.
    assert httpx.get(base + "/api/meta").json()["build_id"] == "good"
    for package in top:
        r = httpx.get(f"{base}/api/packages/{package['package']}/downloads")
        assert r.status_code == 200, (package, r.status_code, r.text[:200])
    # A good build published next is switched to, and clears the refusal.
    _publish(db, _release(published_export, tmp_path, "next"))
    assert _wait_for(lambda: httpx.get(base + "/api/meta").json()["build_id"] == "next")
    # /readyz reuses its probe for READY_CACHE_SECONDS: it catches up within that.
    assert _wait_for(
        lambda: httpx.get(base + "/readyz").json().get("build_id") == "next",
        READY_CACHE_SECONDS + 2,
    ), httpx.get(base + "/readyz").text
    assert "detail" not in httpx.get(base + "/readyz").json()


def test_a_served_file_truncated_in_place_answers_503_not_500(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, db = served
    top = httpx.get(base + "/api/packages?limit=20").json()["packages"]
    _truncated(db.resolve())
    assert _wait_for(lambda: httpx.get(base + "/readyz").status_code == 503)
    # The watcher checks the changed file within its reload interval and refuses it.
    line = 'pypi_trends_swap_failures_total{reason="truncated"} 1.0'
    assert _wait_for(lambda: line in httpx.get(base + "/metrics").text)
    statuses = set()
    for package in top:
        r = httpx.get(f"{base}/api/packages/{package['package']}/downloads")
        statuses.add(r.status_code)
        if r.status_code != 200:
            assert r.headers["content-type"].startswith("application/problem+json")
    assert 500 not in statuses and statuses <= {200, 503}, statuses
    assert httpx.get(base + "/healthz").status_code == 200


def test_a_server_started_on_a_truncated_file_is_not_ready(
    published_export: Published, tmp_path: Path
) -> None:
    db = tmp_path / "pypi_trends.sqlite"
    release = _release(published_export, tmp_path, "cut")
    _truncated(release)
    _publish(db, release)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYPI_TRENDS_")}
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "serve", "--db", str(db), "--port", str(port)],
            cwd=REPO_ROOT,
            env={**env, **ENV},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def up() -> bool:
                try:
                    return httpx.get(base + "/healthz").status_code == 200
                except httpx.HTTPError:
                    return False

            assert _wait_for(up, 60)
            ready = httpx.get(base + "/readyz")
            assert ready.status_code == 503
            assert ready.headers["content-type"].startswith("application/problem+json")
            assert httpx.get(base + "/api/meta").status_code == 503
            metrics = httpx.get(base + "/metrics").text
            assert 'pypi_trends_swap_failures_total{reason="truncated"} 1.0' in metrics
            # The container health check probes readiness: unhealthy.
            check = subprocess.run(
                [sys.executable, "-I", "-S", str(REPO_ROOT / "deploy" / "healthcheck.py")],
                env={"PYPI_TRENDS_PORT": str(port)},
                capture_output=True,
                text=True,
                check=False,
            )
            assert check.returncode == 1 and "503" in check.stderr
        finally:
            process.terminate()
            process.wait(timeout=20)
