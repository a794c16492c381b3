"""Logging through Litestar's ``LoggingConfig``: JSON lines off a terminal, text on one.

Every record logged while a request is handled (the access line, errors from
the exception handler, storage warnings) carries that request's id:
``serve.edge.RequestContext`` puts it in ``REQUEST_ID`` for the request, and
``RequestIdFilter`` on the one handler copies it onto each record. The
standard library has no JSON formatter, hence ``JsonFormatter``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import msgspec
from litestar.logging.config import LoggingConfig

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# One line per request, written by serve.edge.RequestContext.
ACCESS = logging.getLogger("serve.access")

# LogRecord attributes that are not user-supplied ``extra`` fields.
_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)
_ENCODER = msgspec.json.Encoder()


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (of the request being handled, if any) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops one."""
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(out).decode()


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS level logger message key=value ...`` for terminals."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as one readable line."""
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = (
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} "
            f"{record.levelname.lower():7} {record.name}: {record.getMessage()} {fields}"
        ).rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def logging_config(log_format: str, level: str = "INFO") -> LoggingConfig:
    """All logs to stderr, in the chosen format, through the root logger.

    Args:
        log_format: ``json``, ``console`` or ``auto`` (json unless stderr is a TTY).
        level: Log level name.

    Returns:
        The configuration for ``Litestar(logging_config=...)`` (or its ``configure()``).
    """
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    stderr = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "json" if use_json else "console",
        "filters": ["request_id"],
    }
    return LoggingConfig(
        logging_module="logging",
        formatters={"json": {"()": JsonFormatter}, "console": {"()": ConsoleFormatter}},
        filters={"request_id": {"()": RequestIdFilter}},
        # Litestar adds a queue handler with its own thread unless one is named
        # "queue_listener"; this one writes to stderr directly, like the other.
        handlers={"stderr": stderr, "queue_listener": {**stderr}},
        # Everything goes to the root logger's one handler: serve.*, uvicorn's error
        # log, Litestar's, and any library's, all in the same format.
        root={"handlers": ["stderr"], "level": level},
        loggers={"litestar": {"level": level, "handlers": [], "propagate": True}},
        # The app's exception handler (serve.problems) logs errors itself.
        log_exceptions="never",
    )
