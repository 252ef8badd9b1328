"""Fleet benchmark (section "fleet"): replicas sharing one budget in Redis.

`python bench/fleet_bench.py [--quick]` from the project's virtual environment
(needs `redis-server` and the `redis` extra). Against the recording fake upstream
of the tests (tests/fleet_upstream.py, its own process, 300 ms per answer):

1. replicas x clients: `pd-mcp serve --transport http --stateless` replicas on
   one Redis, N calls on distinct datasets; the busiest second upstream (budget
   20) and the throughput as a fraction of the budget (goal >= 0.9 of it);
2. acquire overhead: one idle `RedisBudget.acquire()` beside `LocalBudget`'s (no Redis), p50;
3. upstream connections at 500 concurrent clients on one replica (budget raised
   to 1000/s so the pool, not the budget, is what is measured): at most 20.
Exit status 0 when every goal is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT / "tests" / "fleet_upstream.py"
PD_MCP = str(Path(sys.executable).parent / "pd-mcp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def busiest(times: list[float]) -> int:
    o = sorted(times)
    return max((i + 1 - bisect.bisect_right(o, t - 1.0) for i, t in enumerate(o)), default=0)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while not accepts(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {port}")
        time.sleep(0.05)


class Stack(contextlib.ExitStack):
    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop() -> None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

        self.callback(stop)
        return proc


def arrivals(log: Path) -> tuple[list[float], int]:
    times, connections = [], 0
    for line in log.read_text().splitlines():
        when, _, what = line.partition(" ")
        if what == "connection":
            connections += 1
        else:
            times.append(float(when))
    return times, connections


async def drive(urls: list[str], datasets: list[str], clients: int) -> None:
    gate = anyio.Semaphore(clients)
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(Client(u, read_timeout_seconds=120)) for u in urls]

        async def one(i: int) -> None:
            async with gate:
                r = await sessions[i % len(sessions)].call_tool(
                    "get_dataset_status", {"dataset_id": datasets[i]}
                )
                assert not r.is_error, r.content

        async with anyio.create_task_group() as tg:
            for i in range(len(datasets)):
                tg.start_soon(one, i)


def fleet_run(tmp: Path, replicas: int, clients: int, calls: int, rate: str = "20") -> tuple[int, float, int]:
    """(busiest second, throughput per second, upstream connections)."""
    with Stack() as stack:
        rport, uport = free_port(), free_port()
        stack.spawn([shutil.which("redis-server") or "redis-server", "--port", str(rport), "--save", ""])
        log = tmp / f"up-{uport}.log"
        log.touch()
        stack.spawn([sys.executable, str(UPSTREAM), str(uport), str(log), "300"])
        wait_port(rport, "redis-server")
        wait_port(uport, "the fake upstream")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PD_MCP_", "POWERDRILL_"))},
            "POWERDRILL_USER_ID": "bench",
            "POWERDRILL_PROJECT_API_KEY": "bench-key-0123456789",
            "POWERDRILL_API_URL": f"http://127.0.0.1:{uport}/api",
            "PD_MCP_REDIS_URL": f"redis://127.0.0.1:{rport}/0",
            "PD_MCP_RATE_LIMIT": rate,
            "PD_MCP_LOG_LEVEL": "WARNING",
            "XDG_CACHE_HOME": str(tmp / "cache"),
        }
        ports = [free_port() for _ in range(replicas)]
        for p in ports:
            stack.spawn([PD_MCP, "serve", "--transport", "http", "--port", str(p), "--stateless"], env)
        for p in ports:
            wait_port(p, "pd-mcp")
        urls = [f"http://127.0.0.1:{p}/mcp" for p in ports]
        probes = arrivals(log)[1]  # wait_port's own connection
        anyio.run(drive, urls, [f"ds-bench-{i}" for i in range(calls)], clients)
        times, connections = arrivals(log)
        connections -= probes
    span = max(times) - min(times)
    return busiest(times), (len(times) - 1) / span if span > 0 else 0.0, connections


async def acquire_overhead(rounds: int) -> tuple[float, float]:
    """p50 ms of an idle acquire: RedisBudget, LocalBudget."""
    from pd_mcp.budget import LocalBudget
    from pd_mcp.shared_budget import RedisBudget

    port = free_port()
    with Stack() as stack:
        stack.spawn([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", ""])
        wait_port(port, "redis-server")
        shared = RedisBudget(f"redis://127.0.0.1:{port}/0", 1e6, "bench")
        local = LocalBudget(1e-6)
        out = []
        for budget in (shared, local):
            took = []
            for _ in range(rounds):
                t = time.perf_counter()
                await budget.acquire()
                took.append((time.perf_counter() - t) * 1000)
            out.append(statistics.median(took))
        await shared.aclose()
    return out[0], out[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    args = parser.parse_args()
    calls = 60 if args.quick else 120
    ok = True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print("replicas x clients, budget 20/s: busiest second upstream, throughput / budget")
        for replicas, clients in ((1, 40), (3, 40), (3, 120)):
            most, rate, _ = fleet_run(tmp, replicas, clients, calls)
            good = most <= 20 and rate / 20 >= 0.9
            ok = ok and good
            print(
                f"  {replicas} x {clients:3d}: busiest {most:2d}, {rate:5.1f}/s = {rate / 20:.2f} "
                f"{'PASS' if good else 'FAIL'}"
            )
        shared, local = asyncio.run(acquire_overhead(200))
        print(f"acquire overhead, idle, p50: Redis budget {shared:.2f} ms, local budget {local:.3f} ms")
        most, _, connections = fleet_run(tmp, 1, 500, 500 if not args.quick else 250, rate="1000")
        good = connections <= 20
        ok = ok and good
        print(f"upstream connections at 500 clients: {connections} (pool 20) {'PASS' if good else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
