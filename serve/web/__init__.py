"""The HTML pages: compare, package, trending, embed (server-rendered, enhanced with htmx).

``web_pages()`` returns the router and the template configuration that
``create_app`` wires in, sharing one :class:`~serve.web.assets.Assets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from serve.formats import humanize
from serve.web import views
from serve.web.assets import Assets
from serve.web.routes import chart_json, pages_router, web_link

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True, slots=True)
class WebPages:
    """What ``create_app`` needs for the pages."""

    router: Router
    template_config: TemplateConfig[JinjaTemplateEngine]
    assets: Assets


def web_pages() -> WebPages:
    """Build the page router and its templates (static files from ``node_modules``).

    Returns:
        The router and the template configuration.
    """
    assets = Assets()

    def configure(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        env.globals.update(
            asset=assets.url,
            chart_json=chart_json,
            humanize=humanize,
            growth=views.growth,
            web_link=web_link,
        )
        env.trim_blocks = True
        env.lstrip_blocks = True
        # Compile every template now (when the app is built), not on the first request.
        for name in env.list_templates(extensions=["j2"]):
            env.get_template(name)

    config = TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure
    )
    return WebPages(router=pages_router(assets), template_config=config, assets=assets)
