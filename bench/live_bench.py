"""What a resource subscription costs and how soon it tells, against `wait_for_dataset_sync`.

Run it with `python bench/live_bench.py` (`--quick`: fewer rows). A benchmark,
not a test: it prints tables and never fails.

The dataset is the sandbox's `ds-sync-T` (10 sources, source n settles at
T*n/10 s), served by the real sandbox model through `httpx.ASGITransport`,
with the real MCP server (`build_server`), and real `mcp.Client` sessions on
the in-memory transport (2025-11-25) subscribed to its status URI. Time is
simulated: a clock whose sleeps wake only when every task is idle, at the
earliest due sleep (a discrete-event clock), so T = 300 s takes a moment and
each update is stamped with the exact simulated time it reached its client.

Rows:
- requests: upstream status requests while N sessions follow the dataset to its
  end, against one `wait_for_sync` (the waiter) on a fresh copy of it. Goal:
  equal for every N (one poller per dataset, on the waiter's schedule).
- delay: for each source that settles, the time from its change to the first
  update after it (subscription) or to the first progress report that shows it
  (waiter); and at the end, when the final update arrived (subscription) or the
  wait returned (waiter), minus T. Goal: the subscription's no worse than the
  waiter's. Both use the same jitter seed.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import warnings
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.client.session import IncomingMessage, MessageHandlerFnT
from pydantic import SecretStr

from pd_mcp.client import PowerdrillClient
from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, Sandbox, SandboxOptions
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import ApiConfig
from pd_mcp.waiter import wait_for_sync

warnings.filterwarnings("ignore", message=".*resources/subscribe is removed.*")

SOURCES = 10
SEED = 3


class EventClock:
    """Simulated time that moves only when everything sleeps, to the earliest due sleeper."""

    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        entry = (self.time + max(0.0, seconds), event)
        self._sleepers.append(entry)
        try:
            await event.wait()
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    async def drive(self, done: Callable[[], bool]) -> None:
        """Advance time whenever the other tasks are idle, until `done()`."""
        while not done():
            for _ in range(3):  # idle: a few real milliseconds without anything new to run
                await anyio.sleep(0.001)
            if done() or not self._sleepers:
                continue
            due = min(t for t, _ in self._sleepers)
            self.time = max(self.time, due)
            for t, event in list(self._sleepers):
                if t <= due + 1e-9:
                    self._sleepers.remove((t, event))
                    event.set()


def _config() -> ApiConfig:
    return ApiConfig(
        base_url="http://sandbox.test",
        api_version="v2",
        user_id=SANDBOX_USER_ID,
        api_key=SecretStr(SANDBOX_API_KEY),
    )


def _changes(t: float) -> list[float]:
    return [t * n / SOURCES for n in range(1, SOURCES + 1)]


def _delays(changes: list[float], seen: list[tuple[float, int]]) -> list[float]:
    """For each change (source n settling), when the first report with >= n settled came, minus it."""
    out = []
    for n, at in enumerate(changes, 1):
        first = next((when for when, settled in seen if settled >= n and when >= at - 1e-9), None)
        if first is not None:
            out.append(first - at)
    return out


async def subscribers(t: int, n: int) -> dict[str, Any]:
    """N sessions follow ds-sync-T to its end; upstream requests and update times."""
    clock = EventClock()
    sandbox = Sandbox(SandboxOptions(clock=clock.now, rate_limit=0))
    runtime = Runtime(config=_config(), transport=httpx.ASGITransport(app=sandbox.app), clock=clock)
    runtime.live.rng = random.Random(SEED)
    server = build_server(runtime)
    dataset = f"ds-sync-{t}"
    uri = f"powerdrill://datasets/{dataset}/status"
    arrivals: list[list[float]] = [[] for _ in range(n)]
    final = anyio.Event()

    def handler(i: int) -> MessageHandlerFnT:
        async def on_message(message: IncomingMessage) -> None:
            if getattr(message, "method", None) == "notifications/resources/updated":
                arrivals[i].append(clock.now())

        return on_message

    async with anyio.create_task_group() as tg:

        async def session(i: int, ready: anyio.Event) -> None:
            async with Client(server, mode="legacy", message_handler=handler(i)) as client:
                await client.subscribe_resource(uri)
                ready.set()
                await final.wait()

        for i in range(n):
            ready = anyio.Event()
            tg.start_soon(session, i, ready)
            await ready.wait()
        await clock.drive(lambda: dataset not in runtime.live.watching() and runtime.live.polls > 0)
        final.set()
    # Which settled count each update stood for: the sandbox's model at the update's time.
    from pd_mcp.sandbox.scenarios import find_scenario

    scenario = find_scenario(dataset)
    assert scenario is not None
    seen = [(at, scenario.counts(at).synched) for at in arrivals[0]]
    return {
        "requests": sandbox.dataset_requests.get(dataset, 0),
        "delays": _delays(_changes(t), seen),
        "final": arrivals[0][-1] - t if arrivals[0] else float("nan"),
        "every_session_told": all(len(a) == len(arrivals[0]) for a in arrivals),
    }


async def waiter(t: int) -> dict[str, Any]:
    """One wait_for_sync on ds-sync-T; upstream requests and progress times."""
    clock = EventClock()
    sandbox = Sandbox(SandboxOptions(clock=clock.now, rate_limit=0))
    client = PowerdrillClient(_config(), transport=httpx.ASGITransport(app=sandbox.app))
    dataset = f"ds-sync-{t}"
    seen: list[tuple[float, int]] = []
    result: list[Any] = []

    async def progress(settled: float, total: float | None, message: str | None) -> None:
        seen.append((clock.now(), int(settled)))

    async def run() -> None:
        result.append(
            await wait_for_sync(
                client, dataset, 900, clock=clock, on_progress=progress, rng=random.Random(SEED)
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await clock.drive(lambda: bool(result))
    await client.aclose()
    return {
        "requests": sandbox.dataset_requests.get(dataset, 0),
        "delays": _delays(_changes(t), seen),
        "final": clock.now() - t,
    }


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f} s" if values else "-"


async def main(quick: bool) -> None:
    logging.getLogger("pd_mcp").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    times = [10, 60] if quick else [10, 60, 300]
    counts = [1, 5] if quick else [1, 5, 20]
    print("## Subscriptions against one waiter (ds-sync-T, 10 sources, simulated time)\n")
    print(
        "| T | subscribers | requests (subs) | requests (waiter) | ratio | mean change→update | "
        "mean change→progress (waiter) | final delay (subs) | final delay (waiter) | every session told |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in times:
        w = await waiter(t)
        for n in counts:
            s = await subscribers(t, n)
            ratio = s["requests"] / w["requests"] if w["requests"] else float("nan")
            print(
                f"| {t} s | {n} | {s['requests']} | {w['requests']} | {ratio:.2f} | {_mean(s['delays'])} | "
                f"{_mean(w['delays'])} | {s['final']:.2f} s | {w['final']:.2f} s | "
                f"{s['every_session_told']} |"
            )
    print(
        "\nGoals: ratio 1.00 (N subscribers cost one waiter's requests); the subscription's delays no "
        "worse than the waiter's."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows")
    args = parser.parse_args()
    anyio.run(main, args.quick)
    sys.exit(0)
