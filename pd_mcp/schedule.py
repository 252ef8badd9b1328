"""When to poll next: a small pure object, separate from the loop that uses it.

The interval grows with the time already waited (about half of it, so a
result is never late by much more than the wait so far), between a floor of
one second for the first seconds and a cap of ten, and is shortened by a
little random jitter so that many waiters do not poll in step. When the
counts show progress, the expected finish time is extrapolated and the next
poll moves up to it. The last poll is at the deadline, never after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Observation:
    """One successful poll: when (seconds since the start) and how many sources had settled."""

    at: float
    settled: int
    total: int


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Pure rules for the delay before the next poll."""

    floor: float = 1.0  # interval while the wait is young
    warmup: float = 4.0  # seconds during which the floor is used
    ratio: float = 0.5  # afterwards, interval = ratio * time waited ...
    cap: float = 10.0  # ... but never more than this
    jitter: float = 0.1  # each interval is shortened by up to this fraction
    min_gap: float = 0.5  # never poll faster than this, even for a predicted finish
    tail: float = 0.3  # skip a poll landing within this fraction of an interval before the deadline

    def base_interval(self, elapsed: float) -> float:
        """The interval without progress information."""
        if elapsed < self.warmup:
            return self.floor
        return min(self.cap, max(self.floor, self.ratio * elapsed))

    def predicted_finish(self, history: Sequence[Observation]) -> float | None:
        """When the remaining sources should have settled, from the rate seen so far, or None.

        Only while progress is still being made: a stalled dataset falls back to the base interval.
        """
        if len(history) < 2:
            return None
        first, previous, last = history[0], history[-2], history[-1]
        if last.total != first.total or last.settled <= previous.settled or last.at <= first.at:
            return None
        rate = (last.settled - first.settled) / (last.at - first.at)
        return last.at + (last.total - last.settled) / rate

    def next_delay(
        self, elapsed: float, timeout: float, history: Sequence[Observation], rand: float = 1.0
    ) -> float | None:
        """Seconds to sleep before the next poll, or None when the deadline has been polled.

        `rand` is a number in [0, 1]; 1.0 means no jitter.
        """
        remaining = timeout - elapsed
        if remaining <= 1e-9:
            return None
        interval = self.base_interval(elapsed) * (1.0 - self.jitter * (1.0 - rand))
        finish = self.predicted_finish(history)
        if finish is not None:
            interval = min(interval, max(self.min_gap, finish - elapsed))
        if remaining - interval < self.tail * interval:
            return remaining
        return interval
