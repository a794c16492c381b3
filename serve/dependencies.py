"""Litestar dependencies shared by API and page routes."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State

from serve.db import Database, Reader


async def provide_reader(state: State) -> AsyncGenerator[Reader, None]:
    """Borrow a read-only connection to the current build for one request.

    The connection goes back to its pool (of the build it belongs to, even if
    a new build was opened meanwhile) when the handler is done.
    """
    db: Database = state.db
    reader = await db.acquire()
    try:
        yield reader
    finally:
        db.release(reader)
