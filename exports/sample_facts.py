"""What a warehouse built from the local generated sample says about that sample.

dbt's on-run-end hook (``dbt/macros/sample_facts.sql``) copies the sample's
``_SUCCESS`` record into the DuckDB warehouse as ``raw_sample_facts``, so the
facts come from the build being exported, not from whatever raw directory the
exporter could see. A warehouse built from BigQuery has no such table.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from exports.errors import ExportError

#: The table the dbt hook writes (schema ``main``).
FACTS_TABLE = "raw_sample_facts"


def sample_scale(warehouse: Path) -> str | None:
    """Sample download rows per real download, as recorded by the build of ``warehouse``.

    Returns:
        The ratio as text (``repr`` of the float, e.g. ``'1.4864621226288926e-06'``),
        or None when the warehouse holds no sample record (not built from the
        sample, or from a sample written before the generator recorded it).

    Raises:
        ExportError: when the record is there but its ratio is not a positive number.
    """
    if not warehouse.is_file():
        return None  # the source reports the missing warehouse when it opens it
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise ExportError(f"cannot open warehouse {warehouse}: {exc}") from None
    try:
        # A literal, not a bound parameter: binding one makes DuckDB's client
        # import pandas, which the exporter must never load (peak memory).
        present = con.execute(
            "SELECT count(*) FROM duckdb_columns()"
            f" WHERE schema_name = 'main' AND table_name = '{FACTS_TABLE}'"
            " AND column_name = 'scale'"
        ).fetchone()
        if not present or not present[0]:
            return None
        row = con.execute(
            f"SELECT scale.downloads_per_real_download FROM main.{FACTS_TABLE}"
        ).fetchone()
    except duckdb.Error as exc:
        raise ExportError(f"{warehouse}: unreadable {FACTS_TABLE}: {exc}") from None
    finally:
        con.close()
    value = row[0] if row else None
    if not isinstance(value, float | int) or not value > 0:
        raise ExportError(f"{warehouse}: {FACTS_TABLE} holds no positive scale ({value!r})")
    return repr(float(value))
