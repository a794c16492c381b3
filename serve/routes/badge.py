"""``/badge/{name}.svg``: a shields-style SVG badge drawn here, not by a badge service.

anybadge lays the badge out (text widths, the two-part label/value shape);
the number comes from the same query as the shields.io endpoint JSON
(``/api/packages/{name}/badge``), with the same exclusions as every series.
The edge caches the answer and gives it an ETag from the build id and the
canonical query, so a new build is a new ETag.
"""

from __future__ import annotations

from typing import Annotated, Literal

import anybadge
from litestar import Response, Router, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from serve import data
from serve.db import Reader
from serve.params import normalize_name, parse_exclude
from serve.problems import PACKAGE_RESPONSES, InvalidParameter
from serve.routes.api import Exclude

SvgPeriod = Literal["week", "month", "total"]
#: The badge's colour (shields' "blue").
COLOR = "#007ec6"
SVG = "image/svg+xml"


def render_badge(label: str, message: str) -> str:
    """The SVG text of a two-part badge."""
    return str(anybadge.Badge(label, message, default_color=COLOR).badge_svg_text)


@get(
    "/badge/{file:str}",
    opt={"cache": True},
    responses=PACKAGE_RESPONSES,
    summary="SVG downloads badge",
    media_type=SVG,
)
async def get_svg_badge(
    reader: NamedDependency[Reader],
    file: Annotated[
        str,
        PathParameter(description="The package name followed by `.svg`.", max_length=300),
    ],
    period: Annotated[
        SvgPeriod,
        QueryParameter(
            description="`week`: the last complete week; `month`: the last 4 complete "
            "weeks; `total`: every week of the data."
        ),
    ] = "week",
    exclude: Exclude = None,
) -> Response[bytes]:
    """A downloads badge for one package, e.g. `downloads | 1.2M/week`.

    Mirrors and `.metadata` fetches are left out unless `exclude` says otherwise
    (see the `exclude` parameter).
    """
    if not file.endswith(".svg"):
        raise InvalidParameter("file", "badge URLs end in .svg, e.g. /badge/requests.svg")
    found = await data.badge(reader, normalize_name(file[:-4]), period, parse_exclude(exclude))
    svg = render_badge(found.label, found.message)
    return Response(svg.encode(), media_type=SVG)


badge_router = Router(path="/", route_handlers=[get_svg_badge], tags=["badges"])
