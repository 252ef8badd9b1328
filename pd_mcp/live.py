"""Live status: one shared poller per subscribed dataset, telling subscribers when it changes.

Why a manager: a host may subscribe to `powerdrill://datasets/{id}/status`
from many sessions at once, and each subscription must not cost its own
requests. So every dataset has at most one poller, which runs while at least
one subscriber is left, polls on the waiter's `PollSchedule` through the same
client (and so the same process-wide budget), and tells each subscriber's
channel when the counts or the verdict change, and once at a final state.
After a final state or a permanent error (not found, no permission) the
subscription is over: that last update is the signal to read the resource.
A dataset that stops changing is dropped after `lifetime` seconds without a
change. The protocol wiring (both eras) is in `subscriptions`; this module
knows nothing of MCP.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import anyio
from anyio.abc import TaskGroup

from pd_mcp.clock import Clock, RealClock
from pd_mcp.errors import InvalidArgument, PdMcpError, UpstreamError
from pd_mcp.messages import (
    SUBSCRIBE_INSTEAD,
    SUBSCRIBE_NOT_SERVING,
    not_our_resource,
    subscribe_instead,
    subscribe_too_many,
)
from pd_mcp.models import Counts
from pd_mcp.schedule import Observation, PollSchedule
from pd_mcp.validation import DATASET_ID_PATTERN
from pd_mcp.validation import dataset_id as check_dataset_id
from pd_mcp.verdict import verdict

log = logging.getLogger("pd_mcp.live")

SCHEME = "powerdrill:"
URI_PREFIX = "powerdrill://datasets/"
URI_SUFFIX = "/status"
DEFAULT_LIFETIME = 900.0  # seconds without a change after which a poller gives up
MAX_PER_SESSION = 20
HISTORY = 64  # observations kept for the schedule's prediction

Fetch = Callable[[str], Awaitable[Counts]]


class Channel(Protocol):
    """Where a subscriber's `notifications/resources/updated` go."""

    async def resource_updated(self, uri: str) -> None: ...


class SubscriptionRefused(PdMcpError):
    """A subscription that is not allowed (too many in one session, or no server running)."""

    def __init__(self, message: str, next_step: str) -> None:
        super().__init__(message)
        self.next_step = next_step


def status_uri(dataset_id: str) -> str:
    return f"{URI_PREFIX}{dataset_id}{URI_SUFFIX}"


def _id_in(uri: object) -> str | None:
    """The valid dataset id right after `powerdrill://datasets/` in a URI pd-mcp does not serve."""
    if not isinstance(uri, str) or not uri.startswith(URI_PREFIX):
        return None
    segment = uri[len(URI_PREFIX) :].split("/", 1)[0]
    return segment if re.fullmatch(DATASET_ID_PATTERN, segment) and segment not in (".", "..") else None


def dataset_of(uri: str) -> str:
    """The dataset id of a status URI, or `InvalidArgument` naming what is wrong with it."""
    if not isinstance(uri, str) or not uri.startswith(URI_PREFIX) or not uri.endswith(URI_SUFFIX):
        error = InvalidArgument("uri", not_our_resource(str(uri)[:200]))
        named = _id_in(uri)
        if named:
            error.next_step = subscribe_instead(named)
        raise error
    return check_dataset_id(uri[len(URI_PREFIX) : -len(URI_SUFFIX)])


@dataclass(eq=False)
class _Watch:
    """One dataset's poller and who listens to it."""

    dataset_id: str
    subscribers: dict[Hashable, Channel] = field(default_factory=dict)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class LiveStatus:
    """The poller manager. Enter `running()` once (the server's lifespan) before subscribing."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        clock: Clock | None = None,
        schedule: PollSchedule | None = None,
        lifetime: float = DEFAULT_LIFETIME,
        max_per_session: int = MAX_PER_SESSION,
        rng: random.Random | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock or RealClock()
        self._schedule = schedule or PollSchedule()
        self.lifetime = lifetime
        self.max_per_session = max_per_session
        self.rng = rng or random.Random()  # the schedule's jitter; seed it for repeatable runs
        self._watches: dict[str, _Watch] = {}
        self._sessions: dict[Hashable, set[str]] = {}
        self._groups: list[TaskGroup] = []
        self.polls = 0  # status requests made by all pollers, for tests and benchmarks
        self.sent = 0  # updates sent (once per change, whatever the number of subscribers)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The task group the pollers run in; leaving it stops every poller."""
        async with anyio.create_task_group() as tg:
            self._groups.append(tg)
            try:
                yield
            finally:
                self._groups.remove(tg)
                tg.cancel_scope.cancel()

    # --- what the protocol layer calls ------------------------------------------------

    def subscribe(self, session: Hashable, dataset_id: str, channel: Channel) -> None:
        """Add `session` to the dataset's subscribers, starting its poller if it has none."""
        mine = self._sessions.get(session, set())
        if dataset_id in mine:
            return
        if len(mine) >= self.max_per_session:
            state, step = subscribe_too_many(len(mine), self.max_per_session)
            raise SubscriptionRefused(state, step)
        if not self._groups:
            raise SubscriptionRefused(SUBSCRIBE_NOT_SERVING, SUBSCRIBE_INSTEAD)
        self._sessions.setdefault(session, set()).add(dataset_id)
        watch = self._watches.get(dataset_id)
        if watch is None:
            watch = self._watches[dataset_id] = _Watch(dataset_id)
            self._groups[0].start_soon(self._run, watch)
        watch.subscribers[session] = channel

    def unsubscribe(self, session: Hashable, dataset_id: str) -> None:
        """Remove one subscription; the poller stops at once when it was the last."""
        mine = self._sessions.get(session)
        if mine is not None:
            mine.discard(dataset_id)
            if not mine:
                del self._sessions[session]
        watch = self._watches.get(dataset_id)
        if watch is not None:
            watch.subscribers.pop(session, None)
            if not watch.subscribers:
                self._end(watch)

    def end_session(self, session: Hashable) -> None:
        """Forget every subscription of a session that is gone."""
        for dataset_id in list(self._sessions.get(session, ())):
            self.unsubscribe(session, dataset_id)

    def subscriptions(self, session: Hashable) -> frozenset[str]:
        return frozenset(self._sessions.get(session, ()))

    def watching(self) -> frozenset[str]:
        """The datasets that have a poller now."""
        return frozenset(self._watches)

    # --- the poller -------------------------------------------------------------------

    def _end(self, watch: _Watch) -> None:
        watch.scope.cancel()
        if self._watches.get(watch.dataset_id) is watch:
            del self._watches[watch.dataset_id]
        for session in list(watch.subscribers):
            self.unsubscribe(session, watch.dataset_id)

    async def _run(self, watch: _Watch) -> None:
        try:
            with watch.scope:
                await self._poll(watch)
        finally:
            self._end(watch)

    async def _poll(self, watch: _Watch) -> None:
        clock, schedule = self._clock, self._schedule
        start = clock.now()
        last_change = start
        history: list[Observation] = []
        previous: tuple[Counts, str] | None = None
        polls = 0
        while watch.subscribers:
            polls += 1
            self.polls += 1
            retry_after: float | None = None
            try:
                counts = await self._fetch(watch.dataset_id)
            except PdMcpError as exc:
                if not exc.retryable:
                    log.info("subscription to %s ends: %s", watch.dataset_id, type(exc).__name__)
                    await self._notify(watch)  # the last update: reading now returns the error
                    return
                retry_after = exc.retry_after if isinstance(exc, UpstreamError) else None
            else:
                state = (counts, verdict(counts))
                history = [
                    *history[-HISTORY + 1 :],
                    Observation(clock.now() - start, counts.settled, counts.total),
                ]
                if counts.synching == 0 or (previous is not None and state != previous):
                    last_change = clock.now()
                    await self._notify(watch)
                if counts.synching == 0:
                    return  # final: the subscription has said all it will
                previous = state
            elapsed = clock.now() - start
            delay = schedule.next_delay(
                elapsed, last_change - start + self.lifetime, history, polls, self.rng.random()
            )
            if delay is None:
                log.info("subscription to %s ends: no change for %g s", watch.dataset_id, self.lifetime)
                return
            await clock.sleep(max(delay, retry_after or 0.0))

    async def _notify(self, watch: _Watch) -> None:
        """Tell every distinct channel once; a channel that fails loses its subscriptions."""
        uri = status_uri(watch.dataset_id)
        channels = {id(c): c for c in watch.subscribers.values()}
        self.sent += 1
        for key, channel in channels.items():
            try:
                await channel.resource_updated(uri)
            except Exception as exc:  # a gone peer must not stop the others' updates
                log.info("dropping a subscriber of %s: %s", watch.dataset_id, type(exc).__name__)
                for session, other in list(watch.subscribers.items()):
                    if id(other) == key:
                        self.unsubscribe(session, watch.dataset_id)
