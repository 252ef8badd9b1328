"""How quickly, and at what cost in requests, `wait_for_dataset_sync` notices a dataset is done.

Run it with `python bench/wait_bench.py`. It is a benchmark, not a test: it prints
a table and never fails.

Each scenario is a simulated dataset of 10 data sources that is done T seconds
after the wait starts (T = 2, 10, 60, 300), in two shapes:

- one by one: the sources move from synching to synched evenly, source n at T*n/10;
- all at once: all 10 stay synching until T, then are synched together.

pd_mcp is the real wait loop (`pd_mcp.waiter.wait_for_sync`, with its real
schedule and HTTP client) with a timeout of 900 s, run on a `FakeClock` against
an `httpx.MockTransport` that answers the status endpoint from the fake clock's
time, so 300 s of waiting takes milliseconds. It runs once per jitter seed.
The baseline polls naively every second (at 0, 1, 2, ... s) until it sees the
dataset done; since T is a whole number of seconds, it lands exactly on the
finish, its best case (its worst case would be 1 s late).

Detection delay = when the wait saw the dataset done, minus T.
Targets (issue 3): detection delay <= max(1 s, 10% of T), and, for T >= 60 s,
at most a third of the requests of 1-second polling. Both are judged on the
worst seed. (The issue says "10% of the time waited"; T is the stricter reading,
and for a missed target the note below the table also gives the verdict against
T + delay, the time the call actually waited.)
"""

from __future__ import annotations

import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import httpx
from aiolimiter import AsyncLimiter
from pydantic import SecretStr

from pd_mcp.client import PowerdrillClient
from pd_mcp.clock import FakeClock
from pd_mcp.settings import ApiConfig
from pd_mcp.waiter import wait_for_sync

FINISH_TIMES = (2, 10, 60, 300)
SOURCES = 10
TIMEOUT = 900.0
SEEDS = range(10)
DATASET = "dset-bench"
BASE_URL = "https://powerdrill.invalid/api"  # never contacted: every request goes to the MockTransport

Shape = Callable[[float, float], int]  # (finish time T, time t) -> sources synched at t


def one_by_one(finish: float, t: float) -> int:
    return min(SOURCES, math.floor(SOURCES * t / finish + 1e-9))


def all_at_once(finish: float, t: float) -> int:
    return SOURCES if t >= finish else 0


SHAPES: dict[str, Shape] = {"one by one": one_by_one, "all at once": all_at_once}


@dataclass
class Run:
    requests: int
    delay: float


def simulated_dataset(clock: FakeClock, shape: Shape, finish: float) -> httpx.MockTransport:
    """The status endpoint of a dataset whose counts follow the fake clock."""

    def handle(request: httpx.Request) -> httpx.Response:
        synched = shape(finish, clock.now())
        data = {"synched_count": synched, "synching_count": SOURCES - synched, "invalid_count": 0}
        return httpx.Response(200, json={"code": 0, "data": data})

    return httpx.MockTransport(handle)


async def pd_mcp_wait(shape: Shape, finish: float, seed: int) -> Run:
    clock = FakeClock()
    config = ApiConfig(base_url=BASE_URL, api_version="v2", user_id="bench", api_key=SecretStr("bench-key"))
    client = PowerdrillClient(
        config,
        transport=simulated_dataset(clock, shape, finish),
        limiter=AsyncLimiter(1000, 1),  # the budget runs in real time; keep it out of fake-time runs
    )
    try:
        result = await wait_for_sync(client, DATASET, TIMEOUT, clock=clock, rng=random.Random(seed))
    finally:
        await client.aclose()
    assert not result.timed_out and result.ready, result.message
    return Run(requests=result.polls, delay=clock.now() - finish)


def naive_wait(shape: Shape, finish: float) -> Run:
    """Poll at 0, 1, 2, ... s until every source is synched."""
    t, requests = 0.0, 1
    while shape(finish, t) < SOURCES:
        t += 1.0
        requests += 1
    return Run(requests=requests, delay=t - finish)


def machine() -> str:
    return (
        f"{platform.platform()}, {platform.machine()}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {os.cpu_count()} CPUs"
    )


async def main() -> None:
    started = time.perf_counter()
    print(f"machine: {machine()}")
    print(
        f"pd_mcp: real waiter, FakeClock, timeout {TIMEOUT:g} s, jitter seeds {SEEDS.start}..{SEEDS.stop - 1}"
    )
    print()
    header = (
        f"{'shape':<12} {'T s':>4} | {'pd_mcp req':>10} {'delay s':>11} | {'1-s req':>7} {'delay s':>7}"
        f" | {'req ratio':>9} | {'delay limit':>11} {'delay ok':>8} | {'<= 1/3 req':>10}"
    )
    print(header)
    print(f"{'':<12} {'':>4} | {'med/max':>10} {'med/max':>11} | {'':>7} {'':>7} | {'max/1-s':>9} |")
    print("-" * len(header))
    misses: list[str] = []
    for name, shape in SHAPES.items():
        for finish in FINISH_TIMES:
            runs = [await pd_mcp_wait(shape, finish, seed) for seed in SEEDS]
            naive = naive_wait(shape, finish)
            requests = [r.requests for r in runs]
            delays = [r.delay for r in runs]
            ratio = max(requests) / naive.requests
            limit = max(1.0, 0.1 * finish)
            delay_ok = max(delays) <= limit + 1e-9
            requests_ok = ratio <= 1 / 3 if finish >= 60 else None
            if not delay_ok:
                worst = max(delays)
                waited_limit = max(1.0, 0.1 * (finish + worst))
                misses.append(
                    f"{name}, T={finish} s: delay up to {worst:.2f} s > {limit:g} s "
                    f"(median {statistics.median(delays):.2f} s; against 10% of the whole time waited, "
                    f"T + delay, the limit is {waited_limit:.2f} s: "
                    f"{'met' if worst <= waited_limit else 'still missed'})"
                )
            if requests_ok is False:
                misses.append(f"{name}, T={finish} s: {ratio:.2f} of the 1-s requests > 1/3")
            print(
                f"{name:<12} {finish:>4} | {statistics.median(requests):>4g}/{max(requests):<5} "
                f"{statistics.median(delays):>5.2f}/{max(delays):<5.2f} | {naive.requests:>7} "
                f"{naive.delay:>7.2f} | {ratio:>9.2f} | {limit:>11.1f} {'yes' if delay_ok else 'NO':>8} | "
                f"{'n/a' if requests_ok is None else 'yes' if requests_ok else 'NO':>10}"
            )
    print()
    if misses:
        print("targets missed:")
        for miss in misses:
            print(f"  - {miss}")
    else:
        print("all targets hold")
    waits = len(SHAPES) * len(FINISH_TIMES) * len(SEEDS)
    print(f"\n({waits} fake-time waits in {time.perf_counter() - started:.2f} s of real time)")


if __name__ == "__main__":
    sys.exit(anyio.run(main))
