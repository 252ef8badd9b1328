"""Child processes for the bench: start, read with a deadline, stop, reap with their peak memory.

Why: every figure of bench/run.py comes from a process it started, and every one
of them must end (terminate, wait, kill; also on Ctrl-C) and every wait must have
a timeout, whichever section started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import CALL_TIMEOUT, HERE, READY_TIMEOUT, START_TIMEOUT, BenchError

SANDBOX_PROCESS = HERE / "sandbox_process.py"


class Processes:
    """Every child started by the bench; `stop_all` ends whatever is still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.live: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, name: str, argv: Sequence[str], env: dict[str, str], *, pipes: str = "in,out"
    ) -> subprocess.Popen[bytes]:
        """Start `argv`; `pipes` names the standard streams to pipe ("in,out", "out" or "")."""
        with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if "in" in pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if "out" in pipes else log,
                stderr=log,
                env=env,
                bufsize=0,
                close_fds=True,
            )
        self.live.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """Close its pipes, ask it to stop, wait, then kill. Never raises."""
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)
        if proc in self.live:
            self.live.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.live):
            self.stop(proc, grace=3.0)


def reap(proc: subprocess.Popen[bytes], timeout: float) -> tuple[Any, bool]:
    """Wait for `proc` to exit (killing it after `timeout`), reap it; its rusage and whether killed."""
    killed = False
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(proc.pid)
    try:
        if pidfd is not None:
            exited = select.select([pidfd], [], [], timeout)[0]
        else:  # no pidfd: poll
            deadline = time.monotonic() + timeout
            exited = []
            while time.monotonic() < deadline:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    return usage, False
                time.sleep(0.001)
        if not exited:
            killed = True
            proc.kill()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen knows it is gone
    return usage, killed


class Lines:
    """Newline-delimited reading from a pipe with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read(self, deadline: float) -> bytes:
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer in time")
            if select.select([self.fd], [], [], left)[0]:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    raise EOFError("the process closed its output")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def response(self, request_id: int, deadline: float) -> dict[str, Any]:
        while True:
            line = self.read(deadline).strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                raise BenchError(f"not JSON-RPC on stdout: {line[:200]!r}") from None
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message

    def rest(self, deadline: float) -> list[bytes]:
        """Every further line until the process closes its output (or the deadline)."""
        found: list[bytes] = []
        with contextlib.suppress(TimeoutError, EOFError, OSError):
            while True:
                found.append(self.read(deadline))
        return [line for line in found if line.strip()]


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited ({proc.returncode}) before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.02)
    raise BenchError(f"{proc.args!r} did not listen on 127.0.0.1:{port} within {timeout:g} s")


class SandboxProcess:
    """bench/sandbox_process.py: the simulated API in a process of its own."""

    def __init__(self, procs: Processes, env: dict[str, str], as_is: bool = False) -> None:
        self.procs = procs
        argv = [sys.executable, str(SANDBOX_PROCESS), *(["--as-is"] if as_is else [])]
        self.proc = procs.spawn("sandbox", argv, env)
        assert self.proc.stdout is not None
        self.lines = Lines(self.proc.stdout.fileno())
        try:
            self.url: str = json.loads(self.lines.read(time.monotonic() + START_TIMEOUT))["url"]
        except Exception as exc:
            raise BenchError(f"the sandbox did not start: {exc}") from exc

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        write_all(self.proc.stdin.fileno(), command.encode() + b"\n")
        return json.loads(self.lines.read(time.monotonic() + CALL_TIMEOUT))

    def stop(self) -> None:
        self.procs.stop(self.proc)
