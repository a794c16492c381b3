"""Turn one day's integer-coded download rows into the BigQuery-shaped Arrow table.

Every string column is dictionary-encoded (indices into a small per-file
dictionary), which is what makes writing parquet fast; readers see plain
strings (``VARCHAR``), as the Arrow schema is not stored in the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from sample.clients import WeekProfiles

TIMESTAMP = pa.timestamp("us", tz="UTC")
FILE_TYPES = pa.array(["sdist", "bdist_wheel"], pa.string())
#: Parquet column statistics only where readers prune with them (cheaper writes).
STATISTICS = ["timestamp", "project"]


@dataclass(frozen=True)
class Files:
    """Per-package and per-version strings, indexed by ``pkg`` and ``vrow``.

    Attributes:
        project: PEP 503 name per package id.
        version: version string per version row.
        sdist_filename: sdist file name per version row.
        wheel_filename: wheel file name per version row (NULL without wheel).
        sdist_url: url path of the sdist per version row.
        wheel_url: url path of the wheel per version row.
    """

    project: pa.Array
    version: pa.Array
    sdist_filename: pa.Array
    wheel_filename: pa.Array
    sdist_url: pa.Array
    wheel_url: pa.Array


def _file_strings(files: Files, keys: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Return (filename, url) for unique file keys ``vrow * 3 + file kind``."""
    vrow = pc.divide(keys, 3)
    kind = pc.subtract(keys, pc.multiply(vrow, 3))
    is_sdist = pc.equal(kind, 0)
    is_meta = pc.equal(kind, 2)
    out = []
    for sdist, wheel in (
        (files.sdist_filename, files.wheel_filename),
        (files.sdist_url, files.wheel_url),
    ):
        name = pc.if_else(is_sdist, pc.take(sdist, vrow), pc.take(wheel, vrow))
        meta = pc.binary_join_element_wise(name, ".metadata", "")
        out.append(pc.if_else(is_meta, meta, name))
    return out[0], out[1]


def _struct(fields: dict[str, pa.Array], mask: pa.Array | None = None) -> pa.StructArray:
    return pa.StructArray.from_arrays(list(fields.values()), names=list(fields), mask=mask)


def assemble(batch: pa.RecordBatch, files: Files, week: WeekProfiles) -> pa.Table:
    """Build the file_downloads columns for a batch of coded rows.

    Args:
        batch: columns ``ts`` (epoch micros), ``pkg``, ``vrow``, ``fc`` (0 sdist,
            1 wheel, 2 wheel or its ``.metadata`` when the client fetches those),
            ``slot`` (client profile).
        files: the strings the codes point to.
        week: the client profiles of the batch's week.

    Returns:
        A table with exactly the BigQuery file_downloads columns.
    """
    slot = batch.column("slot")
    fc = batch.column("fc")
    kind = pc.if_else(
        pc.and_(pc.equal(fc, 2), pc.invert(pc.take(week.meta_ok, slot))),
        pa.scalar(1, pa.int8()),
        fc,
    )
    pkg = pc.dictionary_encode(batch.column("pkg"))
    project = pa.DictionaryArray.from_arrays(pkg.indices, pc.take(files.project, pkg.dictionary))
    vrow = batch.column("vrow")
    version = pc.dictionary_encode(vrow)
    keys = pc.dictionary_encode(
        pc.add(pc.multiply(vrow.cast(pa.int64()), 3), kind.cast(pa.int64()))
    )
    filename, url = _file_strings(files, keys.dictionary)
    file = _struct(
        {
            "filename": pa.DictionaryArray.from_arrays(keys.indices, filename),
            "project": project,
            "version": pa.DictionaryArray.from_arrays(
                version.indices, pc.take(files.version, version.dictionary)
            ),
            "type": pa.DictionaryArray.from_arrays(
                pc.min_element_wise(kind, pa.scalar(1, pa.int8())), FILE_TYPES
            ),
        }
    )

    def leaf(name: str) -> pa.DictionaryArray:
        return week.leaf(name, slot)

    details = _struct(
        {
            "installer": _struct(
                {"name": leaf("installer.name"), "version": leaf("installer.version")},
                week.mask("installer", slot),
            ),
            "python": leaf("python"),
            "implementation": _struct(
                {"name": leaf("implementation.name"), "version": leaf("implementation.version")},
                week.mask("implementation", slot),
            ),
            "distro": _struct(
                {
                    "name": leaf("distro.name"),
                    "version": leaf("distro.version"),
                    "id": leaf("distro.id"),
                    "libc": _struct(
                        {"lib": leaf("distro.libc.lib"), "version": leaf("distro.libc.version")},
                        week.mask("distro.libc", slot),
                    ),
                },
                week.mask("distro", slot),
            ),
            "system": _struct(
                {"name": leaf("system.name"), "release": leaf("system.release")},
                week.mask("system", slot),
            ),
            "cpu": leaf("cpu"),
            "openssl_version": leaf("openssl_version"),
            "setuptools_version": leaf("setuptools_version"),
            "rustc_version": leaf("rustc_version"),
            "ci": pc.take(week.ci, slot),
        },
        week.mask("details", slot),
    )
    return pa.table(
        {
            "timestamp": batch.column("ts").cast(TIMESTAMP),
            "country_code": leaf("country_code"),
            "url": pa.DictionaryArray.from_arrays(keys.indices, url),
            "project": project,
            "file": file,
            "details": details,
            "tls_protocol": leaf("tls_protocol"),
            "tls_cipher": leaf("tls_cipher"),
        }
    )
