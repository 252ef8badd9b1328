"""Section "load": N concurrent MCP sessions over Streamable HTTP against one pd-mcp and its budget.

Every session is a real `mcp.Client` (legacy era) against one `pd-mcp serve
--transport http` with its default budget: throughput, p50/p99, errors, and the
most upstream requests the sandbox saw in any one second, against the budget.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass

from common import (
    BUDGET,
    DATASET,
    LOAD_TIMEOUT,
    Commands,
    Context,
    Plan,
    Result,
    Target,
    median,
    ms,
    pct,
    table,
)
from procs import Processes, SandboxProcess, free_port, wait_listening

TITLE = "4. Load: concurrent Streamable HTTP sessions"


def run(ctx: Context) -> Result:
    steps = load(ctx.procs, ctx.plan, ctx.cmd, ctx.sandbox)
    return Result(load_report(steps), load_targets(steps))


def load_targets(steps: list[LoadStep]) -> list[Target]:
    hundred = [s for s in steps if s.sessions == 100]
    if not hundred:
        return []
    s = hundred[0]
    return [
        (
            "100 concurrent HTTP sessions: no errors, upstream within budget",
            f"{len(s.errors)} errors, max {s.upstream_max_per_second}/s",
            f"0 errors, ≤ {BUDGET:g}/s",
            not s.errors and s.upstream_max_per_second <= BUDGET,
        )
    ]


@dataclass
class LoadStep:
    sessions: int
    calls: int
    ok: int
    errors: list[str]
    latencies: list[float]
    wall: float
    upstream: int
    upstream_max_per_second: int


async def load_step(url: str, sessions: int, calls_each: int) -> tuple[list[float], int, list[str], float]:
    """`sessions` concurrent real MCP sessions; the clock starts once all are connected.

    Returns the latency of every answered call, how many answers were the expected
    verdict, the errors (exceptions and isError answers) and the wall time of the calls.
    """
    from mcp import Client

    latencies: list[float] = []
    errors: list[str] = []
    good = 0
    settled = 0  # sessions connected or failed before connecting
    all_settled = asyncio.Event()
    go = asyncio.Event()

    def settle() -> None:
        nonlocal settled
        settled += 1
        if settled == sessions:
            all_settled.set()

    async def session() -> None:
        nonlocal good
        connected = False
        try:
            async with Client(url, mode="legacy") as client:
                connected = True
                settle()
                await go.wait()
                for _ in range(calls_each):
                    started = time.perf_counter()
                    result = await client.call_tool("get_dataset_status", {"dataset_id": DATASET})
                    latencies.append(time.perf_counter() - started)
                    verdict = (result.structured_content or {}).get("verdict")
                    if result.is_error or verdict != "ready":
                        text = getattr(result.content[0], "text", "") if result.content else ""
                        errors.append(f"isError={result.is_error} verdict={verdict}: {text[:160]}")
                    else:
                        good += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            if not connected:
                settle()

    tasks = [asyncio.create_task(session()) for _ in range(sessions)]
    began = started = time.perf_counter()
    try:
        async with asyncio.timeout(LOAD_TIMEOUT):
            await all_settled.wait()
            started = time.perf_counter()
            go.set()
            await asyncio.gather(*tasks)
    except TimeoutError:
        errors.append(f"the step did not finish within {LOAD_TIMEOUT:g} s")
    finally:
        wall = time.perf_counter() - started
        print(f"    connecting {sessions} sessions took {started - began:.1f} s", file=sys.stderr)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, good, errors, wall


def load(procs: Processes, plan: Plan, cmd: Commands, sandbox: SandboxProcess) -> list[LoadStep]:
    port = free_port()
    server = procs.spawn(
        "load-pd-http",
        [*cmd.pd, "serve", "--transport", "http", "--port", str(port)],
        cmd.pd_env,
        pipes="",
    )
    steps: list[LoadStep] = []
    try:
        wait_listening(server, port)
        url = f"http://127.0.0.1:{port}/mcp"
        asyncio.run(load_step(url, 1, 2))  # warm-up: first-call imports and the upstream connection
        for sessions, calls_each in plan.load:
            time.sleep(1.1)  # let the budget's bucket and the one-second windows settle
            sandbox.ask("clear")
            latencies, good, errors, wall = asyncio.run(load_step(url, sessions, calls_each))
            stats = sandbox.ask("stats")
            steps.append(
                LoadStep(
                    sessions=sessions,
                    calls=sessions * calls_each,
                    ok=good,
                    errors=errors,
                    latencies=latencies,
                    wall=wall,
                    upstream=stats["requests"],
                    upstream_max_per_second=stats["max_per_second"],
                )
            )
            print(f"  {sessions} sessions: {len(errors)} errors, {wall:.1f} s", file=sys.stderr)
    finally:
        procs.stop(server)
    return steps


def load_report(steps: list[LoadStep]) -> str:
    rows = []
    for s in steps:
        rows.append(
            [
                s.sessions,
                s.calls,
                f"{s.ok / s.wall:.1f}" if s.wall > 0 else "-",
                f"{s.ok / s.wall / BUDGET:.2f}×" if s.wall > 0 else "-",
                ms(median(s.latencies)) if s.latencies else "-",
                ms(pct(s.latencies, 99)) if s.latencies else "-",
                len(s.errors),
                s.upstream,
                f"{s.upstream_max_per_second} ({s.upstream_max_per_second / BUDGET:.2f}×)",
            ]
        )
    header = [
        "sessions",
        "calls",
        "calls/s",
        "calls/s ÷ budget",
        "p50 ms",
        "p99 ms",
        "errors",
        "upstream requests",
        "upstream max in 1 s (÷ budget)",
    ]
    note = (
        f"One `pd-mcp serve --transport http` with its default budget of {BUDGET:g} upstream requests per "
        "second; every session is a real `mcp.Client` (legacy era) that connects, waits until all are "
        "connected, then calls get_dataset_status on ds-ready (one upstream GET per call) in sequence. "
        "Throughput is bounded by the budget by design: calls queue for a slot, so p99 grows with N, and "
        "even one session's back-to-back calls are spaced 1/budget apart (hence p50 ≈ 50 ms at N = 1). "
        "Upstream figures are from the sandbox's request log (arrival times)."
    )
    details = [f"  N={s.sessions}: {e}" for s in steps for e in s.errors[:3]]
    return (
        table(header, rows) + "\n\n" + note + ("\n\nFirst errors:\n" + "\n".join(details) if details else "")
    )
