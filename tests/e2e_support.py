# Shared helpers of the end-to-end tests (test_e2e_stdio.py, test_e2e_http.py):
# the installed `pd-mcp` command, a clean environment for it, starting and
# stopping an HTTP server subprocess on a free loopback port, reading the
# kernel's socket table, and the checks both transports run through a real
# `mcp.Client` against a sandbox. The checks take a connected client and the
# sandbox, so each transport's test file only decides how to connect.
"""Helpers and shared checks of the end-to-end tests."""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from support import free_port, text_of  # re-exported for the e2e tests

from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, RunningSandbox, SandboxOptions

# The installed console script, as a host would launch it.
PD_MCP = str(Path(sys.executable).parent / "pd-mcp")

# Client eras: "legacy" is the 2025-11-25 initialize handshake, "auto" discovers 2026-07-28.
MODES = ("legacy", "auto")
PROTOCOL_OF_MODE = {"legacy": "2025-11-25", "auto": "2026-07-28"}

# Finish time of the sandbox's ds-syncing and ds-partial; small, so that waits are short.
SYNC_SECONDS = 2.0
# Every test body runs under this bound (anyio.fail_after).
TEST_TIMEOUT = 30.0
# Starting a server (a cold Python start with imports) may take this long on a busy machine.
START_TIMEOUT = 20.0

TOOLS = ("get_dataset_status", "wait_for_dataset_sync")
STATUS_FIELDS = {
    "dataset_id",
    "synched_count",
    "synching_count",
    "invalid_count",
    "total_count",
    "verdict",
    "ready",
    "message",
    "failed_sources",
    "trace_id",
    "api_version",
    "checked_at",
}
WAIT_FIELDS = STATUS_FIELDS | {"timed_out", "waited_seconds", "polls"}
VERDICTS = {"ready", "syncing", "partially_failed", "failed", "empty"}
Progress = tuple[float, float | None, str | None]  # (progress, total, message) of one notification

# --- what the sandbox defines -----------------------------------------------------------
# Datasets whose state depends on time start their clock at the first request for them,
# so each of those ids is used by exactly one check per sandbox (see where each is used):
#   status check: ds-syncing, ds-partial, ds-sync-30 (all still syncing when first asked)
#   wait check:   ds-sync-2, ds-syncfail-2 (finish 2 s after the wait's first poll)
# ds-stuck never changes, so the status, timeout and cancel checks share it.


@dataclass(frozen=True)
class Expected:
    verdict: str
    synched: int
    synching: int
    invalid: int
    failed_names: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.synched + self.synching + self.invalid


LARGE_FAILED = tuple(f"bad-part-{n:03d}.csv" for n in range(25, 301, 25))

# Every scenario as it answers the first time it is asked (its clock starts then).
FIRST_ASK: dict[str, Expected] = {
    "ds-ready": Expected("ready", 5, 0, 0),
    "ds-syncing": Expected("syncing", 0, 8, 0),
    "ds-partial": Expected("syncing", 0, 6, 0),
    "ds-failed": Expected(
        "failed",
        0,
        0,
        3,
        ("corrupted-workbook.xlsx", "empty-sheet.csv", "password-protected.pdf"),
    ),
    "ds-empty": Expected("empty", 0, 0, 0),
    "ds-stuck": Expected("syncing", 1, 3, 0),
    "ds-large": Expected("partially_failed", 288, 0, 12, LARGE_FAILED),
    "ds-sync-30": Expected("syncing", 0, 10, 0),
}
# After waiting for sync to finish.
AFTER_WAIT: dict[str, Expected] = {
    "ds-sync-2": Expected("ready", 10, 0, 0),
    "ds-syncfail-2": Expected(
        "partially_failed", 8, 0, 2, ("table-05-truncated.csv", "table-10-bad-encoding.csv")
    ),
}
STUCK_WAIT = "ds-stuck"
UNKNOWN_DATASET = "ds-e2e-does-not-exist"
INVALID_DATASET_IDS = ("../ds-ready", "ds ready", "ds-ready/status", ".", "..", "x" * 129, "")

# With a young wait the server polls about once a second (at most 10 % sooner, for jitter).
# A cancelled wait must stay silent for longer than two such intervals, or a wait that
# kept polling could not be told from one that stopped with one request in flight.
CANCEL_OBSERVATION_SECONDS = 2.2


def sandbox_options() -> SandboxOptions:
    """Sandbox options for the e2e tests: defaults (no faults) with a short sync time."""
    return SandboxOptions.from_env({}, sync_seconds=SYNC_SECONDS)


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without any pd-mcp, Powerdrill or sandbox setting, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POWERDRILL_", "PD_MCP_", "PD_SANDBOX_", "PYTEST_", "COV_"))
    }
    env["PD_MCP_LOG_LEVEL"] = "WARNING"
    env.update(extra)
    return env


def sandbox_env(sandbox: RunningSandbox, **extra: str) -> dict[str, str]:
    """Settings that point pd-mcp at `sandbox` with the sandbox credentials."""
    return {
        "POWERDRILL_USER_ID": SANDBOX_USER_ID,
        "POWERDRILL_PROJECT_API_KEY": SANDBOX_API_KEY,
        "POWERDRILL_API_URL": sandbox.url,
        "PD_MCP_LOG_LEVEL": "WARNING",
        **extra,
    }


# --- running a test body --------------------------------------------------------------


async def bounded(check: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run `check(*args)` under the per-test time bound."""
    with anyio.fail_after(TEST_TIMEOUT):
        return await check(*args)


# --- HTTP server subprocesses ---------------------------------------------------------


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate, wait, kill if it must: the process is gone when this returns."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class HttpServer:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def http_server(args: list[str], env: dict[str, str], log_dir: Path) -> Iterator[HttpServer]:
    """`pd-mcp serve --transport http --port <free> *args`, stopped on exit.

    Waits until the port accepts connections. A free port can be taken by
    someone else between choosing and binding it; then the server exits at
    once and another port is tried.
    """
    for attempt in range(3):
        port = free_port()
        log = log_dir / f"pd-mcp-http-{port}-{attempt}.log"
        command = [PD_MCP, "serve", "--transport", "http", "--port", str(port), *args]
        # Its own cache directory (the handshake recording), not the developer's.
        env = {"XDG_CACHE_HOME": str(log_dir / "cache"), **env}
        with log.open("wb") as out:
            proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while proc.poll() is None and not _accepts(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pd-mcp did not listen on {port} within {START_TIMEOUT:g} s")
                time.sleep(0.05)
            if proc.poll() is None:
                break
            text = log.read_text(errors="replace")
            if "address already in use" not in text.lower():
                raise RuntimeError(f"pd-mcp exited with {proc.returncode} while starting:\n{text}")
        except BaseException:
            stop_process(proc)
            raise
    else:
        raise RuntimeError("no free port could be bound in 3 attempts")
    try:
        yield HttpServer(proc, port, log, args)
    finally:
        stop_process(proc)


# --- which addresses a process listens on ---------------------------------------------


def _ipv4(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    return socket.inet_ntop(socket.AF_INET, raw[::-1] if sys.byteorder == "little" else raw)


def _ipv6(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":  # four 32-bit words, each in host byte order
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, raw)


def _listening_from_proc(pid: int, port: int) -> list[str]:
    """From /proc/net/tcp{,6}: listening sockets on `port` whose inode is one of `pid`'s fds."""
    inodes: set[int] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    found: list[str] = []
    for table, decode in (("/proc/net/tcp", _ipv4), ("/proc/net/tcp6", _ipv6)):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, port_hex = fields[1].rsplit(":", 1)
                listening = fields[3] == "0A"  # TCP_LISTEN
                if listening and int(port_hex, 16) == port and int(fields[9]) in inodes:
                    found.append(decode(address))
    return found


def listening_addresses(pid: int, port: int) -> list[str] | None:
    """The addresses process `pid` listens on at TCP `port` (psutil, else /proc); None if unknowable."""
    try:
        import psutil  # optional
    except ImportError:
        if not Path("/proc/net/tcp").exists():
            return None
        return _listening_from_proc(pid, port)
    return [
        c.laddr.ip
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]


# --- reading results ------------------------------------------------------------------

# A traceback frame in pd_mcp's own code, or an error logged by one of its loggers.
_PD_MCP_FAULT = re.compile(r'File "[^"]*[/\\]pd_mcp[/\\]|\b(ERROR|CRITICAL) pd_mcp\b')
# pd_mcp's ASGI middleware only passes requests on to the SDK's app: its frames sit on top of
# every traceback raised below it, and say nothing about whose fault that traceback is.
_PASS_THROUGH = re.compile(r'File "[^"]*[/\\]pd_mcp[/\\]http_app\.py", line \d+, in __call__')


def pd_mcp_faults(log: str) -> list[str]:
    """Lines of a server log that show pd_mcp itself failing.

    Tracebacks that run only through the SDK, Starlette and uvicorn (and pd_mcp's
    pass-through middleware) are left out: mcp 2.3's stateful Streamable HTTP
    transport logs one when a client request races the client's own session
    DELETE (see the report of the e2e tests), which is no fault of pd_mcp's.
    """
    return [
        line for line in log.splitlines() if _PD_MCP_FAULT.search(line) and not _PASS_THROUGH.search(line)
    ]


def status_requests(sandbox: RunningSandbox, dataset_id: str) -> list[Any]:
    """The sandbox's logged status requests for `dataset_id`, oldest first."""
    return [r for r in sandbox.sandbox.requests if r.dataset_id == dataset_id and r.path.endswith("/status")]


def assert_matches(data: dict[str, Any], dataset_id: str, expected: Expected, api_version: str) -> None:
    where = f"{dataset_id}: {data}"
    assert data["dataset_id"] == dataset_id, where
    assert data["verdict"] == expected.verdict, where
    assert (data["synched_count"], data["synching_count"], data["invalid_count"]) == (
        expected.synched,
        expected.synching,
        expected.invalid,
    ), where
    assert data["total_count"] == expected.total, where
    assert data["ready"] is (expected.verdict == "ready"), where
    assert sorted(s["name"] for s in data["failed_sources"]) == sorted(expected.failed_names), where
    assert data["api_version"] == api_version, where
    assert data["simulated"] is True, where
    # The sandbox's note is on the text's trace-id line (assert_success), not in `message`.
    assert data["trace_id"] and data["trace_id"].startswith("sbx-"), where
    assert data["checked_at"].endswith("Z"), where


def assert_success(result: Any, dataset_id: str, expected: Expected, api_version: str) -> dict[str, Any]:
    """A successful tool result that says `expected`; returns its structuredContent."""
    text = text_of(result)
    assert result.is_error is False, f"{dataset_id}: {text}"
    data = result.structured_content
    assert isinstance(data, dict), f"{dataset_id}: no structuredContent: {text}"
    assert_matches(data, dataset_id, expected, api_version)
    first_line = text.splitlines()[0]
    assert dataset_id in first_line and not first_line.startswith(("{", "[")), text  # a sentence, not JSON
    assert "simulated" in text.lower(), text
    return data


# --- checks shared by both transports -------------------------------------------------


async def check_tools(client: Client, sandbox: RunningSandbox | None = None) -> None:
    """Both tools, with their title, the four annotations, an input and an output schema."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == sorted(TOOLS)
    for name, tool in tools.items():
        assert tool.title, name
        assert tool.description, name
        hints = tool.annotations
        assert hints is not None, name
        assert hints.read_only_hint is True, name
        assert hints.idempotent_hint is True, name
        assert hints.open_world_hint is True, name
        assert hints.destructive_hint is False, name
        assert tool.input_schema["required"] == ["dataset_id"], name
        assert tool.input_schema["properties"]["dataset_id"]["type"] == "string", name
        schema = tool.output_schema
        assert schema is not None and schema.get("type") == "object", name
        expected_fields = WAIT_FIELDS if name == "wait_for_dataset_sync" else STATUS_FIELDS
        assert expected_fields <= set(schema["properties"]), name
        assert set(schema["properties"]["verdict"]["enum"]) == VERDICTS, name
    timeout = tools["wait_for_dataset_sync"].input_schema["properties"]["timeout_seconds"]
    assert timeout["type"] == "number"
    assert (timeout["minimum"], timeout["maximum"], timeout["default"]) == (1, 900, 45)


async def check_status_scenarios(client: Client, sandbox: RunningSandbox, api_version: str = "v2") -> None:
    """get_dataset_status on every scenario dataset gives the sandbox's verdict and counts."""
    for dataset_id, expected in FIRST_ASK.items():
        result = await client.call_tool("get_dataset_status", {"dataset_id": dataset_id})
        data = assert_success(result, dataset_id, expected, api_version)
        # The trace id is the one the sandbox sent back for this dataset's status request.
        assert data["trace_id"] == status_requests(sandbox, dataset_id)[-1].trace_id


async def check_wait_finishes(client: Client, sandbox: RunningSandbox, api_version: str = "v2") -> None:
    """Waits on syncing datasets return once sync is over, with progress on the way."""
    results: dict[str, Any] = {}
    # Progress callbacks run as tasks of the client, so the last may land after the result.
    streams = {d: anyio.create_memory_object_stream[Progress](math.inf) for d in AFTER_WAIT}

    async def wait(dataset_id: str) -> None:
        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            streams[dataset_id][0].send_nowait((done, total, message))

        results[dataset_id] = await client.call_tool(
            "wait_for_dataset_sync",
            {"dataset_id": dataset_id, "timeout_seconds": 20},
            progress_callback=on_progress,
        )

    async with anyio.create_task_group() as tg:  # two waits at once, as an assistant may do
        for dataset_id in AFTER_WAIT:
            tg.start_soon(wait, dataset_id)

    for dataset_id, expected in AFTER_WAIT.items():
        data = assert_success(results[dataset_id], dataset_id, expected, api_version)
        assert data["timed_out"] is False, data
        assert data["polls"] >= 2, data  # it was syncing at the first poll
        assert data["polls"] == len(status_requests(sandbox, dataset_id)), data
        seen: list[Progress] = []
        sender, arrived = streams[dataset_id]
        with sender, arrived, anyio.move_on_after(2):
            while len(seen) < data["polls"]:
                seen.append(await arrived.receive())
        assert len(seen) == data["polls"], seen  # one notification after every check
        assert all(total == expected.total for _, total, _ in seen), seen
        done = [d for d, _, _ in seen]
        assert done == sorted(done), seen  # never goes back
        assert done[0] < expected.total and done[-1] == expected.total, seen  # it moved, to the end
        assert all(message and dataset_id in message for _, _, message in seen), seen  # the verdict sentence

    # A dataset that is already finished costs one request and returns at once.
    result = await client.call_tool(
        "wait_for_dataset_sync", {"dataset_id": "ds-ready", "timeout_seconds": 20}
    )
    data = assert_success(result, "ds-ready", FIRST_ASK["ds-ready"], api_version)
    assert (data["timed_out"], data["polls"]) == (False, 1), data


async def check_wait_times_out(client: Client, sandbox: RunningSandbox, api_version: str = "v2") -> None:
    """A wait that reaches its deadline is an answer with timed_out, not an error."""
    before = len(status_requests(sandbox, STUCK_WAIT))
    result = await client.call_tool("wait_for_dataset_sync", {"dataset_id": STUCK_WAIT, "timeout_seconds": 1})
    data = assert_success(result, STUCK_WAIT, FIRST_ASK[STUCK_WAIT], api_version)
    assert data["timed_out"] is True, data
    assert data["polls"] == len(status_requests(sandbox, STUCK_WAIT)) - before >= 1, data


async def check_unknown_dataset(client: Client, sandbox: RunningSandbox) -> None:
    """An unknown dataset is an isError result that says so, with the sandbox's trace id."""
    result = await client.call_tool("get_dataset_status", {"dataset_id": UNKNOWN_DATASET})
    text = text_of(result)
    assert result.is_error is True, text
    requests = status_requests(sandbox, UNKNOWN_DATASET)
    assert len(requests) == 1, requests  # not found is permanent: never retried
    assert requests[0].trace_id in text, text
    assert UNKNOWN_DATASET in text and "not found" in text.lower(), text
    assert "Traceback" not in text and SANDBOX_API_KEY not in text, text
    # The same through the waiting tool: it ends at once with the same kind of error.
    result = await client.call_tool(
        "wait_for_dataset_sync", {"dataset_id": UNKNOWN_DATASET, "timeout_seconds": 20}
    )
    text = text_of(result)
    assert result.is_error is True, text
    assert "not found" in text.lower() and status_requests(sandbox, UNKNOWN_DATASET)[-1].trace_id in text, (
        text
    )


async def check_invalid_dataset_ids(client: Client, sandbox: RunningSandbox) -> None:
    """Invalid ids are isError results, and no request for them reaches the sandbox."""
    before = len(sandbox.sandbox.requests)
    for bad in INVALID_DATASET_IDS:
        for tool, extra in (("get_dataset_status", {}), ("wait_for_dataset_sync", {"timeout_seconds": 5})):
            result = await client.call_tool(tool, {"dataset_id": bad, **extra})
            text = text_of(result)
            assert result.is_error is True, (tool, bad, text)
            assert "dataset_id" in text and "Traceback" not in text, (tool, bad, text)
    # Any request for one of these ids would name an unknown dataset or no dataset at all.
    known = {*FIRST_ASK, *AFTER_WAIT}
    reached = [r.path for r in sandbox.sandbox.requests[before:] if r.dataset_id not in known]
    assert reached == [], reached


async def check_cancelled_wait(client: Client, sandbox: RunningSandbox) -> None:
    """Cancelling a wait from the client stops its polling; the server stays usable."""
    first_progress = anyio.Event()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        first_progress.set()

    async def wait() -> None:
        await client.call_tool(
            "wait_for_dataset_sync",
            {"dataset_id": STUCK_WAIT, "timeout_seconds": 60},
            progress_callback=on_progress,
        )
        raise AssertionError("the wait on ds-stuck returned before it was cancelled")

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await first_progress.wait()
        tg.cancel_scope.cancel()  # the client abandons the call: notifications/cancelled or stream close
    polls_at_cancel = len(status_requests(sandbox, STUCK_WAIT))
    assert polls_at_cancel >= 1

    # Meanwhile the server answers other calls.
    result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert result.is_error is False, text_of(result)
    await anyio.sleep(CANCEL_OBSERVATION_SECONDS)
    later = status_requests(sandbox, STUCK_WAIT)[polls_at_cancel:]
    assert len(later) <= 1, f"the cancelled wait kept polling: {len(later)} more status requests"
    result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-failed"})
    assert result.is_error is False, text_of(result)
