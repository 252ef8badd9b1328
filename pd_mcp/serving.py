"""The MCP server and its runtime, optionally with the sandbox in-process behind it; serving HTTP.

Both transports assemble the server here (`assembled`): stdio from `stdio.fast_main`,
which must claim the wire before it imports this module, and HTTP from `serve`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from pd_mcp.server import Runtime, build_server

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from pd_mcp.commandline.options import Options


@contextlib.asynccontextmanager
async def assembled(*, sandbox: bool) -> AsyncIterator[tuple[Runtime, MCPServer]]:
    """The runtime and the server on it, behind the simulated API when `sandbox`; all closed after."""
    async with anyio.create_task_group() as tg:
        update = await _start_sandbox(tg) if sandbox else None
        runtime = Runtime(settings_update=update)
        try:
            yield runtime, build_server(runtime)
        finally:
            await runtime.aclose()
            tg.cancel_scope.cancel()


async def serve(options: Options) -> int:
    """`pd-mcp serve --transport http`: Streamable HTTP until a signal stops it.

    Returns the number of the signal that stopped the server (0 if none). The
    limits are read and the address is bound before anything starts, so a bad
    value or a taken port raises `ConfigError` or `BindError`.
    """
    from pd_mcp.http_app import bind_socket, serve_http
    from pd_mcp.http_limits import http_limits

    limits = http_limits()
    sock = bind_socket(options.host, options.port)
    async with assembled(sandbox=options.sandbox) as (runtime, mcp):
        return await serve_http(
            mcp, sock=sock, stateless=options.stateless, drain=runtime.drain, limits=limits
        )
    return 0  # only reached when the task group swallowed a cancellation


async def _start_sandbox(tg: TaskGroup) -> dict[str, object]:
    """Start the simulated API on a free loopback port; the settings that point the client at it.

    Only the URL, user id and key are replaced: the rest (`POWERDRILL_API_VERSION`,
    the request budget, the timeout) is read from the environment and checked as
    without `--sandbox`, so a wrong value is reported the same way.
    """
    from pydantic import SecretStr

    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, SandboxOptions, serve_sandbox

    ready = anyio.Event()
    where: list[str] = []

    def on_ready(url: str) -> None:
        where.append(url)
        ready.set()

    async def run() -> None:
        await serve_sandbox(SandboxOptions.from_env(), ready=on_ready)

    tg.start_soon(run)
    await ready.wait()
    return {"api_url": where[0], "user_id": SANDBOX_USER_ID, "api_key": SecretStr(SANDBOX_API_KEY)}
