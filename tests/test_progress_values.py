"""The MCP progress values of one call: strictly increasing, honest about what has settled."""

from __future__ import annotations

import itertools
import math

import anyio
import pytest

from pd_mcp.progress_values import IncreasingProgress, strictly_increasing


def values(settled: list[int]) -> list[float]:
    progress = IncreasingProgress()
    return [progress.next(s) for s in settled]


def test_a_count_that_stands_still_still_increases_and_stays_below_the_next_source() -> None:
    got = values([0, 2, 2, 2, 2, 3, 3, 5])
    assert got[:2] == [0.0, 2.0] and got[5] == 3.0 and got[-1] == 5.0
    assert got[2:5] == pytest.approx([2.5, 2 + 2 / 3, 2.75])
    assert all(a < b for a, b in itertools.pairwise(got))
    assert [math.floor(v) for v in got] == [0, 2, 2, 2, 2, 3, 3, 5]  # the whole part is what settled


def test_a_thousand_polls_with_nothing_new_never_reach_the_next_integer() -> None:
    got = values([7] * 1000 + [8])
    assert all(a < b for a, b in itertools.pairwise(got))
    assert all(7 <= v < 8 for v in got[:-1]) and got[-1] == 8.0


def test_a_count_that_goes_back_never_takes_progress_back() -> None:
    got = values([3, 1, 1, 4])
    assert got[0] == 3.0 and all(3 < v < 4 for v in got[1:3]) and got[3] == 4.0
    assert all(a < b for a, b in itertools.pairwise(got))


def test_the_first_notification_is_the_count_itself_even_at_zero() -> None:
    assert values([0]) == [0.0] and values([0, 0]) == [0.0, 0.5]


def test_the_wrapper_keeps_total_and_leaves_out_one_the_value_would_exceed() -> None:
    sent: list[tuple[float, float | None, str | None]] = []

    async def report(progress: float, total: float | None, message: str | None) -> None:
        sent.append((progress, total, message))

    async def run() -> None:
        on_progress = strictly_increasing(report)
        for settled, total in ((2, 5), (2, 5), (5, 5), (4, 4)):  # at last a source was removed
            await on_progress(settled, total, f"{settled}/{total}")

    anyio.run(run)
    assert sent == [(2.0, 5, "2/5"), (2.5, 5, "2/5"), (5.0, 5, "5/5"), (5.5, None, "4/4")]


def test_every_call_starts_afresh() -> None:
    """One wrapper per request: a second wait on the same dataset starts from its own count."""
    sent: list[float] = []

    async def report(progress: float, total: float | None, message: str | None) -> None:
        sent.append(progress)

    async def run() -> None:
        for _ in range(2):
            on_progress = strictly_increasing(report)
            await on_progress(3, 5, None)
            await on_progress(3, 5, None)

    anyio.run(run)
    assert sent == [3.0, 3.5, 3.0, 3.5]
