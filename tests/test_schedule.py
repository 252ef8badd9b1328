"""The polling schedule on its own: pure arithmetic, no clock, no I/O.

The waiter polls once before it asks the schedule anything, so every poll
sequence here starts at 0 and each later poll is the previous one plus
`next_delay(...)`. The tests state what the schedule guarantees today; where
a target of issue 3 is not met, an `xfail(strict=True)` test shows it with a
concrete counterexample.
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


def poll_times(
    timeout: float,
    rands: Sequence[float] = (1.0,),
    *,
    schedule: PollSchedule = S,
    settled_at: Callable[[float], int] | None = None,
    total: int = 10,
) -> list[float]:
    """Poll times (seconds since the start) of a wait that never ends early.

    `rands` are the jitter draws, reused cyclically. `settled_at` gives the
    settled count at a time, to feed the schedule's progress history.
    """
    t, times, history = 0.0, [0.0], []
    while True:
        if settled_at is not None:
            history.append(Observation(at=t, settled=settled_at(t), total=total))
        delay = schedule.next_delay(t, timeout, history, rands[(len(times) - 1) % len(rands)])
        if delay is None:
            return times
        t += delay
        times.append(t)
        assert len(times) < 10_000, "the schedule does not converge on its deadline"


def detection_delay(finish: float, times: Sequence[float]) -> float | None:
    """Seconds between an all-at-once finish and the first poll that sees it (None: never seen)."""
    seen = [p for p in times if p >= finish]
    return seen[0] - finish if seen else None


# --- shape of the sequence -------------------------------------------------------


def test_first_delay_is_the_floor_and_the_first_seconds_poll_about_every_second() -> None:
    assert S.next_delay(0.0, 45.0, [], 1.0) == S.floor
    assert poll_times(45.0)[:5] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_without_jitter_45_seconds_take_twelve_polls_ending_at_the_deadline() -> None:
    assert poll_times(45.0) == pytest.approx(
        [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 9.0, 13.5, 20.25, 30.25, 40.25, 45.0]
    )


def test_jitter_only_shortens_an_interval_by_at_most_its_fraction() -> None:
    for elapsed in (0.0, 3.0, 10.0, 100.0):
        base = S.base_interval(elapsed)
        assert S.next_delay(elapsed, 900.0, [], 1.0) == pytest.approx(base)
        assert S.next_delay(elapsed, 900.0, [], 0.0) == pytest.approx(base * (1 - S.jitter))


def test_base_interval_grows_from_floor_to_cap_and_never_shrinks() -> None:
    values = [S.base_interval(e / 10) for e in range(0, 10_000)]
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
    assert S.next_delay(times[-1], timeout, [], 1.0) is None


@settings(max_examples=300, deadline=None)
@given(timeout=Timeouts, rands=Rands)
def test_intervals_stay_under_the_cap_except_the_merged_deadline_poll(
    timeout: float, rands: list[float]
) -> None:
    """The true guarantee: only the stretch that ends at the deadline may exceed the cap, by `tail`."""
    times = poll_times(timeout, rands)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g <= S.cap + EPS for g in gaps[:-1])
    assert gaps[-1] <= (1 + S.tail) * S.cap + EPS


@pytest.mark.xfail(
    strict=True,
    reason="BUG: the tail rule merges a poll landing within 30% of an interval before the deadline into "
    "the deadline poll, so the last interval reaches 1.3 x cap (11.75 s for a 42 s wait, up to 12.95 s), "
    "past the 10 s cap",
)
def test_no_interval_exceeds_the_cap() -> None:
    times = poll_times(42.0)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= S.cap, f"last interval {gaps[-1]:.2f} s after a poll at {times[-2]:.2f} s"


@settings(max_examples=200, deadline=None)
@given(timeout=Timeouts, rands=Rands, settled_rate=st.floats(min_value=0.01, max_value=5.0))
def test_a_progressing_dataset_never_polls_past_the_deadline_either(
    timeout: float, rands: list[float], settled_rate: float
) -> None:
    times = poll_times(timeout, rands, settled_at=lambda t: min(9, int(settled_rate * t)))
    assert all(b > a for a, b in itertools.pairwise(times))
    assert math.isclose(times[-1], timeout, abs_tol=EPS)


# --- request count -----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(rands=Rands)
def test_45_seconds_never_take_more_than_13_polls(rands: list[float]) -> None:
    """What the code guarantees for the default 45 s: 12 polls without jitter, 13 with it."""
    assert len(poll_times(45.0, rands)) <= 13


@pytest.mark.xfail(
    strict=True,
    reason="BUG: issue 3 asks for at most 12 requests in a 45 s wait on a dataset that never finishes; "
    "with jitter the schedule makes 13 (any jitter draw near 0.5 or below does it; with "
    "random.Random seeds 0..1999, 83% of waits make 13)",
)
@settings(max_examples=300, deadline=None)
@given(rands=Rands)
@example(rands=[0.5])
@example(rands=[0.0])
def test_45_seconds_take_at_most_12_polls_whatever_the_jitter(rands: list[float]) -> None:
    assert len(poll_times(45.0, rands)) <= 12


# --- detection delay ---------------------------------------------------------------


def _limit(finish: float) -> float:
    """The interval the schedule would use at `finish`: min(cap, max(floor, ratio * finish))."""
    return min(S.cap, max(S.floor, S.ratio * finish))


@settings(max_examples=500, deadline=None)
@given(
    timeout=Timeouts,
    rands=Rands,
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_detection_delay_guarantee(timeout: float, rands: list[float], fraction: float) -> None:
    """A dataset finishing all at once at T <= timeout is seen within min(cap, max(1 s, T/2)).

    The one exception is the poll merged into the deadline poll, which may be up to `tail` (30%) later.
    """
    finish = fraction * timeout
    times = poll_times(timeout, rands)
    delay = detection_delay(finish, times)
    assert delay is not None
    seen_at = finish + delay
    if seen_at < timeout - EPS:
        assert delay <= _limit(finish) + EPS
    else:
        assert delay <= (1 + S.tail) * _limit(finish) + EPS


@pytest.mark.xfail(
    strict=True,
    reason="BUG: a finish just after the second-to-last poll is seen up to 1.3 x max(1 s, T/2) later "
    "(timeout 2.2 s, finish at 1.01 s: seen at 2.2 s, 1.19 s late), because of the same tail merge",
)
def test_detection_delay_is_at_most_max_1s_half_the_time_even_at_the_deadline() -> None:
    finish, timeout = 1.01, 2.2
    delay = detection_delay(finish, poll_times(timeout))
    assert delay is not None
    assert delay <= max(1.0, 0.5 * finish)


def test_a_finish_at_3s_is_seen_within_a_second_whatever_the_jitter() -> None:
    for r in (0.0, 0.3, 0.7, 1.0):
        delay = detection_delay(3.0, poll_times(45.0, [r]))
        assert delay is not None and delay <= 1.0


def test_all_at_once_finish_can_be_seen_late_by_far_more_than_10_percent() -> None:
    """Not a bug by itself, a limit of the design worth knowing (see the benchmark).

    Without progress to extrapolate from, the interval is half the time waited, so a finish right after
    a poll is seen up to T/2 later: the issue's max(1 s, 10%) target cannot hold in the worst case. It
    could not with any schedule that also makes at most 12 polls in 45 s: 1 s intervals that grow by at
    most 10% per poll need about 26 polls to cover 45 s.
    """
    times = poll_times(900.0)
    assert 9.0 in times and 13.5 in times
    delay = detection_delay(9.01, times)
    assert delay == pytest.approx(4.49)
    assert delay > max(1.0, 0.1 * 9.01)


# --- progress prediction ---------------------------------------------------------------


def _history(*points: tuple[float, int], total: int = 10) -> list[Observation]:
    return [Observation(at=at, settled=settled, total=total) for at, settled in points]


def test_prediction_moves_the_next_poll_up_to_the_predicted_finish() -> None:
    history = _history((0.0, 0), (10.0, 4), (20.0, 8))  # 0.4 sources/s, 2 left: done at 25 s
    assert S.predicted_finish(history) == pytest.approx(25.0)
    assert S.base_interval(20.0) == 10.0
    assert S.next_delay(20.0, 900.0, history, 1.0) == pytest.approx(5.0)


def test_prediction_never_polls_sooner_than_min_gap() -> None:
    history = _history((0.0, 0), (10.0, 5), (18.0, 9))  # 0.5 sources/s, 1 left: done at 20 s
    assert S.predicted_finish(history) == pytest.approx(20.0)
    assert S.next_delay(19.9, 900.0, history, 1.0) == S.min_gap  # finish 0.1 s away
    assert S.next_delay(25.0, 900.0, history, 1.0) == S.min_gap  # finish already overdue


def test_prediction_never_delays_a_poll() -> None:
    history = _history((0.0, 0), (100.0, 1))  # 0.01 sources/s: done in 900 s
    assert S.next_delay(100.0, 900.0, history, 1.0) == S.base_interval(100.0)


@settings(max_examples=300, deadline=None)
@given(
    elapsed=st.floats(min_value=0.0, max_value=899.0),
    timeout=Timeouts,
    rand=st.floats(min_value=0.0, max_value=1.0),
    counts=st.lists(st.integers(min_value=0, max_value=10), min_size=0, max_size=6),
)
def test_any_history_gives_a_delay_between_min_gap_and_the_base_interval(
    elapsed: float, timeout: float, rand: float, counts: list[int]
) -> None:
    if elapsed >= timeout:
        assert S.next_delay(elapsed, timeout, [], rand) is None
        return
    settled = sorted(counts)
    history = [
        Observation(at=elapsed * (i + 1) / len(settled), settled=s, total=10) for i, s in enumerate(settled)
    ]
    delay = S.next_delay(elapsed, timeout, history, rand)
    remaining = timeout - elapsed
    assert delay is not None
    assert delay <= remaining + EPS
    if delay != remaining:
        assert S.min_gap - EPS <= delay <= S.base_interval(elapsed) + EPS
    else:
        assert delay <= (1 + S.tail) * S.base_interval(elapsed) + EPS


def test_a_stalled_dataset_falls_back_to_the_base_interval() -> None:
    stalled = _history((0.0, 0), (10.0, 5), (20.0, 5))
    assert S.predicted_finish(stalled) is None
    assert S.next_delay(20.0, 900.0, stalled, 1.0) == S.base_interval(20.0)
    going_back = _history((0.0, 0), (10.0, 5), (20.0, 4))
    assert S.predicted_finish(going_back) is None


def test_prediction_needs_two_observations_and_a_stable_total() -> None:
    assert S.predicted_finish([]) is None
    assert S.predicted_finish(_history((5.0, 3))) is None
    grown = [Observation(0.0, 0, 10), Observation(10.0, 5, 12)]  # files were added meanwhile
    assert S.predicted_finish(grown) is None


def test_the_final_poll_before_a_deadline_may_follow_the_previous_one_closer_than_min_gap() -> None:
    """The deadline poll is not bound by min_gap; it is at least `tail` x min_gap after the previous one."""
    history = _history((0.0, 0), (10.0, 5), (18.0, 9))  # done at 20 s, by prediction
    first = S.next_delay(19.9, 20.6, history, 1.0)  # 0.7 s left: a min_gap poll still leaves 0.2 s
    assert first == S.min_gap
    last = S.next_delay(19.9 + first, 20.6, history, 1.0)
    assert last == pytest.approx(0.2)
    assert S.tail * S.min_gap <= last < S.min_gap
