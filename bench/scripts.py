"""Sections that are scripts of their own (wait, live, fleet, sessions): run one, include its report.

Why: bench/wait_bench.py, bench/live_bench.py, bench/fleet_bench.py and
bench/sessions_bench.py each stand alone (`python bench/<name>.py [--quick]`) and
judge their own targets; the harness runs them in a child process with a
timeout and includes their output verbatim, and a non-zero exit fails the run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common import HERE, Context, Result

WAIT_BENCH = HERE / "wait_bench.py"
LIVE_BENCH = HERE / "live_bench.py"
FLEET_BENCH = HERE / "fleet_bench.py"
SESSIONS_BENCH = HERE / "sessions_bench.py"


def run_wait(ctx: Context) -> Result:
    return script_section(ctx, WAIT_BENCH)


def run_live(ctx: Context) -> Result:
    return script_section(ctx, LIVE_BENCH)


def run_fleet(ctx: Context) -> Result:
    return script_section(ctx, FLEET_BENCH)


def script_section(ctx: Context, script: Path) -> Result:
    """Run a section's own benchmark script (`python bench/<script>`) and include its report verbatim."""
    procs, plan = ctx.procs, ctx.plan
    argv = [sys.executable, str(script)]
    if ctx.quick:
        # Read, not run: a script without argparse would take `--help` for a full run.
        if '"--quick"' not in script.read_text(errors="replace"):
            return Result(f"Skipped on --quick (bench/{script.name} has no --quick); run without --quick.")
        argv.append("--quick")
    proc = procs.spawn(script.stem, argv, ctx.cmd.env, pipes="out")
    try:
        out, _ = proc.communicate(timeout=plan.wait_timeout)
    except subprocess.TimeoutExpired:
        return Result(
            f"bench/{script.name} did not finish within {plan.wait_timeout:g} s; stopped.", ok=False
        )
    finally:
        procs.stop(proc)
    shown = " ".join([f"python bench/{script.name}", *argv[2:]])
    text = out.decode(errors="replace").rstrip()
    ok = proc.returncode == 0
    status = "" if ok else f"\n\n(exit status {proc.returncode}; its stderr is in the log directory)"
    return Result(f"`{shown}` (its own report, verbatim):\n\n```\n{text}\n```{status}", ok=ok)
