"""Running the HTTP server: the start-up line, signals, the bounded drain, logging off the event loop.

Why: uvicorn's own signal handling stops at once and lets the SSE library cut
every open stream, so a rolling restart failed the waits it interrupted. Here
the first SIGTERM (or SIGINT) starts the drain: `/readyz` turns 503, new MCP
requests are refused, waits in flight return their latest counts at once, and
the server stops when no call is left or the drain time is nearly over. A
watchdog thread ends the process at the drain time whatever the event loop is
doing; a second signal ends it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio
import uvicorn

from pd_mcp.drain import Drain
from pd_mcp.http_limits import HttpLimits

if TYPE_CHECKING:
    from starlette.types import ASGIApp

# Of the drain time, what uvicorn gets at the end to close connections (streams still open are cut).
CLOSE_SECONDS = 0.5
# The drain ends early once no HTTP request has been answered for this long and no call runs.
QUIET_SECONDS = 0.3


def exit_status(signum: int) -> int:
    """0 after SIGTERM, 130 after SIGINT (as `pd-mcp wait` after Ctrl-C)."""
    return 130 if signum == signal.SIGINT else 0


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers, announcing its URL once it listens."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"pd-mcp: serving MCP at {self._url}", file=sys.stderr, flush=True)


async def run_server(app: ASGIApp, *, sock: socket.socket, drain: Drain, limits: HttpLimits, url: str) -> int:
    """Serve `app` on `sock` until a signal has been drained; return that signal's number (0 if none)."""
    from pd_mcp.log_offload import offload_root_handlers, quiet_accept_errors

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        limit_concurrency=limits.max_connections,
        timeout_graceful_shutdown=CLOSE_SECONDS,  # type: ignore[arg-type]  # typed int, used as a float
        log_config=None,
    )
    server = _Server(config, url)
    loop = asyncio.get_running_loop()
    quiet_accept_errors(loop)
    received: list[int] = []
    signalled = anyio.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if received:  # a second signal: stop now
            os._exit(exit_status(received[0]))
        received.append(signum)
        watchdog = threading.Timer(limits.drain_seconds, os._exit, (exit_status(signum),))
        watchdog.daemon = True
        watchdog.start()
        loop.call_soon_threadsafe(signalled.set)

    async def drain_on_signal() -> None:
        await signalled.wait()
        drain.start()
        with anyio.move_on_after(max(0.0, limits.drain_seconds - 2 * CLOSE_SECONDS)):
            await drain.wait_idle()
            await drain.wait_quiet(QUIET_SECONDS)
        server.should_exit = True

    listener = offload_root_handlers()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain_on_signal)
            await server.serve(sockets=[sock])
            tg.cancel_scope.cancel()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        listener.stop()
    return received[0] if received else 0
