"""When to poll next: a small pure object, separate from the loop that uses it.

Four polls one second apart first (a dataset that finishes in the first
seconds is seen within one), then intervals of about 0.6 of the time waited so
far, at most 10 s, shortened by up to 10% of jitter so that many waiters do not
poll in step. That keeps a 45 s wait on a dataset that never finishes at 12
requests or fewer. When the counts move, the finish time is extrapolated from
the rate seen so far and the next poll moves up to it; if the prediction
passes without the dataset finishing, the polls back off again. The last poll
is at the deadline, never after it, and no two polls are more than the cap
apart, so the answer is never older than the cap.
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

    floor: float = 1.0  # the first intervals, without jitter
    warmup_polls: int = 4  # how many of them
    ratio: float = 0.6  # afterwards, interval = ratio * time waited ...
    cap: float = 10.0  # ... but never more than this
    jitter: float = 0.1  # each later interval is shortened by up to this fraction
    min_gap: float = 0.5  # never poll faster than this for a prediction
    tail: float = 0.3  # a poll landing within this fraction of an interval before the deadline moves
    stall: float = 2.0  # sources' worth of time without progress after which predictions stop

    def base_interval(self, elapsed: float, polls: int, rand: float = 1.0) -> float:
        """The interval without progress information; `polls` is how many polls were made."""
        if polls <= self.warmup_polls:
            return self.floor
        interval = min(self.cap, max(self.floor, self.ratio * elapsed))
        return interval * (1.0 - self.jitter * (1.0 - rand))

    def predicted_finish(self, history: Sequence[Observation]) -> float | None:
        """When the remaining sources should have settled, from the rate seen so far, or None.

        The rate is measured between the first and the last poll that saw the count change
        (each change taken as halfway since the poll before it; with one change, from the
        first poll); no prediction once progress has stalled.
        """
        if not history:
            return None
        first, last = history[0], history[-1]
        if last.total != first.total or last.settled <= first.settled:
            return None
        changes = [k for k in range(1, len(history)) if history[k].settled != history[k - 1].settled]
        i, j = changes[-1], changes[0]
        changed_at = (history[i - 1].at + history[i].at) / 2
        if i != j:  # from the first change to the last: no guess about when syncing began
            began_at, began = (history[j - 1].at + history[j].at) / 2, history[j].settled
        else:
            began_at, began = first.at, first.settled
        if changed_at <= began_at:
            return None
        rate = (history[i].settled - began) / (changed_at - began_at)
        # Stalled: polls since the one that saw the last change found nothing new, for longer
        # than `stall` sources would take at the rate seen.
        if rate <= 0 or (last.at - history[i].at) * rate > self.stall:
            return None
        return changed_at + (last.total - history[i].settled) / rate

    def next_delay(
        self, elapsed: float, timeout: float, history: Sequence[Observation], polls: int, rand: float = 1.0
    ) -> float | None:
        """Seconds to sleep before the next poll, or None once the deadline has been polled.

        `polls` counts the polls made so far (including failed ones); `rand` is a number
        in [0, 1], where 1.0 means no jitter.
        """
        remaining = timeout - elapsed
        if remaining <= 1e-9:
            return None
        interval = self.base_interval(elapsed, polls, rand)
        finish = self.predicted_finish(history) if polls > self.warmup_polls else None
        if finish is not None:
            # Up to the predicted finish; once it has passed, back off: 0.5 s, then doubling.
            due = finish - elapsed if finish > elapsed else max(self.min_gap, elapsed - finish)
            interval = min(interval, max(self.min_gap, due))
        if remaining <= interval:
            return remaining
        if remaining - interval < self.tail * interval:
            # The poll after this one would come just before the deadline: merge the two
            # when that keeps polls within the cap, else leave at most the cap to the end,
            # but never poll again sooner than `min_gap` (a wasted request, and on a clock far
            # from zero a sleep too short to move it).
            return remaining if remaining <= self.cap else max(remaining - self.cap, self.min_gap)
        return interval
