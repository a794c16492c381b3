"""``python -m serve``: run the API with uvicorn (options override PYPI_TRENDS_* variables)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from serve.settings import RateLimit, Settings, SettingsError

EXAMPLES = """\
examples:
  python -m serve                                   # what `make serve` runs
  python -m serve --db /srv/pypi_trends.sqlite --host 0.0.0.0 --workers 2
  PYPI_TRENDS_ALLOWED_HOSTS='*' python -m serve --port 8080

Exit status: 2 usage error; otherwise uvicorn's (0 after a clean shutdown).
Every setting, with its PYPI_TRENDS_* variable: docs/api.md."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m serve",
        description="Serve the PyPI Trends HTTP API and pages with uvicorn.\n"
        "Options override environment variables, which override the defaults.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--db",
        type=Path,
        help="published path, a symlink to the current release "
        "(env PYPI_TRENDS_DB; default data/pypi_trends.sqlite)",
    )
    parser.add_argument("--host", help="bind address (env PYPI_TRENDS_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="bind port (env PYPI_TRENDS_PORT; default 8000)")
    parser.add_argument(
        "--workers", type=int, help="uvicorn worker processes (env PYPI_TRENDS_WORKERS; default 1)"
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        help="log lines; auto is JSON unless stderr is a terminal "
        "(env PYPI_TRENDS_LOG_FORMAT; default auto)",
    )
    parser.add_argument(
        "--rate-limit",
        help="requests per client, N/second|minute|hour|day "
        "(env PYPI_TRENDS_RATE_LIMIT; default 600/minute)",
    )
    parser.add_argument(
        "--no-response-cache",
        action="store_true",
        help="turn off the in-process response cache (env PYPI_TRENDS_RESPONSE_CACHE=0)",
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
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from serve.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    if not settings.db_path.exists():
        print(
            f"warning: {settings.db_path} does not exist yet; answering 503 until it does"
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
