"""A real Redis server and a recording fake upstream, as processes the fleet tests start and stop."""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e_support import free_port, stop_process

UPSTREAM = str(Path(__file__).with_name("fleet_upstream.py"))


def busiest_second(times: Sequence[float]) -> int:
    """The most events in any window (t - 1 s, t]."""
    ordered = sorted(times)
    return max((i + 1 - bisect.bisect_right(ordered, t - 1.0) for i, t in enumerate(ordered)), default=0)


def _wait_for(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout:g} s")
        time.sleep(0.05)


@dataclass
class RedisServer:
    """`redis-server` on a free loopback port, no persistence."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise RuntimeError(
                "redis-server is missing: .ci/run installs it (apt-get install -y redis-server)"
            )
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            args, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for(self.pings, f"redis-server did not answer on {self.port}")

    def pings(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.thaw()
            stop_process(self.proc)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Upstream:
    """The recording fake (fleet_upstream.py) in its own process."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def lines(self) -> list[tuple[float, str]]:
        out = []
        for line in self.log.read_text().splitlines():
            when, _, what = line.partition(" ")
            out.append((float(when), what))
        return out

    def arrivals(self, since: float = 0.0) -> list[float]:
        return [t for t, what in self.lines() if what != "connection" and t >= since]

    def status_requests(self, dataset_id: str) -> int:
        return sum(1 for _, what in self.lines() if what.endswith(f"/datasets/{dataset_id}/status"))

    def connections(self) -> int:
        return sum(1 for _, what in self.lines() if what == "connection")


@contextlib.contextmanager
def upstream(workdir: Path, latency_ms: float = 0) -> Iterator[Upstream]:
    port = free_port()
    log = workdir / f"upstream-{port}.log"
    log.touch()
    proc = subprocess.Popen(
        [sys.executable, UPSTREAM, str(port), str(log), str(latency_ms)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"listening"
        yield Upstream(port, log, proc)
    finally:
        stop_process(proc)
