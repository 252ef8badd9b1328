"""The polling schedule on its own: pure arithmetic, no clock, no I/O.

The waiter polls once before it asks the schedule anything, so every poll
sequence here starts at 0, each later poll is the previous one plus
`next_delay(elapsed, timeout, history, polls, rand)`, and `polls` is the
number of polls made so far (1 when the first delay is asked for). The exact
numbers come from the rules in `pd_mcp/schedule.py`: four intervals of
`floor` (1 s) without jitter, then `min(cap, max(floor, 0.6 * elapsed))`
shortened by up to 10% of jitter, a tail rule that keeps the last poll at the
deadline and every interval within the cap, and a prediction from the rate of
progress. The property tests (hypothesis) state what a user can rely on;
where a target of issue 3 is not met, an `xfail(strict=True)` test shows it
with a concrete counterexample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pd_mcp.schedule import Observation, PollSchedule

S = PollSchedule()
EPS = 1e-9

Rands = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40)
Timeouts = st.floats(min_value=1.0, max_value=900.0, allow_nan=False)

# Without jitter, a 45 s wait polls at these times: 1 s apart up to 4 s, then 0.6 x the time waited
# (4 -> 6.4 -> 10.24 -> 16.384 -> 26.2144), then the 10 s cap (36.2144), then the deadline.
NO_JITTER_45 = [0.0, 1.0, 2.0, 3.0, 4.0, 6.4, 10.24, 16.384, 26.2144, 36.2144, 45.0]


def poll_times(
    timeout: float,
    rands: Sequence[float] = (1.0,),
    *,
    schedule: PollSchedule = S,
    settled_at: Callable[[float], int] | None = None,
    total: int = 10,
    stop_when_done: bool = False,
) -> list[float]:
    """Poll times (seconds since the start) of a wait.

    `rands` are the jitter draws, reused cyclically. `settled_at` gives the settled count
    at a time, to feed the schedule's progress history; with `stop_when_done`, the wait
    ends at the first poll that sees all `total` sources settled, like the waiter.
    """
    t, times, history = 0.0, [0.0], []
    while True:
        if settled_at is not None:
            history.append(Observation(at=t, settled=settled_at(t), total=total))
            if stop_when_done and history[-1].settled >= total:
                return times
        polls = len(times)
        delay = schedule.next_delay(t, timeout, history, polls, rands[(polls - 1) % len(rands)])
        if delay is None:
            return times
        t += delay
        times.append(t)
        assert len(times) < 10_000, "the schedule does not converge on its deadline"


def gaps(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def detection_delay(finish: float, times: Sequence[float]) -> float | None:
    """Seconds between an all-at-once finish and the first poll that sees it (None: never seen)."""
    seen = [p for p in times if p >= finish]
    return seen[0] - finish if seen else None


def one_by_one(sources: int, finish: float) -> Callable[[float], int]:
    """Sources settling evenly, source n at finish * n / sources (like the sandbox's ds-sync-N)."""
    return lambda t: min(sources, math.floor(sources * t / finish + 1e-9))


# --- shape of the sequence -------------------------------------------------------


def test_the_first_four_intervals_are_the_floor_without_jitter() -> None:
    for polls in range(1, S.warmup_polls + 1):
        for rand in (0.0, 0.5, 1.0):
            assert S.base_interval(3.0, polls, rand) == S.floor
            assert S.next_delay(float(polls - 1), 45.0, [], polls, rand) == S.floor
    for rand in (0.0, 0.37, 1.0):
        assert poll_times(45.0, [rand])[:5] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_after_the_warmup_the_interval_is_0_6_of_the_time_waited_up_to_the_cap() -> None:
    polls = S.warmup_polls + 1
    assert S.base_interval(4.0, polls) == pytest.approx(2.4)
    assert S.base_interval(10.24, polls) == pytest.approx(6.144)
    assert S.base_interval(16.0, polls) == pytest.approx(9.6)
    assert S.base_interval(16.7, polls) == S.cap  # 0.6 x 16.7 = 10.02
    assert S.base_interval(500.0, polls) == S.cap
    assert S.base_interval(0.5, polls) == S.floor  # 0.6 x 0.5 is below the floor


def test_without_jitter_45_seconds_take_eleven_polls_ending_at_the_deadline() -> None:
    assert poll_times(45.0) == pytest.approx(NO_JITTER_45)


def test_with_the_most_jitter_45_seconds_take_twelve_polls() -> None:
    """Every interval after the warm-up 10% shorter: 4 -> 6.16 -> 9.4864 -> ... -> 9 s at the cap."""
    times = poll_times(45.0, [0.0])
    assert times == pytest.approx(
        [0.0, 1.0, 2.0, 3.0, 4.0, 6.16, 9.4864, 14.609056, 22.4979462, 31.4979462, 40.4979462, 45.0]
    )


def test_jitter_only_shortens_a_later_interval_by_at_most_its_fraction() -> None:
    polls = S.warmup_polls + 1
    for elapsed in (3.0, 10.0, 100.0):
        base = S.base_interval(elapsed, polls)
        assert S.next_delay(elapsed, 900.0, [], polls, 1.0) == pytest.approx(base)
        assert S.next_delay(elapsed, 900.0, [], polls, 0.0) == pytest.approx(base * (1 - S.jitter))
        assert S.next_delay(elapsed, 900.0, [], polls, 0.5) == pytest.approx(base * (1 - S.jitter / 2))


def test_base_interval_grows_from_floor_to_cap_and_never_shrinks() -> None:
    values = [S.base_interval(e / 10, S.warmup_polls + 1) for e in range(0, 10_000)]
    assert values[0] == S.floor
    assert values[-1] == S.cap
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert all(S.floor <= v <= S.cap for v in values)


@settings(max_examples=300, deadline=None)
@given(timeout=Timeouts, rands=Rands)
def test_polls_increase_and_the_last_is_exactly_at_the_deadline(timeout: float, rands: list[float]) -> None:
    times = poll_times(timeout, rands)
    assert all(b > a for a, b in itertools.pairwise(times))
    assert all(t <= timeout + EPS for t in times)
    assert math.isclose(times[-1], timeout, abs_tol=EPS)
    assert S.next_delay(times[-1], timeout, [], len(times), 1.0) is None


# --- the cap, the tail rule ------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(timeout=Timeouts, rands=Rands)
@example(timeout=42.0, rands=[1.0])  # the old schedule's last interval was 11.75 s here
@example(timeout=47.0, rands=[1.0])
@example(timeout=45.0, rands=[0.5])
def test_no_interval_exceeds_the_cap_including_the_last(timeout: float, rands: list[float]) -> None:
    """So the answer a user gets is never older than the cap."""
    assert max(gaps(poll_times(timeout, rands)), default=0.0) <= S.cap + EPS


@settings(max_examples=300, deadline=None)
@given(
    timeout=Timeouts,
    rands=Rands,
    sources=st.integers(min_value=1, max_value=200),
    finish=st.floats(min_value=0.5, max_value=2000.0),
)
def test_a_progressing_dataset_keeps_the_cap_and_polls_exactly_at_the_deadline_too(
    timeout: float, rands: list[float], sources: int, finish: float
) -> None:
    """Sources that settle one by one but are not all done before the deadline (the last never settles)."""
    settled = one_by_one(sources, finish)
    times = poll_times(timeout, rands, settled_at=lambda t: min(sources - 1, settled(t)), total=sources)
    assert all(b > a for a, b in itertools.pairwise(times))
    assert math.isclose(times[-1], timeout, abs_tol=EPS)
    assert max(gaps(times), default=0.0) <= S.cap + EPS


def test_a_poll_landing_just_before_the_deadline_merges_into_it_when_that_keeps_the_cap() -> None:
    """At 16.384 s the next interval is 9.8304 s; 9.916 s are left: one poll at 26.3 s, not two."""
    times = poll_times(26.3)
    assert times == pytest.approx([*NO_JITTER_45[:8], 26.3])
    assert gaps(times)[-1] == pytest.approx(9.916)


def test_a_poll_landing_just_before_the_deadline_leaves_exactly_the_cap_when_merging_would_not() -> None:
    """At 36.2144 s the interval is 10 s and 10.7856 s are left: merging would make a 10.79 s
    interval, so the next poll comes 10 s before the deadline instead (the old schedule merged)."""
    times = poll_times(47.0)
    assert times == pytest.approx([*NO_JITTER_45[:10], 37.0, 47.0])
    assert gaps(times)[-1] == pytest.approx(S.cap)


def test_42_seconds_end_with_an_interval_within_the_cap() -> None:
    """The old schedule's counterexample (a last interval of 11.75 s)."""
    times = poll_times(42.0)
    assert times == pytest.approx([*NO_JITTER_45[:10], 42.0])
    assert max(gaps(times)) <= S.cap


@settings(max_examples=300, deadline=None)
@given(timeout=Timeouts, rands=Rands)
def test_no_two_polls_of_a_wait_without_progress_come_closer_than_tail_of_the_shortest_interval(
    timeout: float, rands: list[float]
) -> None:
    """Warm-up intervals are 1 s, later ones at least 0.9 s; a poll merged into the deadline, or
    the one that leaves at most the cap before it, comes at least `tail` of an interval after the
    previous one, or `min_gap` after it (the cap-keeping step once polled again 80 microseconds
    later: a wasted request)."""
    times = poll_times(timeout, rands)
    assert min(gaps(times)) >= S.tail * S.floor * (1 - S.jitter) - EPS, times


def test_the_cap_keeping_step_no_longer_polls_twice_within_microseconds() -> None:
    """With a constant jitter draw of 0.751 a 45 s wait polled at 34.99992 s and again at 35.0 s."""
    times = poll_times(45.0, [0.751])
    assert min(gaps(times)) >= S.tail * S.floor * (1 - S.jitter)
    assert times[-1] == pytest.approx(45.0)
    assert max(gaps(times)) <= S.cap + EPS
    assert len(times) <= 12


@settings(max_examples=300, deadline=None)
@given(start=st.floats(min_value=0.0, max_value=1e7), timeout=Timeouts, rands=Rands)
def test_a_wait_on_a_clock_far_from_zero_reaches_its_deadline(
    start: float, timeout: float, rands: list[float]
) -> None:
    """The waiter measures elapsed time as now - start on a clock that may read 1e7: rounding must
    not leave the schedule asking for a sleep too short to move that clock (dev/texts_dump.py hung
    on a fake clock at 265.98 s, sleeping 2.8e-14 s forever)."""
    now, polls = start, 1
    while True:
        delay = S.next_delay(now - start, timeout, [], polls, rands[(polls - 1) % len(rands)])
        if delay is None:
            break
        assert now + delay > now, (now, delay)
        now, polls = now + delay, polls + 1
        assert polls < 1000


# --- request count -----------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(rands=Rands)
@example(rands=[0.5])
@example(rands=[0.0])
@example(rands=[0.751])
def test_45_seconds_take_at_most_12_polls_whatever_the_jitter(rands: list[float]) -> None:
    """Issue 3: a 45 s wait on a dataset that never finishes makes at most 12 requests."""
    assert len(poll_times(45.0, rands)) <= 12


def test_45_seconds_take_at_most_12_polls_on_a_grid_of_jitter_draws() -> None:
    """Exhaustive over 6 draw values for each of the 7 intervals that can be jittered."""
    values = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    worst = max(
        len(poll_times(45.0, [1.0] * S.warmup_polls + list(draws)))
        for draws in itertools.product(values, repeat=7)
    )
    assert worst == 12


# --- detection delay of an all-at-once finish ---------------------------------------------


def _limit(finish: float) -> float:
    """The interval the schedule would use at `finish`: min(cap, max(floor, ratio * finish))."""
    return min(S.cap, max(S.floor, S.ratio * finish))


@settings(max_examples=1000, deadline=None)
@given(
    timeout=Timeouts,
    rands=Rands,
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
@example(timeout=2.2, rands=[1.0], fraction=1.01 / 2.2)
@example(timeout=26.3, rands=[1.0], fraction=16.4 / 26.3)
def test_detection_delay_guarantee(timeout: float, rands: list[float], fraction: float) -> None:
    """A dataset finishing all at once at T <= timeout, without progress to predict from, is seen
    within min(cap, max(floor, 0.6 T)): the interval after the last poll before T is at most that
    (it is based on a time waited below T; jitter only shortens it; the cap-keeping step is shorter
    than the interval). The one exception is the poll merged into the deadline poll, which can be up to
    `tail` (30%) of an interval later, but never past the cap: min(cap, 1.3 x min(cap, max(floor, 0.6 T))).
    """
    finish = fraction * timeout
    times = poll_times(timeout, rands)
    delay = detection_delay(finish, times)
    assert delay is not None
    seen_at = finish + delay
    if seen_at < timeout - EPS:
        assert delay <= _limit(finish) + EPS
    else:
        assert delay <= min(S.cap, (1 + S.tail) * _limit(finish)) + EPS


def test_the_detection_delay_bound_is_reached() -> None:
    """The bound above is the true one, not a loose one: a finish just after a poll waits a whole interval."""
    times = poll_times(900.0)
    assert times[7:9] == pytest.approx([16.384, 26.2144])
    delay = detection_delay(16.385, times)
    assert delay == pytest.approx(26.2144 - 16.385)
    assert delay == pytest.approx(_limit(16.385), abs=2e-3)


def test_a_merged_deadline_poll_can_see_a_finish_later_than_the_interval_but_within_the_cap() -> None:
    # 45 s is not affected; a short timeout is: 2.2 s polls at 0, 1 and 2.2 (the 2 s poll merged).
    delay = detection_delay(1.01, poll_times(2.2))
    assert delay == pytest.approx(1.19)
    assert _limit(1.01) < delay <= (1 + S.tail) * _limit(1.01)
    # At the cap: a 26.3 s wait polls at 16.384 then 26.3 s; a finish at 16.4 s is seen 9.9 s late.
    delay = detection_delay(16.4, poll_times(26.3))
    assert delay == pytest.approx(9.9)
    assert _limit(16.4) < delay <= S.cap


@pytest.mark.parametrize("finish", [0.0, 0.5, 1.0, 2.5, 3.0, 3.01, 3.99, 4.0])
@pytest.mark.parametrize("rand", [0.0, 0.3, 0.7, 1.0])
def test_a_finish_in_the_first_four_seconds_is_seen_within_a_second_whatever_the_jitter(
    finish: float, rand: float
) -> None:
    """Issue 3: a dataset that finishes at t=3 s is reported within 1 s (the warm-up polls)."""
    delay = detection_delay(finish, poll_times(45.0, [rand]))
    assert delay is not None and delay <= 1.0
    assert detection_delay(3.0, poll_times(45.0, [rand])) == 0.0


def test_all_at_once_finish_can_be_seen_late_by_far_more_than_10_percent() -> None:
    """Not a bug by itself, a limit of any design worth knowing (see the benchmark).

    Without progress to extrapolate from, the interval is 0.6 of the time waited, so a finish right
    after a poll is seen up to 0.6 T later: the issue's max(1 s, 10%) target cannot hold in the worst
    case. It could not with any schedule that also makes at most 12 polls in 45 s: 1 s intervals that
    grow by at most 10% per poll need about 26 polls to cover 45 s.
    """
    times = poll_times(900.0)
    assert times[6:8] == pytest.approx([10.24, 16.384])
    delay = detection_delay(10.25, times)
    assert delay == pytest.approx(6.134)
    assert delay > max(1.0, 0.1 * 10.25)


# --- progress prediction ---------------------------------------------------------------


def _history(*points: tuple[float, int], total: int = 10) -> list[Observation]:
    return [Observation(at=at, settled=settled, total=total) for at, settled in points]


AFTER_WARMUP = S.warmup_polls + 2  # `polls` for a delay asked for after the warm-up


def test_prediction_moves_the_next_poll_up_to_the_predicted_finish() -> None:
    # The count changed between 0 s and 10 s (taken as 5 s, 3 settled) and between 10 s and 20 s
    # (taken as 15 s, 6 settled): 3 sources in 10 s, 0.3 sources/s; the 4 left settle 13.3 s after 15 s.
    history = _history((0.0, 0), (10.0, 3), (20.0, 6))
    assert S.predicted_finish(history) == pytest.approx(15.0 + 4 / 0.3)
    assert S.base_interval(20.0, AFTER_WARMUP) == 10.0
    assert S.next_delay(20.0, 900.0, history, AFTER_WARMUP, 1.0) == pytest.approx(15.0 + 4 / 0.3 - 20.0)


def test_prediction_measures_the_rate_up_to_the_last_change() -> None:
    """Polls that saw no change since do not lower the rate (until progress counts as stalled)."""
    history = _history((0.0, 0), (10.0, 3), (20.0, 6), (20.0, 6))
    assert S.predicted_finish(history) == pytest.approx(15.0 + 4 / 0.3)
    history = _history((0.0, 2), (10.0, 2), (14.0, 4), (16.0, 4))  # 2 sources in 12 s - 0 s
    assert S.predicted_finish(history) == pytest.approx(12.0 + 6 / (2 / 12))


def test_prediction_stops_once_progress_has_stalled_for_two_sources_worth_of_time() -> None:
    # 0.3 sources/s; the last change was seen at 20 s: two sources' worth is 6.7 s, up to 26.7 s.
    finish = 15.0 + 4 / 0.3
    assert S.predicted_finish(_history((0.0, 0), (10.0, 3), (20.0, 6))) == pytest.approx(finish)
    assert S.predicted_finish(_history((0.0, 0), (10.0, 3), (20.0, 6), (26.0, 6))) == pytest.approx(finish)
    assert S.predicted_finish(_history((0.0, 0), (10.0, 3), (20.0, 6), (27.0, 6))) is None
    stalled = _history((0.0, 0), (10.0, 3), (20.0, 6), (30.0, 6))
    assert S.predicted_finish(stalled) is None
    assert S.next_delay(30.0, 900.0, stalled, AFTER_WARMUP, 1.0) == S.base_interval(30.0, AFTER_WARMUP)


def test_prediction_never_polls_sooner_than_min_gap() -> None:
    # 6 sources from 3 s to 16 s: done 2 / (6 / 13) s after 16 s, at 20.3 s
    history = _history((0.0, 0), (6.0, 2), (10.0, 4), (14.0, 6), (18.0, 8))
    assert S.predicted_finish(history) == pytest.approx(16.0 + 2 / (6 / 13))
    assert S.next_delay(19.9, 900.0, history, AFTER_WARMUP, 1.0) == S.min_gap  # finish 0.1 s away


def test_an_overdue_prediction_backs_off_min_gap_then_doubling_then_gives_up() -> None:
    """9 sources, 8 settled at 6/13 sources/s: the last one is due at 18.17 s. It does not settle:
    polls after 0.5 and 0.5 s (min_gap), then the time overdue (0.83, 1.67, 3.33 s), and once
    more than 2 sources' worth of time (4.33 s) has passed since the poll at 18 s, progress counts
    as stalled and the interval is the base one again."""
    history = _history((0.0, 0), (6.0, 2), (10.0, 4), (14.0, 6), (18.0, 8), total=9)
    assert S.predicted_finish(history) == pytest.approx(16.0 + 13 / 6)
    t, delays = 18.0, []
    for _ in range(6):
        delay = S.next_delay(t, 900.0, history, len(history), 1.0)
        assert delay is not None
        delays.append(delay)
        t += delay
        history.append(Observation(at=t, settled=8, total=9))
    assert delays == pytest.approx([0.5, 0.5, 5 / 6, 5 / 3, 10 / 3, 10.0])
    assert S.predicted_finish(history) is None


def test_prediction_never_delays_a_poll() -> None:
    history = _history((0.0, 0), (100.0, 1))  # 1 source in 50 s: done in 450 s more
    assert S.predicted_finish(history) == pytest.approx(500.0)
    assert S.next_delay(100.0, 900.0, history, AFTER_WARMUP, 1.0) == S.base_interval(100.0, AFTER_WARMUP)


def test_prediction_does_not_shorten_the_warmup() -> None:
    history = _history((0.0, 0), (1.0, 5))  # half done in 1 s
    assert S.next_delay(1.0, 900.0, history, 2, 1.0) == S.floor


@settings(max_examples=500, deadline=None)
@given(
    elapsed=st.floats(min_value=0.0, max_value=899.0),
    timeout=Timeouts,
    rand=st.floats(min_value=0.0, max_value=1.0),
    polls=st.integers(min_value=1, max_value=200),
    counts=st.lists(st.integers(min_value=0, max_value=10), min_size=0, max_size=8),
    ordered=st.booleans(),
    totals=st.sampled_from([(10, 10), (10, 12)]),
)
def test_any_history_gives_a_delay_within_the_cap_and_the_deadline(
    elapsed: float,
    timeout: float,
    rand: float,
    polls: int,
    counts: list[int],
    ordered: bool,
    totals: tuple[int, int],
) -> None:
    """Whatever the counts did (even going back, or the total growing), the schedule answers sanely:
    never past the deadline or the cap, and faster than the base interval only for a prediction
    (never below min_gap) or for the steps of the tail rule."""
    if timeout - elapsed <= EPS:  # the schedule counts the last nanosecond as the deadline
        assert S.next_delay(elapsed, timeout, [], polls, rand) is None
        return
    settled = sorted(counts) if ordered else counts
    history = [
        Observation(at=elapsed * (i + 1) / len(settled), settled=s, total=totals[i == len(settled) - 1])
        for i, s in enumerate(settled)
    ]
    delay = S.next_delay(elapsed, timeout, history, polls, rand)
    remaining = timeout - elapsed
    base = S.base_interval(elapsed, polls, rand)
    assert delay is not None
    assert 0 < delay <= remaining + EPS
    assert delay <= S.cap + EPS
    assert delay <= base + EPS or math.isclose(delay, remaining, abs_tol=EPS)
    if not (
        math.isclose(delay, remaining, abs_tol=EPS) or math.isclose(remaining - delay, S.cap, abs_tol=EPS)
    ):
        assert S.min_gap - EPS <= delay
        if not history or S.predicted_finish(history) is None:
            assert delay == pytest.approx(base)


def test_no_prediction_without_progress_or_with_a_changed_total() -> None:
    assert S.predicted_finish(_history((5.0, 3))) is None
    assert S.predicted_finish(_history((0.0, 3), (10.0, 3))) is None
    going_back = _history((0.0, 5), (10.0, 4))
    assert S.predicted_finish(going_back) is None
    grown = [Observation(0.0, 0, 10), Observation(10.0, 5, 12)]  # files were added meanwhile
    assert S.predicted_finish(grown) is None
    assert S.next_delay(10.0, 900.0, [], AFTER_WARMUP, 1.0) == S.base_interval(10.0, AFTER_WARMUP)


def test_prediction_of_an_empty_history_is_none() -> None:
    assert S.predicted_finish([]) is None


def test_the_final_poll_before_a_deadline_may_follow_the_previous_one_closer_than_min_gap() -> None:
    """The deadline poll is not bound by min_gap; it is at least `tail` x min_gap after the previous one."""
    history = _history((0.0, 0), (6.0, 2), (10.0, 4), (14.0, 6), (18.0, 8))  # done at 20 s, by prediction
    first = S.next_delay(19.9, 20.6, history, AFTER_WARMUP, 1.0)  # 0.7 s left: a min_gap poll leaves 0.2 s
    assert first == S.min_gap
    last = S.next_delay(19.9 + first, 20.6, history, AFTER_WARMUP, 1.0)
    assert last == pytest.approx(0.2)
    assert S.tail * S.min_gap <= last < S.min_gap


# --- one-by-one progress and the 10% target ------------------------------------------------


def seen_late(sources: int, finish: float, rands: Sequence[float] = (1.0,), timeout: float = 900.0) -> float:
    """Detection delay of a dataset whose sources settle one by one, the last at `finish`."""
    times = poll_times(
        timeout, rands, settled_at=one_by_one(sources, finish), total=sources, stop_when_done=True
    )
    assert one_by_one(sources, finish)(times[-1]) == sources, "not seen before the deadline"
    return times[-1] - finish


@pytest.mark.parametrize("finish", [2.0, 10.0, 60.0, 300.0])
@pytest.mark.parametrize("rand", [0.0, 0.5, 1.0])
def test_one_by_one_finishes_of_the_benchmark_are_seen_within_10_percent(finish: float, rand: float) -> None:
    """The benchmark's finish times (10 sources): the prediction meets max(1 s, 10% of T)."""
    assert seen_late(10, finish, [rand]) <= max(1.0, 0.1 * finish)


@pytest.mark.parametrize(
    ("finish", "rand"),
    [
        (12.0, 1.0),
        pytest.param(
            18.0,
            1.0,
            marks=pytest.mark.xfail(
                strict=True,
                reason="BUG: with 10 sources the counts are coarse: over 18 s without jitter the rate "
                "measured between the first and the last change predicts the finish 3.2 s late (limit "
                "1.8 s); the benchmark's sweep finds such misses at 5 of 135 finish times",
            ),
        ),
        (17.0, 0.0),
    ],
    ids=["12s", "18s", "17s-jitter"],
)
def test_one_by_one_finishes_are_seen_within_10_percent_at_any_finish_time(
    finish: float, rand: float
) -> None:
    assert seen_late(10, finish, [rand]) <= max(1.0, 0.1 * finish)


@pytest.mark.parametrize("finish", [30.0, 57.0])
def test_one_by_one_finishes_of_many_sources_are_seen_within_10_percent(finish: float) -> None:
    assert seen_late(100, finish) <= max(1.0, 0.1 * finish)
