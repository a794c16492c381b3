"""compose.yaml: valid against the Compose Specification schema, and wired as documented.

`docker compose` cannot run here; check-jsonschema ships the compose-spec JSON
schema, so the file is validated offline, then the properties the deploy
relies on are asserted: one data volume shared by app (read-only) and refresh,
health-gated proxy, no published app port, secrets from a git-ignored file.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    assert CHECK_JSONSCHEMA.exists(), "check-jsonschema comes from the dev lock: run `make setup`"
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_matches_the_compose_spec_schema() -> None:
    result = _validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    # The validator really validates: a misspelt key and a bad type fail.
    broken = COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restrat: 1\n", 1)
    broken = broken.replace("retries: 3", "retries: three", 1)
    path = tmp_path / "compose.yaml"
    path.write_text(broken)
    result = _validate(path)
    assert result.returncode != 0
    assert "restrat" in result.stdout + result.stderr


def test_services(compose: dict[str, Any]) -> None:
    assert {"app", "caddy", "refresh"} <= set(compose["services"])
    # Monitoring is opt-in.
    for name in ("prometheus", "grafana"):
        assert compose["services"][name]["profiles"] == ["monitoring"]


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Target -> source (with :ro kept on the source for short syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        mounts[target] = source + (":" + mode[0] if mode else "")
    return mounts


def test_data_volume_shared_read_only_by_app(compose: dict[str, Any]) -> None:
    app, refresh = compose["services"]["app"], compose["services"]["refresh"]
    assert _mounts(app)["/data"] == "data:ro"
    assert _mounts(refresh)["/data"] == "data"
    assert "data" in compose["volumes"]
    assert app["environment"]["PYPI_TRENDS_DB"] == "/data/pypi_trends.sqlite"
    assert refresh["environment"]["PYPI_TRENDS_DB"] == "/data/pypi_trends.sqlite"
    assert app["read_only"] is True


def test_app_is_private_and_health_checked(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert "ports" not in app, "only caddy publishes ports"
    assert "container_name" not in app, "a rolling deploy needs two app containers at once"
    assert app["environment"]["PYPI_TRENDS_HOST"] == "0.0.0.0"
    test = app["healthcheck"]["test"]
    assert test[0] == "CMD" and "healthcheck.py" in test[-1]
    # The health check probes 127.0.0.1, so the Host allow-list must keep it.
    assert "127.0.0.1" in app["environment"]["PYPI_TRENDS_ALLOWED_HOSTS"].split(",")
    assert app["environment"]["PYPI_TRENDS_TRUSTED_PROXY_HEADER"] == "X-Forwarded-For"


def test_caddy_fronts_the_app(compose: dict[str, Any]) -> None:
    caddy = compose["services"]["caddy"]
    # The app's health check is readiness: Caddy must not wait for the first release.
    assert caddy["depends_on"]["app"]["condition"] == "service_started"
    assert {"80:80", "443:443"} <= set(caddy["ports"])
    mounts = _mounts(caddy)
    assert mounts["/etc/caddy/Caddyfile"] == "./deploy/Caddyfile:ro"
    assert mounts["/data"] == "caddy_data", "certificates must survive restarts"
    env = caddy["environment"]
    # The names the Caddyfile reads.
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    for name in env:
        assert "{$" + name in caddyfile, name


def test_refresh_runs_the_pipeline_against_bigquery(compose: dict[str, Any]) -> None:
    refresh = compose["services"]["refresh"]
    assert refresh["image"] == compose["services"]["app"]["image"]
    script = refresh["command"][-1]
    assert "python -m exports pipeline" in script
    assert "sleep" in script and "while" in script
    env = refresh["environment"]
    assert env["DBT_TARGET"] == "prod"
    assert env["PYPI_TRENDS_BQ_KEYFILE"] == "/run/secrets/bigquery_keyfile"
    # dbt reads the key file from the profile, the exporter's client from ADC.
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == env["PYPI_TRENDS_BQ_KEYFILE"]
    assert refresh["secrets"] == ["bigquery_keyfile"]
    secret_file = compose["secrets"]["bigquery_keyfile"]["file"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", secret_file], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, f"{secret_file} must be git-ignored"
    # Every BigQuery setting passed in is one the dbt profile reads.
    profiles = (ROOT / "profiles" / "profiles.yml").read_text()
    read = set(re.findall(r"env_var\('([A-Z0-9_]+)'", profiles))
    for name in env:
        if name.startswith("PYPI_TRENDS_BQ_") or name == "DBT_TARGET":
            assert name in read, f"{name} is not read by profiles/profiles.yml"


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for target, source in _mounts(service).items():
            path = source.split(":")[0]
            if path.startswith("./"):
                assert (ROOT / path).exists(), f"{name}: {path} -> {target}"


def test_env_example_covers_every_variable(compose: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    example = (ROOT / "deploy" / "env.example").read_text()
    defined = set(re.findall(r"^([A-Z0-9_]+)=", example, re.MULTILINE))
    assert used <= defined, sorted(used - defined)


def test_every_service_rotates_its_logs(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        options = service.get("logging", {}).get("options", {})
        assert "max-size" in options and "max-file" in options, name


def test_app_trusts_only_caddy_for_proxy_headers_and_shares_its_rate_limit(
    compose: dict[str, Any],
) -> None:
    app = compose["services"]["app"]
    env = app["environment"]
    assert env["PYPI_TRENDS_FORWARDED_ALLOW_IPS"]
    assert "ports" not in app  # so only the proxy on the compose network can send them
    host = env["PYPI_TRENDS_REDIS_URL"].removeprefix("redis://").split(":")[0]
    assert host in compose["services"]
    assert app["depends_on"][host]["condition"] == "service_healthy"
