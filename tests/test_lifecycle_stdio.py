"""The stdio server as a process: end of input with a listening request open, equivalent-id
cancels, signals and a closed stdout, on the installed `pd-mcp` against the sandbox."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import PD_MCP, base_env, sandbox_env, sandbox_options

from pd_mcp.sandbox import RunningSandbox, running_sandbox

pytestmark = pytest.mark.process

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "lifecycle-test", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
# Generous bounds for a busy machine; the bar is 2 s on a quiet one.
EXIT_BOUND = 10.0
ANSWER_BOUND = 30.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_options()) as running:
        yield running


def request(n: int | str, method: str, params: dict[str, Any] | None = None) -> bytes:
    message = {"jsonrpc": "2.0", "id": n, "method": method, "params": {"_meta": META, **(params or {})}}
    return json.dumps(message).encode() + b"\n"


def start(sandbox: RunningSandbox, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = base_env(**sandbox_env(sandbox), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.Popen(
        [PD_MCP], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def read_answer(proc: subprocess.Popen[bytes], request_id: object) -> dict[str, Any]:
    """The response to `request_id` (notifications before it are skipped)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + ANSWER_BOUND
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        message = json.loads(line)
        if message.get("id") == request_id and "method" not in message:
            return message  # type: ignore[no-any-return]
    raise AssertionError(f"no answer to {request_id!r}")


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    """Close stdin and wait (bounded) for the exit; stdout that is left, and stderr."""
    try:
        out, err = proc.communicate(timeout=EXIT_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err


def assert_json_rpc_only(out: bytes) -> None:
    for line in out.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0", line


def open_listen(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(request("d", "server/discover"))
    proc.stdin.flush()
    assert "result" in read_answer(proc, "d")
    proc.stdin.write(
        request("listen", "subscriptions/listen", {"notifications": {"resourceSubscriptions": []}})
    )
    proc.stdin.flush()


def test_end_of_input_with_a_listen_open_exits_at_once(sandbox: RunningSandbox, tmp_path: Path) -> None:
    proc = start(sandbox, tmp_path)
    open_listen(proc)
    started = time.monotonic()
    code, out, err = finish(proc)
    assert code == 0, err
    assert time.monotonic() - started < EXIT_BOUND
    assert_json_rpc_only(out)
    assert b"Traceback" not in err


def test_end_of_input_answers_a_wait_first_then_exits(sandbox: RunningSandbox, tmp_path: Path) -> None:
    proc = start(sandbox, tmp_path)
    open_listen(proc)
    assert proc.stdin is not None
    arguments = {
        "name": "wait_for_dataset_sync",
        "arguments": {"dataset_id": "ds-sync-2", "timeout_seconds": 20},
    }
    proc.stdin.write(request("w", "tools/call", arguments))
    proc.stdin.flush()
    code, out, err = finish(proc)
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    (wait,) = [a for a in answers if a.get("id") == "w"]
    assert wait["result"]["structuredContent"]["verdict"] == "ready", wait


def test_a_cancel_by_an_equivalent_id_releases_the_request(sandbox: RunningSandbox, tmp_path: Path) -> None:
    proc = start(sandbox, tmp_path)
    assert proc.stdin is not None
    proc.stdin.write(request("d", "server/discover"))
    proc.stdin.flush()
    read_answer(proc, "d")
    arguments = {
        "name": "wait_for_dataset_sync",
        "arguments": {"dataset_id": "ds-stuck", "timeout_seconds": 600},
    }
    proc.stdin.write(request("8", "tools/call", arguments))
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 8, "_meta": META},
    }
    proc.stdin.write(json.dumps(cancel).encode() + b"\n")
    proc.stdin.flush()
    code, out, err = finish(proc)
    assert code == 0, err
    assert_json_rpc_only(out)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
@pytest.mark.parametrize("busy", [False, True])
def test_a_signal_ends_the_stdio_server_quietly(
    sandbox: RunningSandbox, tmp_path: Path, signum: int, status: int, busy: bool
) -> None:
    proc = start(sandbox, tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(request("d", "server/discover"))
    proc.stdin.flush()
    read_answer(proc, "d")
    if busy:
        arguments = {
            "name": "wait_for_dataset_sync",
            "arguments": {"dataset_id": "ds-stuck", "timeout_seconds": 600},
        }
        message = json.loads(request("w", "tools/call", arguments))
        message["params"]["_meta"]["progressToken"] = "p"
        proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], ANSWER_BOUND)
        assert ready and b"notifications/progress" in proc.stdout.readline()  # the wait has polled
    proc.send_signal(signum)
    assert proc.wait(EXIT_BOUND) == status
    out, err = proc.stdout.read(), proc.stderr.read() if proc.stderr else b""
    proc.stdin.close()
    assert_json_rpc_only(out)
    assert b"Traceback" not in err and b"Exception ignored" not in err, err


def test_a_closed_stdout_ends_the_server_at_once_and_quietly(sandbox: RunningSandbox, tmp_path: Path) -> None:
    proc = start(sandbox, tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdout.close()  # the host went away without closing our stdin
    proc.stdin.write(request("d", "server/discover"))
    proc.stdin.flush()
    assert proc.wait(EXIT_BOUND) == 0
    err = proc.stderr.read() if proc.stderr else b""
    proc.stdin.close()
    assert b"Traceback" not in err, err
