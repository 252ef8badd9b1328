"""The `progress` values of one request's MCP progress notifications: strictly increasing.

Why: the waiter reports the sources settled (synchronized or failed) after
every poll, so a poll that found nothing new repeats the last number. The MCP
specification says `progress` MUST increase with each notification (a strict
host may drop or refuse a repeat), and hosts that reset a call's timeout on
progress (the TypeScript SDK's `resetTimeoutOnProgress`) need a notification
after every poll, so neither repeating nor skipping one will do.

The rule: the integer part is the sources settled; the k-th notification in a
row with nothing new adds k/(k+1) to it, which grows every time and never
reaches the next integer, so `progress / total` never claims a source that has
not settled. A wait whose sources have all settled ends exactly at `total`.
Should the count ever go back (a source synchronizing again), the value does
not: it keeps growing below the integer above the highest count seen. A
`total` the value would exceed (sources removed mid-wait) is left out, as the
specification allows for a total that is not known.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


class IncreasingProgress:
    """The values for one request: `next(settled)` is always greater than the one before."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.repeats = 0  # notifications in a row with nothing new since the last integer step

    def next(self, settled: float) -> float:
        if self.last is None or settled > self.last:
            self.last, self.repeats = float(settled), 0
            return self.last
        self.repeats += 1
        base = math.floor(self.last)
        value = base + self.repeats / (self.repeats + 1)
        if value <= self.last:  # beyond any real wait's number of polls; stay strictly increasing
            value = math.nextafter(self.last, base + 1)
        self.last = value
        return value


def strictly_increasing(report: ProgressFn) -> ProgressFn:
    """Wrap one request's progress callback (`ctx.report_progress`) so its values always increase."""
    values = IncreasingProgress()

    async def on_progress(settled: float, total: float | None, message: str | None) -> None:
        value = values.next(settled)
        await report(value, total if total is None or value <= total else None, message)

    return on_progress
