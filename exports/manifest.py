"""What to export, read from dbt's own artefacts (``manifest.json``, ``run_results.json``).

The list of marts, their columns, types, descriptions and grain all come from
the dbt project: a mart is exported when it is tagged ``export`` or an
exposure named ``serving_api`` depends on it; it must have an enforced
contract. The grain (the SQLite primary key) is taken, in this order, from a
``primary_key`` constraint, ``meta.grain``, or the mart's
``unique_combination_of_columns`` / ``unique`` test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import DATA_THROUGH_TABLE, MART_META_KEYS
from exports.errors import ExportError, RefusedError

EXPORT_TAG = "export"
EXPOSURE_NAME = "serving_api"
#: run_results statuses that mean the build is not trustworthy.
BAD_STATUSES = frozenset({"fail", "error", "runtime error"})


@dataclass(frozen=True)
class ColumnSpec:
    """One contract column of a mart."""

    name: str
    data_type: str
    description: str
    not_null: bool


@dataclass(frozen=True)
class MartSpec:
    """One exported mart: where it lives in the warehouse and its contract."""

    name: str
    description: str
    database: str
    schema: str
    alias: str
    columns: tuple[ColumnSpec, ...]
    grain: tuple[str, ...]
    #: ``(key, value)`` of the node's config ``meta`` for the keys in
    #: :data:`MART_META_KEYS` (written into ``_meta``).
    file_meta: tuple[tuple[str, str], ...] = ()

    def column(self, name: str) -> ColumnSpec:
        """Return the column called ``name``.

        Raises:
            KeyError: when the mart has no such column.
        """
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def data_through_mart(marts: list[MartSpec]) -> MartSpec | None:
    """The mart whose ``max(week_start)`` is the file's ``data_through``.

    The contract's :data:`contract.DATA_THROUGH_TABLE` when it is exported;
    for an export of other marts only, the first weekly one by name.
    """
    weekly = sorted(
        (m for m in marts if any(c.name == "week_start" for c in m.columns)),
        key=lambda m: (m.name != DATA_THROUGH_TABLE.name, m.name),
    )
    return weekly[0] if weekly else None


@dataclass(frozen=True)
class DbtRun:
    """Facts about the latest dbt invocation that the export records."""

    invocation_id: str
    target: str | None
    adapter_type: str
    failures: tuple[str, ...]


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ExportError(
            f"{path} not found: run `make build` (dbt build) first or pass --target-dir"
        ) from None
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path} is not a JSON object")
    return data


def load_manifest(target_dir: Path) -> dict[str, Any]:
    """Read ``manifest.json`` from the dbt target directory.

    Raises:
        ExportError: when the file is missing or not JSON.
    """
    return _load_json(target_dir / "manifest.json")


def _grain(node: dict[str, Any], tests: list[dict[str, Any]]) -> tuple[str, ...]:
    for constraint in node.get("constraints") or []:
        if constraint.get("type") == "primary_key" and constraint.get("columns"):
            return tuple(constraint["columns"])
    pk_cols = [
        col["name"]
        for col in node.get("columns", {}).values()
        if any(c.get("type") == "primary_key" for c in col.get("constraints") or [])
    ]
    if pk_cols:
        return tuple(pk_cols)
    for meta in (node.get("meta") or {}, (node.get("config") or {}).get("meta") or {}):
        if meta.get("grain"):
            return tuple(meta["grain"])
    combos = {
        tuple(t["test_metadata"]["kwargs"]["combination_of_columns"])
        for t in tests
        if t["test_metadata"].get("name") == "unique_combination_of_columns"
    }
    if len(combos) == 1:
        return combos.pop()
    if len(combos) > 1:
        raise ExportError(
            f"mart {node['name']}: several unique_combination_of_columns tests {sorted(combos)};"
            " declare the grain with a primary_key constraint or meta.grain"
        )
    uniques = [
        t["test_metadata"]["kwargs"]["column_name"]
        for t in tests
        if t["test_metadata"].get("name") == "unique"
    ]
    if len(uniques) == 1:
        return (uniques[0],)
    raise ExportError(
        f"mart {node['name']} has no declared grain: add a primary_key constraint, meta.grain,"
        " or one unique_combination_of_columns test"
    )


def export_marts(manifest: dict[str, Any]) -> list[MartSpec]:
    """Return the marts to export, in a stable order (by name).

    Raises:
        ExportError: when an exported mart has no enforced contract, no column
            types, or no grain.
    """
    nodes: dict[str, Any] = manifest.get("nodes", {})
    selected = {
        uid
        for uid, node in nodes.items()
        if node.get("resource_type") == "model"
        and EXPORT_TAG
        in set(node.get("tags") or []) | set((node.get("config") or {}).get("tags") or [])
    }
    for exposure in manifest.get("exposures", {}).values():
        if exposure.get("name") == EXPOSURE_NAME:
            selected |= {
                uid
                for uid in exposure.get("depends_on", {}).get("nodes", [])
                if uid.startswith("model.")
            }
    tests_by_model: dict[str, list[dict[str, Any]]] = {}
    for node in nodes.values():
        if (
            node.get("resource_type") == "test"
            and node.get("test_metadata")
            and node.get("attached_node")
        ):
            tests_by_model.setdefault(node["attached_node"], []).append(node)
    marts = []
    for uid in selected:
        if uid not in nodes:
            raise ExportError(
                f"exposure {EXPOSURE_NAME} depends on {uid}, which is not in the manifest"
            )
        node = nodes[uid]
        name = node["name"]
        if not ((node.get("config") or {}).get("contract") or {}).get("enforced"):
            raise ExportError(f"mart {name} is exported but has no enforced contract in dbt")
        columns = []
        for col in node.get("columns", {}).values():
            if not col.get("data_type"):
                raise ExportError(
                    f"mart {name}: column {col['name']} has no data_type in its contract"
                )
            columns.append(
                ColumnSpec(
                    name=col["name"],
                    data_type=str(col["data_type"]).lower(),
                    description=(col.get("description") or "").strip(),
                    not_null=any(c.get("type") == "not_null" for c in col.get("constraints") or []),
                )
            )
        if not columns:
            raise ExportError(f"mart {name} has no contract columns")
        grain = _grain(node, tests_by_model.get(uid, []))
        names = {c.name for c in columns}
        missing = [g for g in grain if g not in names]
        if missing:
            raise ExportError(f"mart {name}: grain columns {missing} are not contract columns")
        marts.append(
            MartSpec(
                name=name,
                description=(node.get("description") or "").strip(),
                database=node.get("database") or "",
                schema=node.get("schema") or "",
                alias=node.get("alias") or name,
                columns=tuple(columns),
                grain=grain,
                file_meta=tuple(
                    (key, str(meta[key]))
                    for key in MART_META_KEYS
                    if (meta := (node.get("config") or {}).get("meta") or {}).get(key) is not None
                ),
            )
        )
    if not marts:
        raise ExportError(f"the manifest has no model tagged {EXPORT_TAG!r}: nothing to export")
    return sorted(marts, key=lambda m: m.name)


def latest_run(target_dir: Path, manifest: dict[str, Any]) -> DbtRun:
    """Read ``run_results.json``: the invocation id, target and failed nodes.

    Raises:
        ExportError: when run_results.json is missing or unreadable.
    """
    results = _load_json(target_dir / "run_results.json")
    meta = results.get("metadata") or {}
    failures = tuple(
        f"{r.get('unique_id')} ({r.get('status')})"
        for r in results.get("results", [])
        if str(r.get("status")).lower() in BAD_STATUSES
    )
    args = results.get("args") or {}
    return DbtRun(
        invocation_id=str(
            meta.get("invocation_id") or manifest.get("metadata", {}).get("invocation_id") or ""
        ),
        target=args.get("target"),
        adapter_type=str(manifest.get("metadata", {}).get("adapter_type") or ""),
        failures=failures,
    )


def refuse_on_failures(run: DbtRun, force: bool) -> None:
    """Raise :class:`RefusedError` when the latest dbt run failed, unless forced.

    Raises:
        RefusedError: the run has failed tests or errors and ``force`` is False.
    """
    if run.failures and not force:
        shown = ", ".join(run.failures[:5]) + (" ..." if len(run.failures) > 5 else "")
        raise RefusedError(
            f"the latest dbt run ({run.invocation_id}) has {len(run.failures)} failed test(s) or"
            f" error(s): {shown}; fix the build or pass --force to export anyway"
        )
