"""Export the dbt marts to a self-describing SQLite file (and Parquet), published atomically.

``python -m exports --help`` for the command line; :func:`exports.pipeline.run_export`
for the library entry point.
"""

from contract import SCHEMA_VERSION

#: Environment variable DuckDB's bundled jemalloc reads its options from (its
#: symbol prefix, upper-cased, before ``MALLOC_CONF``).
JEMALLOC_CONF_VAR = "DUCKDB_JE_MALLOC_CONF"
#: Freed pages go back to the OS at once instead of after a second's decay
#: (see ``exports/__main__.py``).
JEMALLOC_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"

__all__ = ["JEMALLOC_CONF", "JEMALLOC_CONF_VAR", "SCHEMA_VERSION"]
