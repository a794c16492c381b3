"""The app server: uvicorn (httptools, uvloop) with its limits set from ``Settings``.

uvicorn's own options cover the keep-alive timeout, proxy headers
(``forwarded_allow_ips``), ``limit_concurrency`` and graceful shutdown. Its
httptools protocol has no cap on the size of a request's headers (h11's
``h11_max_incomplete_event_size`` exists, but h11 serves far fewer requests
per second) and no deadline for the first request on a new connection: a
huge header holds a worker's event loop and memory, and idle connections that
never send a byte stay open until file descriptors run out.
``GuardedHttpTools`` adds exactly those two checks and nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serve.settings import Settings

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 31\r\nconnection: close\r\n\r\n"
    b"request header fields too large"
)
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 15\r\nconnection: close\r\n\r\n"
    b"request timeout"
)
# Read from the uvicorn Config (which is pickled into worker processes with these attributes).
MAX_HEADER_BYTES = "pypi_trends_max_header_bytes"
HEADER_TIMEOUT = "pypi_trends_header_timeout"


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header-size cap and a header deadline.

    From the moment a connection opens (or a response completes on a kept-alive
    one) until the request's headers are complete, the bytes received are
    counted and a timer runs; over ``max_header_bytes`` the client gets 431, past
    the deadline 408, and the connection is closed either way.
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._max_header_bytes: int = getattr(config, MAX_HEADER_BYTES, 64 * 1024)
        self._header_timeout: float = getattr(config, HEADER_TIMEOUT, 10.0)
        self._header_bytes = 0
        self._awaiting_headers = True
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline for the first request."""
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        """Count header bytes before handing data to the parser."""
        if self._awaiting_headers:
            self._header_bytes += len(data)
            if self._header_bytes > self._max_header_bytes:
                self._refuse(_TOO_LARGE)
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """The request's headers are in: stop counting and cancel the deadline."""
        self._awaiting_headers = False
        self._cancel_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The next request on this connection gets a fresh budget and deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the timer with the connection."""
        self._cancel_timer()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._awaiting_headers = True
        self._header_bytes = 0
        self._cancel_timer()
        self._header_timer = self.loop.call_later(self._header_timeout, self._on_header_timeout)

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._awaiting_headers:
            self._refuse(_TIMEOUT)

    def _cancel_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, response: bytes) -> None:
        self._awaiting_headers = False
        self._cancel_timer()
        if not self.transport.is_closing():
            # Only when no response has started on this connection can one be written.
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(response)
            self.transport.close()


def uvicorn_config(settings: Settings, app: Any, **kwargs: Any) -> uvicorn.Config:
    """The uvicorn configuration for ``settings`` (``app`` may be an import string).

    Args:
        settings: Bind address, workers and the limits.
        app: The ASGI app or ``"module:factory"``.
        **kwargs: Passed to ``uvicorn.Config`` (e.g. ``factory=True``).

    Returns:
        The configuration, with the header limits that ``GuardedHttpTools`` reads.
    """
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=GuardedHttpTools,
        loop="uvloop",
        access_log=False,
        log_config=None,
        server_header=False,
        # X-Forwarded-Proto/-For from these addresses set the scheme and client,
        # so links the pages write are https behind a TLS proxy.
        proxy_headers=True,
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
        timeout_keep_alive=settings.keep_alive_seconds,
        limit_concurrency=settings.limit_concurrency,
        timeout_graceful_shutdown=25,
        **kwargs,
    )
    setattr(config, MAX_HEADER_BYTES, settings.max_header_bytes)
    setattr(config, HEADER_TIMEOUT, settings.header_timeout_seconds)
    return config


def run(settings: Settings) -> None:
    """Serve until stopped: one process, or ``settings.workers`` worker processes."""
    from uvicorn.supervisors import Multiprocess

    if settings.workers > 1:
        # Each worker builds its own app from the same settings, passed as environment.
        import os

        os.environ.update(settings.environment())
        config = uvicorn_config(settings, "serve.asgi:app_from_env", factory=True)
        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
    else:
        from serve.app import create_app

        uvicorn.Server(uvicorn_config(settings, create_app(settings))).run()
