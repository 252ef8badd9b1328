"""Section "latency": call latency on warm servers, p50 and p99, over stdio and Streamable HTTP.

pd-mcp's `get_dataset_status` against the bare SDK server's trivial tool, its
one-GET tool, and a direct keep-alive `httpx.AsyncClient` GET of the same
sandbox URL: raw JSON-RPC (bench/rpc.py), one call of each per iteration.
pd-mcp's request budget is lifted here so that sequential calls measure the
call path, not the budget's spacing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from common import (
    BUDGET,
    CALL_TIMEOUT,
    DATASET,
    LATENCY_BUDGET,
    BenchError,
    Commands,
    Context,
    Plan,
    Result,
    median,
    ms,
    pct,
    table,
)
from procs import Processes, free_port, wait_listening
from rpc import AsyncStdio, HttpSession, call_params, expect_success

TITLE = "2. Call latency on a warm server"

LABELS = {
    "pd-stdio": "pd-mcp get_dataset_status, stdio",
    "bare-stdio": "bare SDK trivial tool, stdio",
    "get": "direct keep-alive httpx.AsyncClient GET",
    "bare-get-stdio": "bare SDK one-GET tool, stdio",
    "pd-http": "pd-mcp get_dataset_status, Streamable HTTP",
    "bare-http": "bare SDK trivial tool, Streamable HTTP",
}


def run(ctx: Context) -> Result:
    text, lat = latency_report(latency(ctx.procs, ctx.plan, ctx.cmd, ctx.sandbox.url))
    floor = lat["p50:bare-stdio"] + lat["p50:get"] + 0.0005
    target = (
        "stdio call p50 ≤ bare trivial p50 + direct GET p50 + 0.5 ms",
        f"{ms(lat['p50:pd-stdio'])} ms",
        f"≤ {ms(floor)} ms",
        lat["p50:pd-stdio"] <= floor,
    )
    # Over HTTP pd-mcp adds its own layers (health, token, limits, sessions) around the SDK's app;
    # a Nagle stall (an answer's body held ~40 ms behind its headers) shows up here as +40 ms.
    http_floor = lat["p50:bare-http"] + lat["p50:get"] + 0.001
    http_target = (
        "Streamable HTTP call p50 ≤ bare trivial HTTP p50 + direct GET p50 + 1 ms",
        f"{ms(lat['p50:pd-http'])} ms",
        f"≤ {ms(http_floor)} ms",
        lat["p50:pd-http"] <= http_floor,
    )
    return Result(text, [target, http_target])


@dataclass
class LatencyResult:
    samples: dict[str, list[float]]
    labels: dict[str, str]


class Calls:
    """One call of each kind, on servers that are already warm."""

    def __init__(
        self, stdio: list[AsyncStdio], http: list[HttpSession], direct: Any, cmd: Commands, url: str
    ):
        self.pd_stdio, self.bare_stdio, self.bare_get_stdio = stdio
        self.pd_http, self.bare_http = http
        self.direct = direct
        self.status_url = f"{url}/v2/team/datasets/{DATASET}/status"
        self.get_params = {"user_id": cmd.user_id}
        self.get_headers = {"x-pd-api-key": cmd.api_key}

    def table(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            "pd-stdio": lambda: self.status(self.pd_stdio),
            "bare-stdio": lambda: self.echo(self.bare_stdio, "bare echo"),
            "get": self.direct_get,
            "bare-get-stdio": lambda: self.status(self.bare_get_stdio),
            "pd-http": lambda: self.status(self.pd_http),
            "bare-http": lambda: self.echo(self.bare_http, "bare echo over HTTP"),
        }

    @staticmethod
    async def status(server: AsyncStdio | HttpSession) -> None:
        expect_success(await server.request("tools/call", call_params("get_dataset_status")))

    @staticmethod
    async def echo(server: AsyncStdio | HttpSession, what: str) -> None:
        answer = await server.request("tools/call", {"name": "echo", "arguments": {"text": DATASET}})
        if answer.get("result", {}).get("isError", True):
            raise BenchError(f"{what} failed: {answer}")

    async def direct_get(self) -> None:
        response = await self.direct.get(self.status_url, params=self.get_params, headers=self.get_headers)
        if response.status_code != 200:
            raise BenchError(f"direct GET: HTTP {response.status_code}")


async def latency_async(plan: Plan, cmd: Commands, sandbox_url: str, ports: dict[str, int]) -> LatencyResult:
    import httpx

    env = {**cmd.pd_env, "PD_MCP_RATE_LIMIT": LATENCY_BUDGET}
    async with contextlib.AsyncExitStack() as stack:
        stdio: list[AsyncStdio] = []
        for argv in (cmd.pd, cmd.bare, [*cmd.bare, "--get"]):
            stdio.append(await AsyncStdio.start(argv, env, cmd.log_dir / "latency-stdio.log"))
            stack.push_async_callback(stdio[-1].close)
        clients = []
        for _ in range(3):
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(timeout=CALL_TIMEOUT, trust_env=False))
            )
        direct, pd_client, bare_client = clients
        http = [
            HttpSession(pd_client, f"http://127.0.0.1:{ports['pd']}/mcp"),
            HttpSession(bare_client, f"http://127.0.0.1:{ports['bare']}/mcp"),
        ]
        for session in http:
            await session.open()
        calls = Calls(stdio, http, direct, cmd, sandbox_url).table()
        samples = await sample(plan, calls)
    return LatencyResult(samples, {k: LABELS[k] for k in calls})


async def sample(plan: Plan, calls: dict[str, Callable[[], Awaitable[None]]]) -> dict[str, list[float]]:
    """Interleaved, one call of each per iteration; the warm-up iterations are not kept."""
    samples: dict[str, list[float]] = {k: [] for k in calls}
    for i in range(plan.latency_warmup + plan.latency_calls):
        for key, call in calls.items():
            started = time.perf_counter()
            async with asyncio.timeout(CALL_TIMEOUT):
                await call()
            if i >= plan.latency_warmup:
                samples[key].append(time.perf_counter() - started)
    return samples


def latency(procs: Processes, plan: Plan, cmd: Commands, sandbox_url: str) -> LatencyResult:
    env = {**cmd.pd_env, "PD_MCP_RATE_LIMIT": LATENCY_BUDGET}
    ports = {"pd": free_port(), "bare": free_port()}
    servers = [
        procs.spawn(
            "latency-pd-http",
            [*cmd.pd, "serve", "--transport", "http", "--port", str(ports["pd"])],
            env,
            pipes="",
        ),
        procs.spawn("latency-bare-http", [*cmd.bare, "--http", "--port", str(ports["bare"])], env, pipes=""),
    ]
    try:
        wait_listening(servers[0], ports["pd"])
        wait_listening(servers[1], ports["bare"])
        return asyncio.run(latency_async(plan, cmd, sandbox_url, ports))
    finally:
        for server in servers:
            procs.stop(server)


def latency_report(result: LatencyResult) -> tuple[str, dict[str, float]]:
    s = result.samples
    p50 = {k: median(v) for k, v in s.items()}
    p99 = {k: pct(v, 99) for k, v in s.items()}
    rows = []
    for key, base in (
        ("pd-stdio", "bare-stdio"),
        ("bare-get-stdio", "bare-stdio"),
        ("bare-stdio", "bare-stdio"),
        ("pd-http", "bare-http"),
        ("bare-http", "bare-http"),
        ("get", "get"),
    ):
        with_get = key.startswith("pd") or key == "bare-get-stdio"
        floor = p50[base] + (p50["get"] if with_get else 0)
        floor_label = "trivial + GET" if with_get else "itself"
        rows.append(
            [
                result.labels[key],
                f"{p50[key] / floor:.2f}× ({floor_label})",
                ms(p50[key]),
                ms(p99[key]),
                f"{p99[key] / p50[key]:.1f}",
            ]
        )
    n = len(s["get"])
    note = (
        f"{n} calls each, interleaved one of each per iteration, after a warm-up; raw JSON-RPC "
        f"(stdio lines, HTTP POSTs on one keep-alive connection, legacy era). pd-mcp's request budget is "
        f"lifted to {LATENCY_BUDGET}/s here so that sequential calls measure the call path, not the "
        f"budget's spacing (1/{BUDGET:g} s at the default). × = p50 / (bare trivial p50 + direct GET p50). "
        "The sandbox runs with TCP_NODELAY (bench/sandbox_process.py explains why)."
    )
    header = ["call", "p50 ×", "p50 ms", "p99 ms", "p99/p50"]
    return table(header, rows) + "\n\n" + note, {**{f"p50:{k}": v for k, v in p50.items()}}
