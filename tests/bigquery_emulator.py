"""A local BigQuery API emulator for the BigQuery path's end-to-end test, and shims for its gaps.

The emulator is ``local-bigquery`` (DuckDB underneath, the REST API plus the
Storage Read gRPC API) in a Python 3.13 venv of its own, ``.venv-bq-emulator``,
installed from the hashed ``requirements-bigquery-emulator.lock``. Nothing here
is imported by production code: dbt and the exporter run unchanged, pointed at
the emulator by the ``bigquery_emulator`` profile target and, for the
exporter's Google clients, by :func:`install_client_shims`.

The shims work around gaps of the emulator, not of the project (docs/bigquery.md):

* ``CREATE TABLE AS`` jobs report their table as ``ddlTargetTable`` only, where
  BigQuery also sets ``destinationTable``; dbt-bigquery reads the latter, so
  ``QueryJob.destination`` falls back to ``ddl_target_table``.
* The emulator rejects ``SET (v) = (SELECT AS STRUCT expr ...)``, which
  dbt-bigquery's dynamic ``insert_overwrite`` script uses for its one
  variable; it is sent as the equivalent ``SET v = (SELECT expr ...)``.
* Its ``INFORMATION_SCHEMA.PARTITIONS`` has no ``last_modified_time``, which
  the lookback's "was this week's raw rewritten since it was built?" reads
  (dbt/macros/download_window.sql); the time is sent as NULL, which the macro
  takes as "cannot tell" and rescans the lookback week, as without metadata.
* The exporter builds its clients with default credentials and endpoints; here
  ``bigquery.Client`` gets anonymous credentials and the emulator's REST
  endpoint, and ``BigQueryReadClient`` an insecure gRPC channel to the
  emulator (with the endpoint alone it tries TLS and retries for minutes).

Command line (the dbt and exporter processes of the test, run with the main
``.venv``; the emulator's address comes from the environment variables below):

* ``python -m tests.bigquery_emulator setup``: create or refresh the venv;
* ``python -m tests.bigquery_emulator dbt ARGS...``: ``dbt ARGS`` with the shims;
* ``python -m tests.bigquery_emulator export ARGS...``: ``python -m exports ARGS``
  with the shims.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = REPO_ROOT / "requirements-bigquery-emulator.lock"
VENV = REPO_ROOT / ".venv-bq-emulator"
#: local-bigquery 0.3.2 needs 3.13 (0.4.0 needs DuckDB 2.x, whose extensions are not on PyPI).
PYTHON_VERSION = "3.13"
#: The DuckDB inside the emulator autoloads these extensions; it cannot download them.
DUCKDB_VERSION = "1.5.5"
EXTENSIONS = ("icu", "ducklake", "spatial")

#: Read by the ``bigquery_emulator`` dbt target and by :func:`install_client_shims`.
ENDPOINT_ENV = "PYPI_TRENDS_BQ_EMULATOR_ENDPOINT"
GRPC_ENV = "PYPI_TRENDS_BQ_EMULATOR_GRPC"
PROJECT_ENV = "PYPI_TRENDS_BQ_EMULATOR_PROJECT"
DATASET_ENV = "PYPI_TRENDS_BQ_EMULATOR_DATASET"
#: Where the Python 3.13 interpreter is looked for first.
PYTHON_ENV = "PYPI_TRENDS_PYTHON313"
#: When set, every Storage Read session the exporter opens is appended there (JSON lines).
READ_LOG_ENV = "PYPI_TRENDS_BQ_EMULATOR_READ_LOG"

#: dbt-bigquery's ``SET (var) = (SELECT AS STRUCT ...)`` for a single variable.
_PARTITION_TIME = re.compile(r"\b(max|min)\(\s*last_modified_time\s*\)", re.IGNORECASE)
_STRUCT_SET = re.compile(
    r"\bset\s*\(\s*(\w+)\s*\)\s*=\s*\(\s*select\s+as\s+struct\b", re.IGNORECASE
)


def find_python() -> Path | None:
    """A Python 3.13 interpreter: ``$PYPI_TRENDS_PYTHON313``, pyenv's, or ``python3.13``."""
    candidates: list[Path] = []
    if os.environ.get(PYTHON_ENV):
        candidates.append(Path(os.environ[PYTHON_ENV]))
    pyenv = shutil.which("pyenv")
    roots = [Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))]
    if pyenv:
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            roots.insert(0, Path(done.stdout.strip()))
    for root in roots:
        candidates += sorted((root / "versions").glob(f"{PYTHON_VERSION}*/bin/python3"))[::-1]
    found = shutil.which(f"python{PYTHON_VERSION}")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def _lock_digest() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def ensure_venv(python: Path, log: IO[str] | None = None) -> Path:
    """Create ``.venv-bq-emulator`` from the hashed lock unless it matches the lock already.

    Also copies the DuckDB extensions out of their wheels into a HOME of the
    emulator's own (``<venv>/home``), where its DuckDB autoloads them.

    Returns:
        The venv directory.

    Raises:
        RuntimeError: the venv or the install failed (pip's output included).
    """
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text().strip() == _lock_digest():
        return VENV
    out = log or sys.stderr
    print(f"installing the BigQuery emulator into {VENV} ({LOCK.name})", file=out, flush=True)
    steps = []
    if not (VENV / "bin" / "python").exists():
        steps.append([str(python), "-m", "venv", str(VENV)])
    steps.append(
        [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(LOCK),
        ]
    )
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
            )
    site = next((VENV / "lib").glob("python3*/site-packages"))
    ext_dir = emulator_home() / ".duckdb" / "extensions" / f"v{DUCKDB_VERSION}" / "linux_amd64"
    ext_dir.mkdir(parents=True, exist_ok=True)
    for name in EXTENSIONS:
        wheel_file = site / f"duckdb_extension_{name}" / "extensions" / f"v{DUCKDB_VERSION}"
        shutil.copy2(wheel_file / f"{name}.duckdb_extension", ext_dir)
    stamp.write_text(_lock_digest() + "\n")
    return VENV


def emulator_home() -> Path:
    """The HOME the emulator runs with: only its DuckDB extensions live there."""
    return VENV / "home"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Emulator:
    """A running ``local-bigquery serve`` on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    rest_port: int
    grpc_port: int
    project: str
    log_path: Path

    @property
    def endpoint(self) -> str:
        """The REST API root (``api_endpoint`` of the clients)."""
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        """``host:port`` of the Storage Read gRPC API."""
        return f"127.0.0.1:{self.grpc_port}"

    def env(self, dataset: str) -> dict[str, str]:
        """Environment variables pointing dbt's target and the shims at this emulator."""
        return {
            ENDPOINT_ENV: self.endpoint,
            GRPC_ENV: self.grpc_target,
            PROJECT_ENV: self.project,
            DATASET_ENV: dataset,
        }

    def stop(self) -> None:
        """Terminate the emulator (kill it after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_emulator(
    venv: Path, data_dir: Path, log_path: Path, project: str, timeout: float = 60
) -> Emulator:
    """Start the emulator on free loopback ports and wait until its REST API answers.

    Raises:
        RuntimeError: it exited or did not answer within ``timeout`` seconds (log included).
    """
    rest_port, grpc_port = free_port(), free_port()
    while grpc_port == rest_port:
        grpc_port = free_port()
    log = log_path.open("wb")
    cmd = [
        str(venv / "bin" / "local-bigquery"),
        "--host",
        "127.0.0.1",
        "--port",
        str(rest_port),
        "--grpc-port",
        str(grpc_port),
        "--project",
        project,
        "--data-dir",
        str(data_dir),
        "serve",
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(emulator_home()),
        "LANG": "C.UTF-8",
    }
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    emulator = Emulator(process, rest_port, grpc_port, project, log_path)
    url = f"{emulator.endpoint}/bigquery/v2/projects/{project}/datasets"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited ({process.returncode}):\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return emulator
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            emulator.stop()
            raise RuntimeError(
                f"the emulator did not answer in {timeout:.0f} s:\n{_tail(log_path)}"
            )
        time.sleep(0.2)


def _tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def bigquery_client(endpoint: str, project: str, location: str | None = "US") -> Any:
    """A real ``google.cloud.bigquery.Client`` talking to the emulator, anonymously."""
    from google.auth.credentials import AnonymousCredentials

    _remember_originals()
    return _ORIGINAL["Client"](
        project=project,
        location=location,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )


def read_client(grpc_target: str) -> Any:
    """A real Storage Read client over an insecure channel to the emulator's gRPC port."""
    import grpc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    _remember_originals()
    transport = BigQueryReadGrpcTransport(
        channel=grpc.insecure_channel(grpc_target), credentials=AnonymousCredentials()
    )
    return _ORIGINAL["BigQueryReadClient"](transport=transport)


class _RecordingReadClient:
    """A Storage Read client that appends each session it creates to a JSON-lines file."""

    def __init__(self, client: Any, log: Path) -> None:
        self._client, self._log = client, log

    def create_read_session(self, *args: Any, **kwargs: Any) -> Any:
        session = self._client.create_read_session(*args, **kwargs)
        with self._log.open("a") as out:
            record = {"table": session.table, "streams": len(session.streams)}
            out.write(json.dumps(record) + "\n")
        return session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def rewrite_struct_set(sql: str) -> str:
    """``SET (v) = (SELECT AS STRUCT x ...)`` -> ``SET v = (SELECT x ...)``: the same value."""
    return _STRUCT_SET.sub(lambda m: f"set {m.group(1)} = (select", sql)


def rewrite_partition_times(sql: str) -> str:
    """``max|min(last_modified_time)`` -> NULL on ``INFORMATION_SCHEMA.PARTITIONS`` reads."""
    if "INFORMATION_SCHEMA.PARTITIONS" not in sql:
        return sql
    return _PARTITION_TIME.sub(r"\1(cast(null as timestamp))", sql)


_ORIGINAL: dict[str, Any] = {}


def _remember_originals() -> None:
    if _ORIGINAL:
        return
    from google.cloud import bigquery, bigquery_storage

    _ORIGINAL.update(
        Client=bigquery.Client,
        BigQueryReadClient=bigquery_storage.BigQueryReadClient,
        query=bigquery.Client.query,
        destination=bigquery.QueryJob.destination,
    )


def install_client_shims(endpoint: str, grpc_target: str, *, default_clients: bool) -> None:
    """Patch the Google clients of THIS process for the emulator (see the module docstring).

    Args:
        endpoint: the emulator's REST API root.
        grpc_target: ``host:port`` of its Storage Read API.
        default_clients: also make ``bigquery.Client(project, location)`` and
            ``BigQueryReadClient()`` (the exporter's calls) reach the emulator.
            Off for dbt, which takes its endpoint from the profile.
    """
    from google.cloud import bigquery, bigquery_storage

    _remember_originals()
    destination = _ORIGINAL["destination"]

    def destination_or_ddl_target(job: Any) -> Any:
        return destination.fget(job) or job.ddl_target_table

    def query(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        sql = rewrite_partition_times(rewrite_struct_set(query))
        return _ORIGINAL["query"](self, sql, *args, **kwargs)

    def client(project: str | None = None, location: str | None = None, **kwargs: Any) -> Any:
        # Only what the exporter passes; anything else would not reach the emulator.
        if kwargs:
            raise TypeError(f"unexpected client options for the emulator: {sorted(kwargs)}")
        return bigquery_client(endpoint, project or os.environ[PROJECT_ENV], location)

    bigquery.QueryJob.destination = property(destination_or_ddl_target)  # type: ignore[method-assign,assignment]
    bigquery.Client.query = query  # type: ignore[method-assign]
    if not default_clients:
        return
    bigquery.Client = client  # type: ignore[misc,assignment]

    def storage_client() -> Any:
        client = read_client(grpc_target)
        log = os.environ.get(READ_LOG_ENV)
        return _RecordingReadClient(client, Path(log)) if log else client

    bigquery_storage.BigQueryReadClient = storage_client  # type: ignore[misc,assignment]


def main(argv: Sequence[str]) -> int:
    """``setup`` | ``dbt ARGS...`` | ``export ARGS...`` (see the module docstring)."""
    if not argv or argv[0] not in ("setup", "dbt", "export"):
        print(
            "usage: python -m tests.bigquery_emulator setup|dbt ARGS|export ARGS", file=sys.stderr
        )
        return 2
    command, args = argv[0], list(argv[1:])
    if command == "setup":
        python = find_python()
        if python is None:
            print(f"error: no Python {PYTHON_VERSION} found (set {PYTHON_ENV})", file=sys.stderr)
            return 1
        print(ensure_venv(python))
        return 0
    install_client_shims(
        os.environ[ENDPOINT_ENV], os.environ[GRPC_ENV], default_clients=command == "export"
    )
    if command == "dbt":
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(args)
        return 0 if result.success else 1
    from exports.cli import main as export_main

    return export_main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
