"""The process-wide request budget: a burst of calls or parallel waits never exceeds it.

Every test runs one server against the sandbox on a loopback port with the sandbox's own
rate limit off, so only our budget can space the requests, and checks the sandbox's request
log (arrival times on the sandbox's clock, this process's monotonic clock): no one-second
window may hold more requests than the budget. The bursts go through a real server process
(`pd-mcp` over stdio, configured by environment, as a host runs it); one in-process run also
records the moment the client handed each request to the network ("never sends more").
"""

from __future__ import annotations

import bisect
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp
import pytest
from mcp import StdioServerParameters
from support import make_config, sandbox_config

from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, SandboxOptions, running_sandbox
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import Settings

PD_MCP = str(Path(sys.executable).parent / "pd-mcp")


def busiest_second(times: Sequence[float]) -> int:
    """The most events in any window (t - 1 s, t]: what a one-second rate limiter counts."""
    ordered = sorted(times)
    return max((i + 1 - bisect.bisect_right(ordered, t - 1.0) for i, t in enumerate(ordered)), default=0)


def test_busiest_second_counts_a_sliding_window() -> None:
    assert busiest_second([]) == 0
    assert busiest_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # (0.0, 1.0] holds 0.5, 0.99, 1.0
    assert busiest_second([i / 16 for i in range(33)]) == 16  # evenly spaced at 16 per second


def test_the_default_budget_is_twenty_per_second_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_config(base_url="http://x").rate_limit == 20
    monkeypatch.setenv("POWERDRILL_USER_ID", "u")
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", "k")
    assert Settings().resolve().rate_limit == 20
    monkeypatch.setenv("PD_MCP_RATE_LIMIT", "100")
    assert Settings().resolve().rate_limit == 100


def server_params(url: str, rate_limit: str | None) -> StdioServerParameters:
    env = {
        "POWERDRILL_USER_ID": SANDBOX_USER_ID,
        "POWERDRILL_PROJECT_API_KEY": SANDBOX_API_KEY,
        "POWERDRILL_API_URL": url,
        "PD_MCP_LOG_LEVEL": "WARNING",
    }
    if rate_limit is not None:
        env["PD_MCP_RATE_LIMIT"] = rate_limit
    return StdioServerParameters(command=PD_MCP, args=[], env=env)


async def concurrently(client: mcp.Client, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    async def one(i: int) -> None:
        results[i] = await client.call_tool(*calls[i])

    async with anyio.create_task_group() as tg:
        for i in range(len(calls)):
            tg.start_soon(one, i)
    return results


@pytest.mark.process
@pytest.mark.parametrize(("calls", "rate_limit", "budget"), [(200, "100", 100), (50, None, 20)])
async def test_a_burst_through_a_server_process_never_exceeds_the_budget(
    calls: int, rate_limit: str | None, budget: int
) -> None:
    """200 concurrent calls at PD_MCP_RATE_LIMIT=100, and 50 at the default of 20."""
    with running_sandbox(SandboxOptions(rate_limit=0)) as sb:
        async with mcp.Client(server_params(sb.url, rate_limit)) as client:
            started = time.monotonic()
            # Distinct datasets: identical reads in flight would share one request (coalescing).
            asks = [("get_dataset_status", {"dataset_id": f"ds-sync-{1000 + i}"}) for i in range(calls)]
            results = await concurrently(client, asks)
            took = time.monotonic() - started
        arrivals = [r.time for r in sb.sandbox.requests]
    assert all(not r.is_error for r in results), [r.content for r in results if r.is_error][:1]
    assert all(r.structured_content["verdict"] == "syncing" for r in results)
    assert len(arrivals) == calls  # one request per call, none retried
    busiest = busiest_second(arrivals)
    print(
        f"\n{calls} concurrent calls at budget {budget}/s took {took:.2f} s; "
        f"busiest second at the sandbox: {busiest}"
    )
    assert busiest <= budget
    assert took >= (calls - 1) / budget - 0.5  # spaced out, not merely lucky


@pytest.mark.process
async def test_parallel_waits_through_a_server_process_share_the_budget() -> None:
    """Six waits at once on syncs of 1 to 3 s, with a budget of 3 requests per second.

    Alone, each wait would poll at once and then every second: 6 requests in the first
    instant and 6 per second after. Sharing one budget, they queue, and still all answer.
    """
    budget = 3
    waits = [f"ds-sync-{n}" for n in (1, 2, 3)] + [f"ds-syncfail-{n}" for n in (1, 2, 3)]
    with running_sandbox(SandboxOptions(rate_limit=0)) as sb:
        async with mcp.Client(server_params(sb.url, str(budget))) as client:
            calls = [("wait_for_dataset_sync", {"dataset_id": d, "timeout_seconds": 4}) for d in waits]
            results = await concurrently(client, calls)
        arrivals = [r.time for r in sb.sandbox.requests]
        per_dataset = sb.sandbox.dataset_requests
    for dataset_id, result in zip(waits, results, strict=True):
        assert not result.is_error, (dataset_id, result.content)
        got = result.structured_content
        if got["timed_out"]:
            assert got["verdict"] == "syncing", got
        else:
            final = "ready" if dataset_id.startswith("ds-sync-") else "partially_failed"
            assert got["verdict"] == final and got["total_count"] == 10, got
    assert all(per_dataset[d] >= 2 for d in waits), per_dataset  # every wait polled more than once
    busiest = busiest_second(arrivals)
    print(f"\n6 parallel waits, {len(arrivals)} requests; busiest second at the sandbox: {busiest}")
    assert busiest <= budget


class SendLog(httpx.AsyncBaseTransport):
    """A real transport that notes when each request leaves (monotonic clock)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(time.monotonic())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_burst_of_200_in_process_never_sends_more_than_the_budget() -> None:
    budget = 100
    with running_sandbox(SandboxOptions(rate_limit=0)) as sb:
        sends = SendLog()
        config = sandbox_config(sb.url, rate_limit=budget)
        runtime = Runtime(config=config, transport=sends)
        try:
            async with mcp.Client(build_server(runtime)) as client:
                asks = [("get_dataset_status", {"dataset_id": f"ds-sync-{1000 + i}"}) for i in range(200)]
                results = await concurrently(client, asks)
        finally:
            await runtime.aclose()
        arrivals = [r.time for r in sb.sandbox.requests]
    assert all(not r.is_error for r in results)
    assert len(sends.sent) == len(arrivals) == 200
    print(
        f"\nin-process: busiest second sent {busiest_second(sends.sent)}, arrived {busiest_second(arrivals)}"
    )
    assert busiest_second(sends.sent) <= budget
    assert busiest_second(arrivals) <= budget
