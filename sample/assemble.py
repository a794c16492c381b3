"""Turn one day's integer-coded download rows into the BigQuery-shaped Arrow table.

Every string column is dictionary-encoded (indices into a small per-file
dictionary of distinct strings), which is what makes writing parquet fast;
readers see plain strings (``VARCHAR``), as the Arrow schema is not stored in
the file. The per-row work is integer ``take``s: the strings are looked up
only for the distinct values of a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample.clients import WeekProfiles
from sample.expand import Rows

TIMESTAMP = pa.timestamp("us", tz="UTC")
FILE_TYPES = pa.array(["sdist", "bdist_wheel"], pa.string())
#: File kinds of a download row: the code ``vrow * KINDS + kind`` names its file.
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
        filename: file name per ``vrow * 2 + kind`` for the sdist and the wheel
            (NULL for a wheel that does not exist); a ``.metadata`` file is the
            wheel's name with a suffix, added only for a batch's distinct files so
            that memory does not hold a third copy of every name.
        url: url path, indexed like ``filename``.
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


#: Suffix of a file code's name by ``kind == METADATA`` (0 or 1).
_SUFFIX = pa.array(["", ".metadata"], pa.string())


def _file_strings(files: Files, keys: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Return (filename, url) for distinct file codes ``vrow * KINDS + kind``."""
    codes = keys.to_numpy()
    vrow, kind = np.divmod(codes, KINDS)
    stored = pa.array(vrow * 2 + np.minimum(kind, WHEEL))
    # One join with a per-code suffix ("" or ".metadata"): cheaper than joining
    # every name and choosing between the two strings with if_else.
    suffix = pc.take(_SUFFIX, pa.array((kind == METADATA).view(np.int8)))
    return (
        pc.binary_join_element_wise(pc.take(files.filename, stored), suffix, ""),
        pc.binary_join_element_wise(pc.take(files.url, stored), suffix, ""),
    )


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
    kind = np.minimum(rows.fc, week.max_kind.to_numpy()[rows.slot])
    # The rows' package indices are already dictionary indices (rows.packages).
    project = _dict(pa.array(rows.pkg), pc.take(files.project, pa.array(rows.packages)))
    vrow = pa.array(rows.vrow)
    version = pc.dictionary_encode(pc.take(files.version_code, vrow))
    keys = pc.dictionary_encode(pa.array(rows.vrow * np.int32(KINDS) + kind))
    filename, url = _file_strings(files, keys.dictionary)
    file = pa.StructArray.from_arrays(
        [
            _dict(keys.indices, filename),
            project,
            _dict(version.indices, pc.take(files.versions, version.dictionary)),
            _dict(pa.array(np.minimum(kind, np.int8(WHEEL))), FILE_TYPES),
        ],
        names=["filename", "project", "version", "type"],
    )
    return pa.table(
        {
            # Same 64-bit values: a zero-copy view, not a cast.
            "timestamp": pa.array(rows.ts).view(TIMESTAMP),
            "country_code": week.leaf("country_code", slot),
            "url": _dict(keys.indices, url),
            "project": project,
            "file": file,
            # One take of the week's nested struct (2,112 slots) gives every leaf
            # and every NULL mask of the rows.
            "details": pc.take(week.details, slot),
            "tls_protocol": week.leaf("tls_protocol", slot),
            "tls_cipher": week.leaf("tls_cipher", slot),
        }
    )
