"""``python -m serve``: run the API with uvicorn (options override PYPI_TRENDS_* variables)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from serve.settings import RateLimit, Settings, SettingsError


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m serve",
        description="Serve the PyPI Trends HTTP API. Options override environment variables.",
    )
    parser.add_argument("--db", type=Path, help="published SQLite file (PYPI_TRENDS_DB)")
    parser.add_argument("--host", help="bind address (PYPI_TRENDS_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="bind port (PYPI_TRENDS_PORT, default 8000)")
    parser.add_argument("--workers", type=int, help="uvicorn workers (PYPI_TRENDS_WORKERS)")
    parser.add_argument(
        "--log-format", choices=["auto", "json", "console"], help="PYPI_TRENDS_LOG_FORMAT"
    )
    parser.add_argument("--rate-limit", help="e.g. 600/minute (PYPI_TRENDS_RATE_LIMIT)")
    parser.add_argument(
        "--no-response-cache",
        action="store_true",
        help="disable the in-process response cache (PYPI_TRENDS_RESPONSE_CACHE=0)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Parse options, configure logging and run uvicorn.

    Returns:
        The process exit status.
    """
    args = _parse(argv)
    try:
        settings = Settings.from_env()
        changes: dict[str, object] = {}
        for field in ("host", "port", "workers", "log_format"):
            if getattr(args, field) is not None:
                changes[field] = getattr(args, field)
        if args.db is not None:
            changes["db_path"] = args.db
        if args.rate_limit is not None:
            changes["rate_limit"] = RateLimit.parse(args.rate_limit)
        if args.no_response_cache:
            changes["response_cache"] = False
        settings = settings.replace(**changes)
    except SettingsError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from serve.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    if not settings.db_path.exists():
        print(
            f"serve: warning: {settings.db_path} does not exist yet; answering 503 until it does"
            " (run `make export`)",
            file=sys.stderr,
        )
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,
        "log_config": None,
        "server_header": False,
        "proxy_headers": False,
    }
    if settings.workers > 1:
        # Each worker process builds its own app from the same settings.
        import os

        os.environ["PYPI_TRENDS__SETTINGS"] = _encode(settings)
        uvicorn.run("serve.asgi:app_from_env", factory=True, workers=settings.workers, **common)
    else:
        from serve.app import create_app

        uvicorn.run(create_app(settings), **common)
    return 0


def _encode(settings: Settings) -> str:
    import msgspec

    return msgspec.json.encode(settings, enc_hook=str).decode()


if __name__ == "__main__":
    sys.exit(main())
