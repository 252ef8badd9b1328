"""The HTTP server out of file descriptors: a flood of half-open connections under a low
`ulimit -n`, with stderr a pipe nobody reads.

What a user would notice: the server does not write a flood of EMFILE tracebacks (the
stderr bytes stay bounded), it answers a legitimate client once the flood ends, and a
SIGTERM ends it within the drain time (`PD_MCP_DRAIN_SECONDS`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import PD_MCP, START_TIMEOUT, base_env, free_port, stop_process

pytestmark = pytest.mark.process

FD_LIMIT = 128
FLOOD = 300  # half-open connections: more than the server has descriptors
FLOOD_SECONDS = 3.0
DRAIN_SECONDS = 2.0
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@contextlib.contextmanager
def _server(stderr_fd: int) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = base_env(PD_MCP_DRAIN_SECONDS=str(DRAIN_SECONDS), PD_MCP_LOG_LEVEL="INFO")
    proc = subprocess.Popen(
        [PD_MCP, "serve", "--transport", "http", "--port", str(port), "--sandbox"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr_fd,
        preexec_fn=_low_fd_limit,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(port):
            assert proc.poll() is None, "pd-mcp exited while starting"
            assert time.monotonic() < deadline, "pd-mcp did not start"
            time.sleep(0.05)
        yield proc, port
    finally:
        stop_process(proc)


def _healthy(port: int, timeout: float = 0.5) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _flood(port: int) -> None:
    """Open FLOOD connections that send half a request and then nothing; hold them, then go."""
    held: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            held.append(sock)
        time.sleep(0.2)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(FLOOD_SECONDS)
    finally:
        for sock in held:
            sock.close()


def _after_flood(proc: subprocess.Popen[bytes], port: int) -> None:
    """A legitimate client is answered once the flood is over, and SIGTERM ends the process in time."""
    deadline = time.monotonic() + 15
    while not _healthy(port, timeout=2):
        assert proc.poll() is None, "pd-mcp died in the flood"
        assert time.monotonic() < deadline, "pd-mcp stayed unresponsive after the flood"
        time.sleep(0.2)
    answer = httpx.post(
        f"http://127.0.0.1:{port}/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        headers={"accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(DRAIN_SECONDS + 3) == 0  # the drain time, and a margin for a loaded machine


def test_an_fd_flood_writes_no_log_flood_and_the_server_recovers() -> None:
    """stderr is a 1 MB pipe read only after the process has gone: what it holds is all it wrote."""
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, F_SETPIPE_SZ, 1 << 20)
        capacity = fcntl.fcntl(write_end, F_GETPIPE_SZ)
        with _server(write_end) as (proc, port):
            _flood(port)
            _after_flood(proc, port)
        os.close(write_end)
        write_end = -1
        written = b""
        while chunk := os.read(read_end, 1 << 16):
            written += chunk
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    text = written.decode(errors="replace")
    print(f"\n{len(written)} bytes on stderr (pipe {capacity}), {text.count('Traceback')} tracebacks")
    assert len(written) < min(capacity, 64 * 1024), text[-3000:]
    assert text.count("Traceback") == 0, text[-3000:]
    assert 1 <= text.count("out of file descriptors") <= 2, text[-3000:]  # once per 10 s interval


def test_an_fd_flood_with_a_full_stderr_pipe_nobody_reads_does_not_stall_the_server() -> None:
    """Once the server is up, its stderr pipe is filled and never read: every write there blocks."""
    read_end, write_end = os.pipe()
    try:
        with _server(write_end) as (proc, port):
            os.set_blocking(write_end, False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    os.write(write_end, b"x" * 4096)
            _flood(port)
            _after_flood(proc, port)
    finally:
        os.close(read_end)
        os.close(write_end)
