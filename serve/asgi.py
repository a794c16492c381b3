"""Entry point for uvicorn worker processes (``--workers > 1``) and other ASGI servers."""

from __future__ import annotations

from litestar import Litestar

from serve.app import create_app
from serve.settings import Settings


def app_from_env() -> Litestar:
    """Build the app in a worker process from ``PYPI_TRENDS_*`` variables.

    ``python -m serve`` exports its resolved settings (options applied) as
    those variables before starting the workers.

    Returns:
        The application.
    """
    settings = Settings.from_env()
    return create_app(settings)
