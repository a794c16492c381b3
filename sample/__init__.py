"""BigQuery-shaped sample of PyPI download logs (``python -m sample --help``)."""
