"""The few places pd-mcp reaches past the `mcp` SDK's public API, fenced here.

Why: an SDK upgrade that moves one of these breaks this module and nothing
else. Each helper says what it relies on and why no public API serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

Handler = Callable[[Any, Any], Awaitable[Any]]


def lowlevel(mcp: MCPServer) -> Server[Any]:
    """The low-level server an `MCPServer` wraps (`MCPServer._lowlevel_server`).

    Why: `MCPServer` has no public way to register a handler for a method it
    does not model (`subscriptions`), to change the capabilities it derives
    (`capabilities`), or to answer the handshake without a transport
    (`handshake.generate`, which records the fast start's answers).
    """
    return mcp._lowlevel_server


async def run_on_streams(mcp: MCPServer, read: Any, write: Any) -> None:
    """Serve `mcp` on a pair of memory streams until `read` ends.

    Why: `MCPServer.run_stdio_async` opens stdin itself and only once the SDK is
    imported; `stdio` claims the wire first and answers the handshake from a
    recording, so it needs the low-level `Server.run` on streams it owns.
    """
    server = lowlevel(mcp)
    await server.run(read, write, server.create_initialization_options())


def wrap_request_handler(
    mcp: MCPServer, method: str, params_type: Any, wrap: Callable[[Handler], Handler]
) -> None:
    """Replace the SDK's handler for `method` with `wrap(handler)`.

    Why not the public (provisional) `MCPServer.middleware`: a middleware runs
    before the SDK's initialization gate and params validation, and a result it
    returns skips the SDK's response shaping (`ServerRunner._serialize`: the
    2026-07-28 `resultType` every result must carry, the `serverInfo` stamp).
    A wrapped handler runs after both and its result is shaped like any other.
    `get_request_handler`/`add_request_handler` are public on the low-level server.
    """
    server = lowlevel(mcp)
    entry = server.get_request_handler(method)
    assert entry is not None, f"the SDK has no {method} handler to wrap"
    server.add_request_handler(method, params_type, wrap(entry.handler))


def connection_of(ctx: Any) -> Connection:
    """The connection a request arrived on (`ServerSession._connection`): one per session.

    Why: subscriptions are kept per connection and end with it; the session
    exposes some of the connection's facts but not the connection itself.
    """
    connection: Connection = ctx.session._connection
    return connection


# --- the HTTP session manager (http_sessions: the cap that ends the longest-idle session) ---------
# Why: `StreamableHTTPSessionManager` refuses every new session at its cap; it has no hook to
# make room, so `http_sessions` wraps its admission and reads its table of sessions.


def wrap_admission(manager: StreamableHTTPSessionManager, wrap: Callable[[Any], Any]) -> None:
    """Replace the manager's session admission (`_admit_session`) with `wrap(admission)`."""
    manager._admit_session = wrap(manager._admit_session)  # type: ignore[method-assign]


def sessions(manager: StreamableHTTPSessionManager) -> dict[str, StreamableHTTPServerTransport]:
    """The manager's open sessions by id (`_server_instances`)."""
    return manager._server_instances


def requests_in_flight(transport: StreamableHTTPServerTransport) -> int:
    """How many requests a session is serving (`_requests_in_flight`)."""
    return transport._requests_in_flight


def forget_session(manager: StreamableHTTPSessionManager, session_id: str) -> None:
    """Drop a session from the manager's tables (`_server_instances`, `_session_owners`)."""
    manager._server_instances.pop(session_id, None)
    manager._session_owners.pop(session_id, None)
