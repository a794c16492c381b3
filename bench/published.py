"""The published file the serving benchmarks read, built the normal way when missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_published(db: Path, who: str) -> Path:
    """Return ``db`` as an absolute path, running ``make export`` first if it does not exist.

    Args:
        db: The published SQLite path (relative paths are taken from the repo root).
        who: The benchmark's name, for the message on stderr.
    """
    path = db if db.is_absolute() else ROOT / db
    if not path.exists():
        # The demo sample's published file, built as users build it (sample -> dbt -> export).
        print(f"{who}: {path} not found; running `make export`", file=sys.stderr)
        subprocess.run(["make", "export"], cwd=ROOT, check=True)
    return path
