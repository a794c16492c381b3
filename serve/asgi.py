"""Entry point for uvicorn worker processes (``--workers > 1``) and other ASGI servers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar

from serve.app import create_app
from serve.logs import configure_logging
from serve.settings import Settings


def app_from_env() -> Litestar:
    """Build the app in a worker process.

    ``python -m serve`` passes its resolved settings (options applied) in
    ``PYPI_TRENDS__SETTINGS``; without it, settings come from the environment.

    Returns:
        The application.
    """
    encoded = os.environ.get("PYPI_TRENDS__SETTINGS")
    settings = (
        msgspec.json.decode(encoded, type=Settings, dec_hook=_path)
        if encoded
        else Settings.from_env()
    )
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)


def _path(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)
