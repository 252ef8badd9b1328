"""pd-mcp's benchmark suite, side by side with the floors: `python bench/run.py` (`--quick`: short).

Run it with the project's virtual environment (`.venv/bin/python bench/run.py`):
it starts the `pd-mcp` installed next to that interpreter. Everything runs on
loopback against the simulated Powerdrill API (the sandbox, in a process of its
own, rate limit off, TCP_NODELAY on: see bench/sandbox_process.py). Every
figure is a median over repeated runs, interleaved with its baseline in the
same run (A, B, C, A, B, C, ...), and reported as a ratio to that baseline.

This file is the harness: options, the quick/full plan, the commands and their
environment, the sections in order, and the targets table. Each section is a
file of its own (`--only` takes the names on the left):

- start    1. bench/cold_start.py: spawn → `tools/list` (both protocol eras) and
              spawn → first tool answer, with peak memory, beside the bare SDK
              server (bench/bare_server.py) and `python -c pass`.
- memory   7. bench/memory.py: peak memory of a worst-case upstream body (a gzip
              bomb, a huge body) and of 1,000 idle HTTP sessions (run early:
              a child's peak RSS is never below the bench's own, bench/spawn.py).
- latency  2. bench/latency.py: warm call p50/p99 over stdio and Streamable HTTP.
- peer     6. bench/peer.py: pd-mcp beside a server on the TypeScript SDK, and
              `pd-mcp status` beside `python -c "import httpx"`, one `curl`, and
              (with `--baseline-pd-mcp`) another installation's `pd-mcp`.
- wait     3. bench/wait_bench.py (a script of its own; not on --quick).
- live    3b. bench/live_bench.py: subscribers of one dataset against one waiter.
- load     4. bench/load.py: N concurrent MCP sessions against one budget.
- fleet   4b. bench/fleet_bench.py: replicas sharing one budget in Redis.
- imports  5. bench/import_time.py: where the start-up goes (not on --quick).

Shared by the sections: bench/common.py (plan, commands, statistics, tables),
bench/procs.py (children, deadlines, the sandbox process), bench/rpc.py (JSON-RPC
lines and sessions), bench/spawn.py (one measured start), bench/machine.py.

Then the targets, PASS or FAIL. Exit status: 0 all met, 1 one missed, 2 the
benchmark itself failed. Every process started here is stopped (terminate,
wait, kill; also on Ctrl-C and SIGTERM), and every wait has a timeout. `--help`
lists the options (`--only`, `--rounds`, `--output`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cold_start
import import_time
import latency
import load
import memory
import peer
import scripts
from common import FULL, HERE, QUICK, BenchError, Commands, Context, Plan, Result, Target, ratio_table, table
from machine import load_average, machine
from procs import Processes, SandboxProcess

BARE_SERVER = HERE / "bare_server.py"


@dataclasses.dataclass(frozen=True)
class Section:
    number: str  # as in the report's headings
    progress: str  # on stderr while it runs
    title: str  # the report's heading
    run: Callable[[Context], Result]


SECTIONS: dict[str, Section] = {
    "start": Section("1", "cold start", cold_start.TITLE, cold_start.run),
    "memory": Section("7", "memory", memory.TITLE, memory.run),  # early: see bench/spawn.py
    "latency": Section("2", "call latency", latency.TITLE, latency.run),
    "peer": Section("6", "peer and command line", peer.TITLE, peer.run),
    "wait": Section("3", "waiting", "3. Waiting", scripts.run_wait),
    "live": Section("3b", "subscriptions", "3b. Subscriptions against one waiter", scripts.run_live),
    "load": Section("4", "load", load.TITLE, load.run),
    "fleet": Section("4b", "fleet", "4b. A fleet of replicas sharing one budget in Redis", scripts.run_fleet),
    "imports": Section("5", "import time", import_time.TITLE, import_time.run),
}
FULL_ONLY = ("imports",)  # left out of --quick


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="pd-mcp benchmark suite (loopback only, bounded).")
    parser.add_argument("--quick", action="store_true", help="a short run (a few minutes; no section 5)")
    parser.add_argument("--rounds", type=int, help="cold-start rounds (default 15, --quick 3)")
    parser.add_argument("--only", help=f"comma-separated sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, help="also write the report (markdown) to this file")
    parser.add_argument(
        "--baseline-pd-mcp",
        metavar="PATH",
        help="another installation's pd-mcp executable (or its virtual environment), for the "
        "command-line rows",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the children's stderr logs")
    parser.add_argument(
        "--sandbox-as-is",
        action="store_true",
        help="leave Nagle's algorithm on in the sandbox (see bench/sandbox_process.py)",
    )
    args = parser.parse_args(argv)
    if args.only:
        args.sections = args.only.split(",")
    else:
        args.sections = [s for s in SECTIONS if not (args.quick and s in FULL_ONLY)]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {','.join(SECTIONS)}")
    if args.baseline_pd_mcp:
        args.baseline_pd_mcp = baseline_executable(parser, args.baseline_pd_mcp)
    return args


def baseline_executable(parser: argparse.ArgumentParser, given: str) -> str:
    """The baseline's pd-mcp: the path itself, or `bin/pd-mcp` of a virtual environment's folder."""
    path = Path(given).expanduser()
    if path.is_dir():
        path = path / "bin" / "pd-mcp"
    if not (path.is_file() and os.access(path, os.X_OK)):
        parser.error(f"--baseline-pd-mcp: {path} is not an executable pd-mcp")
    return str(path.resolve())


def plan_of(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    return dataclasses.replace(plan, rounds=max(1, args.rounds)) if args.rounds else plan


def shown_command(args: argparse.Namespace) -> str:
    """The command line as the report shows it (the baseline's path left out: it is the reader's)."""
    shown = ["python bench/run.py"]
    shown += ["--quick"] if args.quick else []
    shown += [f"--rounds {args.rounds}"] if args.rounds else []
    shown += [f"--only {args.only}"] if args.only else []
    shown += ["--sandbox-as-is"] if args.sandbox_as_is else []
    shown += ["--baseline-pd-mcp PATH"] if args.baseline_pd_mcp else []
    return " ".join(shown)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 every target met, 1 a target missed, 2 the benchmark itself failed."""
    args = parse(argv)
    report: list[str] = []

    def emit(text: str) -> None:
        report.append(text)
        print(text + "\n", flush=True)

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: children stopped

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, stop)  # SIGINT too: a background job starts with it ignored

    began = time.monotonic()
    emit(f"Command: `{shown_command(args)}`\n\n" + table(["machine", ""], machine()))
    try:
        with log_directory(args.keep_logs) as log_dir:
            passed = run_sections(plan_of(args), args, log_dir, emit)
    except (BenchError, OSError) as exc:
        print(f"\nbench/run.py: the benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbench/run.py: interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    emit(f"Total run time: {time.monotonic() - began:.0f} s; load average at the end {load_average()}.")
    if args.output:
        args.output.write_text("\n\n".join(report) + "\n")
    return 0 if passed else 1


def run_sections(plan: Plan, args: argparse.Namespace, log_dir: Path, emit: Callable[[str], None]) -> bool:
    """Every chosen section in order, then the targets they found; whether all passed."""
    procs = Processes(log_dir)
    passed = True
    began = time.monotonic()
    try:
        env = clean_env()
        sandbox = SandboxProcess(procs, env, as_is=args.sandbox_as_is)
        ctx = Context(
            procs, plan, commands(env, sandbox.url, log_dir, args.baseline_pd_mcp), sandbox, args.quick
        )
        targets: list[Target] = []
        for key in [k for k in SECTIONS if k in args.sections]:  # in SECTIONS order, whatever --only says
            section = SECTIONS[key]
            print(
                f"{section.number}. {section.progress} ... (at {time.monotonic() - began:.0f} s)",
                file=sys.stderr,
            )
            result = section.run(ctx)
            targets += result.targets
            passed = passed and result.ok is not False
            emit(f"## {section.title}\n\n{result.text}")
        if targets:
            text, targets_ok = ratio_table(targets)
            passed = passed and targets_ok
            emit("## Targets\n\n" + text)
    finally:
        procs.stop_all()
    return passed


def commands(env: dict[str, str], sandbox_url: str, log_dir: Path, baseline: str | None) -> Commands:
    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID

    pd_env = {
        **env,
        # pd-mcp's recording of its handshake (the pre-loader's answers) lives here, not in
        # the user's cache: recorded by the warm-up, so every measured start finds it.
        "XDG_CACHE_HOME": str(log_dir / "cache"),
        "POWERDRILL_API_URL": sandbox_url,
        "POWERDRILL_USER_ID": SANDBOX_USER_ID,
        "POWERDRILL_PROJECT_API_KEY": SANDBOX_API_KEY,
    }
    return Commands(
        pd=find_pd_mcp(),
        bare=[sys.executable, str(BARE_SERVER)],
        env=env,
        pd_env=pd_env,
        pd0_env={**pd_env, "PD_MCP_PRELOAD": "0"},
        user_id=SANDBOX_USER_ID,
        api_key=SANDBOX_API_KEY,
        log_dir=log_dir,
        baseline_pd=baseline,
    )


def find_pd_mcp() -> list[str]:
    installed = Path(sys.executable).parent / "pd-mcp"
    if installed.exists():
        return [str(installed)]
    found = shutil.which("pd-mcp")
    if found:
        return [found]
    raise BenchError(
        f"pd-mcp is not installed next to {sys.executable}; run this with the project's venv python"
    )


def clean_env() -> dict[str, str]:
    dropped = ("PD_MCP_", "POWERDRILL_", "PD_SANDBOX_", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


@contextlib.contextmanager
def log_directory(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pd-mcp-bench-"))
    failed = True
    try:
        yield path
        failed = False
    finally:
        if failed or keep:
            print(f"child process logs: {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
