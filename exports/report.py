"""Progress and log output: a rich progress bar on a terminal, logfmt lines otherwise."""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOGGER = logging.getLogger("exports")


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info event=... key=value`` (one line per event, machine-readable)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record; structured fields come from ``record.fields``."""
        ts = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z"
        )
        fields: dict[str, Any] = {
            "ts": ts,
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields.update(getattr(record, "fields", {}))
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items())


def configure_logging(verbose: bool = False) -> None:
    """Send the exporter's log lines to stderr in logfmt."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOGGER.propagate = False


class Reporter:
    """Reports the export's progress: rich bar when ``interactive``, log lines always."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self._progress: Any = None
        self._task: Any = None

    def event(self, event: str, level: int = logging.INFO, **fields: Any) -> None:
        """Log one structured event (with the process's peak RSS so far, in MB)."""
        fields["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        if self._progress is not None:
            text = " ".join(f"{k}={v}" for k, v in fields.items())
            self._progress.console.print(f"{time.strftime('%H:%M:%S')} {event} {text}")
        else:
            LOGGER.log(level, event, extra={"fields": fields})

    @contextmanager
    def bar(self, total_rows: int) -> Iterator[None]:
        """Show a bar over ``total_rows`` (counted twice: staged to Parquet, loaded into SQLite)."""
        if not self.interactive:
            yield
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        with progress:
            self._progress = progress
            self._task = progress.add_task("export", total=max(total_rows, 1) * 2)
            try:
                yield
            finally:
                self._progress = None

    def label(self, text: str) -> None:
        """Name what the bar is working on (the mart)."""
        if self._progress is not None:
            self._progress.update(self._task, description=text)

    def advance(self, rows: int) -> None:
        """Move the bar by ``rows`` units (a chunk loaded, a part written to Parquet).

        Thread-safe: Parquet copies report from their own thread.
        """
        progress = self._progress
        if progress is not None:
            progress.update(self._task, advance=rows)
