"""Time as a replaceable object, so a ten-minute wait can be tested in milliseconds."""

from __future__ import annotations

import time
from typing import Protocol

import anyio


class Clock(Protocol):
    """A monotonic clock and a sleep that agree with each other."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """The process's monotonic clock and anyio's sleep."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class FakeClock:
    """A clock that only moves when something sleeps on it (for tests and the waiting benchmark)."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()
