"""Optional datasette metadata: table and column descriptions from dbt, next to the file.

``datasette data/pypi_trends.sqlite -m data/pypi_trends.datasette.json`` shows
every table and column with its dbt description.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from exports.manifest import MartSpec
from exports.publish import fsync_path


def metadata_path(db: Path) -> Path:
    """Where the metadata for the published ``db`` goes: ``<db stem>.datasette.json``."""
    return db.with_name(f"{db.stem}.datasette.json")


def write_metadata(db: Path, marts: list[MartSpec], build_id: str, data_through: str) -> Path:
    """Write the datasette metadata atomically (temporary file, fsync, rename).

    Returns:
        The path written.
    """
    tables: dict[str, dict[str, object]] = {
        m.name: {
            "description": m.description,
            "columns": {c.name: c.description for c in m.columns},
        }
        for m in marts
    }
    tables["_meta"] = {"description": "Build facts: build_id, dbt_invocation_id, data_through, ..."}
    tables["_tables"] = {"description": "Row count and dbt description of every mart table."}
    tables["_columns"] = {"description": "SQLite type and dbt description of every column."}
    doc = {
        "title": "PyPI Trends",
        "description": f"Weekly PyPI downloads, build {build_id}, weeks through {data_through}.",
        "databases": {db.stem: {"tables": tables}},
    }
    path = metadata_path(db)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)
    return path
