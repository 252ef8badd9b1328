"""Memory of 1,000 idle HTTP sessions: `python bench/sessions_bench.py` (from the virtual environment).

Starts `pd-mcp serve --transport http --sandbox` on a free loopback port, opens
one session (the baseline), then 1,000 sessions that stay idle (initialize,
never closed), and reads the server's resident memory from /proc after each
step (resident, VmRSS, and peak, VmHWM). Run twice: with the default session cap
(100, so older idle sessions are ended to admit new ones) and with
`PD_MCP_HTTP_MAX_SESSIONS=1000` (all kept). Reported as MiB and as a ratio to the
one-session baseline of the same run. bench/memory.py (section "memory" of
bench/run.py) calls `measure` and reports the same rows.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PD_MCP = str(Path(sys.executable).parent / "pd-mcp")
SESSIONS = 1000
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _initialize(n: int) -> dict[str, object]:
    client = {"name": "bench", "version": "0"}
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client}
    return {"jsonrpc": "2.0", "id": n, "method": "initialize", "params": params}


def _memory_mib(pid: int) -> tuple[float, float]:
    """(resident, peak resident) memory of `pid` in MiB, from /proc."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            found[line.split(":")[0]] = int(line.split()[1]) / 1024
    return found["VmRSS"], found["VmHWM"]


@dataclass(frozen=True)
class Measured:
    base: float  # MiB resident with one session
    base_peak: float  # MiB peak resident with one session
    after: float  # MiB resident after the idle sessions were opened
    peak: float  # MiB peak resident after the idle sessions were opened


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(cap: str | None, pd_mcp: list[str] | None = None, env: dict[str, str] | None = None) -> Measured:
    """Memory with one session, then with SESSIONS idle sessions opened (`cap`: the session cap)."""
    port = _free_port()
    env = {k: v for k, v in (env or os.environ).items() if not k.startswith(("PD_MCP_", "POWERDRILL_"))}
    env["PD_MCP_LOG_LEVEL"] = "WARNING"
    if cap:
        env["PD_MCP_HTTP_MAX_SESSIONS"] = cap
    command = [*(pd_mcp or [PD_MCP]), "serve", "--transport", "http", "--sandbox", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        with httpx.Client(headers=HEADERS, timeout=30) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            http.post(url, json=_initialize(0)).raise_for_status()
            base, base_peak = _memory_mib(proc.pid)
            for n in range(1, SESSIONS + 1):
                http.post(url, json=_initialize(n)).raise_for_status()
            return Measured(base, base_peak, *_memory_mib(proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def main() -> None:
    header = ["sessions kept", "RSS, 1 session (MiB)", "RSS after 1,000 idle sessions (MiB)", "peak (MiB)"]
    print("| " + " | ".join([*header, "× baseline"]) + " |")
    print("| --- | --- | --- | --- | --- |")
    for label, cap in (("default cap (100)", None), ("all 1,000", str(SESSIONS))):
        m = measure(cap)
        print(f"| {label} | {m.base:.1f} | {m.after:.1f} | {m.peak:.1f} | {m.after / m.base:.2f}× |")


if __name__ == "__main__":
    main()
