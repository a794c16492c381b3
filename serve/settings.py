"""Server settings: defaults, overridden by environment variables, overridden by CLI options.

Nothing here runs at import time; ``Settings.from_env()`` is called by ``python -m serve``
(and by tests with an explicit mapping).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``create_app`` and ``python -m serve`` need.

    The table in docs/architecture.md section 4 lists the environment variables.
    """

    db_path: Path = Path("data/pypi_trends.sqlite")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_format: LogFormat = "auto"
    log_level: str = "INFO"
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    trusted_proxy_header: str | None = None
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(600, 60))
    sentry_dsn: str | None = None
    cors_origins: tuple[str, ...] = ("*",)
    # Read-only SQLite connections per worker; each is one aiosqlite thread.
    db_pool_size: int = 4
    # Per-query budget enforced by a SQLite progress handler.
    query_timeout_seconds: float = 2.0
    # How often the published symlink is checked for a new build.
    reload_interval_seconds: float = 1.0
    response_cache: bool = True
    cache_max_entries: int = 4096
    cache_max_bytes: int = 64 * 1024 * 1024
    cache_max_age_seconds: int = 300
    max_path_length: int = 2048
    max_query_length: int = 8192
    max_body_bytes: int = 1024

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (used by CLI options and tests)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (``os.environ`` by default).

        Args:
            environ: The variables to read; ``None`` reads the process environment.

        Returns:
            Settings with every variable that is set applied over the defaults.

        Raises:
            SettingsError: if a variable has an unusable value.
        """
        env = os.environ if environ is None else environ
        s = cls()
        changes: dict[str, object] = {}

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        if (v := get("PYPI_TRENDS_DB")) is not None:
            changes["db_path"] = Path(v)
        if (v := get("PYPI_TRENDS_HOST")) is not None:
            changes["host"] = v
        if (v := get("PYPI_TRENDS_PORT")) is not None:
            changes["port"] = _int("PYPI_TRENDS_PORT", v, 0, 65535)
        if (v := get("PYPI_TRENDS_WORKERS")) is not None:
            changes["workers"] = _int("PYPI_TRENDS_WORKERS", v, 1, 256)
        if (v := get("PYPI_TRENDS_LOG_FORMAT")) is not None:
            if v not in ("auto", "json", "console"):
                raise SettingsError(
                    f"PYPI_TRENDS_LOG_FORMAT must be auto, json or console, not {v!r}"
                )
            changes["log_format"] = v
        if (v := get("PYPI_TRENDS_LOG_LEVEL")) is not None:
            changes["log_level"] = v.upper()
        if (v := get("PYPI_TRENDS_ALLOWED_HOSTS")) is not None:
            changes["allowed_hosts"] = _csv(v)
        if (v := get("PYPI_TRENDS_TRUSTED_PROXY_HEADER")) is not None:
            changes["trusted_proxy_header"] = v
        if (v := get("PYPI_TRENDS_RATE_LIMIT")) is not None:
            changes["rate_limit"] = RateLimit.parse(v)
        if (v := get("SENTRY_DSN")) is not None:
            changes["sentry_dsn"] = v
        if (v := get("PYPI_TRENDS_CORS_ORIGINS")) is not None:
            changes["cors_origins"] = _csv(v)
        if (v := get("PYPI_TRENDS_DB_POOL_SIZE")) is not None:
            changes["db_pool_size"] = _int("PYPI_TRENDS_DB_POOL_SIZE", v, 1, 64)
        if (v := get("PYPI_TRENDS_QUERY_TIMEOUT")) is not None:
            changes["query_timeout_seconds"] = _float("PYPI_TRENDS_QUERY_TIMEOUT", v)
        if (v := get("PYPI_TRENDS_RESPONSE_CACHE")) is not None:
            changes["response_cache"] = _bool("PYPI_TRENDS_RESPONSE_CACHE", v)
        if (v := get("PYPI_TRENDS_CACHE_MAX_AGE")) is not None:
            changes["cache_max_age_seconds"] = _int("PYPI_TRENDS_CACHE_MAX_AGE", v, 0, 86400 * 7)
        return s.replace(**changes)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {number}")
    return number


def _float(name: str, value: str) -> float:
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
