"""`wait_for_dataset_sync` through a real MCP client session, in both protocol eras.

`mode="legacy"` runs the 2025-11-25 handshake over in-memory JSON-RPC streams:
the server handles the call in its own task, progress arrives as
`notifications/progress`, and a client that abandons a call sends
`notifications/cancelled`, which makes the server cancel the handler's scope.
`mode="auto"` with an in-process server is the 2026-07-28 path: the client
calls the server's handler directly (no framing), progress is a direct
callback and cancellation is structural (the caller's cancel scope reaches the
handler). Upstream is respx answering from the server's `FakeClock`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
import respx
from mcp import Client
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from support import CANARY_KEY, make_config, text_of

from pd_mcp.clock import FakeClock
from pd_mcp.messages import progress_message
from pd_mcp.models import Counts
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import ApiConfig

BASE = "https://powerdrill.test/api"
DS = "dset-tool-1"
STATUS_PATH = f"/v2/team/datasets/{DS}/status"
SOURCES_PATH = f"/v2/team/datasets/{DS}/datasources"
TOOL = "wait_for_dataset_sync"

MODES = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]

WAIT_FIELDS = {
    "dataset_id",
    "synched_count",
    "synching_count",
    "invalid_count",
    "total_count",
    "verdict",
    "ready",
    "message",
    "failed_sources",
    "trace_id",
    "api_version",
    "checked_at",
    "timed_out",
    "cut_short_by_restart",
    "waited_seconds",
    "polls",
}


def config() -> ApiConfig:
    # A large request budget: the client's limiter runs in real time and must not slow fake waits down.
    return make_config(base_url=BASE, user_id="user-7", rate_limit=1000.0)


class GatedClock(FakeClock):
    """A fake clock whose sleeps block until the test opens `gate`; records cancelled sleeps."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = anyio.Event()
        self.gate = anyio.Event()
        self.active = 0
        self.cancelled = 0

    async def sleep(self, seconds: float) -> None:
        self.active += 1
        self.sleeping.set()
        try:
            await self.gate.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.active -= 1
        await super().sleep(seconds)


class Dataset:
    """The status endpoint of a simulated dataset: `counts(t)` at the clock's time, or a Response."""

    def __init__(self, clock: FakeClock, counts: Callable[[float], Any]) -> None:
        self.clock = clock
        self.counts = counts
        self.times: list[float] = []
        self.answers: list[tuple[int, int, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        t = self.clock.now()
        self.times.append(t)
        answer = self.counts(t)
        if isinstance(answer, httpx.Response):
            return answer
        synched, synching, invalid = answer
        self.answers.append(answer)
        data = {"synched_count": synched, "synching_count": synching, "invalid_count": invalid}
        return httpx.Response(200, json={"code": 0, "data": data}, headers={"x-pd-trace-id": "tr-tool"})


def error(http: int, code: int, message: str = "nope") -> httpx.Response:
    return httpx.Response(
        http, json={"code": code, "message": message}, headers={"x-pd-trace-id": "tr-err-42"}
    )


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def runtime(clock: FakeClock) -> AsyncIterator[Runtime]:
    rt = Runtime(config=config(), clock=clock)
    yield rt
    await rt.aclose()


async def until(condition: Callable[[], bool], limit: float = 2.0) -> None:
    """Let other tasks run until `condition` holds (a hang guard, not a timing assertion)."""
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - task sets and counters have no event to wait on
            await anyio.sleep(0.001)


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


# --- the tool's shape ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_tool_is_listed_with_its_contract(runtime: Runtime, mode: str) -> None:
    async with Client(build_server(runtime), mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    tool = tools[TOOL]
    assert tool.title
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True and tool.annotations.destructive_hint is False
    assert tool.annotations.idempotent_hint is True and tool.annotations.open_world_hint is True
    assert tool.output_schema is not None
    assert set(tool.output_schema["properties"]) >= WAIT_FIELDS
    timeout = tool.input_schema["properties"]["timeout_seconds"]
    assert (timeout["minimum"], timeout["maximum"], timeout["default"]) == (1, 900, 45)


# --- progress -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_progress_notifications_arrive_through_the_session(
    runtime: Runtime, clock: FakeClock, mock: respx.MockRouter, mode: str
) -> None:
    """10 sources settle one by one over 20 s; the last two fail."""

    def counts(t: float) -> tuple[int, int, int]:
        settled = min(10, int(t / 2 + 1e-9))
        invalid = max(0, settled - 8)
        return settled - invalid, 10 - settled, invalid

    ds = Dataset(clock, counts)
    mock.get(STATUS_PATH).mock(side_effect=ds)
    records = [{"id": "s9", "name": "broken-export.csv"}, {"id": "s10", "name": "scan.pdf"}]
    mock.get(SOURCES_PATH).respond(json={"code": 0, "data": {"records": records}})
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(
            TOOL, {"dataset_id": DS, "timeout_seconds": 60}, progress_callback=on_progress
        )
        out = result.structured_content
        await until(lambda: len(seen) >= out["polls"])

    assert result.is_error is False
    assert out["verdict"] == "partially_failed" and out["timed_out"] is False
    assert out["polls"] == len(ds.times) == len(seen) > 3
    expected = [
        (10.0, progress_message(DS, Counts(synched=s, synching=k, invalid=f))) for s, k, f in ds.answers
    ]
    assert [(total, message) for _, total, message in seen] == expected
    # The whole part is the sources settled at that check; a repeat adds a fraction (progress_values).
    assert [math.floor(p) for p, _, _ in seen] == [s + f for s, _, f in ds.answers]
    assert seen[-1][0] == 10.0
    assert all(a < b for (a, _, _), (b, _, _) in itertools.pairwise(seen))
    assert [s["name"] for s in out["failed_sources"]] == ["broken-export.csv", "scan.pdf"]


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("mode", MODES)
async def test_progress_increases_with_every_notification_while_the_counts_stand_still(
    clock: FakeClock, mock: respx.MockRouter, mode: str, version: str
) -> None:
    """MCP: `progress` MUST increase with each notification. 2 of 5 settle at once, then nothing for
    30 s (many polls with the same counts), then everything: strictly increasing, never at 3 before a
    third source settled, exactly 5 (the total) at the end; total always 5."""

    def counts(t: float) -> tuple[int, int, int]:
        return (4, 0, 1) if t >= 30 else (2, 3, 0)

    ds = Dataset(clock, counts)
    if version == "v1":
        ds_v1 = ds

        def v1(request: httpx.Request) -> httpx.Response:
            answer = ds_v1(request)
            body = answer.json()
            names = {"synched_count": "synchedCount", "synching_count": "synchingCount"}
            names["invalid_count"] = "invalidCount"
            body["data"] = {names[k]: v for k, v in body["data"].items()}
            return httpx.Response(200, json=body, headers=answer.headers)

        mock.get(f"/v1/team/datasets/{DS}/status").mock(side_effect=v1)
        mock.get(f"/v1/team/datasets/{DS}/datasources").respond(
            json={"code": 0, "data": {"records": [{"id": "s5", "name": "bad.csv"}]}}
        )
    else:
        mock.get(STATUS_PATH).mock(side_effect=ds)
        mock.get(SOURCES_PATH).respond(
            json={"code": 0, "data": {"records": [{"id": "s5", "name": "bad.csv"}]}}
        )
    rt = Runtime(config=make_config(version, base_url=BASE, user_id="user-7", rate_limit=1000.0), clock=clock)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    try:
        async with Client(build_server(rt), mode=mode) as client:
            result = await client.call_tool(
                TOOL, {"dataset_id": DS, "timeout_seconds": 60}, progress_callback=on_progress
            )
            out = result.structured_content
            await until(lambda: len(seen) >= out["polls"])
    finally:
        await rt.aclose()
    assert result.is_error is False and out["api_version"] == version and out["timed_out"] is False
    values = [p for p, _, _ in seen]
    standing = [p for p, (s, _, f) in zip(values, ds.answers, strict=True) if s + f == 2]
    assert len(standing) >= 5, ds.times  # the counts stood still for several polls
    assert all(a < b for a, b in itertools.pairwise(values)), values
    assert standing[0] == 2 and all(2 < p < 3 for p in standing[1:]), standing
    assert values[-1] == 5.0 and all(total == 5.0 for _, total, _ in seen), seen
    assert all(message and DS in message for _, _, message in seen)


@pytest.mark.parametrize("mode", MODES)
async def test_without_a_progress_callback_the_wait_still_works(
    runtime: Runtime, clock: FakeClock, mock: respx.MockRouter, mode: str
) -> None:
    mock.get(STATUS_PATH).mock(side_effect=Dataset(clock, lambda t: (2, 0, 0) if t >= 5 else (0, 2, 0)))
    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(TOOL, {"dataset_id": DS})
    assert result.is_error is False and result.structured_content["ready"] is True


# --- results ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_wait_that_reaches_its_deadline_is_not_an_error(
    runtime: Runtime, clock: FakeClock, mock: respx.MockRouter, mode: str
) -> None:
    ds = Dataset(clock, lambda t: (3, 1, 0))
    route = mock.get(STATUS_PATH).mock(side_effect=ds)
    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(TOOL, {"dataset_id": DS, "timeout_seconds": 45})
    out = result.structured_content
    assert result.is_error is False
    assert set(out) >= WAIT_FIELDS
    assert out["timed_out"] is True and out["verdict"] == "syncing" and out["ready"] is False
    assert (out["synched_count"], out["synching_count"], out["total_count"]) == (3, 1, 4)
    assert abs(out["waited_seconds"] - 45.0) <= 0.5
    assert out["polls"] == route.call_count <= 12
    assert ds.times[-1] == pytest.approx(45.0)
    assert max(b - a for a, b in itertools.pairwise(ds.times)) <= 10.0 + 1e-9  # never older than the cap
    assert "3 of 4 data sources synchronized" in out["message"]
    assert ("wait_for_dataset_sync again" if out["finished_during_wait"] else "Stop waiting") in out[
        "message"
    ]
    assert text_of(result).splitlines()[0] == out["message"]  # the verdict first, not JSON
    assert not text_of(result).lstrip().startswith("{")


@pytest.mark.parametrize("mode", MODES)
async def test_a_wait_that_reaches_its_deadline_names_the_failed_sources(
    runtime: Runtime, clock: FakeClock, mock: respx.MockRouter, mode: str
) -> None:
    mock.get(STATUS_PATH).mock(side_effect=Dataset(clock, lambda t: (2, 1, 1)))
    mock.get(SOURCES_PATH).respond(json={"code": 0, "data": {"records": [{"id": "s4", "name": "scan.pdf"}]}})
    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(TOOL, {"dataset_id": DS, "timeout_seconds": 20})
    out = result.structured_content
    assert result.is_error is False and out["timed_out"] is True
    assert "1 failed ('scan.pdf')" in out["message"]
    assert [s["name"] for s in out["failed_sources"]] == ["scan.pdf"]
    assert text_of(result).splitlines()[0] == out["message"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_already_ready_dataset_costs_one_request(
    runtime: Runtime, clock: FakeClock, mock: respx.MockRouter, mode: str
) -> None:
    route = mock.get(STATUS_PATH).mock(side_effect=Dataset(clock, lambda t: (7, 0, 0)))
    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(TOOL, {"dataset_id": DS, "timeout_seconds": 900})
    assert result.structured_content["polls"] == route.call_count == 1
    assert result.structured_content["waited_seconds"] == 0.0
    assert result.structured_content["trace_id"] == "tr-tool"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seconds", [0, 901, -1, 0.5, 900.01])
async def test_an_out_of_range_timeout_is_an_error_result_and_sends_nothing(
    runtime: Runtime, mock: respx.MockRouter, mode: str, seconds: float
) -> None:
    anything = mock.route().respond(json={"code": 0, "data": {}})
    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(TOOL, {"dataset_id": DS, "timeout_seconds": seconds})
    assert result.is_error is True
    assert "timeout_seconds" in text_of(result)
    assert "Traceback" not in text_of(result)
    assert anything.call_count == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_permanent_error_is_an_error_result_after_one_request(
    runtime: Runtime, clock: FakeClock, mock: respx.MockRouter, mode: str
) -> None:
    route = mock.get(STATUS_PATH).mock(return_value=error(403, 1004, "bad credentials"))
    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(TOOL, {"dataset_id": DS, "timeout_seconds": 45})
    assert result.is_error is True
    assert route.call_count == 1 and clock.now() == 0.0
    assert "POWERDRILL_PROJECT_API_KEY" in text_of(result)
    assert "tr-err-42" in text_of(result)
    assert CANARY_KEY not in text_of(result)


@pytest.mark.parametrize("mode", MODES)
async def test_when_every_poll_fails_the_result_is_an_error_not_a_verdict(
    runtime: Runtime, clock: FakeClock, mock: respx.MockRouter, mode: str
) -> None:
    route = mock.get(STATUS_PATH).mock(side_effect=Dataset(clock, lambda t: error(503, 9999, "down")))
    async with Client(build_server(runtime), mode=mode) as client:
        result = await client.call_tool(TOOL, {"dataset_id": DS, "timeout_seconds": 30})
    assert result.is_error is True
    assert result.structured_content is None
    assert f"attempts in {clock.now():.1f} s" in text_of(result)
    assert route.call_count >= 5
    assert text_of(result).startswith(f"Could not wait for dataset {DS}:")


# --- cancellation ------------------------------------------------------------------------


def _record_dispatched_notifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy on the JSON-RPC dispatcher: which notification methods it received (either side)."""
    methods: list[str] = []
    original = JSONRPCDispatcher._dispatch_notification

    def spy(self: JSONRPCDispatcher, msg: Any, *args: Any, **kwargs: Any) -> Any:
        methods.append(msg.method)
        return original(self, msg, *args, **kwargs)

    monkeypatch.setattr(JSONRPCDispatcher, "_dispatch_notification", spy)
    return methods


@pytest.mark.parametrize("mode", MODES)
async def test_cancelling_the_call_while_it_sleeps_stops_polling(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    notifications = _record_dispatched_notifications(monkeypatch)
    clock = GatedClock()
    runtime = Runtime(config=config(), clock=clock)
    route = mock.get(STATUS_PATH).mock(side_effect=Dataset(clock, lambda t: (0, 5, 0)))
    try:
        async with Client(build_server(runtime), mode=mode) as client:
            before = other_tasks()
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, TOOL, {"dataset_id": DS, "timeout_seconds": 900})
                with anyio.fail_after(2):
                    await clock.sleeping.wait()  # first poll done, the server sleeps before the next
                assert route.call_count == 1
                tg.cancel_scope.cancel()
            await until(lambda: clock.active == 0)  # the server-side sleep was cancelled ...
            assert clock.cancelled == 1
            clock.gate.set()  # ... so opening the gate now wakes nothing that could poll
            for _ in range(20):
                await anyio.sleep(0.001)
            assert route.call_count == 1
            await until(lambda: other_tasks() <= before)
            if mode == "legacy":  # the real mechanism of the 2025 era: a courtesy cancellation
                assert "notifications/cancelled" in notifications
            # the session still serves calls after the cancelled one
            route.mock(side_effect=Dataset(clock, lambda t: (5, 0, 0)))
            after = await client.call_tool(TOOL, {"dataset_id": DS})
            assert after.structured_content["ready"] is True
    finally:
        await runtime.aclose()


@pytest.mark.parametrize("mode", MODES)
async def test_cancelling_the_call_during_a_request_aborts_it_and_stops_polling(
    mock: respx.MockRouter, mode: str
) -> None:
    clock = FakeClock()
    runtime = Runtime(config=config(), clock=clock)
    in_flight, release = anyio.Event(), anyio.Event()
    aborted = anyio.Event()
    calls = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 2:
            in_flight.set()
            try:
                await release.wait()
            except anyio.get_cancelled_exc_class():
                aborted.set()
                raise
        return httpx.Response(
            200, json={"code": 0, "data": {"synched_count": 0, "synching_count": 5, "invalid_count": 0}}
        )

    mock.get(STATUS_PATH).mock(side_effect=answer)
    try:
        async with Client(build_server(runtime), mode=mode) as client:
            before = other_tasks()
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, TOOL, {"dataset_id": DS, "timeout_seconds": 900})
                with anyio.fail_after(2):
                    await in_flight.wait()
                slept = clock.now()
                tg.cancel_scope.cancel()
            with anyio.fail_after(2):
                await aborted.wait()  # the upstream request itself was cancelled, not left running
            release.set()
            for _ in range(20):
                await anyio.sleep(0.001)
            assert calls == 2
            assert clock.now() == slept  # nothing slept, so nothing polled, after the abandoned request
            await until(lambda: other_tasks() <= before)
    finally:
        await runtime.aclose()
