"""Export the dbt marts to a self-describing SQLite file (and Parquet), published atomically.

``python -m exports --help`` for the command line; :func:`exports.pipeline.run_export`
for the library entry point.
"""

from contract import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION"]
