"""The resource template and the server's instructions, through the in-memory MCP client in both eras."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx
from mcp import Client, MCPError
from support import CANARY_KEY, make_config

from pd_mcp.server import Runtime, build_server

BASE = "https://pd.test/api"
DS = "dset-resource-1"
STATUS = f"{BASE}/v2/team/datasets/{DS}/status"
MODES = ["legacy", "auto"]


def _server() -> Any:
    config = make_config(base_url=BASE, user_id="u-1")
    return build_server(Runtime(config=config))


@pytest.mark.parametrize("mode", MODES)
async def test_the_template_is_listed(mode: str) -> None:
    async with Client(_server(), mode=mode) as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["powerdrill://datasets/{dataset_id}/status"]
    assert templates[0].mime_type == "application/json"


@pytest.mark.parametrize("mode", MODES)
async def test_reading_it_gives_the_same_report_as_the_tool(mode: str) -> None:
    body = {"code": 0, "data": {"synched_count": 4, "invalid_count": 0, "synching_count": 1}}
    with respx.mock(assert_all_called=False) as mock:
        mock.get(STATUS).respond(200, json=body, headers={"x-pd-trace-id": "tr-res"})
        async with Client(_server(), mode=mode) as client:
            read = await client.read_resource(f"powerdrill://datasets/{DS}/status")
            tool = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    report = json.loads(read.contents[0].text)  # type: ignore[union-attr]
    expected = dict(tool.structured_content or {})
    for volatile in ("checked_at",):
        report.pop(volatile)
        expected.pop(volatile)
    assert report == expected
    assert report["verdict"] == "syncing" and report["trace_id"] == "tr-res"


@pytest.mark.parametrize("mode", MODES)
async def test_a_failure_is_a_readable_error_without_the_key(mode: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(STATUS).respond(200, json={"code": 1004, "message": f"bad key {CANARY_KEY}"})
        async with Client(_server(), mode=mode) as client:
            with pytest.raises(MCPError) as caught:
                await client.read_resource(f"powerdrill://datasets/{DS}/status")
    text = str(caught.value)
    assert "refused" in text or "credentials" in text
    assert CANARY_KEY not in text


@pytest.mark.parametrize("mode", MODES)
async def test_an_invalid_id_in_the_uri_sends_nothing(mode: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url__regex=r".*")
        async with Client(_server(), mode=mode) as client:
            with pytest.raises(MCPError):
                await client.read_resource("powerdrill://datasets/a%2Fb/status")
    assert route.call_count == 0


@pytest.mark.parametrize("mode", MODES)
async def test_the_instructions_tell_the_intended_flow(mode: str) -> None:
    async with Client(_server(), mode=mode) as client:
        instructions = client.instructions or ""
    for step in ("get_dataset_status", "wait_for_dataset_sync", "partially_failed", "before"):
        assert step in instructions
