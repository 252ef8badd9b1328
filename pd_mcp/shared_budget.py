"""One Powerdrill request budget for a fleet of replicas, kept in Redis.

Why a script of our own: measured before choosing (4 processes x 50 tasks, 20/s with
the 10% margin, loopback), `limits` cannot wait and let 24-26 through in a second;
`pyrate-limiter` made ~10 Redis round trips per request and failed every call with
NoScriptError after a Redis restart; `throttled-py` polled per waiter (63-69 round
trips per request) and was unfair; `redis-rate-limiters` added ~20 ms to every idle
acquire. A short server-side GCRA script on redis-py held the busiest second at
19-20, 100% of the configured rate, fairness 1.00, ~1 round trip and 0.7 ms p50 per
acquire. So: the script `_RESERVE` books the next slot on Redis's own clock (no clock
skew between replicas) and answers how long to wait; one waiter per process at a
time, so a process never holds more than one booked slot (two while a request that
lost its slot on the way out books again: `rebook`).

When Redis is unreachable or frozen (short timeouts, no client retries: with
redis-py's defaults a SIGSTOPped Redis hung every acquire past 5 s), the replica
spaces its own requests at its share of the replicas it last saw alive (heartbeats
in a sorted set with a TTL) and logs one warning; the heartbeat notices Redis back,
logs one more, and until every replica it saw before has beaten again (plus one
second) every request takes both a shared slot and its local share, so replicas
that have not noticed yet cannot add a burst. A heartbeat loop that ends or stalls
(finishes no beat for `STALLED` seconds) is started again by the next request. Requests
queued during the outage wait behind the one lock, so none is granted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from pd_mcp.budget_rules import Spacer, share_interval, shared_interval

log = logging.getLogger("pd_mcp.budget")

REDIS_TIMEOUT = 0.3  # seconds for any one Redis command, connecting included
HEARTBEAT = 1.0  # seconds between heartbeats (and between probes while Redis is down)
ALIVE_TTL = 3.5  # a replica not heard of for this long no longer counts
LATE = 0.005  # seconds late past a shared slot after which it is given up
LATE_TRIES = 3
WINDOW = 1.1  # one of Powerdrill's one-second windows, and a margin
GRACE_CAP = 2 * ALIVE_TTL + WINDOW  # a replica not back by then has gone
# No beat finished for this long (a beat takes at most HEARTBEAT + 2 * REDIS_TIMEOUT): the loop is
# stuck in an await that never ends, and the next request starts another.
STALLED = 3 * HEARTBEAT + 4 * REDIS_TIMEOUT

# Reserve the next slot: returns microseconds to wait. GCRA without burst credit:
# the theoretical arrival time never lags Redis's clock, so an idle budget saves nothing up.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local after = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1000)
return tat - now
"""

# Heartbeat: this replica is alive now; answer how many are.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
"""


def budget_scope(base_url: str, user_id: str, api_key: str) -> str:
    """A digest naming one Powerdrill team/key: different keys never share a budget, no secret shown."""
    material = "\0".join(("pd-mcp budget v1", base_url, user_id, api_key)).encode()
    return hashlib.sha256(material).hexdigest()[:32]


def redis_where(url: str) -> str:
    """host:port of a Redis URL, for logs (never the password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}"


class RedisBudget:
    """The shared budget: `acquire()` returns when this replica may send one request."""

    def __init__(
        self,
        url: str,
        rate: float,
        scope: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        timeout: float = REDIS_TIMEOUT,
    ) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.rate = rate
        self.where = redis_where(url)
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._timeout = timeout
        # register_script runs EVALSHA and, on NoScriptError (after a Redis restart), loads it again.
        self._reserve = self._redis.register_script(_RESERVE)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._tat_key = f"pd-mcp:{{{scope}}}:tat"
        self._alive_key = f"pd-mcp:{{{scope}}}:alive"
        self._me = uuid.uuid4().hex
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._spacer = Spacer()
        self.shared = True  # False while Redis is unreachable
        self.replicas = 1  # as last seen in Redis
        self._grace_until = -1.0
        self._grace_cap = -1.0
        self._awaiting = 0  # replicas to see beating again before the grace may end
        self._beats: asyncio.Task[None] | None = None
        self._beaten = -math.inf  # when the last beat finished, either way
        self._abandoned: set[asyncio.Task[None]] = set()  # stalled loops, cancelled, not awaited

    # --- the budget -------------------------------------------------------------------

    async def acquire(self) -> None:
        if self._beats is None or self._beats.done() or self._stalled():
            # Learn how many replicas there are before the first request. The heartbeat is the only
            # way back from an outage, so one that ended (a cancellation that leaked out of a Redis
            # command cut short) or stalled is started again here rather than leaving this replica
            # local for good.
            self._abandon_stalled()
            await self._beat()
            if self._beats is None or self._beats.done():  # not started meanwhile by another request
                self._beats = asyncio.get_running_loop().create_task(self._beat_forever())
        async with self._lock:  # one waiter per process: at most one booked slot
            await self.rebook()

    async def rebook(self) -> None:
        """Book a slot and wait for it, without the lock (a request that lost its slot on the way)."""
        for _ in range(LATE_TRIES):
            at = await self._book()
            delay = at - self._clock()
            if delay > 0:
                await self._sleep(delay)
            # Woken late (a busy machine): sending now would crowd the next slots, so the
            # slot is lost and another booked, a few times at most.
            if not self.shared or self._clock() - at <= LATE:
                return

    async def _book(self) -> float:
        """The moment of this replica's next request: a shared slot, or its local share."""
        now = self._clock()
        local = share_interval(self.rate, self.replicas)
        if self.shared:
            if now < self._grace_until:
                # Just back from an outage: wait for the local share first, then take a shared
                # slot and send at it. Taking the slot first and then waiting would send it late,
                # into the next slots' second, and the fleet would burst over the budget.
                ready = self._spacer.reserve(now, local)
                if ready > now:
                    await self._sleep(ready - now)
                now = self._clock()
            try:
                waited = await self._call(self._reserve([self._tat_key], [self._interval_us()]))
            except Exception as exc:
                self._lost(exc)
            else:
                # From the answer's arrival, not the ask: a slow round trip must not move the slot early.
                at = self._clock() + int(waited) / 1e6
                self._spacer.not_before(at + local)
                return at
        return self._spacer.reserve(self._clock(), local)

    def _interval_us(self) -> int:
        return round(shared_interval(self.rate) * 1e6)

    # --- Redis health ------------------------------------------------------------------

    def _stalled(self) -> bool:
        return self._beats is not None and self._clock() - self._beaten > STALLED

    def _abandon_stalled(self) -> None:
        """Cancel a heartbeat loop that stopped finishing beats, without waiting for it to end."""
        task, self._beats = self._beats, None
        if task is None or task.done():
            return
        log.warning(
            "shared request budget: the heartbeat to Redis at %s finished no beat for %.0f s; "
            "starting it again",
            self.where,
            self._clock() - self._beaten,
        )
        task.cancel()
        self._abandoned.add(task)  # kept referenced until it ends, if it ever does
        task.add_done_callback(self._abandoned.discard)

    async def _call(self, pending: Awaitable[Any]) -> Any:
        # The socket timeouts bound each command; this bounds connect + send + read together.
        async with asyncio.timeout(self._timeout * 2):
            return await pending

    async def _beat(self) -> None:
        try:
            alive = await self._call(self._heartbeat([self._alive_key], [self._me, int(ALIVE_TTL * 1000)]))
            seen = max(1, int(alive))  # a garbled reply counts as Redis not answering
        except Exception as exc:
            self._lost(exc)
            return
        finally:
            self._beaten = self._clock()
        came_back = not self.shared
        now = self._clock()
        if came_back:
            # Keep the local share too until every replica seen before the outage beats again
            # (then none is still spending its share alone), and one more second after that.
            self.shared = True
            self._awaiting = self.replicas
            self._grace_until = math.inf
            self._grace_cap = now + GRACE_CAP
        if self._awaiting and (seen >= self._awaiting or now >= self._grace_cap):
            self._awaiting = 0
            self._grace_until = now + WINDOW
        # A restarted Redis has forgotten the others until they beat again: never count fewer
        # replicas during the grace than before the outage.
        self.replicas = max(self.replicas, seen) if now < self._grace_until else seen
        if came_back:
            log.warning(
                "shared request budget: Redis at %s answers again; the replicas share %g requests per "
                "second again",
                self.where,
                self.rate,
            )

    async def _beat_forever(self) -> None:
        # Nothing may end this loop but cancellation: it is the only way back to the shared budget
        # after an outage, and a task that died would keep this replica on its local share for good.
        while True:
            await self._sleep(HEARTBEAT)
            try:
                await self._beat()
            except Exception as exc:
                log.debug("shared request budget: heartbeat failed", exc_info=True)
                self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        if self.shared:
            self.shared = False
            log.warning(
                "shared request budget: Redis at %s is unreachable (%s); this replica now keeps its "
                "share of %g requests per second among the %d replicas it last saw, until Redis answers",
                self.where,
                type(exc).__name__,
                self.rate,
                self.replicas,
            )

    async def aclose(self) -> None:
        if self._beats is not None:
            self._beats.cancel()
            with contextlib.suppress(BaseException):
                await self._beats
            self._beats = None
            with contextlib.suppress(Exception):  # leaving: the others need not wait for the TTL
                await self._call(self._redis.zrem(self._alive_key, self._me))
        with contextlib.suppress(Exception):
            await self._redis.aclose()
