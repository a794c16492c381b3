"""Real popularity figures: derive the compact calibration file and read it back.

The calibration file (``sample/calibration.csv.gz``) is derived once from the
shared real figures (``python -m sample calibrate``) and committed, so that a
clone of the project generates realistic data without ``../shared``. It is a
long CSV ``project,month,downloads``: every month of the monthly top-1000
history (2018-02 to 2026-04) plus the 2026-04 snapshot of the top 15,000.
"""

from __future__ import annotations

import csv
import functools
import gzip
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.csv.gz")
SNAPSHOT_MONTH = "2026-04"
#: Counts in the BigQuery table are undercounted about 10x before 2018-07-26.
UNDERCOUNT_LAST_MONTH = "2018-07"
UNDERCOUNT_FACTOR = 10

_NORMALISE = re.compile(r"[-_.]+")


def normalise(name: str) -> str:
    """Return the PEP 503 normalised form of a project name.

    Args:
        name: a project name as uploaded, e.g. ``ruamel.yaml``.

    Returns:
        The lower-cased name with runs of ``-_.`` replaced by ``-``.
    """
    return _NORMALISE.sub("-", name).lower()


def _round3(value: float) -> int:
    """Round to 3 significant digits: keeps the file small, the shape intact."""
    if value <= 0:
        return 0
    digits = math.floor(math.log10(value)) - 2
    if digits <= 0:
        return round(value)
    scale: int = 10**digits
    return round(value / scale) * scale


def derive(shared_data: Path, out: Path = CALIBRATION_FILE) -> int:
    """Write the compact calibration file from the shared real figures.

    Args:
        shared_data: folder holding ``top-pypi-packages-2026-04.csv`` and
            ``top-pypi-packages-monthly-2018-2026.csv``.
        out: the gzipped CSV to write.

    Returns:
        The number of rows written.

    Raises:
        FileNotFoundError: when an input file is missing.
    """
    snapshot = shared_data / "top-pypi-packages-2026-04.csv"
    monthly = shared_data / "top-pypi-packages-monthly-2018-2026.csv"
    for path in (snapshot, monthly):
        if not path.is_file():
            raise FileNotFoundError(f"calibration input not found: {path}")
    rows: dict[tuple[str, str], int] = {}
    with monthly.open(newline="") as handle:
        for rec in csv.DictReader(handle):
            month = rec["snapshot_month"]
            count = int(rec["download_count"])
            if month <= UNDERCOUNT_LAST_MONTH:
                count *= UNDERCOUNT_FACTOR
            rows[(normalise(rec["project"]), month)] = _round3(count)
    with snapshot.open(newline="") as handle:
        for rec in csv.DictReader(handle):
            rows[(normalise(rec["project"]), SNAPSHOT_MONTH)] = _round3(int(rec["download_count"]))
    ordered = sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    tmp = out.with_suffix(".tmp")
    # mtime=0: the same input gives a byte-identical file (clean diffs).
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz,
    ):
        gz.write(b"project,month,downloads\n")
        for (project, month), count in ordered:
            gz.write(f"{project},{month},{count}\n".encode())
    tmp.replace(out)
    return len(ordered)


@dataclass(frozen=True)
class Calibration:
    """Real monthly 30-day download counts.

    Attributes:
        snapshot: project -> 30-day downloads in the 2026-04 snapshot (15,000).
        history: project -> {month "YYYY-MM": downloads} while in the top 1,000.
        months: every month of the history, sorted.
        growth: month -> total downloads of that month's top 1,000 (PyPI growth).
    """

    snapshot: dict[str, int]
    history: dict[str, dict[str, int]]
    months: list[str]
    growth: dict[str, int]

    def ranked(self) -> list[str]:
        """Return the snapshot's projects, most downloaded first (ties by name)."""
        return sorted(self.snapshot, key=lambda p: (-self.snapshot[p], p))


@functools.cache
def load(path: Path = CALIBRATION_FILE) -> Calibration:
    """Read the calibration file (once per process: the result is cached).

    Args:
        path: the gzipped CSV written by :func:`derive`.

    Returns:
        The parsed calibration (treat as read-only).
    """
    by_month: dict[str, list[tuple[str, int]]] = defaultdict(list)
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        if next(reader) != ["project", "month", "downloads"]:
            raise ValueError(f"{path}: not a calibration file (bad header)")
        for project, month, downloads in reader:
            by_month[month].append((project, int(downloads)))
    snapshot = dict(by_month[SNAPSHOT_MONTH])
    history: dict[str, dict[str, int]] = defaultdict(dict)
    growth: dict[str, int] = {}
    for month, entries in by_month.items():
        top = sorted(entries, key=lambda e: -e[1])[:1000]
        growth[month] = sum(count for _, count in top)
        for project, count in top:
            history[project][month] = count
    return Calibration(
        snapshot=snapshot, history=dict(history), months=sorted(by_month), growth=growth
    )
