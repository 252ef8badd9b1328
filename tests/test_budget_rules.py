"""The spacing rules: a replica's share never lets more than the budget into one second."""

from __future__ import annotations

import asyncio

import pytest

from pd_mcp.budget_rules import Spacer, share_interval, shared_interval
from pd_mcp.coalesce import Coalescer
from pd_mcp.settings import Settings


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7, 11, 20])
def test_replicas_in_step_at_their_share_stay_within_the_budget(replicas: int) -> None:
    rate = 20.0
    interval = share_interval(rate, replicas)
    per_second = sum(1 for k in range(100) if k * interval < 1.0)  # grants starting together
    assert per_second * replicas <= rate


def test_the_shared_interval_keeps_a_margin() -> None:
    assert shared_interval(20) == pytest.approx(0.055)


def test_a_spacer_books_moments_apart_and_never_before_a_given_one() -> None:
    spacer = Spacer()
    assert [spacer.reserve(0.0, 0.5) for _ in range(3)] == [0.0, 0.5, 1.0]
    spacer.not_before(5.0)
    assert spacer.reserve(2.0, 0.5) == 5.0


async def test_identical_reads_in_flight_share_one_result_and_a_cancelled_caller_leaves_it() -> None:
    reads = 0
    release = asyncio.Event()

    async def read(_flight: object) -> str:
        nonlocal reads
        reads += 1
        await release.wait()
        return f"answer {reads}"

    coalescer: Coalescer[str] = Coalescer()
    callers = [asyncio.ensure_future(coalescer.run("ds", read)) for _ in range(5)]
    await asyncio.sleep(0)
    callers[0].cancel()
    release.set()
    results = await asyncio.gather(*callers[1:])
    assert results == ["answer 1"] * 4 and reads == 1
    assert await coalescer.run("ds", read) == "answer 2"  # a later read is a new request


def test_a_redis_url_without_the_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "redis" else real(name))
    monkeypatch.setenv("PD_MCP_REDIS_URL", "redis://:hunter22@127.0.0.1:1/0")
    monkeypatch.setenv("POWERDRILL_USER_ID", "u")
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", "k" * 20)
    with pytest.raises(Exception, match=r'pip install "pd-mcp\[redis\]"') as caught:
        Settings().resolve()
    assert "hunter22" not in str(caught.value)


def test_a_redis_url_of_another_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_MCP_REDIS_URL", "http://127.0.0.1:6379")
    monkeypatch.setenv("POWERDRILL_USER_ID", "u")
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", "k" * 20)
    with pytest.raises(Exception, match="PD_MCP_REDIS_URL must be a redis://"):
        Settings().resolve()
