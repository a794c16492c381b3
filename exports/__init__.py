"""Export the dbt marts to a self-describing SQLite file (and Parquet), published atomically.

``python -m exports --help`` for the command line; :func:`exports.pipeline.run_export`
for the library entry point.
"""

#: Version of the SQLite file layout (``_meta.schema_version`` and ``PRAGMA user_version``).
SCHEMA_VERSION = 1
