"""Entry point of ``python -m sample``."""

import importlib.abc
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from sample.cli import main


class _NoPandas(importlib.abc.MetaPathFinder):
    """Make ``import pandas`` fail in this process.

    pyarrow imports pandas on its first conversion of a Python or numpy value
    (``pa.array``), only to check whether the value is a pandas object. The
    generator never passes one, and that import alone lengthens the
    single-threaded start of a run and adds memory. When the import fails,
    pyarrow carries on without pandas support. This runs only as
    ``python -m sample``, which owns its process: code that imports
    ``sample.cli`` keeps pandas.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"{fullname} is not used by python -m sample", name=fullname)
        return None


if __name__ == "__main__":
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())
    # pyarrow's allocator (mimalloc) gives freed pages back to the system after
    # 10 ms; each day's arrays then fault in and zero fresh pages again. Kept,
    # they serve the next days. Read when pyarrow loads: set before it is imported.
    os.environ.setdefault("MIMALLOC_PURGE_DELAY", "-1")
    sys.exit(main())
