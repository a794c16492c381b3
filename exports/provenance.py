"""Build provenance: publish a mart only when its tests passed in the run that wrote it.

``run_results.json`` describes only the latest dbt command, and every dbt
command rewrites it: a ``dbt compile`` after a failed ``dbt test`` leaves a
file of successes. So dbt itself logs, in the warehouse table
:data:`contract.PROVENANCE_TABLE` (``dbt/macros/provenance.sql``), which
invocation wrote each mart (a post-hook) and every test status of every
``build``/``test`` invocation (``on-run-end``). This module reads that log
against the manifest's tests and decides:

* the invocation that last wrote a mart must have run every data test of the
  mart in the manifest, each ``pass`` or ``warn`` (missing, ``skipped``,
  ``fail`` or ``error`` refuse). Unit tests are not required: they check the
  SQL's logic on fixtures, not the rows written, and production builds on
  BigQuery leave them out (``--exclude-resource-type unit_test``; CI runs them
  on DuckDB);
* no later invocation may have failed one of those tests (a ``dbt test``
  after the build that found the mart wrong).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from contract import PROVENANCE_TABLE
from exports.manifest import MartSpec

#: Test statuses that vouch for a mart.
PASSING = frozenset({"pass", "warn"})
#: Statuses a later invocation may report without casting doubt on the mart.
HARMLESS_LATER = frozenset({"pass", "warn", "skipped"})

#: One log row: (invocation_id, run_started_at as sortable text, command, unique_id, event, status).
Event = tuple[str, str, str, str, str, str]


@dataclass(frozen=True)
class Provenance:
    """What the export may record about where its marts come from.

    Attributes:
        writers: mart name -> id of the dbt invocation that last wrote it.
        digest: ``sha256:<hex>`` of every (mart, invocation, test, status) vouched for.
        tests: number of test results vouched for.
        problems: why the marts are not trustworthy (empty: they are).
    """

    writers: dict[str, str]
    digest: str
    tests: int
    problems: list[str] = field(default_factory=list)

    @property
    def invocation_id(self) -> str:
        """The writers' invocation ids, newest last, comma-separated (one in a normal build)."""
        return ",".join(dict.fromkeys(self.writers.values())) if self.writers else ""


def tests_by_model(manifest: dict[str, Any]) -> dict[str, set[str]]:
    """Model unique id -> unique ids of the data tests that depend on it."""
    out: dict[str, set[str]] = {}
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") != "test":
            continue
        for dep in (node.get("depends_on") or {}).get("nodes") or []:
            out.setdefault(dep, set()).add(str(node["unique_id"]))
    return out


def model_ids(manifest: dict[str, Any], marts: Sequence[MartSpec]) -> dict[str, str]:
    """Mart name -> the model's unique id in the manifest."""
    by_name = {
        str(node["name"]): str(uid)
        for uid, node in (manifest.get("nodes") or {}).items()
        if node.get("resource_type") == "model"
    }
    return {m.name: by_name.get(m.name, f"model.?.{m.name}") for m in marts}


def check(
    manifest: dict[str, Any], marts: Sequence[MartSpec], events: Iterable[Event] | None
) -> Provenance:
    """Match each mart's writing invocation with that invocation's test results.

    Args:
        manifest: the dbt manifest (which tests belong to which mart).
        marts: the marts to export.
        events: the provenance log, or None when the warehouse has none.

    Returns:
        The provenance; ``problems`` lists every reason to refuse.
    """
    if events is None:
        return Provenance(
            {},
            "",
            0,
            [
                f"the warehouse has no {PROVENANCE_TABLE} log, so nothing says which dbt run"
                " wrote the marts and whether its tests passed: build them with this"
                " project's dbt (`make build`)"
            ],
        )
    rows = sorted(events, key=lambda e: e[1])
    started: dict[str, str] = {}
    for inv, at, *_ in rows:
        started.setdefault(inv, at)
    writes: dict[str, str] = {}
    results: dict[str, dict[str, str]] = {}
    for inv, _, _, uid, event, status in rows:
        if event == "wrote":
            writes[uid] = inv  # rows are in time order: the last one wins
        elif event == "result":
            results.setdefault(inv, {})[uid] = status.lower()
    tests = tests_by_model(manifest)
    ids = model_ids(manifest, marts)
    problems: list[str] = []
    writers: dict[str, str] = {}
    vouched: list[tuple[str, str, str, str]] = []
    for mart in marts:
        uid = ids[mart.name]
        if uid not in writes:
            problems.append(f"{mart.name}: no dbt run is recorded as having written it")
            continue
        writer = writes[uid]
        writers[mart.name] = writer
        ran = results.get(writer, {})
        for test in sorted(tests.get(uid, ())):
            got = ran.get(test)
            if got is None:
                problems.append(f"{mart.name}: {test} did not run in {writer}, which wrote it")
            elif got not in PASSING:
                problems.append(f"{mart.name}: {test} {got} in {writer}, which wrote it")
            else:
                vouched.append((mart.name, writer, test, got))
        for inv, statuses in results.items():
            if started[inv] <= started[writer] or inv == writer:
                continue
            for test in sorted(tests.get(uid, ()) & statuses.keys()):
                if statuses[test] not in HARMLESS_LATER:
                    problems.append(
                        f"{mart.name}: {test} {statuses[test]} in the later dbt run {inv}"
                    )
    writers = dict(sorted(writers.items(), key=lambda kv: (started[kv[1]], kv[0])))
    digest = hashlib.sha256(json.dumps(sorted(vouched)).encode()).hexdigest()
    return Provenance(writers, f"sha256:{digest}", len(vouched), problems)


def report(problems: list[str], limit: int = 8) -> str:
    """The first ``limit`` problems, one per line."""
    shown = "\n  ".join(problems[:limit])
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"  {shown}{more}"
