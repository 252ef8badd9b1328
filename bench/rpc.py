"""JSON-RPC for the bench, written by hand: lines, scripts of requests, and warm stdio and HTTP sessions.

Why by hand: the figures are the server's, not a client library's; the bench writes
the exact lines (both protocol eras) and reads the answers with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import CALL_TIMEOUT, DATASET, EXIT_TIMEOUT, LEGACY, MODERN, START_TIMEOUT, BenchError

CLIENT_INFO = {"name": "pd-mcp-bench", "version": "1"}
# What a 2026-07-28 client carries in `params._meta` of every request (mcp/client/session.py).
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    "io.modelcontextprotocol/clientCapabilities": {},
}
PD_TOOLS = {"get_dataset_status", "wait_for_dataset_sync"}
BARE_TOOLS = {"echo", "add"}


def request(request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def initialize(request_id: int = 1) -> dict[str, Any]:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO}
    return request(request_id, "initialize", params)


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def modern(request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return request(request_id, method, {**(params or {}), "_meta": dict(MODERN_META)})


def call_params(tool: str) -> dict[str, Any]:
    return {"name": tool, "arguments": {"dataset_id": DATASET}}


# A script: (lines to write, id of the answer to wait for or None), in order.
Script = list[tuple[list[dict[str, Any]], int | None]]


def legacy_script(call: str | None = None) -> Script:
    script: Script = [([initialize(1)], 1), ([INITIALIZED, request(2, "tools/list")], 2)]
    if call:
        script.append(([request(3, "tools/call", call_params(call))], 3))
    return script


def modern_script() -> Script:
    return [([modern(1, "server/discover")], 1), ([modern(2, "tools/list")], 2)]


def expect_tools(names: set[str]) -> Callable[[dict[str, Any]], None]:
    def check(answer: dict[str, Any]) -> None:
        tools = {t.get("name") for t in answer.get("result", {}).get("tools", [])}
        if not names <= tools:
            raise BenchError(f"tools/list did not list {sorted(names)}: {json.dumps(answer)[:300]}")

    return check


def expect_success(answer: dict[str, Any]) -> None:
    """pd-mcp's answer says `ready`; the bare one-GET tool's carries Powerdrill's `"code":0` body."""
    result = answer.get("result")
    if not isinstance(result, dict) or result.get("isError") or "content" not in result:
        raise BenchError(f"the tool call failed: {json.dumps(answer)[:400]}")
    structured = result.get("structuredContent") or {}
    texts = " ".join(str(c.get("text", "")) for c in result["content"] if isinstance(c, dict))
    if structured.get("verdict") != "ready" and '"code":0' not in texts.replace(" ", ""):
        raise BenchError(f"the tool call did not return the dataset's status: {json.dumps(result)[:400]}")


class AsyncStdio:
    """A warm stdio server driven with raw JSON-RPC lines (legacy era)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 1

    @classmethod
    async def start(cls, argv: Sequence[str], env: dict[str, str], log: Path) -> AsyncStdio:
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, limit=1 << 22
            )
        finally:
            os.close(err)  # the child keeps its own copy
        self = cls(proc)
        try:
            await self.request("initialize", initialize(0)["params"], within=START_TIMEOUT)
            await self.send(INITIALIZED)
        except BaseException:
            await self.close()
            raise
        return self

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line(message))
        await self.proc.stdin.drain()

    async def request(
        self, method: str, params: dict[str, Any], within: float = CALL_TIMEOUT
    ) -> dict[str, Any]:
        assert self.proc.stdout is not None
        request_id, self.next_id = self.next_id, self.next_id + 1
        await self.send(request(request_id, method, params))
        async with asyncio.timeout(within):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise BenchError(f"{self.proc.pid} closed its output")
                message = json.loads(raw)
                if message.get("id") == request_id:
                    return message

    async def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self.proc.stdin.close()
        try:
            async with asyncio.timeout(EXIT_TIMEOUT):
                await self.proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


class HttpSession:
    """A legacy-era Streamable HTTP session driven with raw JSON-RPC over one keep-alive connection."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        self.headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        self.next_id = 1

    async def open(self) -> None:
        response = await self.client.post(self.url, content=line(initialize(0)), headers=self.headers)
        response.raise_for_status()
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = LEGACY
        response = await self.client.post(self.url, content=line(INITIALIZED), headers=self.headers)
        response.raise_for_status()

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id, self.next_id = self.next_id, self.next_id + 1
        response = await self.client.post(
            self.url, content=line(request(request_id, method, params)), headers=self.headers
        )
        response.raise_for_status()
        for message in parse_messages(response.headers.get("content-type", ""), response.text):
            if message.get("id") == request_id:
                return message
        raise BenchError(f"no answer to request {request_id} in {response.text[:300]!r}")


def parse_messages(content_type: str, body: str) -> list[dict[str, Any]]:
    """JSON-RPC messages of a Streamable HTTP response: plain JSON or server-sent events."""
    if content_type.startswith("application/json"):
        data = json.loads(body)
        return data if isinstance(data, list) else [data]
    messages: list[dict[str, Any]] = []
    data_lines: list[str] = []
    for text in [*body.splitlines(), ""]:
        if text.startswith("data:"):
            data_lines.append(text[5:].lstrip())
        elif not text and data_lines:
            messages.append(json.loads("\n".join(data_lines)))
            data_lines = []
    return messages
