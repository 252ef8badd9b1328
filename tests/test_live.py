"""The poller manager alone (no MCP): failures during polling, shared pollers, failing channels."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from live_support import StepClock, until

from pd_mcp.errors import RateLimited, UpstreamUnavailable
from pd_mcp.live import LiveStatus, SubscriptionRefused, dataset_of
from pd_mcp.models import Counts


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.uris: list[str] = []
        self.fail = fail

    async def resource_updated(self, uri: str) -> None:
        if self.fail:
            raise anyio.BrokenResourceError
        self.uris.append(uri)


def fetch_from(answers: list[Counts | Exception]) -> tuple[Callable[[str], object], list[str]]:
    asked: list[str] = []

    async def fetch(dataset_id: str) -> Counts:
        asked.append(dataset_id)
        answer = answers[min(len(asked), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch, asked


async def step(clock: StepClock, live: LiveStatus, seconds: float) -> None:
    await until(lambda: clock.sleeping >= len(live.watching()))
    clock.advance(seconds)
    await until(lambda: clock.sleeping >= len(live.watching()))


SYNCING, DONE = Counts(1, 2, 0), Counts(3, 0, 0)


async def test_transient_failures_do_not_end_a_subscription_and_retry_after_is_kept() -> None:
    clock = StepClock()
    fetch, asked = fetch_from(
        [SYNCING, RateLimited("slow down", retry_after=5.0), UpstreamUnavailable("5xx"), DONE]
    )
    live = LiveStatus(fetch, clock=clock)  # type: ignore[arg-type]
    channel = Recorder()
    async with live.running():
        live.subscribe("s", "ds-a", channel)
        await step(clock, live, 1.0)  # first poll at 0, second (429) at 1
        assert len(asked) == 2 and clock.sleeps[-1] == 5.0
        await step(clock, live, 5.0)  # the 5xx
        await step(clock, live, 1.0)
        assert not live.watching()
    assert channel.uris == ["powerdrill://datasets/ds-a/status"]  # the final one only


async def test_a_channel_that_fails_loses_its_subscription_and_the_others_keep_theirs() -> None:
    clock = StepClock()
    fetch, _ = fetch_from([SYNCING, Counts(2, 1, 0), DONE])
    live = LiveStatus(fetch, clock=clock)  # type: ignore[arg-type]
    good, broken = Recorder(), Recorder(fail=True)
    async with live.running():
        live.subscribe("good", "ds-a", good)
        live.subscribe("broken", "ds-a", broken)
        await step(clock, live, 1.0)
        assert live.subscriptions("broken") == frozenset() and live.subscriptions("good") == {"ds-a"}
        await step(clock, live, 1.0)
    assert len(good.uris) == 2


async def test_subscribing_twice_is_one_subscription_and_the_cap_counts_datasets() -> None:
    fetch, _ = fetch_from([SYNCING])
    live = LiveStatus(fetch, clock=StepClock(), max_per_session=2)  # type: ignore[arg-type]
    async with live.running():
        live.subscribe("s", "ds-a", Recorder())
        live.subscribe("s", "ds-a", Recorder())
        live.subscribe("s", "ds-b", Recorder())
        with pytest.raises(SubscriptionRefused, match="2"):
            live.subscribe("s", "ds-c", Recorder())
        live.end_session("s")
        assert not live.watching()


def test_subscribing_outside_a_running_server_is_refused() -> None:
    fetch, _ = fetch_from([SYNCING])
    with pytest.raises(SubscriptionRefused):
        LiveStatus(fetch).subscribe("s", "ds-a", Recorder())  # type: ignore[arg-type]


def test_the_uri_rules() -> None:
    assert dataset_of("powerdrill://datasets/ds-1.a_b/status") == "ds-1.a_b"
    for bad in ("powerdrill://datasets//status", "powerdrill://datasets/a b/status", "https://x/status"):
        with pytest.raises(Exception) as caught:
            dataset_of(bad)
        assert type(caught.value).__name__ == "InvalidArgument"
