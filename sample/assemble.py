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

from sample.clients import SLOTS, WeekProfiles
from sample.expand import Rows

TIMESTAMP = pa.timestamp("us", tz="UTC")
FILE_TYPES = pa.array(["sdist", "bdist_wheel"], pa.string())
#: File kinds of a download row: the code ``vrow * KINDS + kind`` names its file.
SDIST, WHEEL, METADATA = 0, 1, 2
KINDS = 3
#: Parquet column statistics only where readers prune with them: the staging model
#: filters on ``timestamp``. Rows are in client order, so the min/max of any other
#: column spans nearly its whole range in every row group (``project`` from
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
        filename: file name per file code ``vrow * KINDS + kind`` (see
            :data:`KINDS`): each version's sdist, wheel (NULL when it has
            none) and wheel ``.metadata`` side by side, so that the few files a
            day fetches of a package are neighbours in memory: one take reads
            one place, not three distant ones that may be out of cache).
        url: url path per file code, in the same order.
    """

    project: pa.Array
    version_code: pa.Array
    versions: pa.Array
    filename: pa.Array
    url: pa.Array


def _dict(indices: pa.Array, dictionary: pa.Array) -> pa.DictionaryArray:
    # Indices come from dictionary_encode or from codes built with the dictionary:
    # skip the bounds check over every row.
    return pa.DictionaryArray.from_arrays(indices, dictionary, safe=False)


_scratch = threading.local()


def _encode(codes: npt.NDArray[np.int32], size: int) -> tuple[npt.NDArray[np.intp], pa.Array]:
    """Dictionary-encode codes in ``[0, size)``: (distinct codes ascending, int32 indices).

    A mark in a per-thread table of ``size`` entries instead of a hash per row:
    cheaper than ``dictionary_encode``, and the dictionary comes out sorted.
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
    distinct, indices = _encode(vrow * np.int32(KINDS) + kind, KINDS * versions)
    codes = pa.array(distinct)
    return indices, pc.take(files.filename, codes), pc.take(files.url, codes)


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
    # Rows come in slot order: each slot's client values repeat over a run of rows.
    if rows.slot.size > 1 and bool(np.any(rows.slot[1:] < rows.slot[:-1])):
        raise ValueError("rows must be sorted by slot")
    runs = np.bincount(rows.slot, minlength=SLOTS)
    total = len(rows.slot)
    # A client that does not fetch .metadata files gets the wheel itself.
    kind = np.minimum(rows.fc, np.repeat(week.max_kind.to_numpy(), runs))
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
            "country_code": _repeat(week.column("country_code"), runs, total),
            "url": _dict(keys, url),
            "project": project,
            "file": file,
            # The week's nested struct (2,112 slots) repeated gives every leaf and
            # every NULL mask of the rows.
            "details": _repeat(week.details, runs, total),
            "tls_protocol": _repeat(week.column("tls_protocol"), runs, total),
            "tls_cipher": _repeat(week.column("tls_cipher"), runs, total),
        }
    )


def _bits(buffer: pa.Buffer, offset: int, length: int) -> npt.NDArray[np.bool_]:
    """The ``length`` bits of an Arrow bitmap from bit ``offset``, as booleans."""
    bits = np.unpackbits(np.frombuffer(buffer, np.uint8), count=offset + length, bitorder="little")
    return bits[offset:].view(np.bool_)


def _repeat(array: pa.Array, runs: npt.NDArray[np.intp], total: int) -> pa.Array:
    """Repeat value ``i`` of ``array`` ``runs[i]`` times (nested structs, dictionaries, booleans).

    What ``pc.take`` of the rows' sorted slots gives, for a third less: one
    ``np.repeat`` per buffer instead of a gather per row, leaf and NULL mask.
    """
    validity = None
    if array.null_count:
        valid = _bits(array.buffers()[0], array.offset, len(array))
        validity = pa.py_buffer(np.packbits(np.repeat(valid, runs), bitorder="little"))
    kind = array.type
    if pa.types.is_struct(kind):
        children = [_repeat(array.field(i), runs, total) for i in range(kind.num_fields)]
        return pa.Array.from_buffers(kind, total, [validity], children=children)
    if pa.types.is_dictionary(kind):
        indices = array.indices
        values = np.frombuffer(
            indices.buffers()[1],
            indices.type.to_pandas_dtype(),
            len(indices),
            indices.offset * indices.type.byte_width,  # numpy counts the offset in bytes
        )
        repeated = pa.Array.from_buffers(
            indices.type, total, [validity, pa.py_buffer(np.repeat(values, runs))]
        )
        return _dict(repeated, array.dictionary)
    if pa.types.is_boolean(kind):
        data = _bits(array.buffers()[1], array.offset, len(array))
        packed = pa.py_buffer(np.packbits(np.repeat(data, runs), bitorder="little"))
        return pa.Array.from_buffers(kind, total, [validity, packed])
    raise TypeError(f"cannot repeat {kind}")
