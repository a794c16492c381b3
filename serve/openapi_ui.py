"""The OpenAPI UI at ``/schema``: Swagger UI from the pinned npm package, served locally.

Litestar's bundled render plugins load their scripts from a CDN and start them
with an inline script, so the page is blank offline and needs a weaker CSP
than the other pages. This plugin writes the same page shape with the assets
from ``node_modules`` (``swagger-ui-dist`` in package.json, served like htmx and
Pico by ``serve.web.assets``) and a script file that starts the UI.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

from serve.web.assets import Assets


class LocalSwaggerUI(OpenAPIRenderPlugin):
    """Swagger UI with local, content-hashed assets and no inline code."""

    def __init__(self, assets: Assets, path: str = "/swagger") -> None:
        super().__init__(path=path)
        self.assets = assets

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The HTML page; the UI fetches the JSON document itself."""
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec = escape(self.get_openapi_json_route(request))
        asset = self.assets.url
        return (
            "<!doctype html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n"
            f'<link rel="icon" href="{asset("favicon.svg")}">\n'
            f'<link rel="stylesheet" href="{asset("swagger-ui.css")}">\n'
            "</head>\n<body>\n"
            f'<div id="swagger-ui" data-spec-url="{spec}"></div>\n'
            f'<script src="{asset("swagger-ui-bundle.js")}"></script>\n'
            f'<script src="{asset("api-docs.js")}"></script>\n'
            "</body>\n</html>\n"
        ).encode()
