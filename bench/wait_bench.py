"""How quickly, and at what cost in requests, `wait_for_dataset_sync` notices a dataset is done.

Run it with `python bench/wait_bench.py`. It is a benchmark, not a test: it prints
a table and never fails.

Each scenario is a simulated dataset that is done T seconds after the wait starts
(T = 2, 10, 60, 300), in three shapes:

- one by one: the sandbox's `ds-sync-T` (10 sources, source n settles at T*n/10),
  served by the real sandbox model (`pd_mcp.sandbox.Sandbox`) through
  `httpx.ASGITransport`, its clock the benchmark's fake clock;
- one by one x100: the same evenly spread progress over 100 sources (an
  `httpx.MockTransport`; the sandbox's parameterised datasets have 10 sources);
- all at once: 10 sources stay synching until T, then are synched together
  (an `httpx.MockTransport`).

pd_mcp is the real wait loop (`pd_mcp.waiter.wait_for_sync`, with its real
schedule and HTTP client) with a timeout of 900 s, run on a `FakeClock`, so 300 s
of waiting takes milliseconds. It runs once per jitter seed. The baseline polls
naively every second (at 0, 1, 2, ... s) until it sees the dataset done; since T
is a whole number of seconds, it lands exactly on the finish, its best case.

Detection delay = when the wait saw the dataset done, minus T.
Targets (issue 3): detection delay <= max(1 s, 10% of T), and, for T >= 60 s, at
most a third of the requests of 1-second polling; both judged on the worst seed.
(The issue says "10% of the time waited"; T is the stricter reading, and a missed
target below the table also gives the verdict against T + delay.) The 10% target
is meant for datasets that report progress; an all-at-once finish has no progress
to extrapolate from, and what the schedule guarantees for it is the "bound"
column: min(cap, max(floor, 0.6 T)) = min(10 s, max(1 s, 0.6 T)).

Below the table: the issue's other targets (an already-done dataset, a finish at
3 s, a 45 s wait on a dataset that never finishes) and a sweep of one-by-one
finish times between the table's rows.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx
from pydantic import SecretStr

from pd_mcp.budget import LocalBudget
from pd_mcp.client import PowerdrillClient
from pd_mcp.clock import FakeClock
from pd_mcp.models import WaitResult
from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, Sandbox, SandboxOptions
from pd_mcp.schedule import PollSchedule
from pd_mcp.settings import ApiConfig
from pd_mcp.waiter import wait_for_sync

FINISH_TIMES = (2, 10, 60, 300)
TIMEOUT = 900.0
SEEDS = range(10)
SWEEP_TIMES = (*range(2, 121), *range(150, 601, 30))
SWEEP_SEEDS = range(5)
MOCK_URL = "https://powerdrill.invalid/api"  # never contacted: every request goes to a MockTransport
SANDBOX_URL = "http://sandbox.invalid"  # never contacted: every request goes to the sandbox's ASGI app
SCHEDULE = PollSchedule()


@dataclass
class Run:
    requests: int
    delay: float


@dataclass
class Shape:
    name: str
    sources: int
    # (clock, finish time T, seed) -> the wait's result, run on `clock`
    wait: Callable[[FakeClock, float, int], Awaitable[WaitResult]]
    settled: Callable[[float, float], int]  # (T, t) -> sources settled at t, for the 1-s baseline
    progress: bool = True  # whether the counts move before T (what the 10% target is meant for)


def mock_dataset(clock: FakeClock, sources: int, settled: Callable[[float], int]) -> httpx.MockTransport:
    """The status endpoint of a dataset whose counts follow the fake clock."""

    def handle(request: httpx.Request) -> httpx.Response:
        synched = settled(clock.now())
        data = {"synched_count": synched, "synching_count": sources - synched, "invalid_count": 0}
        return httpx.Response(200, json={"code": 0, "data": data})

    return httpx.MockTransport(handle)


async def wait_with(
    clock: FakeClock,
    transport: httpx.AsyncBaseTransport,
    config: ApiConfig,
    dataset: str,
    timeout_seconds: float,
    seed: int,
) -> WaitResult:
    client = PowerdrillClient(
        config,
        transport=transport,
        limiter=LocalBudget(0.0),  # the budget runs in real time; keep it out of fake-time runs
    )
    try:
        return await wait_for_sync(client, dataset, timeout_seconds, clock=clock, rng=random.Random(seed))
    finally:
        await client.aclose()


def mock_config() -> ApiConfig:
    return ApiConfig(base_url=MOCK_URL, api_version="v2", user_id="bench", api_key=SecretStr("bench-key"))


def sandbox_client_config() -> ApiConfig:
    return ApiConfig(
        base_url=SANDBOX_URL, api_version="v2", user_id=SANDBOX_USER_ID, api_key=SecretStr(SANDBOX_API_KEY)
    )


async def sandbox_wait(
    clock: FakeClock, dataset: str, timeout_seconds: float, seed: int, sync_seconds: float = 10.0
) -> tuple[WaitResult, Sandbox]:
    """A wait on one of the sandbox's datasets, the sandbox's clock being the fake one."""
    sandbox = Sandbox(SandboxOptions(clock=clock.now, rate_limit=0, sync_seconds=sync_seconds))
    transport = httpx.ASGITransport(app=sandbox.app)
    result = await wait_with(clock, transport, sandbox_client_config(), dataset, timeout_seconds, seed)
    return result, sandbox


def evenly(sources: int) -> Callable[[float, float], int]:
    return lambda finish, t: min(sources, math.floor(sources * t / finish + 1e-9))


def all_at_once(sources: int) -> Callable[[float, float], int]:
    return lambda finish, t: sources if t >= finish else 0


def mock_shape(
    name: str, sources: int, settled: Callable[[float, float], int], progress: bool = True
) -> Shape:
    async def wait(clock: FakeClock, finish: float, seed: int) -> WaitResult:
        transport = mock_dataset(clock, sources, lambda t: settled(finish, t))
        return await wait_with(clock, transport, mock_config(), "dset-bench", TIMEOUT, seed)

    return Shape(name, sources, wait, settled, progress)


async def _sandbox_sync(clock: FakeClock, finish: float, seed: int) -> WaitResult:
    result, _ = await sandbox_wait(clock, f"ds-sync-{finish:g}", TIMEOUT, seed, sync_seconds=finish)
    return result


SHAPES = [
    Shape("one by one", 10, _sandbox_sync, evenly(10)),
    mock_shape("1-by-1 x100", 100, evenly(100)),
    mock_shape("all at once", 10, all_at_once(10), progress=False),
]


async def pd_mcp_wait(shape: Shape, finish: float, seed: int) -> Run:
    clock = FakeClock()
    result = await shape.wait(clock, finish, seed)
    assert not result.timed_out and result.ready, result.message
    return Run(requests=result.polls, delay=clock.now() - finish)


def naive_wait(shape: Shape, finish: float) -> Run:
    """Poll at 0, 1, 2, ... s until every source is synched."""
    t, requests = 0.0, 1
    while shape.settled(finish, t) < shape.sources:
        t += 1.0
        requests += 1
    return Run(requests=requests, delay=t - finish)


def bound(finish: float) -> float:
    """What the schedule guarantees for any finish, progress or not (see tests/test_schedule.py)."""
    s = SCHEDULE
    return min(s.cap, max(s.floor, s.ratio * finish))


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "PASS" if ok else "FAIL"


def check(text: str, ok: bool) -> None:
    """One line of the targets below the table: what was measured, then PASS or FAIL."""
    print(f"  {text:<78} {verdict(ok)}")


def machine() -> str:
    return (
        f"{platform.platform()}, {platform.machine()}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {os.cpu_count()} CPUs"
    )


async def table() -> list[str]:
    header = (
        f"{'shape':<12} {'T s':>4} | {'pd_mcp req':>10} {'delay s':>11} | {'1-s req':>7} {'delay':>5}"
        f" | {'req ratio':>9} | {'10% limit':>9} {'delay':>5} | {'<=1/3 req':>9}"
        f" | {'bound s':>7} {'within':>6}"
    )
    print(header)
    print(
        f"{'':<12} {'':>4} | {'med/max':>10} {'med/max':>11} | {'':>7} {'':>5} | {'max/1-s':>9} |"
        f" {'':>9} {'':>5} | {'':>9} | {'':>7} {'':>6}"
    )
    print("-" * len(header))
    misses: list[str] = []
    for shape in SHAPES:
        for finish in FINISH_TIMES:
            runs = [await pd_mcp_wait(shape, finish, seed) for seed in SEEDS]
            naive = naive_wait(shape, finish)
            requests = [r.requests for r in runs]
            delays = [r.delay for r in runs]
            worst = max(delays)
            ratio = max(requests) / naive.requests
            limit = max(1.0, 0.1 * finish)
            delay_ok = worst <= limit + 1e-9
            requests_ok = ratio <= 1 / 3 if finish >= 60 else None
            bound_ok = worst <= bound(finish) + 1e-9
            if not delay_ok:
                waited_limit = max(1.0, 0.1 * (finish + worst))
                misses.append(
                    f"{shape.name}, T={finish} s: delay up to {worst:.2f} s > {limit:g} s "
                    f"(median {statistics.median(delays):.2f} s; 10% of T + delay is {waited_limit:.2f} s: "
                    f"{'met' if worst <= waited_limit else 'still missed'})"
                    + (
                        "; no progress to predict from, within the bound"
                        if not shape.progress and bound_ok
                        else ""
                    )
                )
            if requests_ok is False:
                misses.append(f"{shape.name}, T={finish} s: {ratio:.2f} of the 1-s requests > 1/3")
            if not bound_ok:
                misses.append(
                    f"{shape.name}, T={finish} s: delay {worst:.2f} s past the bound {bound(finish):g} s"
                )
            print(
                f"{shape.name:<12} {finish:>4} | {statistics.median(requests):>4g}/{max(requests):<5} "
                f"{statistics.median(delays):>5.2f}/{worst:<5.2f} | {naive.requests:>7} "
                f"{naive.delay:>5.2f} | {ratio:>9.2f} | {limit:>9.1f} {verdict(delay_ok):>5} | "
                f"{verdict(requests_ok):>9} | {bound(finish):>7.1f} {verdict(bound_ok):>6}"
            )
    print(
        "note: the 10% delay target is meant for datasets that report progress (one by one); "
        "all-at-once finishes are held to the bound."
    )
    return misses


async def other_targets() -> list[str]:
    """The issue's other targets, with the default 45 s timeout, over many jitter seeds."""
    misses: list[str] = []
    seeds = range(100)

    requests = [(await sandbox_wait(FakeClock(), "ds-ready", 45, seed))[0].polls for seed in seeds]
    check(f"already done (sandbox ds-ready): at most {max(requests)} request (= 1)", max(requests) == 1)
    if max(requests) != 1:
        misses.append(f"an already-done dataset took {max(requests)} requests")

    delays = []
    for seed in seeds:
        clock = FakeClock()
        transport = mock_dataset(clock, 10, lambda t: 10 if t >= 3.0 else 0)
        result = await wait_with(clock, transport, mock_config(), "dset-bench", 45, seed)
        delays.append(clock.now() - 3.0 if result.ready else math.inf)
    check(f"all at once at 3 s: seen {max(delays):.2f} s late at worst (<= 1 s)", max(delays) <= 1.0)
    if max(delays) > 1.0:
        misses.append(f"a finish at 3 s was seen {max(delays):.2f} s late")

    polls, ends, gaps = [], [], []
    for seed in seeds:
        clock = FakeClock()
        result, sandbox = await sandbox_wait(clock, "ds-stuck", 45, seed)
        asked = [r.time for r in sandbox.requests]
        polls.append(len(asked))
        ends.append(abs(result.waited_seconds - 45.0))
        gaps.append(max(b - a for a, b in itertools.pairwise(asked)))
    ok_polls, ok_end, ok_cap = max(polls) <= 12, max(ends) <= 0.5, max(gaps) <= SCHEDULE.cap + 1e-9
    check(f"never finishes (sandbox ds-stuck), 45 s: at most {max(polls)} requests (<= 12)", ok_polls)
    check(f"  returned {max(ends):.3f} s from the deadline at worst (<= 0.5 s)", ok_end)
    check(f"  longest interval {max(gaps):.2f} s, the last one included (<= cap {SCHEDULE.cap:g} s)", ok_cap)
    if not (ok_polls and ok_end and ok_cap):
        misses.append(
            f"45 s never-finishing wait: {max(polls)} requests, {max(ends):.3f} s off, {max(gaps):.2f} s gap"
        )
    print(f"  ({len(seeds)} jitter seeds each)")
    return misses


async def sweep() -> list[str]:
    """One-by-one finish times between the table's rows: does the 10% target hold there too?"""
    misses: list[str] = []
    for shape in [s for s in SHAPES if s.progress]:
        missed: list[tuple[float, int, float]] = []
        for finish in SWEEP_TIMES:
            for seed in SWEEP_SEEDS:
                run = await pd_mcp_wait(shape, finish, seed)
                if run.delay > max(1.0, 0.1 * finish) + 1e-9:
                    missed.append((finish, seed, run.delay))
        times = sorted({f for f, _, _ in missed})
        worst = max(missed, key=lambda m: m[2] / max(1.0, 0.1 * m[0]), default=None)
        waits = len(SWEEP_TIMES) * len(SWEEP_SEEDS)
        check(
            f"{shape.name:<12}: missed at {len(times):>2} of {len(SWEEP_TIMES)} finish times "
            f"({len(missed)} of {waits} waits)",
            not missed,
        )
        if worst is not None:
            f, seed, delay = worst
            shown = ", ".join(f"{t:g}" for t in times[:14]) + (", ..." if len(times) > 14 else "")
            print(f"      worst: T={f:g} s, seed {seed}: {delay:.2f} s late (limit {max(1.0, 0.1 * f):g} s)")
            print(f"      missed at T = {shown}")
            misses.append(
                f"{shape.name} sweep: 10% target missed at {len(times)} finish times, worst T={f:g} s "
                f"{delay:.2f} s late (limit {max(1.0, 0.1 * f):g} s)"
            )
    return misses


async def main() -> None:
    started = time.perf_counter()
    print(f"machine: {machine()}")
    print(
        f"pd_mcp: real waiter, FakeClock, timeout {TIMEOUT:g} s, "
        f"jitter seeds {SEEDS.start}..{SEEDS.stop - 1}; one by one = the sandbox's ds-sync-T"
    )
    print()
    misses = await table()
    print()
    print("other targets of issue 3:")
    misses += await other_targets()
    print()
    print(
        "sweep of one-by-one finish times (the prediction, between the table's rows): T = 2..120 s every "
        f"1 s and 150..600 s every 30 s, seeds {SWEEP_SEEDS.start}..{SWEEP_SEEDS.stop - 1}, 10% target"
    )
    misses += await sweep()
    print()
    if misses:
        print("targets missed:")
        for miss in misses:
            print(f"  - {miss}")
    else:
        print("all targets hold")
    print(f"\n({time.perf_counter() - started:.2f} s of real time)")


if __name__ == "__main__":
    sys.exit(anyio.run(main))
