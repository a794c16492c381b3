"""The framework ceiling for bench_api.py: a Litestar handler returning a constant.

Same server as ours (uvicorn, one worker, httptools, uvloop) and a JSON body of
the size of a 52-week series, so the difference to our numbers is what our
read path and edge cost on top of Litestar itself.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar, MediaType, Response, get

BODY = msgspec.json.encode(
    {"package": "x" * 20, "weeks": [{"week": "2025-01-06", "downloads": 123456789}] * 70}
)


@get("/constant", media_type=MediaType.JSON, sync_to_thread=False)
def constant() -> Response[bytes]:
    return Response(BODY, media_type=MediaType.JSON)


app = Litestar(route_handlers=[constant], logging_config=None)
