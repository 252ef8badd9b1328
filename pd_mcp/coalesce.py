"""Identical reads in flight at the same moment share one upstream request.

Thirty assistants asking about one dataset at once need one answer, not thirty
requests against a budget of twenty per second. A caller that arrives while the
same read is in flight awaits that read's result (its trace id included) or its
error. The shared read runs as its own task, so a caller that gives up does not
cancel it for the others; when the last caller gives up, the read is cancelled,
so a cancelled tool call leaves no upstream request running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(self) -> None:
        self._flying: dict[Hashable, asyncio.Task[Any]] = {}
        self._waiting: dict[Hashable, int] = {}

    async def run(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        task = self._flying.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._flying[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            result: T = await asyncio.shield(task)
        except asyncio.CancelledError:
            if self._waiting[key] == 1 and not task.done():
                task.cancel()  # nobody is left to want this answer
            raise
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
        return result

    def _forget(self, key: Hashable, done: asyncio.Task[Any]) -> None:
        if self._flying.get(key) is done:
            del self._flying[key]
        if not done.cancelled():
            done.exception()  # retrieved: nobody may be left to await it
