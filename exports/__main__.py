"""``python -m exports``: see :mod:`exports.cli`."""

import sys

from exports import allocator

# Before anything imports duckdb or starts a thread (see exports/allocator.py).
allocator.configure()

from exports.cli import main  # noqa: E402  (after the allocator settings above)

sys.exit(main())
