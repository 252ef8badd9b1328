"""Identical reads in flight at the same moment share one upstream request.

Thirty assistants asking about one dataset at once need one answer, not thirty
requests against a budget of twenty per second. A caller that arrives while the
same read is in flight awaits that read's result (its trace id included) or its
error. The shared read runs as its own task, so a caller that gives up does not
cancel it for the others; when the last caller gives up, the read is cancelled,
so a cancelled tool call leaves no upstream request running. Each read carries
a `Flight` that says whether its request has left pd-mcp's own budget queue,
so a caller that gives up can tell whose time ran out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Flight:
    """One shared read: `sent` once its request has left pd-mcp's budget queue for Powerdrill."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


class Coalescer(Generic[T]):
    def __init__(self) -> None:
        self._flying: dict[Hashable, tuple[asyncio.Task[Any], Flight]] = {}
        self._waiting: dict[Hashable, int] = {}

    async def run(
        self,
        key: Hashable,
        read: Callable[[Flight], Awaitable[T]],
        joined: Callable[[Flight], None] | None = None,
    ) -> T:
        """The result of the read in flight for `key`, or of `read` started now; `joined` gets its Flight."""
        entry = self._flying.get(key)
        if entry is None:
            flight = Flight()
            task = asyncio.ensure_future(read(flight))
            entry = self._flying[key] = (task, flight)
            task.add_done_callback(lambda done: self._forget(key, done))
        task, flight = entry
        if joined is not None:
            joined(flight)
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            result: T = await asyncio.shield(task)
        except asyncio.CancelledError:
            if self._waiting[key] == 1 and not task.done():
                task.cancel()  # nobody is left to want this answer
                if self._flying.get(key) is entry:
                    del self._flying[key]  # a caller arriving next starts afresh, never joins a dying read
            raise
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
        return result

    def _forget(self, key: Hashable, done: asyncio.Task[Any]) -> None:
        entry = self._flying.get(key)
        if entry is not None and entry[0] is done:
            del self._flying[key]
        if not done.cancelled():
            done.exception()  # retrieved: nobody may be left to await it
