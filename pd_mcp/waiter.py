"""The wait loop: poll a dataset on the schedule until syncing is over or the deadline.

Every rule about *when* lives in `schedule.PollSchedule`; this loop only polls,
sleeps on the injected clock, reports progress and handles failures. A
transient failure (rate limit, 5xx, timeout, network) does not end the wait:
the next poll comes on schedule, or after `Retry-After` if that is longer. A
permanent failure ends it at once. No request is ever left running past the
deadline for more than `DEADLINE_GRACE` seconds.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence

import anyio

from pd_mcp.client import PowerdrillClient
from pd_mcp.clock import Clock, RealClock
from pd_mcp.errors import RequestTimedOut, UpstreamError
from pd_mcp.messages import (
    NAMES_NOT_IN_TIME,
    progress_message,
    restarting_message,
    timed_out_message,
    user_message,
)
from pd_mcp.models import FailedSource, StatusAnswer, WaitResult
from pd_mcp.report import build_status, fetch_failed_sources, now_iso
from pd_mcp.schedule import Observation, PollSchedule

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
    would, with the latest counts and a message that says to call again.

    Raises the `UpstreamError` that ended the wait if it was permanent, or if no
    poll succeeded before the deadline.
    """
    clock = clock or RealClock()
    schedule = schedule or PollSchedule()
    rng = rng or random.Random()
    timeout = timeout_seconds
    start = clock.now()
    history: list[Observation] = []
    latest: StatusAnswer | None = None
    last_error: UpstreamError | None = None
    polls = 0

    def elapsed() -> float:
        return clock.now() - start

    # However the injected clock runs, no request outlives the deadline (plus the grace) in real time.
    hard_stop = anyio.current_time() + timeout + DEADLINE_GRACE

    def time_left() -> float:
        return max(0.0, min(timeout - elapsed() + DEADLINE_GRACE, hard_stop - anyio.current_time()))

    while True:
        polls += 1
        try:
            with anyio.fail_after(time_left()):
                latest = await client.status(dataset_id, retry=False)
        except TimeoutError:
            last_error = RequestTimedOut("Powerdrill did not answer before the wait's deadline.")
        except UpstreamError as exc:
            if not exc.retryable:
                raise
            last_error = exc
        else:
            last_error = None
            counts = latest.counts
            history.append(Observation(at=elapsed(), settled=counts.settled, total=counts.total))
            if on_progress is not None:
                await on_progress(counts.settled, counts.total, progress_message(dataset_id, counts))
            if counts.synching == 0:
                return await _finish(
                    client, dataset_id, latest, clock, start, polls, time_left(), history, timed_out=False
                )

        delay = schedule.next_delay(elapsed(), timeout, history, polls, rng.random())
        if delay is None:
            break
        retry_after = last_error.retry_after if last_error is not None else None
        if retry_after is not None and retry_after > delay:
            if elapsed() + retry_after > timeout:
                break  # Powerdrill asks us to come back after the deadline
            delay = retry_after
        if await _sleep_unless_stopped(clock, delay, stop):
            break

    if latest is None:
        assert last_error is not None
        last_error.attempts = polls
        last_error.elapsed = elapsed()
        last_error.attempt_limit = f"the wait's {timeout:g} s"
        raise last_error
    restarting = stop is not None and stop.is_set()
    return await _finish(
        client,
        dataset_id,
        latest,
        clock,
        start,
        polls,
        time_left(),
        history,
        timed_out=True,
        restarting=restarting,
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
        text = timed_out_message(dataset_id, answer.counts, waited, finished, names, missing)
    else:
        text = None
    report = build_status(
        dataset_id, answer, client.api_version, failed, missing, checked_at, text, user_text
    )
    return WaitResult(
        **report.model_dump(),
        timed_out=timed_out,
        waited_seconds=round(waited, 3),
        polls=polls,
        finished_during_wait=finished,
    )
