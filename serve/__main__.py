"""``python -m serve``: run the API with uvicorn (options override PYPI_TRENDS_* variables)."""

from __future__ import annotations

import argparse
import sys

from serve.settings import Settings, SettingsError

EXAMPLES = """\
examples:
  python -m serve                                   # what `make serve` runs
  python -m serve --db /srv/pypi_trends.sqlite --host 0.0.0.0 --workers 2 \\
      --redis-url redis://127.0.0.1:6379/0
  PYPI_TRENDS_ALLOWED_HOSTS='*' python -m serve --port 8080

Exit status: 2 usage error; otherwise uvicorn's (0 after a clean shutdown).
Every setting, with its PYPI_TRENDS_* variable: docs/api.md."""


def main(argv: list[str] | None = None) -> int:
    """Parse options (generated from ``Settings``), configure logging and run uvicorn.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m serve",
        description="Serve the PyPI Trends HTTP API and pages with uvicorn.\n"
        "Options override environment variables, which override the defaults.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env().with_arguments(args)
        if settings.workers > 1 and not settings.redis_url:
            raise SettingsError(
                "--workers > 1 needs PYPI_TRENDS_REDIS_URL (--redis-url): the rate limit"
                " must be shared by all workers"
            )
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from serve.logs import logging_config
    from serve.server import run

    # Configured here too: with several workers the app is built only in the workers.
    logging_config(settings.log_format, settings.log_level).configure()
    if not settings.db_path.exists():
        print(
            f"warning: {settings.db_path} does not exist yet; answering 503 until it does"
            " (run `make export`)",
            file=sys.stderr,
        )
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
