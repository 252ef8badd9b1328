"""Which request budget a client takes its slots from: its own, or the fleet's in Redis.

Without `PD_MCP_REDIS_URL` the process spaces its own requests (aiolimiter,
capacity 1, refilled every 1.1/rate s). With it, every replica shares one budget
(`shared_budget`); the `redis` library is then needed (the `redis` extra), and
`settings` reports its absence as a configuration error before we get here.
"""

from __future__ import annotations

from typing import Protocol

from pd_mcp.budget_rules import shared_interval
from pd_mcp.settings import ApiConfig


class Budget(Protocol):
    async def acquire(self) -> None: ...


def make_budget(config: ApiConfig) -> Budget:
    if config.redis_url:
        from pd_mcp.shared_budget import RedisBudget, budget_scope

        scope = budget_scope(config.base_url, config.user_id, config.api_key.get_secret_value())
        return RedisBudget(config.redis_url, config.rate_limit, scope)
    from aiolimiter import AsyncLimiter

    # Capacity 1 refilled every 1/rate s (plus a margin): requests are spaced evenly, so
    # no one-second window holds more than the budget, even after jitter on the way.
    return AsyncLimiter(1, shared_interval(config.rate_limit))


async def close_budget(budget: Budget) -> None:
    close = getattr(budget, "aclose", None)
    if close is not None:
        await close()
