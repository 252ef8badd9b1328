"""Subscriptions end to end: the installed `pd-mcp` over stdio and Streamable HTTP, both eras, real sandbox.

A subscription on a syncing dataset must yield at least one update before the
dataset is final and one when it is; the last update is the final one, so
"at least two updates and the report read after the last is final" is the
check, whatever the machine's load does to timing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from e2e_support import MODES, PD_MCP, TEST_TIMEOUT, base_env, http_server, sandbox_env, sandbox_options
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

from pd_mcp.sandbox import RunningSandbox, running_sandbox

pytestmark = [pytest.mark.process, pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")]

DATASET = "ds-sync-6"  # 10 sources, one every 0.6 s from the first request


def _uri(dataset_id: str) -> str:
    return f"powerdrill://datasets/{dataset_id}/status"


async def _follow(connect: Any, mode: str) -> tuple[int, list[dict[str, Any]]]:
    """Subscribe to DATASET and read the report after each update until one is final."""
    send, receive = anyio.create_memory_object_stream[str](100)

    async def on_message(message: Any) -> None:
        if mode == "legacy" and getattr(message, "method", None) == "notifications/resources/updated":
            send.send_nowait(message.params.uri)

    reports: list[dict[str, Any]] = []
    updates = 0
    with anyio.fail_after(TEST_TIMEOUT):
        async with Client(
            connect, mode=mode, message_handler=on_message, read_timeout_seconds=TEST_TIMEOUT
        ) as client:

            async def read() -> dict[str, Any]:
                result = await client.read_resource(_uri(DATASET))
                return json.loads(result.contents[0].text)  # type: ignore[union-attr]

            if mode == "legacy":
                await client.subscribe_resource(_uri(DATASET))
                async for uri in receive:
                    assert uri == _uri(DATASET)
                    updates += 1
                    reports.append(await read())
                    if reports[-1]["verdict"] != "syncing":
                        break
            else:
                async with client.listen(resource_subscriptions=[_uri(DATASET)]) as subscription:
                    async for event in subscription:
                        assert event.uri == _uri(DATASET)  # type: ignore[union-attr]
                        updates += 1
                        reports.append(await read())
                        if reports[-1]["verdict"] != "syncing":
                            break
    return updates, reports


def _check(updates: int, reports: list[dict[str, Any]], sandbox: RunningSandbox) -> None:
    assert updates >= 2, reports
    assert reports[-1]["verdict"] == "ready" and reports[-1]["synched_count"] == 10
    assert sandbox.sandbox.dataset_requests[DATASET] >= updates


@pytest.mark.parametrize("mode", MODES)
async def test_a_subscription_over_stdio_follows_a_sync_to_its_end(mode: str, tmp_path: Path) -> None:
    with running_sandbox(sandbox_options()) as sandbox, (tmp_path / "stderr.log").open("w") as errlog:
        env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), **sandbox_env(sandbox)}
        transport = stdio_client(StdioServerParameters(command=PD_MCP, env=env), errlog=errlog)
        updates, reports = await _follow(transport, mode)
        _check(updates, reports, sandbox)


@pytest.mark.parametrize("mode", MODES)
async def test_a_subscription_over_http_follows_a_sync_to_its_end(mode: str, tmp_path: Path) -> None:
    with (
        running_sandbox(sandbox_options()) as sandbox,
        http_server([], {**base_env(), **sandbox_env(sandbox)}, tmp_path) as server,
    ):
        updates, reports = await _follow(server.url, mode)
        _check(updates, reports, sandbox)


async def test_stateless_http_refuses_a_legacy_subscription_with_advice(tmp_path: Path) -> None:
    with (
        running_sandbox(sandbox_options()) as sandbox,
        http_server(["--stateless"], {**base_env(), **sandbox_env(sandbox)}, tmp_path) as server,
    ):
        with anyio.fail_after(TEST_TIMEOUT):
            async with Client(server.url, mode="legacy", read_timeout_seconds=TEST_TIMEOUT) as client:
                with pytest.raises(MCPError) as caught:
                    await client.subscribe_resource(_uri(DATASET))
        assert "wait_for_dataset_sync" in caught.value.error.message
        assert DATASET not in sandbox.sandbox.dataset_requests
