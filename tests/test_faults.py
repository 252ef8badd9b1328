"""Fault tests: the verdict is never wrong, whatever the sandbox's injection knobs throw at it.

Against the simulated Powerdrill API with about 30% of answers failing (HTTP 500/502/503,
connections dropped mid-response, malformed bodies; seeded, so every run sees the same
faults), 1,000 `get_dataset_status` calls in a row go through the MCP tool layer. Each result
is either exactly the scenario's true counts (the sandbox's clock is a fake one that moves
only between calls, so the truth at each call is known) or a clear `isError` result. Then
`wait_for_dataset_sync` under faults and against an upstream that hangs never returns later
than its deadline plus 1 s, on the real clock.

The sandbox runs in-process through `httpx.ASGITransport` (a drop raises httpx's
`RemoteProtocolError` there, as over a socket), except for the hanging upstream, which runs
on a loopback port so a real socket read is what times out. Retries never really sleep here.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import mcp
import pytest
from support import no_sleep, sandbox_config, text_of

from pd_mcp.budget import LocalBudget
from pd_mcp.client import PowerdrillClient
from pd_mcp.sandbox import Sandbox, SandboxOptions, running_sandbox
from pd_mcp.sandbox.scenarios import find_scenario
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import ApiConfig

CALLS = 1000
# Three independent draws per request (drop, error, malformed): 1 - (1 - 0.112)^3 ≈ 0.30.
PER_KIND_RATE = 0.112
FAULTY = {"error_rate": PER_KIND_RATE, "drop_rate": PER_KIND_RATE, "malformed_rate": PER_KIND_RATE}
SANDBOX_BASE = "http://sandbox.test"

# Scenario datasets (true counts known at every moment) and the three that always fail.
SCENARIOS = (
    "ds-ready",
    "ds-syncing",
    "ds-partial",
    "ds-failed",
    "ds-empty",
    "ds-stuck",
    "ds-large",
    "ds-sync-30",
    "ds-syncfail-40",
    "ds-syncfail-3",
)
# Permanent failures: never retried, always named. (ds-internal-error answers HTTP 500 and
# is retried like any transient fault, so its last attempt may meet an injected fault too.)
ALWAYS_FAILING = {
    "ds-forbidden": "no permission",
    "ds-no-such-dataset": "not found",
    "ds-internal-error": "",
}
DATASETS = SCENARIOS + tuple(ALWAYS_FAILING)


class SteppedClock:
    """The sandbox's clock: it moves only when the test says so (never during a call)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fast_runtime(
    config: ApiConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    limiter: LocalBudget | None = None,
) -> Runtime:
    """A Runtime whose shared client never really sleeps between retries and has a wide budget."""
    runtime = Runtime(config=config, transport=transport)
    # Runtime has no switch for the client's sleep and limiter; the client has, so seed it.
    runtime._client = PowerdrillClient(
        config, transport=transport, sleep=no_sleep, limiter=limiter or LocalBudget(0.0)
    )
    return runtime


@dataclass
class Tally:
    counts: int = 0
    errors: int = 0


def truth(
    dataset_id: str, elapsed: float, sync_seconds: float
) -> tuple[dict[str, int], list[dict[str, str]]]:
    """The scenario's true counts and failed sources at `elapsed` seconds after first asked."""
    scenario = find_scenario(dataset_id, sync_seconds)
    assert scenario is not None
    counts = scenario.counts(elapsed)
    failed = [
        {"id": source.id, "name": source.file_name}
        for source, status in zip(scenario.sources, scenario.statuses(elapsed), strict=True)
        if status == "invalid"
    ][:20]
    expected = {
        "synched_count": counts.synched,
        "synching_count": counts.synching,
        "invalid_count": counts.invalid,
        "total_count": counts.synched + counts.synching + counts.invalid,
    }
    return expected, failed


def expected_verdict(c: dict[str, int]) -> str:
    if c["total_count"] == 0:
        return "empty"
    if c["synching_count"]:
        return "syncing"
    if not c["invalid_count"]:
        return "ready"
    return "failed" if not c["synched_count"] else "partially_failed"


def assert_clear_error(text: str, dataset_id: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text
    assert "failed unexpectedly" not in text, f"a crash, not a Powerdrill failure: {text}"
    assert text.startswith(f"Could not check dataset {dataset_id}: "), text
    assert "Verdict" not in text and "ready for analysis" not in text, text
    if ALWAYS_FAILING.get(dataset_id):
        assert ALWAYS_FAILING[dataset_id] in text and "will not help" in text, text
    else:
        # Only transient faults can end a call on a scenario dataset: retried, and the bound said.
        assert re.search(r"gave up after [2-9] attempts in \d+\.\d s", text), text
        assert "the limit is 4 attempts or 20 s" in text, text
        assert "call again at most once" in text.lower(), text
    assert "trace id" in text.lower() or "could not reach" in text or "did not answer" in text, text


@pytest.fixture
def stepped_sandbox() -> Iterator[tuple[Sandbox, SteppedClock]]:
    clock = SteppedClock()
    yield Sandbox(SandboxOptions(rate_limit=0, seed=20240605, clock=clock, **FAULTY)), clock


@contextlib.asynccontextmanager
async def tool_client(sandbox: Sandbox) -> AsyncIterator[mcp.Client]:
    """An in-process MCP client of a server whose upstream is `sandbox`, in-process too.

    (Not a fixture: the client's task group must be entered and left in the test's own task.)
    """
    runtime = fast_runtime(sandbox_config(), httpx.ASGITransport(app=sandbox.app))
    try:
        async with mcp.Client(build_server(runtime)) as client:
            yield client
    finally:
        await runtime.aclose()


async def _thousand_calls(
    client: mcp.Client, sandbox: Sandbox, clock: SteppedClock
) -> tuple[dict[str, Tally], Counter[str]]:
    """CALLS status calls in a row; fails on any wrong verdict or unclear error."""
    sync_seconds = sandbox.options.sync_seconds
    first_asked: dict[str, float] = {}
    tally: dict[str, Tally] = {ds: Tally() for ds in DATASETS}
    verdicts: Counter[str] = Counter()
    wrong: list[str] = []

    for n in range(CALLS):
        dataset_id = DATASETS[n % len(DATASETS)]
        clock.now += 0.173  # between calls only: during a call the truth cannot move
        first_asked.setdefault(dataset_id, clock.now)
        result = await client.call_tool("get_dataset_status", {"dataset_id": dataset_id})
        text = text_of(result)
        assert "Traceback" not in text
        if result.is_error:
            tally[dataset_id].errors += 1
            assert not result.structured_content or "verdict" not in result.structured_content
            assert_clear_error(text, dataset_id)
            continue
        tally[dataset_id].counts += 1
        if dataset_id in ALWAYS_FAILING:
            wrong.append(f"call {n}: {dataset_id} got a verdict: {text!r}")
            continue
        expected, failed = truth(dataset_id, clock.now - first_asked[dataset_id], sync_seconds)
        got = result.structured_content or {}
        got_counts = {k: got.get(k) for k in expected}
        if got_counts != expected or got.get("verdict") != expected_verdict(expected):
            wrong.append(f"call {n}: {dataset_id} expected {expected}, got {got_counts} {got.get('verdict')}")
            continue
        assert got["ready"] is (got["verdict"] == "ready")
        assert got["dataset_id"] == dataset_id and got["simulated"] is True
        assert got["trace_id"] and got["trace_id"].startswith("sbx-")
        # Names of failed sources: exactly the true ones, or none with a note that says so.
        if got["failed_sources"] != failed:
            assert got["failed_sources"] == [] and "could not be fetched" in got["message"], got
        line = (
            f"Data sources: {expected['synched_count']} synchronized, {expected['synching_count']} "
            f"still synchronizing, {expected['invalid_count']} failed, {expected['total_count']} in total."
        )
        assert line in text, text
        verdicts[got["verdict"]] += 1

    assert wrong == [], "\n".join(wrong[:20])
    return tally, verdicts


async def test_a_thousand_status_calls_under_30_percent_faults_never_give_a_wrong_verdict(
    stepped_sandbox: tuple[Sandbox, SteppedClock],
) -> None:
    sandbox, clock = stepped_sandbox
    async with tool_client(sandbox) as client:
        tally, verdicts = await _thousand_calls(client, sandbox, clock)

    # Every call on a scenario dataset was answered; the always-failing ones never were.
    answered = sum(tally[ds].counts for ds in SCENARIOS)
    errors = sum(tally[ds].errors for ds in SCENARIOS)
    assert answered + errors + sum(tally[ds].errors for ds in ALWAYS_FAILING) == CALLS
    assert all(tally[ds].counts == 0 for ds in ALWAYS_FAILING)
    # Four attempts against ~30% faults: only a few calls in a thousand should run out.
    assert errors <= 0.03 * (answered + errors), tally
    assert set(verdicts) == {"ready", "syncing", "partially_failed", "failed", "empty"}, verdicts

    # The knobs really fired, about 30% of the requests that reached them, every kind.
    faults = Counter((r.fault or "none").split("-")[0] for r in sandbox.requests if r.dataset_id in SCENARIOS)
    reached = sum(faults.values())
    share = (reached - faults["none"]) / reached
    assert 0.25 <= share <= 0.35, faults
    assert faults["drop"] and faults["error"] and faults["malformed"], faults
    kinds = {r.fault for r in sandbox.requests if r.fault}
    assert {"error-500", "error-502", "error-503"} <= kinds, kinds
    assert {
        f"malformed-{k}" for k in ("truncated", "html", "array", "strings", "missing_field", "negative")
    } <= kinds, kinds
    print(
        f"\n{CALLS} calls: {answered} true counts, {errors} error results on scenario datasets, "
        f"{CALLS - answered - errors} errors on always-failing ones; {len(sandbox.requests)} requests, "
        f"{share:.1%} faulted; verdicts {dict(verdicts)}"
    )


async def test_v1_status_through_the_client_under_faults_is_true_or_an_error() -> None:
    """The same promise on API v1 (camelCase counts), straight through client and report."""
    from pd_mcp.errors import UpstreamError
    from pd_mcp.report import dataset_status

    clock = SteppedClock()
    sandbox = Sandbox(SandboxOptions(rate_limit=0, seed=7, clock=clock, **FAULTY))
    client = PowerdrillClient(
        sandbox_config(version="v1"),
        transport=httpx.ASGITransport(app=sandbox.app),
        sleep=no_sleep,
        limiter=LocalBudget(0.0),
    )
    first_asked: dict[str, float] = {}
    answered = failed_calls = 0
    try:
        for n in range(200):
            dataset_id = SCENARIOS[n % len(SCENARIOS)]
            clock.now += 0.31
            first_asked.setdefault(dataset_id, clock.now)
            try:
                report = await dataset_status(client, dataset_id)
            except UpstreamError as exc:
                assert exc.retryable and exc.attempts == 4, repr(exc)
                failed_calls += 1
                continue
            expected, _ = truth(dataset_id, clock.now - first_asked[dataset_id], sandbox.options.sync_seconds)
            got = {k: getattr(report, k) for k in expected}
            assert got == expected, (n, dataset_id)
            assert report.verdict == expected_verdict(expected) and report.api_version == "v1"
            answered += 1
    finally:
        await client.aclose()
    assert answered >= 190, (answered, failed_calls)


# --- wait_for_dataset_sync never returns later than its deadline plus 1 s ----------------------

DEADLINE = 2.0
SLACK = 1.0


async def timed_wait(client: mcp.Client, dataset_id: str, seconds: float = DEADLINE) -> tuple[float, Any]:
    started = time.monotonic()
    result = await client.call_tool(
        "wait_for_dataset_sync", {"dataset_id": dataset_id, "timeout_seconds": seconds}
    )
    took = time.monotonic() - started
    print(f"\nwait_for_dataset_sync({dataset_id}, {seconds:g} s) returned after {took:.3f} s")
    return took, result


@pytest.mark.parametrize("seed", [1, 2])
async def test_wait_under_faults_returns_by_its_deadline(seed: int) -> None:
    """Real clock, real sandbox clock: ds-stuck never finishes, ds-sync-1 does within the wait."""
    sandbox = Sandbox(SandboxOptions(rate_limit=0, seed=seed, latency_ms=40, **FAULTY))
    runtime = Runtime(config=sandbox_config(), transport=httpx.ASGITransport(app=sandbox.app))
    try:
        async with mcp.Client(build_server(runtime)) as client:
            took, result = await timed_wait(client, "ds-stuck")
            assert took <= DEADLINE + SLACK, took
            text = text_of(result)
            assert "Traceback" not in text
            if not result.is_error:  # a wait that reaches its deadline is an answer
                got = result.structured_content
                assert got["timed_out"] is True and got["verdict"] == "syncing"
                assert (got["synched_count"], got["synching_count"], got["invalid_count"]) == (1, 3, 0)
                assert got["polls"] >= 2

            took, result = await timed_wait(client, "ds-sync-1")
            assert took <= DEADLINE + SLACK, took
            assert "Traceback" not in text_of(result)
            if not result.is_error:
                got = result.structured_content
                if got["timed_out"]:
                    assert got["verdict"] == "syncing"
                else:
                    assert (got["synched_count"], got["synching_count"], got["verdict"]) == (10, 0, "ready")
    finally:
        await runtime.aclose()


async def test_wait_against_an_upstream_that_hangs_past_the_deadline_returns_in_time() -> None:
    """Every answer takes 5 s (the latency knob), on a real loopback socket; the wait is 2 s."""
    with running_sandbox(SandboxOptions(rate_limit=0, latency_ms=5000)) as sb:
        runtime = Runtime(config=sandbox_config(sb.url))
        try:
            async with mcp.Client(build_server(runtime)) as client:
                took, result = await timed_wait(client, "ds-stuck")
        finally:
            await runtime.aclose()
    assert took <= DEADLINE + SLACK, took
    assert result.is_error, result
    text = text_of(result)
    assert "Traceback" not in text
    assert "did not answer" in text and "wait for dataset ds-stuck" in text, text


async def test_wait_against_a_slow_upstream_answers_in_time() -> None:
    """Each answer takes 0.6 s: the wait still returns the latest counts by deadline + 1 s."""
    with running_sandbox(SandboxOptions(rate_limit=0, latency_ms=600)) as sb:
        runtime = Runtime(config=sandbox_config(sb.url))
        try:
            async with mcp.Client(build_server(runtime)) as client:
                took, result = await timed_wait(client, "ds-stuck")
        finally:
            await runtime.aclose()
    assert took <= DEADLINE + SLACK, took
    assert not result.is_error, text_of(result)
    assert result.structured_content["timed_out"] is True


async def test_wait_that_times_out_with_failed_sources_on_a_slow_upstream_returns_in_time() -> None:
    """ds-syncfail-4 has a failed source after 2 s and syncs until 4 s; each answer takes 0.7 s.

    At the 3 s deadline the final poll (≈0.7 s) sees 1 failed source and sources still syncing,
    so the timed-out report also asks for the failed sources' names (another ≈0.7 s).
    """
    with running_sandbox(SandboxOptions(rate_limit=0, latency_ms=700)) as sb:
        runtime = Runtime(config=sandbox_config(sb.url))
        try:
            async with mcp.Client(build_server(runtime)) as client:
                took, result = await timed_wait(client, "ds-syncfail-4", seconds=3.0)
        finally:
            await runtime.aclose()
    assert not result.is_error, text_of(result)
    got = result.structured_content
    assert got["timed_out"] is True and got["invalid_count"] >= 1, got
    assert took <= 3.0 + SLACK, took
