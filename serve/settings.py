"""Server settings, declared once: each field names its environment variable beside it.

Defaults are overridden by environment variables, which are overridden by CLI
options; ``python -m serve``'s options are generated from the same fields
(``add_arguments``), so a setting cannot be readable from one place and not
the other. Nothing here runs at import time: ``Settings.from_env()`` is called
by ``python -m serve`` (and by tests with an explicit mapping).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

LogFormat = Literal["auto", "json", "console"]

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A request budget per client: ``requests`` per ``period_seconds``."""

    requests: int
    period_seconds: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``"600/minute"`` style text.

        Args:
            text: ``<count>/<second|minute|hour|day>``.

        Returns:
            The parsed limit.

        Raises:
            SettingsError: if the text does not match.
        """
        match = _RATE_RE.match(text)
        if not match or int(match.group(1)) < 1:
            raise SettingsError(f"rate limit {text!r} is not like '600/minute'")
        return cls(int(match.group(1)), _PERIOD_SECONDS[match.group(2)])

    def __str__(self) -> str:
        unit = {v: k for k, v in _PERIOD_SECONDS.items()}.get(self.period_seconds)
        return f"{self.requests}/{unit}" if unit else f"{self.requests}/{self.period_seconds}s"


Parser = Callable[[str, str], Any]


def _text(_: str, value: str) -> str:
    return value


def _upper(_: str, value: str) -> str:
    return value.upper()


def _path(_: str, value: str) -> Path:
    return Path(value)


def _csv(_: str, value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _rate(_: str, value: str) -> RateLimit:
    return RateLimit.parse(value)


def _int(low: int, high: int) -> Parser:
    def parse(name: str, value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, not {value!r}") from None
        if not low <= number <= high:
            raise SettingsError(f"{name} must be between {low} and {high}, not {number}")
        return number

    return parse


def _positive(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if not number > 0:
        raise SettingsError(f"{name} must be positive, not {value!r}")
    return number


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _choice(*choices: str) -> Parser:
    def parse(name: str, value: str) -> str:
        if value not in choices:
            raise SettingsError(f"{name} must be {', '.join(choices)}, not {value!r}")
        return value

    return parse


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "unset" if value is None else str(value)


def setting(
    default: Any,
    env: str,
    help: str,
    parse: Parser = _text,
    *,
    cli: bool = False,
) -> Any:
    """Declare one setting: its default, environment variable, help text and parser.

    Args:
        default: The value when the variable is unset or empty.
        env: The environment variable.
        help: One line for ``--help`` and the docs.
        parse: ``(variable name, text) -> value``; raises ``SettingsError``.
        cli: Whether ``python -m serve`` has an option for it (``--field-name``).

    Returns:
        A dataclass field carrying that metadata.
    """
    meta = {"env": env, "help": help, "parse": parse, "cli": cli}
    if isinstance(default, list | dict):
        raise TypeError("use a tuple default")
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``create_app`` and ``python -m serve`` need; one field per setting."""

    db_path: Path = setting(
        Path("data/pypi_trends.sqlite"),
        "PYPI_TRENDS_DB",
        "published path, a symlink to the current release",
        _path,
        cli=True,
    )
    host: str = setting("127.0.0.1", "PYPI_TRENDS_HOST", "bind address", cli=True)
    port: int = setting(8000, "PYPI_TRENDS_PORT", "bind port", _int(0, 65535), cli=True)
    workers: int = setting(
        1, "PYPI_TRENDS_WORKERS", "uvicorn worker processes", _int(1, 256), cli=True
    )
    log_format: LogFormat = setting(
        "auto",
        "PYPI_TRENDS_LOG_FORMAT",
        "json, console, or auto (json when stderr is not a terminal)",
        _choice("auto", "json", "console"),
        cli=True,
    )
    log_level: str = setting("INFO", "PYPI_TRENDS_LOG_LEVEL", "log level", _upper)
    allowed_hosts: tuple[str, ...] = setting(
        ("127.0.0.1", "localhost"),
        "PYPI_TRENDS_ALLOWED_HOSTS",
        "Host header allow-list, comma-separated (* for any)",
        _csv,
    )
    trusted_proxy_header: str | None = setting(
        None,
        "PYPI_TRENDS_TRUSTED_PROXY_HEADER",
        "e.g. X-Forwarded-For: its last entry identifies the client (only behind a proxy)",
    )
    forwarded_allow_ips: tuple[str, ...] = setting(
        ("127.0.0.1",),
        "PYPI_TRENDS_FORWARDED_ALLOW_IPS",
        "proxies whose X-Forwarded-Proto/-For uvicorn believes (addresses or CIDRs, * for any)",
        _csv,
        cli=True,
    )
    rate_limit: RateLimit = setting(
        RateLimit(600, 60), "PYPI_TRENDS_RATE_LIMIT", "per client, e.g. 600/minute", _rate, cli=True
    )
    redis_url: str | None = setting(
        None,
        "PYPI_TRENDS_REDIS_URL",
        "Valkey/Redis shared by all workers for the rate limit (required with --workers > 1)",
        cli=True,
    )
    sentry_dsn: str | None = setting(None, "SENTRY_DSN", "Sentry DSN (errors only)")
    cors_origins: tuple[str, ...] = setting(
        ("*",), "PYPI_TRENDS_CORS_ORIGINS", "origins allowed to read /api from a browser", _csv
    )
    # Read-only SQLite connections per worker; each is one aiosqlite thread.
    db_pool_size: int = setting(
        4, "PYPI_TRENDS_DB_POOL_SIZE", "read-only connections per worker", _int(1, 64)
    )
    # Per-query budget enforced by a SQLite progress handler.
    query_timeout_seconds: float = setting(
        2.0, "PYPI_TRENDS_QUERY_TIMEOUT", "seconds one query may run", _positive
    )
    # How often the published symlink is checked for a new build.
    reload_interval_seconds: float = setting(
        1.0, "PYPI_TRENDS_RELOAD_INTERVAL", "seconds between checks for a new build", _positive
    )
    response_cache: bool = setting(
        True, "PYPI_TRENDS_RESPONSE_CACHE", "in-process response cache on/off", _bool, cli=True
    )
    cache_max_entries: int = setting(
        4096, "PYPI_TRENDS_CACHE_MAX_ENTRIES", "response cache entries", _int(1, 10**7)
    )
    cache_max_bytes: int = setting(
        64 * 1024 * 1024, "PYPI_TRENDS_CACHE_MAX_BYTES", "response cache bytes", _int(1, 2**40)
    )
    cache_max_age_seconds: int = setting(
        300, "PYPI_TRENDS_CACHE_MAX_AGE", "Cache-Control max-age seconds", _int(0, 86400 * 7)
    )
    max_path_length: int = setting(
        2048, "PYPI_TRENDS_MAX_PATH_LENGTH", "longest path (414 beyond)", _int(16, 65536)
    )
    max_query_length: int = setting(
        8192, "PYPI_TRENDS_MAX_QUERY_LENGTH", "longest query string (414 beyond)", _int(16, 65536)
    )
    max_body_bytes: int = setting(
        1024, "PYPI_TRENDS_MAX_BODY_BYTES", "largest request body (413 beyond)", _int(0, 2**20)
    )
    # The app server's own limits (uvicorn): see serve/server.py.
    max_header_bytes: int = setting(
        64 * 1024,
        "PYPI_TRENDS_MAX_HEADER_BYTES",
        "request line + headers; larger gets 431 and the connection closed",
        _int(1024, 2**24),
    )
    header_timeout_seconds: float = setting(
        10.0,
        "PYPI_TRENDS_HEADER_TIMEOUT",
        "seconds a connection may take to send a request's headers",
        _positive,
    )
    keep_alive_seconds: int = setting(
        5,
        "PYPI_TRENDS_KEEP_ALIVE",
        "idle seconds before a kept-alive connection closes",
        _int(1, 600),
    )
    limit_concurrency: int = setting(
        200,
        "PYPI_TRENDS_LIMIT_CONCURRENCY",
        "connections + tasks per worker before new requests get 503",
        _int(1, 1_000_000),
    )

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (used by CLI options and tests)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (``os.environ`` by default).

        Args:
            environ: The variables to read; ``None`` reads the process environment.

        Returns:
            Settings with every variable that is set (and not empty) applied over the defaults.

        Raises:
            SettingsError: if a variable has an unusable value.
        """
        env = os.environ if environ is None else environ
        changes: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            name = f.metadata["env"]
            value = env.get(name)
            if value not in (None, ""):
                changes[f.name] = f.metadata["parse"](name, value)
        return cls().replace(**changes)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one ``--option`` per CLI setting (help names the environment variable)."""
        for f in dataclasses.fields(cls):
            if not f.metadata["cli"]:
                continue
            option = "--" + ("db" if f.name == "db_path" else f.name.replace("_", "-"))
            parser.add_argument(
                option,
                dest=f.name,
                metavar=option[2:].replace("-", "_").upper(),
                help=f"{f.metadata['help']} (env {f.metadata['env']}; default {_shown(f.default)})",
            )

    def with_arguments(self, args: argparse.Namespace) -> Settings:
        """These settings with the CLI options that were given applied (same parsers as env)."""
        changes: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(args, f.name, None) if f.metadata["cli"] else None
            if value is not None:
                changes[f.name] = f.metadata["parse"]("--" + f.name.replace("_", "-"), value)
        return self.replace(**changes)

    def environment(self) -> dict[str, str]:
        """The variables that reproduce these settings (passed to worker processes)."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, bool):
                text = "1" if value else "0"
            else:
                text = str(value)
            out[f.metadata["env"]] = text
        return out
