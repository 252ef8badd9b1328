"""Resource subscriptions through the in-memory MCP client, in both protocol eras, on a stepped clock.

2025-11-25 subscribes with `resources/subscribe`, 2026-07-28 with a
`subscriptions/listen` stream. The sandbox runs on the same clock as the
server, so each step of the test is a moment of the dataset's sync.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest
from live_support import MODES, Setup, settle, until
from mcp import Client, MCPError
from mcp_types import INVALID_PARAMS

pytestmark = pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")


def uri(dataset_id: str) -> str:
    return f"powerdrill://datasets/{dataset_id}/status"


class Subscriber:
    """One client session and the updates it received."""

    def __init__(self, client: Client, mode: str) -> None:
        self.client = client
        self.mode = mode
        self.updates: list[str] = []
        self._streams: dict[str, AsyncExitStack] = {}

    async def subscribe(self, *uris: str) -> None:
        if self.mode == "legacy":
            for u in uris:
                await self.client.subscribe_resource(u)
            return
        stack = AsyncExitStack()
        sub = await stack.enter_async_context(self.client.listen(resource_subscriptions=list(uris)))
        tg = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tg.cancel_scope.cancel)

        async def consume() -> None:
            async for event in sub:
                self.updates.append(event.uri)  # type: ignore[union-attr]

        tg.start_soon(consume)
        self._streams[uris[0]] = stack

    async def unsubscribe(self, u: str) -> None:
        if self.mode == "legacy":
            await self.client.unsubscribe_resource(u)
        else:
            await self._streams.pop(u).aclose()

    async def aclose(self) -> None:
        while self._streams:
            await self._streams.popitem()[1].aclose()

    async def read(self, u: str) -> dict[str, Any]:
        result = await self.client.read_resource(u)
        return json.loads(result.contents[0].text)  # type: ignore[union-attr]


@asynccontextmanager
async def connected(setup: Setup, mode: str) -> AsyncIterator[Subscriber]:
    holder: list[Subscriber] = []

    async def on_message(message: Any) -> None:
        # (2026-07-28 events also reach this handler; they are counted from the listen stream)
        if mode == "legacy" and getattr(message, "method", None) == "notifications/resources/updated":
            holder[0].updates.append(message.params.uri)

    async with Client(setup.server, mode=mode, message_handler=on_message) as client:
        subscriber = Subscriber(client, mode)
        holder.append(subscriber)
        try:
            yield subscriber
        finally:
            await subscriber.aclose()


async def follow(
    setup: Setup, subscriber: Subscriber, dataset_id: str, steps: int = 60
) -> list[dict[str, Any]]:
    """Step the clock a second at a time until the poller ends; the report read after each update."""
    reports: list[dict[str, Any]] = []
    seen = 0
    for _ in range(steps):
        await settle(setup)
        await until(lambda: len(subscriber.updates) >= setup.runtime.live.sent)
        if len(subscriber.updates) > seen:
            seen = len(subscriber.updates)
            reports.append(await subscriber.read(uri(dataset_id)))
        if dataset_id not in setup.runtime.live.watching():
            break
        setup.clock.advance(1.0)
    return reports


@pytest.mark.parametrize("mode", MODES)
async def test_each_change_and_the_end_send_an_update(mode: str) -> None:
    setup = Setup()
    async with connected(setup, mode) as subscriber:
        await subscriber.subscribe(uri("ds-sync-12"))
        reports = await follow(setup, subscriber, "ds-sync-12")
        polls = setup.runtime.live.polls
        setup.clock.advance(120)
        await settle(setup)
    synched = [r["synched_count"] for r in reports]
    assert len(reports) >= 4, synched
    assert synched == sorted(set(synched)), "every update carries a change"
    assert reports[-1]["verdict"] == "ready" and reports[-1]["synched_count"] == 10
    assert all(r["verdict"] == "syncing" for r in reports[:-1])
    assert set(subscriber.updates) == {uri("ds-sync-12")}
    assert setup.runtime.live.polls == polls, "no polling after the final update"


@pytest.mark.parametrize("mode", MODES)
async def test_unsubscribing_stops_polling(mode: str) -> None:
    setup = Setup()
    async with connected(setup, mode) as subscriber:
        await subscriber.subscribe(uri("ds-stuck"))
        await settle(setup)
        setup.clock.advance(1.0)
        await settle(setup)
        assert setup.requests("ds-stuck") == 2
        await subscriber.unsubscribe(uri("ds-stuck"))
        await until(lambda: not setup.runtime.live.watching())
        for _ in range(5):
            setup.clock.advance(10.0)
            await settle(setup)
        assert setup.requests("ds-stuck") == 2


@pytest.mark.parametrize("mode", MODES)
async def test_the_end_of_the_session_stops_polling(mode: str) -> None:
    setup = Setup()
    async with connected(setup, mode) as subscriber:
        await subscriber.subscribe(uri("ds-stuck"))
        await settle(setup)
        assert setup.runtime.live.watching() == {"ds-stuck"}
    await until(lambda: not setup.runtime.live.watching())
    setup.clock.advance(60.0)
    await anyio.sleep(0.01)
    assert setup.requests("ds-stuck") == 1


async def test_closing_the_listen_stream_stops_polling_but_keeps_the_session() -> None:
    setup = Setup()
    async with connected(setup, "auto") as subscriber:
        await subscriber.subscribe(uri("ds-stuck"))
        await settle(setup)
        await subscriber.unsubscribe(uri("ds-stuck"))  # leaves the listen stream
        await until(lambda: not setup.runtime.live.watching())
        assert (await subscriber.read(uri("ds-ready")))["verdict"] == "ready"
    assert setup.requests("ds-stuck") == 1


@pytest.mark.parametrize("mode", MODES)
async def test_two_subscribers_of_one_dataset_cost_one_poller(mode: str) -> None:
    alone = Setup()
    async with connected(alone, mode) as only:
        await only.subscribe(uri("ds-sync-12"))
        await follow(alone, only, "ds-sync-12")
    shared = Setup()
    async with connected(shared, mode) as first, connected(shared, mode) as second:
        await first.subscribe(uri("ds-sync-12"))
        await second.subscribe(uri("ds-sync-12"))
        await follow(shared, first, "ds-sync-12")
        await until(lambda: len(second.updates) == len(first.updates))
        await second.aclose()  # listen streams close in the order their task scopes nest
        await first.aclose()
    assert shared.runtime.live.polls == alone.runtime.live.polls
    assert shared.requests("ds-sync-12") - len(first.updates) == alone.requests("ds-sync-12") - len(
        only.updates
    )
    assert len(first.updates) == len(only.updates) >= 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("powerdrill://datasets/ds-ready/sources", "not a resource pd-mcp serves"),
        ("powerdrill://ds-ready", "not a resource pd-mcp serves"),
        ("powerdrill://datasets/a%2Fb/status", "dataset_id"),
        ("powerdrill://datasets/../status", "dataset_id"),
    ],
)
async def test_bad_uris_are_refused_without_a_request(mode: str, bad: str, named: str) -> None:
    setup = Setup()
    async with connected(setup, mode) as subscriber:
        with pytest.raises(MCPError) as caught:
            await subscriber.subscribe(bad)
    assert caught.value.error.code == INVALID_PARAMS
    assert named in caught.value.error.message
    assert setup.sandbox.dataset_requests == {}
    assert not setup.runtime.live.watching()


@pytest.mark.parametrize("mode", MODES)
async def test_another_scheme_is_honoured_and_never_polls(mode: str) -> None:
    """What the spec's conformance suite expects (`test://watched-resource`): nothing to serve, no error."""
    setup = Setup()
    async with connected(setup, mode) as subscriber:
        await subscriber.subscribe("test://watched-resource")
        await settle(setup)
        await subscriber.unsubscribe("test://watched-resource")
    assert setup.sandbox.dataset_requests == {} and setup.runtime.live.polls == 0


@pytest.mark.parametrize("mode", MODES)
async def test_more_than_twenty_subscriptions_in_a_session_are_refused(mode: str) -> None:
    setup = Setup()
    wanted = [uri(f"ds-sync-{n}") for n in range(100, 121)]
    async with connected(setup, mode) as subscriber:
        with pytest.raises(MCPError) as caught:
            if mode == "legacy":
                for u in wanted:
                    await subscriber.subscribe(u)
            else:
                await subscriber.subscribe(*wanted)
        message = caught.value.error.message
        await settle(setup)
    assert "20" in message and "unsubscribe" in message
    assert "ds-sync-120" not in setup.sandbox.dataset_requests


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dataset_id", ["ds-forbidden", "no-such-dataset"])
async def test_a_dataset_that_errors_ends_with_one_update_and_reading_gives_the_error(
    mode: str, dataset_id: str
) -> None:
    setup = Setup()
    async with connected(setup, mode) as subscriber:
        await subscriber.subscribe(uri(dataset_id))
        await settle(setup)
        await until(lambda: len(subscriber.updates) == 1)
        assert not setup.runtime.live.watching()
        with pytest.raises(MCPError) as caught:
            await subscriber.read(uri(dataset_id))
    assert dataset_id in caught.value.error.message
    assert subscriber.updates == [uri(dataset_id)]


@pytest.mark.parametrize("mode", MODES)
async def test_a_dataset_without_change_is_dropped_after_the_lifetime(mode: str) -> None:
    setup = Setup()
    setup.runtime.live.lifetime = 30.0
    async with connected(setup, mode) as subscriber:
        await subscriber.subscribe(uri("ds-stuck"))
        for _ in range(40):
            await settle(setup)
            if not setup.runtime.live.watching():
                break
            setup.clock.advance(1.0)
        assert not setup.runtime.live.watching()
        assert 30.0 <= setup.clock.now() <= 31.0


@pytest.mark.parametrize("mode", MODES)
async def test_subscribe_is_advertised(mode: str) -> None:
    setup = Setup()
    async with connected(setup, mode) as subscriber:
        capabilities = subscriber.client.server_capabilities
    assert capabilities.resources is not None and capabilities.resources.subscribe is True
    assert capabilities.completions is not None


def test_the_lifetime_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_MCP_SUBSCRIPTION_LIFETIME", "120")
    assert Setup().runtime.live.lifetime == 120.0
    monkeypatch.setenv("PD_MCP_SUBSCRIPTION_LIFETIME", "soon")
    assert Setup().runtime.live.lifetime == 900.0  # an unusable value is logged and the default kept
