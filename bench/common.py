"""What every section of bench/run.py shares: the plan, the commands, the figures and how to show them.

Why a module of its own: the sections (one file each) and the harness (bench/run.py)
import from here and from bench/procs.py and bench/rpc.py, never from one another,
so a section can be read, changed or run alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procs import Processes, SandboxProcess

HERE = Path(__file__).resolve().parent

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
DATASET = "ds-ready"  # 5 sources, all synchronized: exactly one upstream GET per status call
BUDGET = 20.0  # pd-mcp's default PD_MCP_RATE_LIMIT (requests per second)
LATENCY_BUDGET = "100000"  # the budget is lifted for the latency sections only; see bench/latency.py

START_TIMEOUT = 60.0  # spawn → answer
CALL_TIMEOUT = 30.0  # one call on a warm server
EXIT_TIMEOUT = 10.0  # stdin closed → process gone
READY_TIMEOUT = 60.0  # an HTTP server listening
LOAD_TIMEOUT = 240.0  # one load step, all sessions


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and why."""


@dataclass(frozen=True)
class Plan:
    rounds: int  # cold-start rounds (each runs every variant once)
    latency_calls: int  # measured calls per variant in section 2
    latency_warmup: int
    load: tuple[tuple[int, int], ...]  # (sessions, calls per session)
    wait_timeout: float  # a section's own script (bench/scripts.py) must finish within this
    start_cap: float  # seconds: no new cold-start round after this (a slow or busy machine)
    warm_all: bool  # warm up every cold-start variant, not just one of each command


FULL = Plan(
    rounds=15,
    latency_calls=300,
    latency_warmup=30,
    load=((1, 20), (10, 10), (100, 3)),
    wait_timeout=150,
    start_cap=200,
    warm_all=True,
)
QUICK = Plan(
    rounds=3,
    latency_calls=100,
    latency_warmup=10,
    load=((1, 5), (10, 2), (100, 1)),
    wait_timeout=40,
    start_cap=20,
    warm_all=False,
)


@dataclass
class Commands:
    pd: list[str]
    bare: list[str]
    env: dict[str, str]  # clean: no pd-mcp, Powerdrill or sandbox settings from the caller
    pd_env: dict[str, str]  # env + the sandbox's URL and credentials
    pd0_env: dict[str, str]  # pd_env + PD_MCP_PRELOAD=0
    user_id: str
    api_key: str
    log_dir: Path
    baseline_pd: str | None = None  # --baseline-pd-mcp: another installation's pd-mcp


@dataclass
class Context:
    """What the harness hands every section."""

    procs: Processes
    plan: Plan
    cmd: Commands
    sandbox: SandboxProcess
    quick: bool


Target = tuple[str, str, str, bool]  # (target, measured, limit, passed)


@dataclass
class Result:
    """A section's report (markdown), its targets, and whether its own script judged itself passed."""

    text: str
    targets: list[Target] = field(default_factory=list)
    ok: bool | None = None  # None: not judged here (the targets table judges)


# --- statistics and tables ------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def iqr(values: Sequence[float]) -> float:
    return pct(values, 75) - pct(values, 25)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if seconds >= 0.01 else f"{seconds * 1000:.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])]
    )


def ratio_table(targets: Sequence[Target]) -> tuple[str, bool]:
    """The targets as one table with PASS or FAIL, and whether all passed."""
    rows = [[name, measured, limit, "PASS" if ok else "FAIL"] for name, measured, limit, ok in targets]
    return table(["target", "measured", "limit", "result"], rows), all(t[3] for t in targets)
