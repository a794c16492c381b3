"""Monitoring: the metrics contract, the Grafana dashboard, Prometheus config and alerts.

docs/architecture.md ("Metrics") is the contract. The dashboard and the alert
rules may only use metrics listed there (with the suffixes their type allows),
and together they must use all of them. A live test runs the real server
(`python -m serve`) on the exported test release, scrapes `/metrics`, and
checks every documented metric is exposed with its documented labels.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.server import serve_process

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "pypi-trends.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "counter": (), "gauge": ()}


@dataclass(frozen=True)
class Documented:
    name: str
    kind: str
    labels: frozenset[str]


def documented_metrics() -> dict[str, Documented]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("### Metrics", 1)[1]
    metrics: dict[str, Documented] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([a-z_:]+)`", cells[0])
        kinds = [k.strip() for k in re.sub(r"\(.*?\)", "", cells[1]).split(",")]
        labels = frozenset(re.findall(r"`([a-z_]+)`", cells[2].split("(")[0]))
        for i, name in enumerate(names):
            kind = kinds[min(i, len(kinds) - 1)]
            metrics[name] = Documented(name, kind, labels)
    return metrics


METRICS = documented_metrics()
METRIC_RE = re.compile(r"\b((?:pypi_trends|process)_[a-z_]+)\b")


def referenced(expr: str) -> set[str]:
    """Documented metric names an expression refers to (suffixes resolved)."""
    found = set()
    for token in METRIC_RE.findall(expr):
        if token in METRICS:
            found.add(token)
            continue
        base = next(
            (m for m in METRICS.values() for s in SUFFIXES.get(m.kind, ()) if token == m.name + s),
            None,
        )
        assert base is not None, f"{token!r} in {expr!r} is not in the Metrics table"
        found.add(base.name)
    return found


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_metrics_table_is_parsed() -> None:
    assert METRICS["pypi_trends_requests_total"].labels == {
        "path",
        "method",
        "status_code",
        "app_name",
    }
    assert METRICS["pypi_trends_request_duration_seconds"].kind == "histogram"
    assert METRICS["pypi_trends_build_info"].labels == {"build_id"}
    assert len(METRICS) >= 8


def test_dashboard_structure() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "pypi-trends"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"panel {panel['title']!r} overlaps another"
        cells |= mine


def test_dashboard_and_alerts_use_only_documented_metrics_and_all_of_them() -> None:
    used: set[str] = set()
    for expr in dashboard_exprs():
        used |= referenced(expr)
    for rule in alert_rules():
        used |= referenced(rule["expr"])
    assert used == set(METRICS), f"not on the dashboard or in an alert: {set(METRICS) - used}"


def test_label_names_in_queries_are_documented() -> None:
    for expr in dashboard_exprs() + [r["expr"] for r in alert_rules()]:
        for name, selector in re.findall(r"\b(pypi_trends_[a-z_]+)\{([^}]*)\}", expr):
            base = referenced(name).pop()
            for label in re.findall(r"([a-z_]+)\s*=~?", selector):
                assert label in METRICS[base].labels | {"le", "job", "instance"}, (label, expr)
        for group in re.findall(r"by \(([^)]*)\)", expr):
            names = referenced(expr)
            allowed = set().union(*(METRICS[n].labels for n in names)) | {"le", "instance"}
            for label in (g.strip() for g in group.split(",")):
                assert label in allowed, (label, expr)


def test_alert_rules_are_complete() -> None:
    names = {r["alert"] for r in alert_rules()}
    assert {"PypiTrendsDown", "PypiTrendsDataStale", "PypiTrendsHighErrorRate"} <= names
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]


def test_prometheus_scrapes_the_app_directly() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    # The alert file is loaded from where compose mounts deploy/prometheus.
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "pypi-trends"  # the alerts select on it
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["app"] and sd["port"] == 8000


# --- live: the real server's /metrics ---------------------------------------------


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def live_server(published_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serve_process(published_db, log, env={"PYPI_TRENDS_LOG_FORMAT": "json"}) as base:
        yield base


@pytest.mark.slow
def test_live_metrics_match_the_contract(live_server: str) -> None:
    for path in ("/api/overall", "/api/overall", "/api/meta", "/api/packages?q=a", "/healthz"):
        _get(live_server + path)
    status, body = _get(live_server + "/metrics")
    assert status == 200
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    missing = []
    for metric in METRICS.values():
        names = [metric.name] + [metric.name + s for s in SUFFIXES.get(metric.kind, ())]
        present = [n for n in names if n in samples]
        if not present:
            missing.append(metric.name)
            continue
        labels = set().union(*(samples[n] for n in present)) - {"le"}
        assert labels == metric.labels, (metric.name, labels)
    assert not missing, f"documented but not exposed by the server: {sorted(missing)}"


@pytest.mark.slow
def test_container_healthcheck_against_the_real_server(live_server: str) -> None:
    port = live_server.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / "deploy" / "healthcheck.py")],
        env={"PYPI_TRENDS_PORT": port},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
