"""Section "start": cold start over stdio, spawn → `tools/list` answer and spawn → first tool answer.

Timed with raw pipes (bench/spawn.py), in both protocol eras (2025-11-25:
initialize, answer, notifications/initialized, tools/list; 2026-07-28:
server/discover, then tools/list carrying the protocol version, client info and
capabilities in `params._meta`), for `pd-mcp`, `pd-mcp` with `PD_MCP_PRELOAD=0`,
pd-mcp's very first start (empty cache), the bare SDK server
(bench/bare_server.py) and `python -c pass`; then spawn → first
`get_dataset_status` answer against the bare server's one-GET tool. Peak memory:
each child's own peak RSS (bench/spawn.py). Every variant runs once per round, interleaved.
"""

from __future__ import annotations

import sys
import time

from common import LEGACY, MODERN, Commands, Context, Plan, Result, Target, iqr, median, ms, table
from procs import Processes
from rpc import BARE_TOOLS, PD_TOOLS, expect_success, expect_tools, legacy_script, modern_script
from spawn import Variant, mib, run_once

TITLE = "1. Cold start over stdio"


def run(ctx: Context) -> Result:
    vs = cold_start(ctx.procs, ctx.plan, ctx.cmd)
    return Result(cold_start_report(vs, ctx.plan), start_targets(vs))


def variants(cmd: Commands) -> list[Variant]:
    """Every process of the section, in the order each round runs them."""
    bare = [*cmd.bare, "--get"]
    status = legacy_script("get_dataset_status")
    return [
        Variant("L-pd", "pd-mcp", cmd.pd, cmd.pd_env, legacy_script(), expect_tools(PD_TOOLS)),
        Variant(
            "L-pd0", "pd-mcp, PD_MCP_PRELOAD=0", cmd.pd, cmd.pd0_env, legacy_script(), expect_tools(PD_TOOLS)
        ),
        Variant("L-bare", "bare SDK server", cmd.bare, cmd.env, legacy_script(), expect_tools(BARE_TOOLS)),
        Variant(
            "L-pd-first",
            "pd-mcp, first start (empty cache)",
            cmd.pd,
            cmd.pd_env,
            legacy_script(),
            expect_tools(PD_TOOLS),
            fresh_cache=True,
        ),
        Variant("M-pd", "pd-mcp", cmd.pd, cmd.pd_env, modern_script(), expect_tools(PD_TOOLS)),
        Variant(
            "M-pd0", "pd-mcp, PD_MCP_PRELOAD=0", cmd.pd, cmd.pd0_env, modern_script(), expect_tools(PD_TOOLS)
        ),
        Variant("M-bare", "bare SDK server", cmd.bare, cmd.env, modern_script(), expect_tools(BARE_TOOLS)),
        Variant("pass", "python -c pass", [sys.executable, "-c", "pass"], cmd.env, None),
        Variant("T-pd", "pd-mcp", cmd.pd, cmd.pd_env, status, expect_success),
        Variant("T-pd0", "pd-mcp, PD_MCP_PRELOAD=0", cmd.pd, cmd.pd0_env, status, expect_success),
        Variant("T-get", "bare SDK server + one GET", bare, cmd.pd_env, status, expect_success),
    ]


def cold_start(procs: Processes, plan: Plan, cmd: Commands) -> dict[str, Variant]:
    vs = variants(cmd)
    # Warm-up, not counted: compiles any missing bytecode and fills the page cache
    # (on a quick run only one of each command).
    for v in vs:
        if plan.warm_all or v.key in ("L-pd", "L-bare", "T-get"):  # L-pd records the handshake
            run_once(procs, v)
    began = time.monotonic()
    for n in range(plan.rounds):
        started = time.monotonic()
        for v in vs:  # interleaved: every variant once per round, same order
            elapsed, rss = run_once(procs, v)
            v.times.append(elapsed)
            v.rss_kib.append(rss)
        print(f"  round {n + 1}/{plan.rounds} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
        if time.monotonic() - began > plan.start_cap and n + 1 < plan.rounds:
            print(f"  stopping after {n + 1} rounds: over the {plan.start_cap:g} s cap", file=sys.stderr)
            break
    return {v.key: v for v in vs}


def cold_start_report(vs: dict[str, Variant], plan: Plan) -> str:
    def row(what: str, key: str, base: str) -> list[object]:
        v, b = vs[key], vs[base]
        t, bt = median(v.times), median(b.times)
        r, br = median(v.rss_kib), median(b.rss_kib)
        return [
            what,
            v.label,
            f"{t / bt:.2f}×",
            ms(t),
            ms(iqr(v.times)),
            ms(max(v.times)),
            ("≤ " if v.floored else "") + f"{r / br:.2f}×",
            mib(v, r),
        ]

    rows = [
        row(f"spawn → tools/list ({LEGACY})", "L-pd", "L-bare"),
        row("", "L-pd0", "L-bare"),
        row("", "L-pd-first", "L-bare"),
        row("", "L-bare", "L-bare"),
        row("", "pass", "L-bare"),
        row(f"spawn → tools/list ({MODERN})", "M-pd", "M-bare"),
        row("", "M-pd0", "M-bare"),
        row("", "M-bare", "M-bare"),
        row("", "pass", "M-bare"),
        row("spawn → first get_dataset_status answer", "T-pd", "T-get"),
        row("", "T-pd0", "T-get"),
        row("", "T-get", "T-get"),
    ]
    n = len(vs["L-pd"].times)
    capped = (
        f" (of {plan.rounds} planned: stopped at the {plan.start_cap:g} s cap)" if n < plan.rounds else ""
    )
    header = [
        "measure",
        "process",
        "× baseline",
        "median ms",
        "IQR ms",
        "max ms",
        "peak RSS ×",
        "peak RSS MiB",
    ]
    note = (
        f"Medians of {n} interleaved rounds{capped}. Baseline (1.00×) of each block: the bare SDK server "
        "(the one-GET variant for the first answer). Peak RSS: the child's own peak (VmHWM at its last "
        "answer, bench/spawn.py). "
        "pd-mcp's pre-loader answers from a recording of the handshake kept in XDG_CACHE_HOME (a directory "
        "of this run, recorded during the warm-up); 'first start' gets an empty one every time, as after "
        "an install or upgrade. A max far above the median for pd-mcp usually means a start that found no "
        "valid recording (the recording is tied to pd_mcp's source files: editing one during a run voids it)."
    )
    odd = [(v.label, v.key, text) for v in vs.values() for text in v.unexpected]
    if odd:
        shown = "\n".join(f"  {label} ({key}): {text}" for label, key, text in odd[:6])
        note += (
            f"\n\n**Unexpected stdout after the last answer** ({len(odd)} lines, e.g. a second answer "
            f"to a request):\n{shown}"
        )
    else:
        note += (
            " After the last answer stdin was closed and stdout read to the end: no second answer and no "
            "stray output in any run (warm-up included)."
        )
    return table(header, rows) + "\n\n" + note


def start_targets(vs: dict[str, Variant]) -> list[Target]:
    """The speed issue's cold-start goals, as ratios to the bare SDK server."""

    def ratio(key: str, base: str, what: str = "times") -> float:
        return median(getattr(vs[key], what)) / median(getattr(vs[base], what))

    found: list[Target] = []
    for era, prefix in ((LEGACY, "L"), (MODERN, "M")):
        r = ratio(f"{prefix}-pd", f"{prefix}-bare")
        found.append((f"spawn → tools/list, pre-loader on ({era})", f"{r:.2f}× bare", "≤ 0.18×", r <= 0.18))
    for era, prefix in ((LEGACY, "L"), (MODERN, "M")):
        r = ratio(f"{prefix}-pd0", f"{prefix}-bare")
        found.append(
            (f"spawn → tools/list, PD_MCP_PRELOAD=0 ({era})", f"{r:.2f}× bare", "≤ 1.10×", r <= 1.10)
        )
    r = ratio("T-pd", "T-get")
    found.append(("spawn → first get_dataset_status answer", f"{r:.2f}× bare + GET", "≤ 1.10×", r <= 1.10))
    r = ratio("L-pd", "L-bare", "rss_kib")
    found.append(("peak memory, spawn → tools/list", f"{r:.2f}× bare", "≤ 1.15×", r <= 1.15))
    r = ratio("T-pd", "T-get", "rss_kib")
    found.append(("peak memory, spawn → first answer", f"{r:.2f}× bare + GET", "≤ 1.15×", r <= 1.15))
    return found
