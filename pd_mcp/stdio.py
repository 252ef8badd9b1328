"""Serving MCP over stdio, without losing answers when the host closes stdin.

Why this exists: the SDK's stdio loop treats end of input as the end of the
session and answers every request still running with "Connection closed".
A host that writes its last request and closes stdin (scripts, `echo … |
pd-mcp`, some hosts at shutdown) would lose that answer. Here the SDK's own
`stdio_server()` still owns the file descriptors (it keeps stray prints off
stdout), but its streams pass through two small relays: the inbound one
remembers which requests are open, and on end of input waits until the
outbound one has written each of their responses (or the client cancelled
them) before it lets the session end. Then the process exits with status 0.
"""

from __future__ import annotations

import logging
import math

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

log = logging.getLogger("pd_mcp.stdio")

# The longest a tool call can legitimately run: the longest wait plus its grace.
DRAIN_LIMIT = 910.0


class _OpenRequests:
    """Ids of requests received but not yet answered."""

    def __init__(self) -> None:
        self._open: set[str | int] = set()
        self._empty = anyio.Event()
        self._empty.set()

    def opened(self, request_id: str | int) -> None:
        self._open.add(request_id)
        self._empty = anyio.Event()

    def closed(self, request_id: object) -> None:
        self._open.discard(request_id)  # type: ignore[arg-type]
        if not self._open:
            self._empty.set()

    async def drained(self) -> None:
        await self._empty.wait()

    def __len__(self) -> int:
        return len(self._open)


async def _relay_in(
    source: MemoryObjectReceiveStream[SessionMessage | Exception],
    sink: MemoryObjectSendStream[SessionMessage | Exception],
    open_requests: _OpenRequests,
) -> None:
    async with sink:
        async for item in source:
            if isinstance(item, SessionMessage):
                message = item.message
                if isinstance(message, JSONRPCRequest):
                    open_requests.opened(message.id)
                elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
                    request_id = (message.params or {}).get("requestId")
                    open_requests.closed(request_id)
            await sink.send(item)
        if len(open_requests):
            log.info("stdin closed with %d request(s) in flight; finishing them first", len(open_requests))
            with anyio.move_on_after(DRAIN_LIMIT):
                await open_requests.drained()


async def _relay_out(
    source: MemoryObjectReceiveStream[SessionMessage],
    sink: MemoryObjectSendStream[SessionMessage],
    open_requests: _OpenRequests,
) -> None:
    async with sink:
        async for item in source:
            await sink.send(item)
            if isinstance(item.message, JSONRPCResponse | JSONRPCError):
                open_requests.closed(item.message.id)


async def run_stdio(mcp: MCPServer) -> None:
    """Serve `mcp` on stdin/stdout until stdin ends and every open request is answered."""
    # The SDK's `run_stdio_async` hides the streams; the low-level server is what it runs.
    server = mcp._lowlevel_server
    open_requests = _OpenRequests()
    async with stdio_server() as (wire_in, wire_out):
        in_send, in_receive = anyio.create_memory_object_stream[SessionMessage | Exception](math.inf)
        out_send, out_receive = anyio.create_memory_object_stream[SessionMessage](math.inf)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_relay_in, wire_in, in_send, open_requests)
            tg.start_soon(_relay_out, out_receive, wire_out, open_requests)
            async with out_send:
                await server.run(in_receive, out_send, server.create_initialization_options())
