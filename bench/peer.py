"""Section "peer": pd-mcp beside a server outside Python, and its command line beside the floors.

Why: the other sections compare pd-mcp with the Python SDK it is built on, which
cannot show what a user of another MCP server would notice. Here the peer is a
stdio server on the official TypeScript MCP SDK (bench/peer_server.mjs: one tool
doing the same single GET of the same sandbox URL). Its npm packages are
installed by this section into a temporary folder (never committed), reused by
later runs while it lasts; without `node` and `npm` the peer rows are skipped
and the command-line rows still run.

Measured, interleaved, in this run:
- spawn → `tools/list` answer (2025-11-25) and spawn → first tool answer, with
  each child's own peak RSS (bench/spawn.py): pd-mcp against the peer;
- warm stdio call p50/p99, raw JSON-RPC lines: pd-mcp against the peer, with
  the bare Python SDK server (bench/bare_server.py) answering its one-GET tool
  and its trivial tool in the same loop (the floor the SDK itself sets), and
  each server's own CPU time per call (/proc);
- the command line, spawn → exit: `pd-mcp status ds-ready` against
  `python -c "import httpx"`, one `curl` of the same URL, and (with
  `--baseline-pd-mcp PATH`) another installation's `pd-mcp status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import DATASET, LATENCY_BUDGET, LEGACY, BenchError, Context, Result, iqr, median, ms, pct, table
from rpc import PD_TOOLS, AsyncStdio, call_params, expect_success, expect_tools, legacy_script
from spawn import Variant, mib, run_once

HERE = Path(__file__).resolve().parent
PEER_SERVER = HERE / "peer_server.mjs"
PEER_PACKAGES = ("@modelcontextprotocol/sdk", "zod")
NPM_TIMEOUT = 300.0
NPM_FOLDER = Path(tempfile.gettempdir()) / "pd-mcp-bench-peer"  # reused while it lasts

# Goals of the speed issue, as ratios.
STATUS_VS_BASELINE = 0.35
STATUS_VS_HTTPX = 2.0
CALL_VS_PEER = 1.0
LIST_VS_PEER = 0.5


TITLE = "6. The TypeScript SDK peer and the command line"


def install_peer() -> tuple[dict[str, str], str] | str:
    """npm-install the TypeScript SDK into NPM_FOLDER; (env for the peer, SDK version) or why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "node and npm are not on PATH"
    sdk = NPM_FOLDER / "node_modules" / "@modelcontextprotocol" / "sdk"
    zod = NPM_FOLDER / "node_modules" / "zod"
    if not (sdk / "package.json").exists() or not (zod / "package.json").exists():
        NPM_FOLDER.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--silent",
                    "--prefix",
                    str(NPM_FOLDER),
                    *PEER_PACKAGES,
                ],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"npm install failed: {exc}"
        if done.returncode != 0:
            return f"npm install exited {done.returncode}: {done.stderr.strip()[-300:]}"
    import json

    version = json.loads((sdk / "package.json").read_text())["version"]
    env = {
        "PD_MCP_BENCH_PEER_SDK": str(sdk / "dist" / "esm"),
        "PD_MCP_BENCH_PEER_ZOD": str(zod / "index.js"),
    }
    return env, version


def run(ctx: Context) -> Result:
    installed = install_peer()
    peer_env, why_not = (installed[0], "") if isinstance(installed, tuple) else ({}, installed)
    version = installed[1] if isinstance(installed, tuple) else ""
    peer = ["node", str(PEER_SERVER)]
    penv = {**ctx.cmd.pd_env, **peer_env}
    variants = (_peer_variants(ctx.cmd, peer, penv) if peer_env else []) + _cli_variants(ctx)
    vs = _rounds(ctx, variants)
    calls: dict[str, list[float]] = {}
    cpu: dict[str, float | None] = {}
    if peer_env:
        calls, cpu = asyncio.run(_warm_calls(ctx.plan, ctx.cmd, peer, penv))
    return _report(vs, calls, cpu, version, why_not, ctx.cmd.baseline_pd)


def _peer_variants(cmd: Any, peer: list[str], penv: dict[str, str]) -> list[Variant]:
    """pd-mcp and the TypeScript peer: spawn → tools/list and spawn → first tool answer."""
    status = legacy_script("get_dataset_status")
    return [
        Variant("P-L-pd", "pd-mcp", cmd.pd, cmd.pd_env, legacy_script(), expect_tools(PD_TOOLS)),
        Variant("P-L-peer", "TS SDK peer", peer, penv, legacy_script(), expect_tools({"get_dataset_status"})),
        Variant("P-T-pd", "pd-mcp", cmd.pd, cmd.pd_env, status, expect_success),
        Variant("P-T-peer", "TS SDK peer", peer, penv, status, expect_success),
    ]


def _cli_variants(ctx: Context) -> list[Variant]:
    """`pd-mcp status` and its floors (and another installation's, with --baseline-pd-mcp), to exit."""
    cmd, baseline = ctx.cmd, ctx.cmd.baseline_pd
    status_url = f"{ctx.sandbox.url}/v2/team/datasets/{DATASET}/status?user_id={cmd.user_id}"
    found = [
        Variant("C-pd", "pd-mcp status ds-ready", [*cmd.pd, "status", DATASET], cmd.pd_env, None),
        Variant("C-httpx", 'python -c "import httpx"', [sys.executable, "-c", "import httpx"], cmd.env, None),
    ]
    curl = shutil.which("curl")
    if curl:
        argv = [curl, "-sf", "-o", os.devnull, "-H", f"x-pd-api-key: {cmd.api_key}", status_url]
        found.append(Variant("C-curl", "curl of the same URL", argv, cmd.env, None))
    if baseline:
        argv = [baseline, "status", DATASET]
        found.append(Variant("C-base", "baseline pd-mcp status ds-ready", argv, cmd.pd_env, None))
    return found


def _rounds(ctx: Context, variants: list[Variant]) -> dict[str, Variant]:
    """A warm-up of each (also records pd-mcp's handshake), then interleaved rounds up to the cap."""
    for v in variants:
        run_once(ctx.procs, v)
    began = time.monotonic()
    for n in range(ctx.plan.rounds):
        for v in variants:
            elapsed, rss = run_once(ctx.procs, v)
            v.times.append(elapsed)
            v.rss_kib.append(rss)
        print(f"  peer round {n + 1}/{ctx.plan.rounds}", file=sys.stderr)
        if time.monotonic() - began > ctx.plan.start_cap:
            break
    return {v.key: v for v in variants}


# The warm-call servers, in the order they are called in each iteration: (key, label).
WARM = (
    ("pd", "pd-mcp"),
    ("peer", "TS SDK peer"),
    ("bare-get", "bare Python SDK, one httpx GET"),
    ("bare-echo", "bare Python SDK, trivial tool (no I/O)"),
)


async def _warm_calls(
    plan: Any, cmd: Any, peer: list[str], penv: dict[str, str]
) -> tuple[dict[str, list[float]], dict[str, float | None]]:
    """Sequential tools/call round trips on warm servers, interleaved one of each per iteration.

    Besides pd-mcp and the peer, the bare Python SDK server (bench/bare_server.py) answers its
    one-GET tool and its trivial `echo`: the floor the SDK itself sets. Also returns each
    server's own CPU time per measured call (`_cpu_seconds`; None without /proc).
    """
    env = {**cmd.pd_env, "PD_MCP_RATE_LIMIT": LATENCY_BUDGET}
    argvs = {
        "pd": (cmd.pd, env, call_params("get_dataset_status")),
        "peer": (peer, penv, call_params("get_dataset_status")),
        "bare-get": ([*cmd.bare, "--get"], cmd.pd_env, call_params("get_dataset_status")),
        "bare-echo": (cmd.bare, cmd.pd_env, {"name": "echo", "arguments": {"text": "ready"}}),
    }
    samples: dict[str, list[float]] = {key: [] for key, _ in WARM}
    cpu: dict[str, float | None] = {}
    async with contextlib.AsyncExitStack() as stack:
        servers = {}
        for key, _ in WARM:
            argv, e, _params = argvs[key]
            servers[key] = await AsyncStdio.start(argv, e, cmd.log_dir / f"peer-latency-{key}.log")
            stack.push_async_callback(servers[key].close)
        before: dict[str, float | None] = {}
        for i in range(plan.latency_warmup + plan.latency_calls):
            if i == plan.latency_warmup:
                before = {key: _cpu_seconds(s.proc.pid) for key, s in servers.items()}
            for key, server in servers.items():
                params = argvs[key][2]
                started = time.perf_counter()
                answer = await server.request("tools/call", params)
                if key == "bare-echo":
                    _expect_echo(answer)
                else:
                    expect_success(answer)
                if i >= plan.latency_warmup:
                    samples[key].append(time.perf_counter() - started)
        for key, server in servers.items():
            start, end = before.get(key), _cpu_seconds(server.proc.pid)
            cpu[key] = None if start is None or end is None else (end - start) / plan.latency_calls
    return samples, cpu


def _expect_echo(answer: dict[str, Any]) -> None:
    content = (answer.get("result") or {}).get("content") or [{}]
    if content[0].get("text") != "ready":
        raise BenchError(f"the bare server's echo failed: {json.dumps(answer)[:400]}")


def _cpu_seconds(pid: int) -> float | None:
    """CPU time process `pid`'s threads have used, in seconds (None without /proc).

    The sum of each live thread's run time in /proc/PID/task/*/schedstat (nanoseconds), or
    where that is missing utime + stime from /proc/PID/stat (clock ticks, often 10 ms).
    """
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _report(
    vs: dict[str, Any],
    calls: dict[str, list[float]],
    cpu: dict[str, float | None],
    version: str,
    why_not: str,
    baseline: str | None,
) -> Result:
    med = median
    targets: list[tuple[str, str, str, bool]] = []
    parts: list[str] = []

    def row(what: str, key: str, base: str) -> list[object]:
        v, b = vs[key], vs[base]
        t, bt = med(v.times), med(b.times)
        r, br = med(v.rss_kib), med(b.rss_kib)
        return [
            what,
            v.label,
            f"{t / bt:.2f}×",
            ms(t),
            ms(iqr(v.times)),
            ("≤ " if v.floored else "") + f"{r / br:.2f}×",
            mib(v, r),
        ]

    header = ["measure", "process", "× baseline", "median ms", "IQR ms", "peak RSS ×", "peak RSS MiB"]
    if "P-L-pd" in vs:
        rows = [
            row(f"spawn → tools/list ({LEGACY})", "P-L-pd", "P-L-peer"),
            row("", "P-L-peer", "P-L-peer"),
            row("spawn → first get_dataset_status answer", "P-T-pd", "P-T-peer"),
            row("", "P-T-peer", "P-T-peer"),
        ]
        parts.append(
            f"TypeScript SDK peer (@modelcontextprotocol/sdk {version}, node {_node_version()}; "
            "bench/peer_server.mjs), baseline 1.00×:\n\n" + table(header, rows)
        )
        p50 = {k: med(v) for k, v in calls.items()}
        p99 = {k: pct(v, 99) for k, v in calls.items()}
        peer_cpu = cpu.get("peer")
        warm_rows = []
        for key, label in WARM:
            used = cpu.get(key)
            warm_rows.append(
                [
                    label,
                    f"{p50[key] / p50['peer']:.2f}×",
                    f"{ms(p50[key])} ({ms(p99[key])})",
                    "-" if used is None else ms(used),
                    "-" if used is None or not peer_cpu else f"{used / peer_cpu:.2f}×",
                ]
            )
        warm_header = ["server", "p50 × peer", "p50 ms (p99)", "server CPU ms per call", "CPU × peer"]
        parts.append(
            "Warm stdio calls, the peer's one-GET tool as baseline 1.00×. The bare Python SDK rows are "
            "the floor the SDK sets (bench/bare_server.py): its trivial tool does no I/O at all.\n\n"
            + table(warm_header, warm_rows)
        )
        r = med(vs["P-L-pd"].times) / med(vs["P-L-peer"].times)
        targets.append(("spawn → tools/list", f"{r:.2f}× TS peer", f"≤ {LIST_VS_PEER}×", r <= LIST_VS_PEER))
        r = p50["pd"] / p50["peer"]
        targets.append(("warm stdio call p50", f"{r:.2f}× TS peer", f"≤ {CALL_VS_PEER}×", r <= CALL_VS_PEER))
    else:
        parts.append(f"**TypeScript SDK peer skipped**: {why_not}.")
    rows = [row("spawn → exit", "C-pd", "C-httpx"), row("", "C-httpx", "C-httpx")]
    if "C-curl" in vs:
        rows.append(row("", "C-curl", "C-httpx"))
        c = med(vs["C-pd"].times) / med(vs["C-curl"].times)
        rows[0][2] = f"{rows[0][2]} ({c:.1f}× curl)"
    if "C-base" in vs:
        rows.append(row("", "C-base", "C-httpx"))
        r = med(vs["C-pd"].times) / med(vs["C-base"].times)
        targets.append(
            ("pd-mcp status wall", f"{r:.2f}× baseline", f"≤ {STATUS_VS_BASELINE}×", r <= STATUS_VS_BASELINE)
        )
    r = med(vs["C-pd"].times) / med(vs["C-httpx"].times)
    targets.append(
        ("pd-mcp status wall", f"{r:.2f}× import httpx", f"≤ {STATUS_VS_HTTPX}×", r <= STATUS_VS_HTTPX)
    )
    n = len(vs["C-pd"].times)
    parts.append(
        'The command line, baseline `python -c "import httpx"` (1.00×):\n\n'
        + table(header, rows)
        + f"\n\nMedians of {n} interleaved rounds; warm calls: sequential tools/call round trips, one of "
        "each server per iteration, after a warm-up, pd-mcp's budget lifted as in section 2. "
        + (f"Baseline pd-mcp: `{baseline}`. " if baseline else "")
        + "Peak RSS: the child's own (VmHWM at a server's last answer; for a command run to its exit, GNU "
        "time's figure, so those runs include its fork and exec, about a millisecond; bench/spawn.py)."
    )
    return Result("\n\n".join(parts), targets)


def _node_version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return "unknown"
