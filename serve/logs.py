"""Structured logging: JSON lines when not on a terminal, readable text when on one."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import msgspec

# LogRecord attributes that are not user-supplied ``extra`` fields.
_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)
_ENCODER = msgspec.json.Encoder()


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED}


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


def configure_logging(log_format: str, level: str = "INFO") -> None:
    """Send ``serve.*`` and uvicorn's error log to stderr in the chosen format.

    Args:
        log_format: ``json``, ``console`` or ``auto`` (json unless stderr is a TTY).
        level: Log level name.
    """
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    for name in ("serve", "uvicorn.error", "litestar"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # One line per request comes from serve.access; uvicorn's own access log is off.
    logging.getLogger("uvicorn.access").disabled = True


class AccessLog:
    """One line per request, written straight to the stream.

    The stdlib logging path (record, caller lookup, lock, formatter) costs more
    than serving a cached response, so request lines skip it while keeping the
    same JSON / console shape as the other logs.
    """

    def __init__(self, stream: TextIO | None = None, *, use_json: bool = True) -> None:
        self.stream = stream
        self.use_json = use_json
        # The timestamp up to the second, formatted once per second.
        self._second = -1
        self._head = ""

    def write(self, fields: dict[str, Any]) -> None:
        """Write one request line (no-op when no stream is configured)."""
        stream = self.stream
        if stream is None:
            return
        now = time.time()
        if self.use_json:
            second = int(now)
            if second != self._second:
                self._second = second
                self._head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            line = _ENCODER.encode(
                {
                    "ts": f"{self._head}.{int(now % 1 * 1000):03d}Z",
                    "level": "info",
                    "logger": "serve.access",
                    "msg": "request",
                    **fields,
                }
            )
            stream.write(line.decode() + "\n")
        else:
            rest = " ".join(f"{k}={v}" for k, v in fields.items())
            stream.write(
                f"{time.strftime('%H:%M:%S', time.localtime(now))} info    access: {rest}\n"
            )


def make_access_log(log_format: str) -> AccessLog:
    """The access log for ``log_format`` (``auto``: JSON unless stderr is a TTY)."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    return AccessLog(sys.stderr, use_json=use_json)
