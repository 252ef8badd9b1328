"""The installed server over stdio, launched as an MCP host launches it.

Each server is a real subprocess pointed at a loopback port where nothing listens, so no
test can reach Powerdrill. Every test is bounded by a timeout and every process is stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from support import CANARY_KEY, text_of

pytestmark = pytest.mark.process

UNREACHABLE_URL = "http://127.0.0.1:9/api"  # port 9: nothing listens, connection refused
INSTALLED = Path(sys.executable).parent / "pd-mcp"
TOOLS = {"get_dataset_status", "wait_for_dataset_sync"}
# Generous: a refused connection is retried with backoff (about 0 to 3.5 s in all).
CALL_LIMIT = 40.0

COMMANDS = {
    "pd-mcp": (str(INSTALLED), []),
    "python-m": (sys.executable, ["-m", "pd_mcp"]),
}

CONFIGURED = {
    "POWERDRILL_USER_ID": "user-42",
    "POWERDRILL_PROJECT_API_KEY": CANARY_KEY,
    "POWERDRILL_API_URL": UNREACHABLE_URL,
}


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    if not INSTALLED.exists():
        pytest.fail(f"the pd-mcp command is not installed next to {sys.executable}")


def params(command: str, env: dict[str, str]) -> StdioServerParameters:
    exe, args = COMMANDS[command]
    return StdioServerParameters(command=exe, args=args, env=env)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("command", list(COMMANDS))
async def test_configured_server_lists_tools_and_reports_unreachable_api(command: str, mode: str) -> None:
    with anyio.fail_after(CALL_LIMIT):
        async with Client(params(command, CONFIGURED), mode=mode) as client:
            assert client.server_info is not None
            assert client.server_info.name == "pd-mcp"
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names >= TOOLS
            result = await client.call_tool("get_dataset_status", {"dataset_id": "dset-1"})
    assert result.is_error is True
    text = text_of(result)
    assert "dset-1" in text
    assert "reach" in text.lower()
    assert "Traceback" not in text
    assert CANARY_KEY not in text
    assert CANARY_KEY not in result.model_dump_json()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("command", list(COMMANDS))
async def test_unconfigured_server_starts_lists_tools_and_names_the_missing_variable(
    command: str, mode: str
) -> None:
    # Only the default inherited variables (PATH, HOME, ...): no POWERDRILL_* at all.
    with anyio.fail_after(CALL_LIMIT):
        async with Client(params(command, {}), mode=mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names >= TOOLS
            result = await client.call_tool("get_dataset_status", {"dataset_id": "dset-1"})
            waited = await client.call_tool("wait_for_dataset_sync", {"dataset_id": "dset-1"})
    for outcome in (result, waited):
        assert outcome.is_error is True
        text = text_of(outcome)
        assert "POWERDRILL_USER_ID" in text
        assert "Traceback" not in text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_bad_dataset_id_over_stdio(mode: str) -> None:
    with anyio.fail_after(CALL_LIMIT):
        async with Client(params("pd-mcp", CONFIGURED), mode=mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": "../secrets"})
    assert result.is_error is True
    assert "dataset_id" in text_of(result)


def test_raw_stdio_stdout_is_only_json_rpc_and_never_shows_the_key() -> None:
    """Speak JSON-RPC by hand: stdout must carry nothing but protocol messages."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "get_dataset_status", "arguments": {"dataset_id": "dset-1"}},
        },
    ]
    env = {"PATH": os.environ.get("PATH", ""), **CONFIGURED}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    stdin = "".join(json.dumps(m) + "\n" for m in messages).encode()
    process = subprocess.Popen(
        [str(INSTALLED)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        # Writes everything, closes stdin, reads stdout and stderr to the end.
        out, err = process.communicate(stdin, timeout=CALL_LIMIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    stdout, stderr = out.decode(), err.decode()
    assert CANARY_KEY not in stdout
    assert CANARY_KEY not in stderr

    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr: {stderr[-2000:]}"
    replies: dict[Any, dict[str, Any]] = {}
    for line in lines:
        message = json.loads(line)  # every stdout line is a JSON-RPC message
        assert message.get("jsonrpc") == "2.0", line
        assert ("id" in message) or ("method" in message), line
        if "id" in message and "method" not in message:
            replies[message["id"]] = message

    assert replies[1]["result"]["serverInfo"]["name"] == "pd-mcp"
    assert {t["name"] for t in replies[2]["result"]["tools"]} >= TOOLS
    call = replies[3]["result"]
    assert call["isError"] is True
    assert "dset-1" in call["content"][0]["text"]
    assert "Traceback" not in call["content"][0]["text"]
    assert process.returncode == 0
