"""``python -m exports``: see :mod:`exports.cli`."""

import sys

from exports.cli import main

sys.exit(main())
