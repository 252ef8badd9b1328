"""The few places pd-mcp reaches past the `mcp` SDK's public API, fenced here.

Why: an SDK upgrade that moves one of these breaks this module and nothing
else. Each helper says what it relies on.
"""

from __future__ import annotations

from typing import Any

from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.mcpserver import MCPServer


def lowlevel(mcp: MCPServer) -> Server[Any]:
    """The low-level server an `MCPServer` wraps (`MCPServer._lowlevel_server`)."""
    return mcp._lowlevel_server


def connection_of(ctx: Any) -> Connection:
    """The connection a request arrived on (`ServerSession._connection`): one per session."""
    connection: Connection = ctx.session._connection
    return connection
