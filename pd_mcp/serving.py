"""Run the MCP server on its transport, optionally with the sandbox in-process behind it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio.abc import TaskGroup

from pd_mcp.server import Runtime, build_server

if TYPE_CHECKING:
    from pd_mcp.commandline.options import Options


async def serve(options: Options) -> int:
    """`pd-mcp serve`: stdio or Streamable HTTP until the host closes the stream or stops us.

    Returns the number of the signal that stopped an HTTP server (0 if none).
    Over HTTP the limits are read and the address is bound before anything
    starts, so a bad value or a taken port raises `ConfigError` or `BindError`.
    """
    sock = limits = None
    if options.transport != "stdio":
        from pd_mcp.http_app import bind_socket
        from pd_mcp.http_limits import http_limits

        limits = http_limits()
        sock = bind_socket(options.host, options.port)
    async with anyio.create_task_group() as tg:
        config = await _start_sandbox(tg) if options.sandbox else None
        runtime = Runtime(config=config)
        mcp = build_server(runtime)
        try:
            if sock is None or limits is None:
                from pd_mcp.stdio import Wire, run_stdio

                await run_stdio(mcp, Wire().start())
                return 0
            from pd_mcp.http_app import serve_http

            return await serve_http(
                mcp, sock=sock, stateless=options.stateless, drain=runtime.drain, limits=limits
            )
        finally:
            await runtime.aclose()
            tg.cancel_scope.cancel()
    return 0  # only reached when the task group swallowed a cancellation


async def _start_sandbox(tg: TaskGroup) -> Any:
    """Start the simulated API on a free loopback port and return a config that points at it."""
    from pydantic import SecretStr

    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, SandboxOptions, serve_sandbox
    from pd_mcp.settings import ApiConfig

    ready = anyio.Event()
    where: list[str] = []

    def on_ready(url: str) -> None:
        where.append(url)
        ready.set()

    async def run() -> None:
        await serve_sandbox(SandboxOptions.from_env(), ready=on_ready)

    tg.start_soon(run)
    await ready.wait()
    version: Literal["v1", "v2"] = (
        "v1" if os.environ.get("POWERDRILL_API_VERSION", "").strip().lower() == "v1" else "v2"
    )
    return ApiConfig(
        base_url=where[0], api_version=version, user_id=SANDBOX_USER_ID, api_key=SecretStr(SANDBOX_API_KEY)
    )
