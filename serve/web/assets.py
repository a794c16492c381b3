"""Static files: our own (serve/web/static) and the npm packages' dist files.

The vendor files are served straight from ``node_modules`` (installed by
``npm ci`` from ``package-lock.json``): nothing is copied into the repository
and nothing is fetched from elsewhere at run time. Each URL carries a hash of
the file's content, so responses can be cached for a year and a new version
is a new URL.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter

log = logging.getLogger("serve.web")

REPO_ROOT = Path(__file__).resolve().parents[2]
OWN_DIR = Path(__file__).resolve().parent / "static"

#: URL name -> (where it lives: "own" or a path under node_modules, media type).
FILES: dict[str, tuple[str, str]] = {
    "pico.min.css": ("@picocss/pico/css/pico.min.css", "text/css"),
    "htmx.min.js": ("htmx.org/dist/htmx.min.js", "text/javascript"),
    "uPlot.iife.min.js": ("uplot/dist/uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": ("uplot/dist/uPlot.min.css", "text/css"),
    # The OpenAPI UI at /schema (serve/openapi_ui.py), local like everything else.
    "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", "text/css"),
    "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js", "text/javascript"),
    "api-docs.js": ("own", "text/javascript"),
    "app.js": ("own", "text/javascript"),
    "app.css": ("own", "text/css"),
    "favicon.svg": ("own", "image/svg+xml"),
}
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    """One loaded file."""

    body: bytes
    media_type: str
    digest: str


class Assets:
    """The static files, read once on first use (not at import time)."""

    def __init__(self, node_modules: Path | None = None) -> None:
        self.node_modules = node_modules or REPO_ROOT / "node_modules"
        self._loaded: dict[str, Asset] | None = None

    def _load(self) -> dict[str, Asset]:
        if self._loaded is None:
            loaded: dict[str, Asset] = {}
            for name, (where, media_type) in FILES.items():
                path = OWN_DIR / name if where == "own" else self.node_modules / where
                try:
                    body = path.read_bytes()
                except OSError:
                    log.error("static file missing (run `make setup`)", extra={"path": str(path)})
                    continue
                digest = hashlib.blake2b(body, digest_size=6).hexdigest()
                loaded[name] = Asset(body, media_type, digest)
            self._loaded = loaded
        return self._loaded

    def url(self, name: str) -> str:
        """The versioned URL of a static file."""
        asset = self._load().get(name)
        return f"/static/{asset.digest if asset else 'missing'}/{name}"

    def get(self, name: str) -> Asset | None:
        """A loaded file, or None when unknown or missing."""
        return self._load().get(name)


def static_handler(assets: Assets) -> object:
    """The ``GET /static/<digest>/<name>`` route over ``assets``."""

    @get("/static/{digest:str}/{name:str}", include_in_schema=False, sync_to_thread=False)
    def static_file(
        digest: Annotated[str, PathParameter(max_length=64)],
        name: Annotated[str, PathParameter(max_length=64)],
    ) -> Response[bytes]:
        asset = assets.get(name)
        if asset is None:
            raise NotFoundException(f"no static file {name[:100]!r}")
        # An old digest still gets the current file, but only briefly cached.
        cache = LONG_CACHE if digest == asset.digest else "public, max-age=60"
        return Response(
            asset.body,
            media_type=asset.media_type,
            headers={"cache-control": cache},
        )

    return static_file
