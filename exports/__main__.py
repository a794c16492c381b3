"""``python -m exports``: see :mod:`exports.cli`."""

import os
import sys

from exports import JEMALLOC_CONF, JEMALLOC_CONF_VAR

# DuckDB allocates through its own jemalloc, which keeps freed pages for a
# second before returning them. The exporter's threads free and allocate scan
# buffers all the time, so those pages are a good share of its peak RSS;
# returned at once, the peak is lower for a little system time (make
# bench-scale). jemalloc reads the variable when DuckDB loads, so it is set
# before anything imports duckdb; a value the user set is kept.
os.environ.setdefault(JEMALLOC_CONF_VAR, JEMALLOC_CONF)

from exports.cli import main  # after the allocator setting above

sys.exit(main())
