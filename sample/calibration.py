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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

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
class TopHistory:
    """The monthly top 1,000s, laid out flat and sorted by project then month.

    Attributes:
        rows: project -> (first, stop) range of its rows.
        month: month number of each row (``year * 12 + month - 1``).
        downloads: downloads of each row.
    """

    rows: dict[str, tuple[int, int]]
    month: npt.NDArray[np.int64]
    downloads: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Calibration:
    """Real monthly 30-day download counts.

    Attributes:
        snapshot: project -> 30-day downloads in the 2026-04 snapshot (15,000).
        months: every month of the history, sorted.
        growth: month -> total downloads of that month's top 1,000 (PyPI growth).
        top: the history (see :attr:`history`) as arrays, for many packages at once.
        by_rank: the snapshot's projects, most downloaded first (ties by name).
    """

    snapshot: dict[str, int]
    months: list[str]
    growth: dict[str, int]
    top: TopHistory = field(compare=False, repr=False)
    by_rank: tuple[str, ...] = field(compare=False, repr=False)

    @functools.cached_property
    def history(self) -> dict[str, dict[str, int]]:
        """Project -> {month "YYYY-MM": downloads} while in the top 1,000."""
        names = [f"{n // 12:04d}-{n % 12 + 1:02d}" for n in self.top.month.tolist()]
        counts = self.top.downloads.tolist()
        return {
            project: dict(zip(names[lo:hi], counts[lo:hi], strict=True))
            for project, (lo, hi) in self.top.rows.items()
        }

    def ranked(self) -> list[str]:
        """Return the snapshot's projects, most downloaded first (ties by name)."""
        return list(self.by_rank)


@functools.cache
def load(path: Path = CALIBRATION_FILE) -> Calibration:
    """Read the calibration file (once per process: the result is cached).

    Args:
        path: the gzipped CSV written by :func:`derive`.

    Returns:
        The parsed calibration (treat as read-only).

    Raises:
        ValueError: when the file is not a calibration file.
    """
    with pa.input_stream(path, compression="gzip") as stream:
        table = pacsv.read_csv(
            stream, convert_options=pacsv.ConvertOptions(column_types=_COLUMN_TYPES)
        )
    if table.column_names != list(_COLUMN_TYPES):
        raise ValueError(f"{path}: not a calibration file (bad header)")
    # Month codes follow the order of first appearance (as growth's keys did).
    month = table["month"].combine_chunks().dictionary_encode()
    names: list[str] = month.dictionary.to_pylist()
    code = month.indices.to_numpy().astype(np.int64)
    number = np.array([int(m[:4]) * 12 + int(m[5:]) - 1 for m in names], np.int64)
    # Projects numbered in name order: the sorts below sort integers, not strings.
    project = table["project"].combine_chunks().dictionary_encode()
    by_name = pc.sort_indices(project.dictionary)
    project_names: list[str] = project.dictionary.take(by_name).to_pylist()
    name_rank = np.empty(len(project_names), np.int64)
    name_rank[by_name.to_numpy()] = np.arange(len(project_names))
    who = name_rank[project.indices.to_numpy()]
    downloads = table["downloads"].to_numpy().astype(np.int64)
    # Each month's top 1,000: most downloads first, ties in file order.
    order = _stable_order(code, -downloads)
    group = np.searchsorted(code[order], np.arange(len(names)))
    top = order[np.arange(len(order)) - group[code[order]] < 1000]
    sums = np.add.reduceat(downloads[top], np.searchsorted(code[top], np.arange(len(names))))
    snap = np.flatnonzero(code == (names.index(SNAPSHOT_MONTH) if SNAPSHOT_MONTH in names else -1))
    # The history by project then month (each pair once).
    history = top[_stable_order(who[top], number[code[top]])]
    starts = np.flatnonzero(np.diff(who[history], prepend=-1))
    return Calibration(
        snapshot=dict(
            zip(
                [project_names[i] for i in who[snap].tolist()],
                downloads[snap].tolist(),
                strict=True,
            )
        ),
        months=sorted(names),
        growth=dict(zip(names, sums.tolist(), strict=True)) if len(top) else {},
        top=TopHistory(
            rows=dict(
                zip(
                    [project_names[i] for i in who[history[starts]].tolist()],
                    zip(starts.tolist(), [*starts[1:].tolist(), len(history)], strict=True),
                    strict=True,
                )
            ),
            month=number[code[history]],
            downloads=downloads[history],
        ),
        by_rank=tuple(
            project_names[i] for i in who[snap[_stable_order(-downloads[snap], who[snap])]].tolist()
        ),
    )


_COLUMN_TYPES = {"project": pa.string(), "month": pa.string(), "downloads": pa.int64()}


def _stable_order(
    major: npt.NDArray[np.int64], minor: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """Return the indices that sort by ``major`` then ``minor``, ties in index order.

    One stable sort of a combined key when it fits in 63 bits (one pass instead
    of ``np.lexsort``'s two), else ``np.lexsort``.
    """
    if len(major):
        lo, span = int(minor.min()), int(minor.max()) - int(minor.min()) + 1
        if int(major.min()) >= 0 and (int(major.max()) + 1) * span < 2**62:
            return np.argsort(major * span + (minor - lo), kind="stable")
    return np.lexsort((minor, major))
