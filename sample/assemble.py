"""Turn one day's integer-coded download rows into the BigQuery-shaped Arrow table.

Every string column is dictionary-encoded (indices into a small per-file
dictionary of distinct strings), which is what makes writing parquet fast;
readers see plain strings (``VARCHAR``), as the Arrow schema is not stored in
the file. The per-row work is integer ``take``s: the strings are looked up
only for the distinct values of a batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sample.clients import WeekProfiles
from sample.expand import Rows

TIMESTAMP = pa.timestamp("us", tz="UTC")
FILE_TYPES = pa.array(["sdist", "bdist_wheel"], pa.string())
#: File kinds of a download row: the code ``kind * versions + vrow`` names its file.
SDIST, WHEEL, METADATA = 0, 1, 2
KINDS = 3
#: Parquet column statistics only where readers prune with them: the staging model
#: filters on ``timestamp``. Rows are in client order, so the min/max of any other
#: column spans nearly its whole range in every row group (``project`` went from
#: 'a...' to 'z...'), and the writer's statistics of a dictionary column cost a
#: hash of every row's index.
STATISTICS = ["timestamp"]


@dataclass(frozen=True)
class Files:
    """Per-package and per-version strings, indexed by the codes of download rows.

    Attributes:
        project: PEP 503 name per package id.
        version_code: int32 per version row, index into ``versions``.
        versions: the distinct version strings. A parquet dictionary must hold
            distinct values, else the writer falls back to plain strings.
        sdist_filename: file name of the sdist per version row.
        wheel_filename: file name of the wheel per version row (NULL for a wheel
            that does not exist); a ``.metadata`` file is the wheel's name with a
            suffix, added only for a batch's distinct files so that memory does not
            hold a third copy of every name.
        sdist_url: url path of the sdist per version row.
        wheel_url: url path of the wheel per version row.
    """

    project: pa.Array
    version_code: pa.Array
    versions: pa.Array
    sdist_filename: pa.Array
    wheel_filename: pa.Array
    sdist_url: pa.Array
    wheel_url: pa.Array


def _dict(indices: pa.Array, dictionary: pa.Array) -> pa.DictionaryArray:
    # Indices come from dictionary_encode or from codes built with the dictionary:
    # skip the bounds check over every row.
    return pa.DictionaryArray.from_arrays(indices, dictionary, safe=False)


_scratch = threading.local()
#: A string position past the end of any file name or url.
_PAST_END = 1 << 30


def _encode(codes: npt.NDArray[np.int32], size: int) -> tuple[npt.NDArray[np.intp], pa.Array]:
    """Dictionary-encode codes in ``[0, size)``: (distinct codes ascending, int32 indices).

    A mark in a per-thread table of ``size`` entries instead of a hash per row:
    half the cost of ``dictionary_encode``, and the dictionary comes out sorted.
    """
    marks: npt.NDArray[np.bool_] | None = getattr(_scratch, "marks", None)
    if marks is None or len(marks) < size:
        marks = _scratch.marks = np.zeros(size, np.bool_)
        _scratch.position = np.zeros(size, np.int32)
    position: npt.NDArray[np.int32] = _scratch.position
    marks[codes] = True
    distinct = np.flatnonzero(marks[:size])
    marks[distinct] = False  # clean for the next batch
    position[distinct] = np.arange(len(distinct), dtype=np.int32)
    indices = np.take(position, codes)
    return distinct, pa.array(indices)


def _file_strings(
    files: Files, vrow: npt.NDArray[np.int32], kind: npt.NDArray[np.int8]
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Return (indices, filename dictionary, url dictionary) of the rows' files."""
    versions = len(files.version_code)
    distinct, indices = _encode(kind.astype(np.int32) * np.int32(versions) + vrow, KINDS * versions)
    # Sorted codes: the sdists, the wheels, then the .metadata files, which are
    # their wheel's name with a suffix.
    wheel, meta = np.searchsorted(distinct, [WHEEL * versions, METADATA * versions])
    sdist_rows = pa.array(distinct[:wheel])
    wheel_rows = pa.array(distinct[wheel:meta] - WHEEL * versions)
    meta_rows = pa.array(distinct[meta:] - METADATA * versions)
    names = []
    for sdist, wheels in (
        (files.sdist_filename, files.wheel_filename),
        (files.sdist_url, files.wheel_url),
    ):
        # A slice replaced past the end appends: 3x cheaper than binary_join_element_wise.
        suffixed = pc.binary_replace_slice(
            pc.take(wheels, meta_rows), start=_PAST_END, stop=_PAST_END, replacement=".metadata"
        )
        names.append(
            pa.concat_arrays([pc.take(sdist, sdist_rows), pc.take(wheels, wheel_rows), suffixed])
        )
    return indices, names[0], names[1]


def assemble(rows: Rows, files: Files, week: WeekProfiles) -> pa.Table:
    """Build the file_downloads columns for a batch of coded rows.

    Args:
        rows: coded rows (see :class:`sample.expand.Rows`): ``fc`` is 0 sdist,
            1 wheel, 2 wheel or its ``.metadata`` when the client fetches those.
        files: the strings the codes point to.
        week: the client profiles of the batch's week.

    Returns:
        A table with exactly the BigQuery file_downloads columns.
    """
    slot = pa.array(rows.slot)
    # A client that does not fetch .metadata files gets the wheel itself.
    kind = np.minimum(rows.fc, np.take(week.max_kind.to_numpy(), rows.slot))
    # The rows' package indices are already dictionary indices (rows.packages).
    project = _dict(pa.array(rows.pkg), pc.take(files.project, pa.array(rows.packages)))
    version_codes = np.take(files.version_code.to_numpy(), rows.vrow)
    version_dictionary, version_indices = _encode(version_codes, len(files.versions))
    keys, filename, url = _file_strings(files, rows.vrow, kind)
    file = pa.StructArray.from_arrays(
        [
            _dict(keys, filename),
            project,
            _dict(version_indices, pc.take(files.versions, pa.array(version_dictionary))),
            _dict(pa.array(np.minimum(kind, np.int8(WHEEL))), FILE_TYPES),
        ],
        names=["filename", "project", "version", "type"],
    )
    return pa.table(
        {
            # Same 64-bit values: a zero-copy view, not a cast.
            "timestamp": pa.array(rows.ts).view(TIMESTAMP),
            "country_code": week.leaf("country_code", slot),
            "url": _dict(keys, url),
            "project": project,
            "file": file,
            # One take of the week's nested struct (2,112 slots) gives every leaf
            # and every NULL mask of the rows.
            "details": pc.take(week.details, slot),
            "tls_protocol": week.leaf("tls_protocol", slot),
            "tls_cipher": week.leaf("tls_cipher", slot),
        }
    )
