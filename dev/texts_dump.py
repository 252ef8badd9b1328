"""Write every text a model can see from pd-mcp into one markdown file, for a fresh reader to rate.

Usage: `.venv/bin/python dev/texts_dump.py OUT.md [--no-demo]` (`--no-demo` leaves out the
demo transcript, the one part that starts processes; tests/test_texts_dump.py uses it).

Why: the texts are rated by a reader who sees only what an assistant sees, so
the dump is collected the way a host would see it: the real server, driven by
an in-memory MCP client (`initialize`, `tools/list`, `tools/call` with a
progress token, `resources/*`), in both API versions (v1 and v2). Upstream is
an `httpx.MockTransport` answering from a fake clock, so a 45 s wait takes
milliseconds and nothing reaches the real Powerdrill API; the demo transcript
is `pd-mcp demo` itself (the sandbox on loopback). The few texts no call can
provoke on demand (a wait's poll stuck in pd-mcp's own queue, the base error
class) are rendered with the same function the server uses, and say so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from pd_mcp.client import SANDBOX_HEADER, PowerdrillClient
from pd_mcp.clock import FakeClock
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import ApiConfig

BASE = "https://powerdrill.invalid/api"  # never resolved: the mock transport answers every request
VERSIONS = ("v2", "v1")
TOOLS = ("get_dataset_status", "wait_for_dataset_sync")
ERAS = (("legacy", "2025-11-25"), ("auto", "2026-07-28"))
V1_NAMES = {
    "synched_count": "synchedCount",
    "synching_count": "synchingCount",
    "invalid_count": "invalidCount",
}

Counts3 = tuple[int, int, int]


# --- the simulated upstream ---------------------------------------------------------------------


@dataclass
class Scenario:
    """One dataset: its counts at fake time t (or an error answer), and how its failed sources answer."""

    counts: Callable[[float, int], Counts3 | httpx.Response | Exception]
    sources: str = "ok"  # "ok", "fail" (HTTP 502) or "late" (answers after the wait's grace)
    polls: int = 0
    start: float | None = None  # the fake time of its first status request: its own time starts there
    simulated: bool = False  # answered as the pd-mcp sandbox answers (its header), as with `serve --sandbox`


def steady(c: Counts3) -> Callable[[float, int], Counts3]:
    return lambda _t, _n: c


def answer(http: int, code: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        http, json={"code": code, "message": message}, headers={"x-pd-trace-id": "tr-dump-err", **headers}
    )


def pause_late(t: float, _n: int) -> Counts3 | httpx.Response:
    """One source finishes at 10 s; from 30 s Powerdrill asks for a 20 s pause, past a 45 s deadline."""
    if t < 30:
        return (2, 3, 0) if t < 10 else (3, 2, 0)
    return answer(429, 201, "too many requests", **{"Retry-After": "20"})


def scenarios(drain: Callable[[], None]) -> dict[str, Scenario]:
    """Every dataset the dump asks about, by id."""

    def finishes(t: float, _n: int) -> Counts3:  # 6 sources: 2 at once, then nothing for 12 s, then the rest
        settled = 2 if t < 12 else min(6, 2 + int((t - 12) / 2))
        return settled, 6 - settled, 0

    def finishes_failed(t: float, _n: int) -> Counts3:
        return (1, 4, 0) if t < 8 else (3, 0, 2)

    def slow(t: float, _n: int) -> Counts3:  # progress, but not done by the deadline
        settled = min(9, int(t / 12))
        return settled, 10 - settled, 0

    def pause(retry_after: str) -> Callable[[float, int], Counts3 | httpx.Response]:
        def counts(_t: float, n: int) -> Counts3 | httpx.Response:
            if n == 1:
                return 2, 3, 0
            return answer(429, 201, "too many requests", **{"Retry-After": retry_after})

        return counts

    def restart(_t: float, n: int) -> Counts3:
        if n == 2:
            drain()  # the server starts draining (SIGTERM) while the wait is in flight
        return 1, 2, 0

    def hangs(_t: float, _n: int) -> Exception:
        return TimeoutError("hang")  # the handler sleeps past the wait's deadline (real time)

    found = {
        "ds-ready": Scenario(steady((5, 0, 0))),
        "ds-ready-one": Scenario(steady((1, 0, 0))),
        "ds-sandbox-ready": Scenario(steady((5, 0, 0)), simulated=True),
        "ds-syncing": Scenario(steady((3, 5, 0))),
        "ds-syncing-one-failed": Scenario(steady((3, 3, 1))),
        "ds-partial": Scenario(steady((4, 0, 2))),
        "ds-partial-one": Scenario(steady((1, 0, 1))),
        "ds-failed": Scenario(steady((0, 0, 3))),
        "ds-failed-one": Scenario(steady((0, 0, 1))),
        "ds-failed-two": Scenario(steady((0, 0, 2))),
        "ds-empty": Scenario(steady((0, 0, 0))),
        "ds-large": Scenario(steady((288, 0, 27))),
        "ds-names-fail": Scenario(steady((4, 0, 2)), sources="fail"),
        "ds-finishes": Scenario(finishes),
        "ds-finishes-failed": Scenario(finishes_failed),
        "ds-slow": Scenario(slow),
        "ds-stuck": Scenario(steady((1, 3, 0))),
        "ds-stuck-failed": Scenario(steady((1, 3, 1)), sources="late"),
        "ds-pause": Scenario(pause("120")),
        "ds-pause-late": Scenario(pause_late),
        "ds-pause-first": Scenario(
            lambda _t, _n: answer(429, 201, "too many requests", **{"Retry-After": "120"})
        ),
        "ds-restart": Scenario(restart),
        "ds-hangs": Scenario(hangs),
        "err-auth": Scenario(lambda _t, _n: answer(401, 1004, "bad credentials: the API key is not valid")),
        "err-permission": Scenario(lambda _t, _n: answer(200, 300002, "permission denied")),
        "err-not-found": Scenario(lambda _t, _n: answer(200, 300003, "dataset not found")),
        "err-bad-request": Scenario(lambda _t, _n: answer(400, 100, "invalid parameter")),
        "err-rate-limit": Scenario(lambda _t, _n: answer(429, 201, "too many requests")),
        "err-502": Scenario(lambda _t, _n: httpx.Response(502, text="<html>502 Bad Gateway</html>")),
        "err-9999": Scenario(lambda _t, _n: answer(200, 9999, "internal error")),
        "err-unknown-code": Scenario(lambda _t, _n: answer(200, 77777, "odd")),
        "err-network": Scenario(lambda _t, _n: httpx.ConnectError("connection refused")),
        "err-timeout": Scenario(lambda _t, _n: httpx.ReadTimeout("read timed out")),
        "err-redirect": Scenario(
            lambda _t, _n: httpx.Response(302, headers={"Location": "https://elsewhere.invalid/"})
        ),
        "err-malformed": Scenario(lambda _t, _n: httpx.Response(200, text="<html>not json</html>")),
        "err-bad-count": Scenario(lambda _t, _n: httpx.Response(200, json={"code": 0, "data": {"x": 1}})),
        "err-bug": Scenario(lambda _t, _n: ZeroDivisionError("division by zero")),
    }
    return found


class Upstream:
    """The mock Powerdrill API of one runtime: status and data-source listings of `scenarios`."""

    def __init__(self, clock: FakeClock, version: str, drain: Callable[[], None]) -> None:
        self.clock, self.version = clock, version
        self.datasets = scenarios(drain)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")  # /api/v2/team/datasets/{id}/{leaf}
        dataset, leaf = parts[-2], parts[-1]
        scenario = self.datasets.get(dataset)
        if scenario is None:
            return answer(200, 300003, "dataset not found")
        if leaf == "datasources":
            return await self.sources(scenario)
        scenario.polls += 1
        if scenario.start is None:
            scenario.start = self.clock.now()
        got = scenario.counts(self.clock.now() - scenario.start, scenario.polls)
        if isinstance(got, TimeoutError):
            await anyio.sleep(30)  # real time: the wait's deadline (plus its grace) comes first
        if isinstance(got, Exception):
            raise got
        if isinstance(got, httpx.Response):
            return got
        data: dict[str, int] = dict(
            zip(("synched_count", "synching_count", "invalid_count"), got, strict=True)
        )
        if self.version == "v1":
            data = {V1_NAMES[k]: v for k, v in data.items()}
        headers = {"x-pd-trace-id": "tr-dump-1", **({SANDBOX_HEADER: "true"} if scenario.simulated else {})}
        return httpx.Response(200, json={"code": 0, "data": data}, headers=headers)

    async def sources(self, scenario: Scenario) -> httpx.Response:
        if scenario.sources == "fail":
            return httpx.Response(502, text="<html>502</html>", headers={"x-pd-trace-id": "tr-dump-src"})
        if scenario.sources == "late":
            await anyio.sleep(2)  # real time: past the wait's 0.75 s grace at its deadline
        _, _, invalid = steady_invalid(scenario, self.clock.now())
        names = ["sales-2024.csv", "q3 report.xlsx", "scan.pdf", "export (1).csv"]
        records = [
            {"id": f"src-{i}", "name": names[i] if i < len(names) else f"part-{i:03}.csv"}
            for i in range(min(20, invalid))
        ]
        return httpx.Response(200, json={"code": 0, "data": {"records": records}})


def steady_invalid(scenario: Scenario, t: float) -> Counts3:
    got = scenario.counts(t - (scenario.start or 0.0), 1)
    return got if isinstance(got, tuple) else (0, 0, 0)


async def no_sleep(_seconds: float) -> None:
    """The client's retry backoff, without waiting (the dump shows the texts, not the timing)."""


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """os.environ with no POWERDRILL_/PD_MCP_ variable but `values`, restored after."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("POWERDRILL_", "PD_MCP_")):
            del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def make_runtime(version: str) -> Runtime:
    """A runtime whose one client talks to the mock upstream on a fake clock, retries without sleeping."""
    from pydantic import SecretStr

    clock = FakeClock()
    runtime = Runtime(clock=clock)
    config = ApiConfig(
        base_url=BASE,
        api_version=version,  # type: ignore[arg-type]
        user_id="user-dump",
        api_key=SecretStr("pd-dump-key-0123456789"),
        rate_limit=1000.0,
    )
    upstream = Upstream(clock, version, runtime.drain.start)
    transport = httpx.MockTransport(upstream)
    runtime._client = PowerdrillClient(config, transport=transport, sleep=no_sleep)
    return runtime


# --- the markdown ---------------------------------------------------------------------------------


@dataclass
class Doc:
    lines: list[str] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.lines += ["", "#" * level + " " + text, ""]

    def p(self, text: str) -> None:
        self.lines += [text, ""]

    def block(self, text: str, lang: str = "text") -> None:
        self.lines += [f"```{lang}", text.rstrip("\n"), "```", ""]

    def json(self, value: Any) -> None:
        self.block(json.dumps(value, indent=2, ensure_ascii=False), "json")


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def show_result(
    doc: Doc, title: str, result: Any, progress: list[tuple[float, float | None, str | None]]
) -> None:
    doc.h(4, title)
    doc.p(f"isError: `{str(bool(result.is_error)).lower()}`")
    if progress:
        doc.p("Progress notifications (progress / total: message):")
        doc.block("\n".join(f"{p:g} / {t if t is None else f'{t:g}'}: {m}" for p, t, m in progress))
    doc.p("Text block:")
    doc.block(text_of(result))
    if result.structured_content:
        doc.p("structuredContent:")
        doc.json(result.structured_content)


async def call(
    client: Any, tool: str, arguments: dict[str, Any]
) -> tuple[Any, list[tuple[float, float | None, str | None]]]:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool(tool, arguments, progress_callback=on_progress)
    await anyio.sleep(0.01)  # a notification's callback may land just after the result
    return result, seen


# --- the sections ---------------------------------------------------------------------------------


async def handshake(doc: Doc) -> None:
    from mcp import Client

    doc.h(2, "1. initialize and tools/list")
    for mode, era in ERAS:
        runtime = make_runtime("v2")
        async with Client(build_server(runtime), mode=mode) as client:
            doc.h(3, f"Protocol {era} (client mode `{mode}`): {client.protocol_version}")
            info = client.server_info
            doc.p(f"serverInfo: `{info.name if info else '?'}` {info.version if info else ''}")
            instructions = getattr(client, "instructions", None) or getattr(
                getattr(client, "initialize_result", None), "instructions", None
            )
            if instructions is None:
                from pd_mcp.messages import INSTRUCTIONS

                instructions = (
                    INSTRUCTIONS + "\n(from pd_mcp.messages.INSTRUCTIONS: the client does not expose it)"
                )
            doc.p("Server instructions:")
            doc.block(instructions)
            if mode == "auto":
                continue  # the same tools; listed once in full below
            for tool in (await client.list_tools()).tools:
                doc.h(3, f"Tool `{tool.name}`")
                doc.p(f"title: {tool.title}")
                doc.p("description:")
                doc.block(tool.description or "")
                doc.p("annotations:")
                doc.json(
                    tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
                )
                doc.p("inputSchema:")
                doc.json(tool.input_schema)
                doc.p("outputSchema:")
                doc.json(tool.output_schema)
            templates = await client.list_resource_templates()
            doc.h(3, "resources/templates/list")
            doc.json([t.model_dump(by_alias=True, exclude_none=True) for t in templates.resource_templates])
        await runtime.aclose()


def demo(doc: Doc) -> None:
    doc.h(2, "2. Demo transcript (`pd-mcp demo`: the sandbox on loopback, the real server over stdio)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pd_mcp", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    doc.p(f"exit code {done.returncode}")
    doc.block(done.stdout + (f"\n[stderr]\n{done.stderr}" if done.stderr.strip() else ""))


VERDICT_ROUND = [
    ("ds-ready", "ready (5 of 5)"),
    ("ds-ready-one", "ready (its only source)"),
    (
        "ds-sandbox-ready",
        "ready, from the pd-mcp sandbox (`simulated: true`, as with `pd-mcp serve --sandbox`)",
    ),
    ("ds-syncing", "syncing"),
    ("ds-syncing-one-failed", "syncing, with one failed source"),
    ("ds-partial", "partially_failed (4 synchronized, 2 failed)"),
    ("ds-partial-one", "partially_failed (1 and 1)"),
    ("ds-failed", "failed (all 3)"),
    ("ds-failed-one", "failed (its only source)"),
    ("ds-failed-two", "failed (both sources)"),
    ("ds-empty", "empty"),
    ("ds-large", "partially_failed with 27 failed: the failed-sources list is cut at 20"),
    ("ds-names-fail", "partially_failed, the failed sources' names could not be fetched"),
]
WAIT_ROUND = [
    ("ds-ready", 45, "already finished: returns at the first check"),
    ("ds-empty", 45, "empty at the first check"),
    ("ds-failed", 45, "failed at the first check"),
    ("ds-finishes", 45, "finishes during the wait (counts stand still for several checks first)"),
    ("ds-finishes-failed", 45, "finishes during the wait with failed sources (partially_failed)"),
    ("ds-large", 45, "finished, 27 failed: the list is cut at 20"),
    ("ds-slow", 45, "timed out, some sources finished during the wait"),
    ("ds-stuck", 20, "timed out, none finished during the wait"),
    ("ds-syncing-one-failed", 20, "timed out with a failed source"),
    ("ds-stuck-failed", 20, "timed out, and the failed source's name did not come before the deadline"),
    ("ds-pause", 45, "Retry-After 120 (pd-mcp caps it at 60 s) past the deadline, after counts"),
    ("ds-pause-late", 45, "Retry-After 20 at 30 s, past the deadline: a pause the default 45 s can sit out"),
    ("ds-pause-first", 45, "Retry-After 120 (capped at 60 s) before any counts: an error"),
    ("ds-hangs", 1, "Powerdrill never answered before the deadline (an error)"),
]
ERROR_ROUND = [
    ("err-auth", "AuthenticationError: key refused (1004)"),
    ("err-permission", "PermissionDenied (300002)"),
    ("err-not-found", "DatasetNotFound (300003)"),
    ("err-bad-request", "BadRequest (100, HTTP 400)"),
    ("err-rate-limit", "RateLimited after retries (201, HTTP 429)"),
    ("err-502", "UpstreamUnavailable after retries (HTTP 502, HTML body)"),
    ("err-9999", "UpstreamUnavailable (9999)"),
    ("err-unknown-code", "UpstreamError: a code pd-mcp does not know (77777)"),
    ("err-network", "NetworkError after retries (connection refused)"),
    ("err-timeout", "RequestTimedOut after retries"),
    ("err-redirect", "Redirected (HTTP 302)"),
    ("err-malformed", "MalformedResponse (not JSON)"),
    ("err-bad-count", "MalformedResponse (counts missing)"),
    ("err-bug", "a bug inside pd-mcp (an unexpected exception)"),
]
BAD_ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    ({}, "dataset_id missing"),
    ({"dataset_id": ""}, "dataset_id empty"),
    ({"dataset_id": "   "}, "dataset_id blank"),
    ({"dataset_id": "a/b"}, "dataset_id with '/'"),
    ({"dataset_id": "x" * 200}, "dataset_id of 200 characters"),
    ({"dataset_id": ".."}, "dataset_id '..'"),
    ({"dataset_id": 42}, "dataset_id not a string"),
    ({"dataset_id": "ds-ready", "verbose": True}, "an unexpected argument"),
]
WAIT_BAD_ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    ({"dataset_id": "ds-ready", "timeout_seconds": 5000}, "timeout_seconds 5000 (above 900)"),
    ({"dataset_id": "ds-ready", "timeout_seconds": "soon"}, "timeout_seconds not a number"),
]
CONFIG_ROUND: list[tuple[dict[str, str], str]] = [
    ({}, "neither required variable set"),
    ({"POWERDRILL_USER_ID": "user-1"}, "POWERDRILL_PROJECT_API_KEY missing"),
    (
        {"POWERDRILL_USER_ID": "user-1", "POWERDRILL_PROJECT_API_KEY": "<your Powerdrill project API key>"},
        "a placeholder left in the key",
    ),
    (
        {
            "POWERDRILL_USER_ID": "user-1",
            "POWERDRILL_PROJECT_API_KEY": "pd-key-0123456789",
            "POWERDRILL_API_URL": "https://ai.data.cloud/api/v1/team",
            "POWERDRILL_API_VERSION": "v2",
        },
        "POWERDRILL_API_VERSION contradicts the URL's suffix",
    ),
]


async def results(doc: Doc, version: str) -> None:
    from mcp import Client

    doc.h(2, f"{3 if version == 'v2' else 4}. Results with Powerdrill API {version}")
    runtime = make_runtime(version)
    async with Client(build_server(runtime), mode="legacy") as client:
        doc.h(3, f"{version}: get_dataset_status, every verdict")
        for dataset, what in VERDICT_ROUND:
            result, seen = await call(client, "get_dataset_status", {"dataset_id": dataset})
            show_result(doc, f"get_dataset_status `{dataset}`: {what}", result, seen)
        doc.h(3, f"{version}: wait_for_dataset_sync, every outcome (with its progress notifications)")
        for dataset, timeout, what in WAIT_ROUND:
            arguments = {"dataset_id": dataset, "timeout_seconds": timeout}
            result, seen = await call(client, "wait_for_dataset_sync", arguments)
            show_result(doc, f"wait_for_dataset_sync `{dataset}` (timeout {timeout} s): {what}", result, seen)
        doc.h(3, f"{version}: errors from Powerdrill, on both tools")
        for dataset, what in ERROR_ROUND:
            for tool in TOOLS:
                result, seen = await call(client, tool, {"dataset_id": dataset})
                show_result(doc, f"{tool} `{dataset}`: {what}", result, seen)
        doc.h(3, f"{version}: bad arguments (no request is sent)")
        for tool in TOOLS:
            extra = WAIT_BAD_ARGUMENTS if tool == "wait_for_dataset_sync" else []
            for arguments, what in BAD_ARGUMENTS + extra:
                result, seen = await call(client, tool, arguments)
                show_result(doc, f"{tool} {json.dumps(arguments)[:80]}: {what}", result, seen)
        if version == "v2":
            await resources(doc, client)
    await runtime.aclose()
    await restart(doc, version)


async def restart(doc: Doc, version: str) -> None:
    """A wait cut short by a server restart: a runtime of its own, since the drain refuses what follows."""
    from mcp import Client

    runtime = make_runtime(version)
    async with Client(build_server(runtime), mode="legacy") as client:
        arguments = {"dataset_id": "ds-restart", "timeout_seconds": 45}
        result, seen = await call(client, "wait_for_dataset_sync", arguments)
        show_result(
            doc, "wait_for_dataset_sync `ds-restart`: cut short by a pd-mcp server restart", result, seen
        )
    await runtime.aclose()


async def resources(doc: Doc, client: Any) -> None:
    doc.h(3, "v2: resources/read of powerdrill://datasets/{dataset_id}/status")
    for dataset in ("ds-partial", "err-not-found", "err-502"):
        uri = f"powerdrill://datasets/{dataset}/status"
        doc.h(4, f"resources/read `{uri}`")
        try:
            read = await client.read_resource(uri)
            doc.block("\n".join(getattr(c, "text", "") for c in read.contents), "json")
        except Exception as exc:  # a failed read is a JSON-RPC error: its message is the text a model sees
            error = getattr(exc, "error", None)
            doc.p(f"JSON-RPC error ({type(exc).__name__}, code {getattr(error, 'code', '?')}):")
            doc.block(getattr(error, "message", None) or str(exc))


async def config_errors(doc: Doc) -> None:
    from mcp import Client

    doc.h(2, "5. Configuration errors (the server reads its environment on the first call)")
    for env, what in CONFIG_ROUND:
        with environment(**env):
            runtime = Runtime(clock=FakeClock())
            async with Client(build_server(runtime), mode="legacy") as client:
                for tool in TOOLS:
                    result, seen = await call(client, tool, {"dataset_id": "ds-ready"})
                    show_result(
                        doc, f"{tool}: {what} ({', '.join(sorted(env)) or 'nothing set'})", result, seen
                    )
            await runtime.aclose()


def direct(doc: Doc) -> None:
    """Texts no call provokes on demand, rendered by the server's own function."""
    from pd_mcp import errors, messages
    from pd_mcp.report import error_result_text

    doc.h(2, "6. Rendered directly (the same function the server uses; no call provokes them on demand)")
    queued = errors.BudgetTimedOut(messages.BUDGET_QUEUE_TIMED_OUT)
    queued.attempts, queued.elapsed, queued.attempt_limit = 3, 45.2, "the wait's 45 s"
    cases: list[tuple[str, BaseException, str]] = [
        ("BudgetTimedOut: a wait whose last poll still queued in pd-mcp's own budget", queued, "wait for"),
        (
            "PdMcpError, the base class (never raised as such)",
            errors.PdMcpError("something failed."),
            "check",
        ),
    ]
    for title, exc, action in cases:
        doc.h(4, title)
        doc.block(error_result_text(exc, "ds-7", action))
    doc.h(
        4, "The next step for a pause longer than any wait (unreachable while Retry-After is capped at 60 s)"
    )
    doc.block(messages.come_back_rule(1000.0))
    doc.h(
        3, "Subscription refusals (JSON-RPC error messages of resources/subscribe and subscriptions/listen)"
    )
    from pd_mcp.live import SubscriptionRefused, dataset_of
    from pd_mcp.subscriptions import _refuse

    for bad in ("powerdrill://datasets/ds-1/sources", "powerdrill://datasets/a%2Fb/status"):
        try:
            dataset_of(bad)
        except errors.InvalidArgument as exc:
            doc.h(4, f"subscribe to `{bad}`")
            doc.block(_refuse(exc).error.message)
    state, step = messages.subscribe_too_many(20, 20)
    refusals = [
        ("a session already following 20 datasets", SubscriptionRefused(state, step)),
        (
            "while starting or stopping",
            SubscriptionRefused(messages.SUBSCRIBE_NOT_SERVING, messages.SUBSCRIBE_INSTEAD),
        ),
    ]
    for title, refusal in refusals:
        doc.h(4, title)
        doc.block(_refuse(refusal).error.message)
    doc.h(4, "stateless HTTP")
    doc.block(messages.subscription_refused(messages.SUBSCRIBE_STATELESS, messages.SUBSCRIBE_INSTEAD))


async def collect(doc: Doc, with_demo: bool = True) -> None:
    with environment():
        await handshake(doc)
        if with_demo:
            demo(doc)
        for version in VERSIONS:
            await results(doc, version)
        await config_errors(doc)
        direct(doc)


def main(argv: list[str]) -> int:
    with_demo = "--no-demo" not in argv
    argv = [a for a in argv if a != "--no-demo"]
    if len(argv) != 2:
        print("usage: texts_dump.py OUT.md [--no-demo]", file=sys.stderr)
        return 2
    started = time.perf_counter()
    logging.disable(logging.CRITICAL)  # the server's logs are not texts a model sees
    doc = Doc(["# Every text a model can see from pd-mcp", ""])
    from pd_mcp import __version__

    doc.p(
        f"pd-mcp {__version__}, written by dev/texts_dump.py. Upstream is a mock on a fake clock (never the "
        "real API); sections 3 and 4 are the same calls in API v2 and v1."
    )
    anyio.run(collect, doc, with_demo)
    Path(argv[1]).write_text("\n".join(doc.lines) + "\n", encoding="utf-8")
    print(f"wrote {argv[1]} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
