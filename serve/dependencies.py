"""Litestar dependencies shared by API and page routes (wired once in ``create_app``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from litestar.di import Provide

from serve.db import Database, Reader


def dependencies(db: Database) -> dict[str, Provide]:
    """The app's dependencies: ``db`` (the pool) and ``reader`` (one borrowed connection).

    Both close over ``db``, so resolving them reads nothing from the app state.
    """

    def provide_db() -> Database:
        return db

    return {
        "db": Provide(provide_db, use_cache=True, sync_to_thread=False),
        "reader": Provide(_reader_provider(db)),
    }


def _reader_provider(db: Database) -> Callable[[], AsyncGenerator[Reader, None]]:
    async def provide_reader() -> AsyncGenerator[Reader, None]:
        """Borrow a read-only connection to the current build for one request.

        The connection goes back to its pool (of the build it belongs to, even
        if a new build was opened meanwhile) when the handler is done.
        """
        reader = await db.acquire()
        try:
            yield reader
        finally:
            db.release(reader)

    return provide_reader
