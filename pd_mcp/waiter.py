"""The wait loop: poll a dataset on the schedule until syncing is over or the deadline.

Every rule about *when* lives in `schedule.PollSchedule`; this loop only polls,
sleeps on the injected clock, reports progress and handles failures. A
transient failure (rate limit, 5xx, timeout, network) does not end the wait:
the next poll comes on schedule, or after `Retry-After` if that is longer (a
`Retry-After` past the deadline ends the wait with the latest counts, or the
error, and says when to call again). A permanent failure ends it at once. No
request is ever left running past the deadline for more than `DEADLINE_GRACE`
seconds.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence

import anyio

from pd_mcp.client import PowerdrillClient
from pd_mcp.clock import Clock, RealClock
from pd_mcp.coalesce import Flight
from pd_mcp.errors import BudgetTimedOut, RequestTimedOut, UpstreamError
from pd_mcp.messages import (
    BUDGET_QUEUE_TIMED_OUT,
    NAMES_NOT_IN_TIME,
    NO_ANSWER_BY_DEADLINE,
    come_back_rule,
    progress_message,
    restarting_message,
    short_wait_step,
    timed_out_message,
    user_message,
)
from pd_mcp.models import FailedSource, StatusAnswer, WaitResult
from pd_mcp.report import build_status, fetch_failed_sources, now_iso
from pd_mcp.schedule import Observation, PollSchedule
from pd_mcp.validation import TIMEOUT_DEFAULT

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]

DEADLINE_GRACE = 0.75  # the final poll may run this long past the deadline


async def wait_for_sync(
    client: PowerdrillClient,
    dataset_id: str,
    timeout_seconds: float,
    *,
    clock: Clock | None = None,
    schedule: PollSchedule | None = None,
    on_progress: ProgressFn | None = None,
    rng: random.Random | None = None,
    stop: anyio.Event | None = None,
) -> WaitResult:
    """Poll until `synching_count == 0`, `timeout_seconds` have passed or `stop` is set.

    A set `stop` (the server is restarting) ends the wait like its deadline
    would, with the latest counts and a message that says to call again. So does
    a `Retry-After` that points past the deadline, and the message says when.

    Raises the `UpstreamError` that ended the wait if it was permanent, or if no
    poll succeeded before the deadline.
    """
    wait = _Wait(client, dataset_id, timeout_seconds, clock or RealClock(), on_progress)
    schedule = schedule or PollSchedule()
    rng = rng or random.Random()
    while True:
        if await wait.poll():
            return await wait.finish(timed_out=False)
        delay = wait.next_delay(
            schedule.next_delay(wait.elapsed(), timeout_seconds, wait.history, wait.polls, rng.random())
        )
        if delay is None or await _sleep_unless_stopped(wait.clock, delay, stop):
            break
    if wait.latest is None:
        raise wait.failure()
    return await wait.finish(timed_out=True, restarting=stop is not None and stop.is_set())


class _Wait:
    """One wait's state: its deadline, the answers so far and the last transient failure."""

    def __init__(
        self,
        client: PowerdrillClient,
        dataset_id: str,
        timeout: float,
        clock: Clock,
        on_progress: ProgressFn | None,
    ) -> None:
        self.client, self.dataset_id, self.timeout, self.clock = client, dataset_id, timeout, clock
        self.on_progress = on_progress
        self.start = clock.now()
        # However the injected clock runs, no request outlives the deadline (plus the grace) in real time.
        self.hard_stop = anyio.current_time() + timeout + DEADLINE_GRACE
        self.history: list[Observation] = []
        self.latest: StatusAnswer | None = None
        self.last_error: UpstreamError | None = None
        self.polls = 0
        self.come_back: float | None = None  # a Retry-After past the deadline, in seconds

    def elapsed(self) -> float:
        return self.clock.now() - self.start

    def time_left(self) -> float:
        left = self.timeout - self.elapsed() + DEADLINE_GRACE
        return max(0.0, min(left, self.hard_stop - anyio.current_time()))

    async def poll(self) -> bool:
        """One status request; True when syncing is over. A transient failure is kept, not raised."""
        self.polls += 1
        flights: list[Flight] = []
        try:
            with anyio.fail_after(self.time_left()):
                latest = await self.client.status(self.dataset_id, retry=False, joined=flights.append)
        except TimeoutError:
            queued = bool(flights) and not flights[0].sent  # whose time ran out: ours or Powerdrill's
            self.last_error = (
                BudgetTimedOut(BUDGET_QUEUE_TIMED_OUT) if queued else RequestTimedOut(NO_ANSWER_BY_DEADLINE)
            )
            return False
        except UpstreamError as exc:
            if not exc.retryable:
                raise
            self.last_error = exc
            return False
        self.latest, self.last_error = latest, None
        counts = latest.counts
        self.history.append(Observation(at=self.elapsed(), settled=counts.settled, total=counts.total))
        if self.on_progress is not None:
            await self.on_progress(counts.settled, counts.total, progress_message(self.dataset_id, counts))
        return counts.synching == 0

    def next_delay(self, scheduled: float | None) -> float | None:
        """Seconds until the next poll: the schedule's, or a longer Retry-After; None ends the wait."""
        retry_after = self.last_error.retry_after if self.last_error is not None else None
        if scheduled is None or retry_after is None or retry_after <= scheduled:
            return scheduled
        if self.elapsed() + retry_after > self.timeout:
            self.come_back = retry_after  # Powerdrill asks us to come back after the deadline
            return None
        return retry_after

    def failure(self) -> UpstreamError:
        """The error to raise when no poll succeeded: the last one, with how hard the wait tried."""
        error = self.last_error
        assert error is not None
        error.attempts = self.polls
        error.elapsed = self.elapsed()
        error.attempt_limit = f"the wait's {self.timeout:g} s"
        if self.come_back is not None:
            error.next_step = come_back_rule(self.come_back, error=True)
        elif step := short_wait_step(type(error).__name__, self.timeout, TIMEOUT_DEFAULT):
            error.next_step = step
        return error

    async def finish(self, *, timed_out: bool, restarting: bool = False) -> WaitResult:
        assert self.latest is not None
        return await _finish(
            self.client,
            self.dataset_id,
            self.latest,
            self.clock,
            self.start,
            self.polls,
            self.time_left(),
            self.history,
            timed_out=timed_out,
            restarting=restarting,
            come_back=self.come_back,
        )


async def _sleep_unless_stopped(clock: Clock, delay: float, stop: anyio.Event | None) -> bool:
    """Sleep `delay` on the clock; return True at once if `stop` is set before or during it."""
    if stop is None:
        await clock.sleep(delay)
        return False
    if stop.is_set():
        return True
    async with anyio.create_task_group() as tg:

        async def sleep() -> None:
            await clock.sleep(delay)
            tg.cancel_scope.cancel()

        async def watch() -> None:
            await stop.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(sleep)
        tg.start_soon(watch)
    return stop.is_set()


async def _finish(
    client: PowerdrillClient,
    dataset_id: str,
    answer: StatusAnswer,
    clock: Clock,
    start: float,
    polls: int,
    time_left: float,
    history: Sequence[Observation],
    *,
    timed_out: bool,
    restarting: bool = False,
    come_back: float | None = None,
) -> WaitResult:
    """The report for the last answer; the failed sources' names only if they come within `time_left`."""
    checked_at = now_iso()
    failed: list[FailedSource] = []
    missing = ""
    if answer.counts.invalid:
        with anyio.move_on_after(time_left) as scope:
            failed, missing = await fetch_failed_sources(client, dataset_id, answer.counts, retry=False)
        if scope.cancelled_caught:
            missing = NAMES_NOT_IN_TIME
    waited = clock.now() - start
    names = [s.name for s in failed]
    finished = max(0, answer.counts.settled - history[0].settled) if history else 0
    user_text = user_message(dataset_id, answer.counts, timed_out=timed_out)
    if restarting:
        text: str | None = restarting_message(dataset_id, answer.counts, waited, names, missing)
    elif timed_out:
        text = timed_out_message(dataset_id, answer.counts, waited, finished, names, missing, come_back)
    else:
        text = None
    report = build_status(
        dataset_id, answer, client.api_version, failed, missing, checked_at, text, user_text
    )
    return WaitResult(
        **report.model_dump(),
        timed_out=timed_out,
        cut_short_by_restart=restarting,
        waited_seconds=round(waited, 3),
        polls=polls,
        finished_during_wait=finished,
    )
