"""Subscription and completion tests: an in-process sandbox behind a server, on a stepped clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from support import sandbox_config

from pd_mcp.clock import FakeClock
from pd_mcp.sandbox import Sandbox, SandboxOptions
from pd_mcp.server import Runtime, build_server

MODES = ["legacy", "auto"]  # 2025-11-25 and 2026-07-28 through the in-memory client


class StepClock(FakeClock):
    """A fake clock whose sleeps wait until the test moves time past them (`advance`)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[float] = []  # wake-up times of the sleepers
        self._moved = anyio.Event()

    @property
    def sleeping(self) -> int:
        """Sleepers still waiting for time to pass (none of them due)."""
        due = [t for t in self._pending if t <= self.time + 1e-9]
        return 0 if due else len(self._pending)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        until = self.time + max(0.0, seconds)
        self._pending.append(until)
        try:
            while self.time < until - 1e-9:
                await self._moved.wait()
        finally:
            self._pending.remove(until)

    def advance(self, seconds: float) -> None:
        self.time += seconds
        moved, self._moved = self._moved, anyio.Event()
        moved.set()


class Setup:
    """A sandbox on the stepped clock, and a server whose runtime reaches it in-process."""

    def __init__(self, version: str = "v2", **options: Any) -> None:
        self.clock = StepClock()
        self.sandbox = Sandbox(SandboxOptions(clock=self.clock.now, rate_limit=0, **options))
        self.runtime = Runtime(
            config=sandbox_config("http://sandbox.test", version),
            transport=httpx.ASGITransport(app=self.sandbox.app),
            clock=self.clock,
        )
        self.runtime.live.rng = random.Random(7)
        self.server = build_server(self.runtime)

    def requests(self, dataset_id: str) -> int:
        return self.sandbox.dataset_requests.get(dataset_id, 0)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (a few seconds at most, in real time) for deliveries the event loop is still making."""
    with anyio.fail_after(5):
        while not condition():  # noqa: ASYNC110 - the deliveries have no event to wait on
            await anyio.sleep(0.002)


async def settle(setup: Setup) -> None:
    """Wait until every poller sleeps or has ended, so nothing is in flight."""
    live = setup.runtime.live
    await until(lambda: setup.clock.sleeping >= len(live.watching()))
    for _ in range(20):  # let notifications that were sent reach the client
        await anyio.lowlevel.checkpoint()
