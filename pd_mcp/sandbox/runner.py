# Ways to run the sandbox over a real socket with uvicorn, always on loopback:
# in a background thread for tests and the demo (`running_sandbox`), inside an
# existing event loop next to the MCP server (`serve_sandbox`), or on its own
# for `pd-mcp sandbox` (`main`). Also the CLI flags of the fault knobs, so the
# CLI module stays thin.
"""Running the sandbox: `running_sandbox`, `serve_sandbox`, `main` and the CLI flags."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn

from pd_mcp.sandbox.app import ENV_VARS, InjectedDrop, Sandbox, SandboxOptions
from pd_mcp.sandbox.scenarios import scenario_table

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox listening on loopback: its base URL, port and state."""

    url: str  # e.g. http://127.0.0.1:54321, no trailing slash
    port: int
    sandbox: Sandbox


class _DropFilter(logging.Filter):
    """Hides uvicorn's error line for connections the sandbox drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BaseExceptionGroup):
            return not all(isinstance(e, InjectedDrop) for e in exc.exceptions)
        return not isinstance(exc, InjectedDrop)


_DROP_FILTER = _DropFilter()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take over SIGINT/SIGTERM in the main thread; the sandbox
        # runs inside other programs (the MCP server, tests), which own them.
        yield


def _loopback(host: str) -> tuple[socket.AddressFamily, str]:
    """The address family and literal address of a loopback `host`; ValueError otherwise."""
    literal = "127.0.0.1" if host == "localhost" else host
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        raise ValueError(f"the sandbox only binds a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"the sandbox only binds a loopback address, not {host!r}")
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return family, literal


def _bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket on loopback (port 0: a free port) and its base URL."""
    family, literal = _loopback(host)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every answer's body waits ~40 ms behind its headers (Nagle's algorithm).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((literal, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    shown = f"[{literal}]" if family == socket.AF_INET6 else literal
    return sock, f"http://{shown}:{bound}"


def _server(sandbox: Sandbox) -> _Server:
    logging.getLogger("uvicorn.error").addFilter(_DROP_FILTER)  # idempotent: same object
    config = uvicorn.Config(
        sandbox.app,
        log_config=None,  # leave the host's logging alone; warnings reach stderr via the root logger
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=0.5,  # type: ignore[arg-type]  # typed int, used as a float
    )
    return _Server(config)


@contextlib.contextmanager
def running_sandbox(options: SandboxOptions | None = None) -> Iterator[RunningSandbox]:
    """Run a sandbox in a background thread on 127.0.0.1 and a free port, for a `with` block.

    Yields once the server accepts connections; on exit stops it and joins the
    thread (in about 0.2 s; requests still in flight are abandoned).
    """
    sandbox = Sandbox(options)
    sock, url = _bind("127.0.0.1", 0)
    server = _server(sandbox)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    port = sock.getsockname()[1]
    thread = threading.Thread(target=run, name=f"pd-mcp-sandbox-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the sandbox server stopped while starting") from (
                    failure[0] if failure else None
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox server did not start within {STARTUP_TIMEOUT:g} s")
            time.sleep(0.002)
        yield RunningSandbox(url=url, port=port, sandbox=sandbox)
    finally:
        server.should_exit = True
        server.force_exit = True  # do not wait for keep-alive clients or in-flight requests
        thread.join(STOP_TIMEOUT)
        sock.close()


async def serve_sandbox(
    options: SandboxOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a sandbox in the running event loop until cancelled; `ready(url)` once listening.

    `host` must be a loopback address. Cancelling (an asyncio cancel or an
    anyio cancel scope) shuts the server down (about 0.2 s) before the
    cancellation propagates.
    """
    sandbox = Sandbox(options)
    sock, url = _bind(host, port)
    server = _server(sandbox)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="pd-mcp-sandbox")
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the sandbox server stopped while starting")
            await asyncio.sleep(0.002)
        if ready is not None:
            ready(url)
        await asyncio.shield(task)
    finally:
        if not task.done():
            server.should_exit = True
            server.force_exit = True
            # anyio re-delivers cancellation at every await inside a cancelled scope, so
            # shield the shutdown from it; asyncio.wait never cancels the task it waits on.
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        sock.close()


def banner(url: str, options: SandboxOptions) -> str:
    """What `pd-mcp sandbox` prints: where it listens, the credentials and the scenarios."""
    return "\n".join(
        [
            f"Powerdrill sandbox (a simulated API; the data is not real) listening on {url}",
            "",
            "Point pd-mcp at it with these settings (sandbox credentials, not secrets):",
            f"  POWERDRILL_API_URL={url}",
            f"  POWERDRILL_USER_ID={options.user_id}",
            f"  POWERDRILL_PROJECT_API_KEY={options.api_key}",
            "",
            f"Settings: {options.summary()}",
            "",
            "Datasets:",
            *("  " + line for line in scenario_table(options.sync_seconds).splitlines()),
            "",
            "Press Ctrl-C to stop.",
        ]
    )


def main(port: int = 0, options: SandboxOptions | None = None) -> int:
    """Run the sandbox on 127.0.0.1:`port` until Ctrl-C; print where and how to stderr."""
    options = options or SandboxOptions.from_env()

    def ready(url: str) -> None:
        print(banner(url, options), file=sys.stderr, flush=True)

    try:
        asyncio.run(serve_sandbox(options, port=port, ready=ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"pd-mcp sandbox: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print("Sandbox stopped.", file=sys.stderr)
    return 0


# --- CLI flags -------------------------------------------------------------------------


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {text!r}"
            ) from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
        return value

    return parse


def _positive(text: str) -> float:
    value = _non_negative(float)(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's fault, rate and sync flags (each defaults to its PD_SANDBOX_* variable)."""
    group = parser.add_argument_group("sandbox behaviour")
    flags: list[tuple[str, str, Callable[[str], Any], str]] = [
        ("--latency-ms", "latency_ms", _non_negative(float), "milliseconds added to every response"),
        ("--error-rate", "error_rate", _rate, "share (0-1) of HTTP 500/502/503 answers"),
        ("--drop-rate", "drop_rate", _rate, "share (0-1) of connections dropped mid-response"),
        ("--malformed-rate", "malformed_rate", _rate, "share (0-1) of malformed successful answers"),
        ("--seed", "seed", _integer, "seed of the fault draws, for reproducible runs"),
        ("--rate-limit", "rate_limit", _non_negative(int), "requests per second per API key; 0 disables"),
        ("--sync-seconds", "sync_seconds", _positive, "seconds ds-syncing and ds-partial take to finish"),
    ]
    for flag, dest, kind, text in flags:
        group.add_argument(
            flag, dest=f"sandbox_{dest}", type=kind, default=None, help=f"{text} [{ENV_VARS[dest]}]"
        )


def options_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> SandboxOptions:
    """Options from parsed flags; flags not given fall back to the environment, then the defaults."""
    overrides = {
        name: getattr(args, f"sandbox_{name}")
        for name in ENV_VARS
        if getattr(args, f"sandbox_{name}", None) is not None
    }
    return SandboxOptions.from_env(environ, **overrides)
