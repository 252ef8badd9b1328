"""The drain's parts in-process: a wait ends early with its latest counts, `/readyz` turns 503,
new legacy sessions are refused while open ones go on, and the capabilities say only what is delivered."""

from __future__ import annotations

import logging

import anyio
import httpx
import respx
from support import make_config

from pd_mcp.budget import LocalBudget
from pd_mcp.capabilities import honest
from pd_mcp.client import PowerdrillClient
from pd_mcp.drain import Drain
from pd_mcp.http_app import build_app
from pd_mcp.log_offload import RepeatFilter
from pd_mcp.server import Runtime, build_server
from pd_mcp.waiter import wait_for_sync

BASE = "https://powerdrill.test/api"
DS = "dset-drain-1"


class StuckClock:
    """A clock whose sleeps never end by themselves: only the drain can end the wait."""

    def __init__(self) -> None:
        self.sleeping = anyio.Event()

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await anyio.sleep_forever()


async def test_a_wait_in_flight_ends_with_its_latest_counts_when_the_drain_starts() -> None:
    drain = Drain()
    clock = StuckClock()
    body = {"code": 0, "data": {"synched_count": 2, "invalid_count": 0, "synching_count": 5}}
    config = make_config(base_url=BASE, user_id="u")
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"/v2/team/datasets/{DS}/status").mock(return_value=httpx.Response(200, json=body))
        client = PowerdrillClient(config, limiter=LocalBudget(0.0))
        result = []

        async def wait() -> None:
            result.append(await wait_for_sync(client, DS, 600, clock=clock, stop=drain.stopping()))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await clock.sleeping.wait()
                drain.start()
        await client.aclose()
    (report,) = result
    assert report.timed_out is True and (report.synched_count, report.synching_count) == (2, 5)
    assert report.cut_short_by_restart is True  # the field the stop rules' exemption rests on
    assert "restarting" in report.message and "again" in report.message
    assert report.polls == 1


async def test_a_wait_started_while_draining_polls_once_and_returns() -> None:
    drain = Drain()
    drain.start()
    body = {"code": 0, "data": {"synched_count": 0, "invalid_count": 0, "synching_count": 1}}
    config = make_config(base_url=BASE, user_id="u")
    with respx.mock(base_url=BASE) as mock:
        route = mock.get(f"/v2/team/datasets/{DS}/status").mock(return_value=httpx.Response(200, json=body))
        client = PowerdrillClient(config, limiter=LocalBudget(0.0))
        with anyio.fail_after(5):
            report = await wait_for_sync(client, DS, 600, clock=StuckClock(), stop=drain.stopping())
        await client.aclose()
    assert report.timed_out is True and route.call_count == 1


async def test_readyz_turns_503_and_new_sessions_are_refused_while_draining() -> None:
    runtime = Runtime()
    app = build_app(build_server(runtime), host="127.0.0.1", port=8000, stateless=False, drain=runtime.drain)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as http:
        assert (await http.get("/readyz")).status_code == 200
        runtime.drain.start()
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json() == {"status": "draining"}
        assert (await http.get("/healthz")).status_code == 200
        refused = await http.post("/mcp", json=initialize, headers=headers)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "restarting" in refused.json()["message"]


def test_capabilities_drop_what_is_never_delivered() -> None:
    from mcp_types import PromptsCapability, ResourcesCapability, ServerCapabilities, ToolsCapability

    sdk = ServerCapabilities(
        prompts=PromptsCapability(list_changed=True),
        resources=ResourcesCapability(subscribe=True, list_changed=True),
        tools=ToolsCapability(list_changed=True),
    )
    caps = honest(sdk)
    assert caps.prompts is None
    assert caps.tools is not None and caps.tools.list_changed is None
    assert (
        caps.resources is not None
        and caps.resources.subscribe is True  # delivered: see test_subscriptions
        and caps.resources.list_changed is None
    )


def test_the_same_log_message_passes_once_per_interval_with_a_count() -> None:
    now = [0.0]
    flt = RepeatFilter(interval=10, now=lambda: now[0])

    def record() -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "accept failed", None, None)

    assert flt.filter(record())
    assert not any(flt.filter(record()) for _ in range(1000))
    now[0] = 11.0
    last = record()
    assert flt.filter(last) and "1000 more" in str(last.msg)
