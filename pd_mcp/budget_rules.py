"""Pure rules of the request budget: how far apart a replica spaces its requests.

Kept apart from the I/O (`shared_budget`) so the arithmetic that guarantees
"no one-second window upstream holds more than the budget" is tested alone.
Spacing is widened by `MARGIN` (10%) for jitter on the way: measured, exactly
the budget gave 21 in the busiest second, the margin gave 19-20.
"""

from __future__ import annotations

import math

MARGIN = 1.1


def shared_interval(rate: float) -> float:
    """Seconds between two requests of the whole fleet when it shares one budget."""
    return MARGIN / rate


def share_interval(rate: float, replicas: int) -> float:
    """Seconds between two requests of one replica that takes its share of `replicas`.

    Whole requests per second, rounded down: replicas that run independently fall into
    step, and 20/3 = 6.67 per second each still lets 7 of each into one second.
    """
    replicas = max(1, replicas)
    per_replica = math.floor(rate / replicas)
    if per_replica >= 1:
        return MARGIN / per_replica
    return MARGIN * replicas / rate


class Spacer:
    """Grants evenly spaced moments on a clock it is given (no sleeping here)."""

    def __init__(self) -> None:
        self._next = -math.inf

    def reserve(self, now: float, interval: float) -> float:
        """The moment the next request may go (never before `now`), and book it."""
        at = max(now, self._next)
        self._next = at + interval
        return at

    def not_before(self, moment: float) -> None:
        """No grant before `moment` (the last request another path let through)."""
        self._next = max(self._next, moment)
