"""Run the MCP server on its transport, optionally with the sandbox in-process behind it."""

from __future__ import annotations

import os
from typing import Any

import anyio
from anyio.abc import TaskGroup

from pd_mcp.server import Runtime, build_server


async def serve(args: Any) -> None:
    """`pd-mcp serve`: stdio or Streamable HTTP until the host closes the stream or stops us."""
    async with anyio.create_task_group() as tg:
        config = await _start_sandbox(tg) if args.sandbox else None
        runtime = Runtime(config=config)
        mcp = build_server(runtime)
        try:
            if args.transport == "stdio":
                from pd_mcp.stdio import Wire, run_stdio

                await run_stdio(mcp, Wire().start())
            else:
                from pd_mcp.http_app import serve_http

                await serve_http(mcp, host=args.host, port=args.port, stateless=args.stateless)
        finally:
            await runtime.aclose()
            tg.cancel_scope.cancel()


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
    version = "v1" if os.environ.get("POWERDRILL_API_VERSION", "").strip().lower() == "v1" else "v2"
    return ApiConfig(
        base_url=where[0], api_version=version, user_id=SANDBOX_USER_ID, api_key=SecretStr(SANDBOX_API_KEY)
    )
