"""Serving MCP over stdio."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer


async def run_stdio(mcp: MCPServer) -> None:
    await mcp.run_stdio_async()
