"""Which request budget a client takes its slots from: its own, or the fleet's in Redis.

Without `PD_MCP_REDIS_URL` the process spaces its own requests (`LocalBudget`,
one every 1.1/rate s). With it, every replica shares one budget
(`shared_budget`); the `redis` library is then needed (the `redis` extra), and
`settings` reports its absence as a configuration error before we get here.

Both have `rebook()`: a request whose way out took too long after its slot
(a new connection on a busy loop) takes the next slot instead, ahead of the
queue, so it cannot land in the same second as the requests booked after it.
A queue library (aiolimiter was used before) can only put it at the back of
the queue, where it could wait past its own timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pd_mcp.budget_rules import Spacer, shared_interval
from pd_mcp.settings import ApiConfig


class Budget(Protocol):
    async def acquire(self) -> None: ...


class LocalBudget:
    """One process's own budget: requests spaced `interval` apart, one waiter booked at a time."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock, self._sleep = clock, sleep
        self._spacer = Spacer()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # later callers book only once this one's slot has come
            await self.rebook()

    async def rebook(self) -> None:
        """The next free slot, without queueing behind the waiters (they have booked none yet)."""
        now = self._clock()
        at = self._spacer.reserve(now, self.interval)
        if at > now:
            await self._sleep(at - now)


def make_budget(config: ApiConfig) -> Budget:
    if config.redis_url:
        from pd_mcp.shared_budget import RedisBudget, budget_scope

        scope = budget_scope(config.base_url, config.user_id, config.api_key.get_secret_value())
        return RedisBudget(config.redis_url, config.rate_limit, scope)
    # Evenly spaced at 1/rate s plus a margin, so no one-second window holds more than the
    # budget, even after jitter on the way.
    return LocalBudget(shared_interval(config.rate_limit))


async def rebook(budget: Budget) -> None:
    """Another slot for a request that could not use its own: ahead of the queue where possible."""
    again = getattr(budget, "rebook", None)
    await (again() if again is not None else budget.acquire())


async def close_budget(budget: Budget) -> None:
    close = getattr(budget, "aclose", None)
    if close is not None:
        await close()
