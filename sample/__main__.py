"""Entry point of ``python -m sample``."""

import sys

from sample.cli import main

if __name__ == "__main__":
    sys.exit(main())
