"""pd-mcp's benchmark suite, side by side with the floors: `python bench/run.py` (`--quick`: short).

Run it with the project's virtual environment (`.venv/bin/python bench/run.py`):
it starts the `pd-mcp` installed next to that interpreter. Everything runs on
loopback against the simulated Powerdrill API (the sandbox, in a process of its
own, rate limit off, TCP_NODELAY on: see bench/sandbox_process.py). Every
figure is a median over repeated runs, interleaved with its baseline in the
same run (A, B, C, A, B, C, ...), and reported as a ratio to that baseline.

1. Cold start over stdio, timed with raw pipes (the JSON-RPC lines are written
   here, so the figure is the server's, not a client library's): spawn →
   `tools/list` answer in both protocol eras (2025-11-25: initialize, answer,
   notifications/initialized, tools/list; 2026-07-28: server/discover, then
   tools/list carrying the protocol version, client info and capabilities in
   `params._meta`), for `pd-mcp`, `pd-mcp` with `PD_MCP_PRELOAD=0`, the bare
   SDK server (bench/bare_server.py) and `python -c pass`; then spawn → first
   `get_dataset_status` answer against the bare server's one-GET tool. Peak
   memory: each child's max RSS from wait4.
2. Call latency on warm servers, p50 and p99, over stdio and Streamable HTTP,
   against the bare server's trivial tool, its one-GET tool, and a direct
   keep-alive `httpx.AsyncClient` GET of the same sandbox URL.
3. Waiting: bench/wait_bench.py (the waiting issue's benchmark), run as it is;
   then (section "live") bench/live_bench.py: N subscribers of one dataset
   against one waiter, in upstream requests and change-to-update delay.
4. Load: N concurrent MCP sessions (real `mcp.Client`s) over Streamable HTTP
   against one `pd-mcp serve --transport http` with its default budget:
   throughput, p99, errors, and the most upstream requests the sandbox saw in
   any one second, against the budget.
4b. Fleet (section "fleet"): bench/fleet_bench.py: replicas x clients on one
   Redis, busiest second and throughput as a fraction of the budget, acquire
   overhead, upstream connections at 500 clients.
5. Where the start-up goes (`-X importtime`, for information; not on --quick).
6. The peer and the command line: bench/peer.py (section "peer", run after
   section 2): pd-mcp beside a server on the official TypeScript SDK, and
   `pd-mcp status` beside `python -c "import httpx"`, one `curl`, and (with
   `--baseline-pd-mcp PATH`) another installation's `pd-mcp`.

Then the issue's targets, PASS or FAIL. Exit status: 0 all met, 1 one missed,
2 the benchmark itself failed. Every process started here is stopped
(terminate, wait, kill; also on Ctrl-C and SIGTERM), and every wait has a
timeout. `--help` lists the options (`--only`, `--rounds`, `--output`, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BARE_SERVER = HERE / "bare_server.py"
SANDBOX_PROCESS = HERE / "sandbox_process.py"
WAIT_BENCH = HERE / "wait_bench.py"
LIVE_BENCH = HERE / "live_bench.py"
FLEET_BENCH = HERE / "fleet_bench.py"

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
DATASET = "ds-ready"  # 5 sources, all synchronized: exactly one upstream GET per status call
BUDGET = 20.0  # pd-mcp's default PD_MCP_RATE_LIMIT (requests per second)
LATENCY_BUDGET = "100000"  # the budget is lifted for the latency section only; see there

CLIENT_INFO = {"name": "pd-mcp-bench", "version": "1"}
# What a 2026-07-28 client carries in `params._meta` of every request (mcp/client/session.py).
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    "io.modelcontextprotocol/clientCapabilities": {},
}
PD_TOOLS = {"get_dataset_status", "wait_for_dataset_sync"}
BARE_TOOLS = {"echo", "add"}

START_TIMEOUT = 60.0  # spawn → answer
CALL_TIMEOUT = 30.0  # one call on a warm server
EXIT_TIMEOUT = 10.0  # stdin closed → process gone
READY_TIMEOUT = 60.0  # an HTTP server listening
LOAD_TIMEOUT = 240.0  # one load step, all sessions
SECTIONS = ("start", "latency", "peer", "wait", "live", "load", "fleet", "imports")


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and why."""


@dataclass(frozen=True)
class Plan:
    rounds: int  # cold-start rounds (each runs every variant once)
    latency_calls: int  # measured calls per variant in section 2
    latency_warmup: int
    load: tuple[tuple[int, int], ...]  # (sessions, calls per session)
    wait_timeout: float  # section 3
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


# --- statistics -------------------------------------------------------------------------


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


# --- the machine ------------------------------------------------------------------------


def machine() -> list[tuple[str, str]]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        ("platform", platform.platform()),
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} ({usable} usable)"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("mcp", version("mcp")),
        ("pd-mcp", version("pd-mcp")),
        ("httpx", version("httpx")),
        ("pd-mcp source", source_revision()),
        ("load average at start", load_average()),
    ]


def source_revision() -> str:
    """The commit of the tree pd-mcp runs from, and whether it has uncommitted changes."""
    root = HERE.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "pd_mcp"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"commit {commit}" + (" + uncommitted changes in pd_mcp/" if dirty else "")


def load_average() -> str:
    """1/5/15-minute load averages: other work on the machine makes every figure noisier."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# --- processes --------------------------------------------------------------------------


class Processes:
    """Every child started by the bench; `stop_all` ends whatever is still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.live: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, name: str, argv: Sequence[str], env: dict[str, str], *, pipes: str = "in,out"
    ) -> subprocess.Popen[bytes]:
        """Start `argv`; `pipes` names the standard streams to pipe ("in,out", "out" or "")."""
        with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if "in" in pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if "out" in pipes else log,
                stderr=log,
                env=env,
                bufsize=0,
                close_fds=True,
            )
        self.live.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """Close its pipes, ask it to stop, wait, then kill. Never raises."""
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)
        if proc in self.live:
            self.live.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.live):
            self.stop(proc, grace=3.0)


def reap(proc: subprocess.Popen[bytes], timeout: float) -> tuple[Any, bool]:
    """Wait for `proc` to exit (killing it after `timeout`), reap it; its rusage and whether killed."""
    killed = False
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(proc.pid)
    try:
        if pidfd is not None:
            exited = select.select([pidfd], [], [], timeout)[0]
        else:  # no pidfd: poll
            deadline = time.monotonic() + timeout
            exited = []
            while time.monotonic() < deadline:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    return usage, False
                time.sleep(0.001)
        if not exited:
            killed = True
            proc.kill()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen knows it is gone
    return usage, killed


class Lines:
    """Newline-delimited reading from a pipe with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read(self, deadline: float) -> bytes:
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer in time")
            if select.select([self.fd], [], [], left)[0]:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    raise EOFError("the process closed its output")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def response(self, request_id: int, deadline: float) -> dict[str, Any]:
        while True:
            line = self.read(deadline).strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                raise BenchError(f"not JSON-RPC on stdout: {line[:200]!r}") from None
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message

    def rest(self, deadline: float) -> list[bytes]:
        """Every further line until the process closes its output (or the deadline)."""
        found: list[bytes] = []
        with contextlib.suppress(TimeoutError, EOFError, OSError):
            while True:
                found.append(self.read(deadline))
        return [line for line in found if line.strip()]


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited ({proc.returncode}) before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.02)
    raise BenchError(f"{proc.args!r} did not listen on 127.0.0.1:{port} within {timeout:g} s")


class SandboxProcess:
    """bench/sandbox_process.py: the simulated API in a process of its own."""

    def __init__(self, procs: Processes, env: dict[str, str], as_is: bool = False) -> None:
        self.procs = procs
        argv = [sys.executable, str(SANDBOX_PROCESS), *(["--as-is"] if as_is else [])]
        self.proc = procs.spawn("sandbox", argv, env)
        assert self.proc.stdout is not None
        self.lines = Lines(self.proc.stdout.fileno())
        try:
            self.url: str = json.loads(self.lines.read(time.monotonic() + START_TIMEOUT))["url"]
        except Exception as exc:
            raise BenchError(f"the sandbox did not start: {exc}") from exc

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        write_all(self.proc.stdin.fileno(), command.encode() + b"\n")
        return json.loads(self.lines.read(time.monotonic() + CALL_TIMEOUT))

    def stop(self) -> None:
        self.procs.stop(self.proc)


# --- JSON-RPC lines -----------------------------------------------------------------------


def request(request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def initialize(request_id: int = 1) -> dict[str, Any]:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO}
    return request(request_id, "initialize", params)


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def modern(request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return request(request_id, method, {**(params or {}), "_meta": dict(MODERN_META)})


def call_params(tool: str) -> dict[str, Any]:
    return {"name": tool, "arguments": {"dataset_id": DATASET}}


# A script: (lines to write, id of the answer to wait for or None), in order.
Script = list[tuple[list[dict[str, Any]], int | None]]


def legacy_script(call: str | None = None) -> Script:
    script: Script = [([initialize(1)], 1), ([INITIALIZED, request(2, "tools/list")], 2)]
    if call:
        script.append(([request(3, "tools/call", call_params(call))], 3))
    return script


def modern_script() -> Script:
    return [([modern(1, "server/discover")], 1), ([modern(2, "tools/list")], 2)]


def expect_tools(names: set[str]) -> Callable[[dict[str, Any]], None]:
    def check(answer: dict[str, Any]) -> None:
        tools = {t.get("name") for t in answer.get("result", {}).get("tools", [])}
        if not names <= tools:
            raise BenchError(f"tools/list did not list {sorted(names)}: {json.dumps(answer)[:300]}")

    return check


def expect_success(answer: dict[str, Any]) -> None:
    """pd-mcp's answer says `ready`; the bare one-GET tool's carries Powerdrill's `"code":0` body."""
    result = answer.get("result")
    if not isinstance(result, dict) or result.get("isError") or "content" not in result:
        raise BenchError(f"the tool call failed: {json.dumps(answer)[:400]}")
    structured = result.get("structuredContent") or {}
    texts = " ".join(str(c.get("text", "")) for c in result["content"] if isinstance(c, dict))
    if structured.get("verdict") != "ready" and '"code":0' not in texts.replace(" ", ""):
        raise BenchError(f"the tool call did not return the dataset's status: {json.dumps(result)[:400]}")


# --- 1. cold start ------------------------------------------------------------------------


@dataclass
class Variant:
    key: str
    label: str
    argv: list[str]
    env: dict[str, str]
    script: Script | None  # None: run to exit (python -c pass)
    check: Callable[[dict[str, Any]], None] | None = None
    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # stdout lines after the last awaited answer
    fresh_cache: bool = False  # a new, empty XDG_CACHE_HOME for every run: pd-mcp's very first start


def run_once(procs: Processes, v: Variant) -> tuple[float, int]:
    """Spawn, play the script, stop the clock at the last answer; then close stdin and reap."""
    env = v.env
    cache = None
    if v.fresh_cache:
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=procs.log_dir))
        env = {**env, "XDG_CACHE_HOME": str(cache)}
    started = time.perf_counter()
    proc = procs.spawn(v.key, v.argv, env)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        if v.script is None:
            proc.stdin.close()
            usage, killed = reap(proc, START_TIMEOUT)
            elapsed = time.perf_counter() - started
            if killed or proc.returncode != 0:
                raise BenchError(f"{v.label}: exit status {proc.returncode}")
            return elapsed, usage.ru_maxrss
        lines = Lines(proc.stdout.fileno())
        deadline = time.monotonic() + START_TIMEOUT
        answer: dict[str, Any] = {}
        for messages, wait_for in v.script:
            write_all(proc.stdin.fileno(), b"".join(map(line, messages)))
            if wait_for is not None:
                try:
                    answer = lines.response(wait_for, deadline)
                except (TimeoutError, EOFError) as exc:
                    raise BenchError(f"{v.label}: {exc} (log: {procs.log_dir / (v.key + '.log')})") from exc
                if "error" in answer:
                    raise BenchError(f"{v.label}: error answer {json.dumps(answer)[:300]}")
        elapsed = time.perf_counter() - started
        if v.check:
            v.check(answer)
        proc.stdin.close()
        # Nothing may follow: no second answer to a request (a pre-loader handing over to the
        # SDK must not answer twice), no stray output. Answers to notifications do not exist.
        v.unexpected += [
            text.decode(errors="replace")[:160] for text in lines.rest(time.monotonic() + EXIT_TIMEOUT)
        ]
        usage, killed = reap(proc, EXIT_TIMEOUT)
        if killed:
            print(
                f"  note: {v.label} did not exit within {EXIT_TIMEOUT:g} s of stdin closing", file=sys.stderr
            )
        return elapsed, usage.ru_maxrss
    finally:
        procs.stop(proc)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def cold_start(procs: Processes, plan: Plan, cmd: Commands) -> dict[str, Variant]:
    variants = [
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
        Variant("T-pd", "pd-mcp", cmd.pd, cmd.pd_env, legacy_script("get_dataset_status"), expect_success),
        Variant(
            "T-pd0",
            "pd-mcp, PD_MCP_PRELOAD=0",
            cmd.pd,
            cmd.pd0_env,
            legacy_script("get_dataset_status"),
            expect_success,
        ),
        Variant(
            "T-get",
            "bare SDK server + one GET",
            [*cmd.bare, "--get"],
            cmd.pd_env,
            legacy_script("get_dataset_status"),
            expect_success,
        ),
    ]
    # Warm-up, not counted: compiles any missing bytecode and fills the page cache
    # (on a quick run only one of each command).
    for v in variants:
        if plan.warm_all or v.key in ("L-pd", "L-bare", "T-get"):  # L-pd records the handshake
            run_once(procs, v)
    began = time.monotonic()
    for n in range(plan.rounds):
        started = time.monotonic()
        for v in variants:  # interleaved: every variant once per round, same order
            elapsed, rss = run_once(procs, v)
            v.times.append(elapsed)
            v.rss_kib.append(rss)
        print(f"  round {n + 1}/{plan.rounds} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
        if time.monotonic() - began > plan.start_cap and n + 1 < plan.rounds:
            print(f"  stopping after {n + 1} rounds: over the {plan.start_cap:g} s cap", file=sys.stderr)
            break
    return {v.key: v for v in variants}


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
            f"{r / br:.2f}×",
            f"{r / 1024:.1f}",
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
        "(the one-GET variant for the first answer). Peak RSS: max resident set of the child (wait4). "
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


# --- 2. call latency ----------------------------------------------------------------------


class AsyncStdio:
    """A warm stdio server driven with raw JSON-RPC lines (legacy era)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 1

    @classmethod
    async def start(cls, argv: Sequence[str], env: dict[str, str], log: Path) -> AsyncStdio:
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, limit=1 << 22
            )
        finally:
            os.close(err)  # the child keeps its own copy
        self = cls(proc)
        try:
            await self.request("initialize", initialize(0)["params"], within=START_TIMEOUT)
            await self.send(INITIALIZED)
        except BaseException:
            await self.close()
            raise
        return self

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line(message))
        await self.proc.stdin.drain()

    async def request(
        self, method: str, params: dict[str, Any], within: float = CALL_TIMEOUT
    ) -> dict[str, Any]:
        assert self.proc.stdout is not None
        request_id, self.next_id = self.next_id, self.next_id + 1
        await self.send(request(request_id, method, params))
        async with asyncio.timeout(within):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise BenchError(f"{self.proc.pid} closed its output")
                message = json.loads(raw)
                if message.get("id") == request_id:
                    return message

    async def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self.proc.stdin.close()
        try:
            async with asyncio.timeout(EXIT_TIMEOUT):
                await self.proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


class HttpSession:
    """A legacy-era Streamable HTTP session driven with raw JSON-RPC over one keep-alive connection."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        self.headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        self.next_id = 1

    async def open(self) -> None:
        response = await self.client.post(self.url, content=line(initialize(0)), headers=self.headers)
        response.raise_for_status()
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = LEGACY
        response = await self.client.post(self.url, content=line(INITIALIZED), headers=self.headers)
        response.raise_for_status()

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id, self.next_id = self.next_id, self.next_id + 1
        response = await self.client.post(
            self.url, content=line(request(request_id, method, params)), headers=self.headers
        )
        response.raise_for_status()
        for message in parse_messages(response.headers.get("content-type", ""), response.text):
            if message.get("id") == request_id:
                return message
        raise BenchError(f"no answer to request {request_id} in {response.text[:300]!r}")


def parse_messages(content_type: str, body: str) -> list[dict[str, Any]]:
    """JSON-RPC messages of a Streamable HTTP response: plain JSON or server-sent events."""
    if content_type.startswith("application/json"):
        data = json.loads(body)
        return data if isinstance(data, list) else [data]
    messages: list[dict[str, Any]] = []
    data_lines: list[str] = []
    for text in [*body.splitlines(), ""]:
        if text.startswith("data:"):
            data_lines.append(text[5:].lstrip())
        elif not text and data_lines:
            messages.append(json.loads("\n".join(data_lines)))
            data_lines = []
    return messages


@dataclass
class LatencyResult:
    samples: dict[str, list[float]]
    labels: dict[str, str]


async def latency_async(plan: Plan, cmd: Commands, sandbox_url: str, ports: dict[str, int]) -> LatencyResult:
    import httpx

    env = {**cmd.pd_env, "PD_MCP_RATE_LIMIT": LATENCY_BUDGET}
    status_url = f"{sandbox_url}/v2/team/datasets/{DATASET}/status"
    get_params = {"user_id": cmd.user_id}
    get_headers = {"x-pd-api-key": cmd.api_key}
    stdio: list[AsyncStdio] = []
    async with contextlib.AsyncExitStack() as stack:
        for argv in (cmd.pd, cmd.bare, [*cmd.bare, "--get"]):
            stdio.append(await AsyncStdio.start(argv, env, cmd.log_dir / "latency-stdio.log"))
            stack.push_async_callback(stdio[-1].close)
        pd_stdio, bare_stdio, bare_get_stdio = stdio
        clients = []
        for _ in range(3):
            client = httpx.AsyncClient(timeout=CALL_TIMEOUT, trust_env=False)
            await stack.enter_async_context(client)
            clients.append(client)
        direct, pd_client, bare_client = clients
        pd_http = HttpSession(pd_client, f"http://127.0.0.1:{ports['pd']}/mcp")
        bare_http = HttpSession(bare_client, f"http://127.0.0.1:{ports['bare']}/mcp")
        await pd_http.open()
        await bare_http.open()

        async def pd_stdio_call() -> None:
            expect_success(await pd_stdio.request("tools/call", call_params("get_dataset_status")))

        async def bare_stdio_call() -> None:
            answer = await bare_stdio.request("tools/call", {"name": "echo", "arguments": {"text": DATASET}})
            if answer.get("result", {}).get("isError", True):
                raise BenchError(f"bare echo failed: {answer}")

        async def bare_get_stdio_call() -> None:
            expect_success(await bare_get_stdio.request("tools/call", call_params("get_dataset_status")))

        async def direct_get() -> None:
            response = await direct.get(status_url, params=get_params, headers=get_headers)
            if response.status_code != 200:
                raise BenchError(f"direct GET: HTTP {response.status_code}")

        async def pd_http_call() -> None:
            expect_success(await pd_http.request("tools/call", call_params("get_dataset_status")))

        async def bare_http_call() -> None:
            answer = await bare_http.request("tools/call", {"name": "echo", "arguments": {"text": DATASET}})
            if answer.get("result", {}).get("isError", True):
                raise BenchError(f"bare echo over HTTP failed: {answer}")

        calls: dict[str, tuple[str, Callable[[], Any]]] = {
            "pd-stdio": ("pd-mcp get_dataset_status, stdio", pd_stdio_call),
            "bare-stdio": ("bare SDK trivial tool, stdio", bare_stdio_call),
            "get": ("direct keep-alive httpx.AsyncClient GET", direct_get),
            "bare-get-stdio": ("bare SDK one-GET tool, stdio", bare_get_stdio_call),
            "pd-http": ("pd-mcp get_dataset_status, Streamable HTTP", pd_http_call),
            "bare-http": ("bare SDK trivial tool, Streamable HTTP", bare_http_call),
        }
        samples: dict[str, list[float]] = {k: [] for k in calls}
        for i in range(plan.latency_warmup + plan.latency_calls):
            for key, (_, call) in calls.items():  # interleaved, one call of each per iteration
                started = time.perf_counter()
                async with asyncio.timeout(CALL_TIMEOUT):
                    await call()
                if i >= plan.latency_warmup:
                    samples[key].append(time.perf_counter() - started)
    return LatencyResult(samples, {k: label for k, (label, _) in calls.items()})


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


# --- 3. waiting ---------------------------------------------------------------------------


def waiting(procs: Processes, plan: Plan, quick: bool, env: dict[str, str]) -> tuple[str, bool | None]:
    """Run bench/wait_bench.py (a colleague's: the waiting issue's benchmark) and include its output.

    The contract assumed: `python bench/wait_bench.py` prints its report on stdout and exits 0
    (it judges its own targets in that report). On a quick run it is passed `--quick` when its
    source has that flag, and skipped otherwise (it takes about 15 s). Until the file exists
    this section says so and the rest of the suite runs.
    """
    if not WAIT_BENCH.exists():
        return (
            "**HOOK: bench/wait_bench.py does not exist yet**: section 3 (detection delay and requests "
            "per wait, from the waiting issue's benchmark) was not run. Once it exists, this suite runs "
            "`python bench/wait_bench.py` and includes its output.",
            None,
        )
    return script_section(procs, plan, WAIT_BENCH, quick, env)


def script_section(
    procs: Processes, plan: Plan, script: Path, quick: bool, env: dict[str, str]
) -> tuple[str, bool | None]:
    """Run a section's own benchmark script (`python bench/<script>`) and include its report verbatim."""
    argv = [sys.executable, str(script)]
    if quick:
        # Read, not run: a script without argparse would take `--help` for a full run.
        if '"--quick"' not in script.read_text(errors="replace"):
            return f"Skipped on --quick (bench/{script.name} has no --quick); run without --quick.", None
        argv.append("--quick")
    proc = procs.spawn(script.stem, argv, env, pipes="out")
    try:
        out, _ = proc.communicate(timeout=plan.wait_timeout)
    except subprocess.TimeoutExpired:
        return f"bench/{script.name} did not finish within {plan.wait_timeout:g} s; stopped.", False
    finally:
        procs.stop(proc)
    shown = " ".join([f"python bench/{script.name}", *argv[2:]])
    text = out.decode(errors="replace").rstrip()
    ok = proc.returncode == 0
    status = "" if ok else f"\n\n(exit status {proc.returncode}; its stderr is in the log directory)"
    return f"`{shown}` (its own report, verbatim):\n\n```\n{text}\n```{status}", ok


# --- 4. load --------------------------------------------------------------------------------


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


# --- 5. import time -------------------------------------------------------------------------


IMPORT_RUNS = 3


def import_profile(procs: Processes, argv: list[str], env: dict[str, str], name: str) -> dict[str, float]:
    """Self import time (s) per module while serving up to the tools/list answer (pre-loader off)."""
    env = {**env, "PYTHONPROFILEIMPORTTIME": "1", "PD_MCP_PRELOAD": "0"}
    log = procs.log_dir / f"{name}.log"
    log.unlink(missing_ok=True)
    run_once(procs, Variant(name, name, argv, env, legacy_script(), None))
    modules: dict[str, float] = {}
    for text in log.read_text(errors="replace").splitlines():
        if text.startswith("import time:") and "self [us]" not in text:
            self_us, _, module = text[len("import time:") :].split("|", 2)
            modules[module.strip()] = int(self_us) / 1e6
    return modules


def import_report(procs: Processes, cmd: Commands) -> str:
    runs: dict[str, list[dict[str, float]]] = {"pd": [], "bare": []}
    for _ in range(IMPORT_RUNS):  # interleaved
        runs["pd"].append(import_profile(procs, cmd.pd, cmd.pd_env, "importtime-pd"))
        runs["bare"].append(import_profile(procs, cmd.bare, cmd.env, "importtime-bare"))

    def per_package(profiles: list[dict[str, float]]) -> dict[str, float]:
        """Median over runs of each top-level package's summed self time."""
        sums: list[dict[str, float]] = []
        for modules in profiles:
            totals: dict[str, float] = {}
            for module, seconds in modules.items():
                package = module.split(".")[0]
                totals[package] = totals.get(package, 0.0) + seconds
            sums.append(totals)
        names = {name for totals in sums for name in totals}
        return {name: median([totals.get(name, 0.0) for totals in sums]) for name in names}

    pd, bare = per_package(runs["pd"]), per_package(runs["bare"])
    total_pd, total_bare = sum(pd.values()), sum(bare.values())
    top = sorted(pd, key=lambda k: -pd[k])[:12]
    rows = [[k, f"{pd[k] / total_pd:.0%}", ms(pd[k]), ms(bare.get(k, 0.0))] for k in top]
    rows.append(["all", "100%", ms(total_pd), ms(total_bare)])
    extra = sorted({m for r in runs["pd"] for m in r} - {m for r in runs["bare"] for m in r})
    extra_packages = sorted({m.split(".")[0] for m in extra})
    note = (
        f"Medians of {IMPORT_RUNS} interleaved runs each with PYTHONPROFILEIMPORTTIME=1 and "
        "PD_MCP_PRELOAD=0 (the whole serving path), spawn → tools/list answer; self import time summed "
        "per top-level package. The profiler inflates every figure: read the shares, not the times. "
        f"Modules pd-mcp imports that the bare server does not: {len(extra)}, in "
        f"{', '.join(extra_packages) or 'none'}."
    )
    return table(["package", "share of pd-mcp", "pd-mcp ms", "bare SDK ms"], rows) + "\n\n" + note


# --- targets --------------------------------------------------------------------------------


def targets(
    vs: dict[str, Variant],
    lat: dict[str, float],
    steps: list[LoadStep],
    extra: Sequence[tuple[str, str, str, bool]] = (),
) -> tuple[str, bool]:
    def ratio(key: str, base: str, what: str = "times") -> float:
        return median(getattr(vs[key], what)) / median(getattr(vs[base], what))

    rows: list[list[object]] = []

    def check(name: str, measured: str, limit: str, passed: bool) -> None:
        rows.append([name, measured, limit, "PASS" if passed else "FAIL"])

    if vs:
        for era, prefix in ((LEGACY, "L"), (MODERN, "M")):
            r = ratio(f"{prefix}-pd", f"{prefix}-bare")
            check(f"spawn → tools/list, pre-loader on ({era})", f"{r:.2f}× bare", "≤ 0.18×", r <= 0.18)
        for era, prefix in ((LEGACY, "L"), (MODERN, "M")):
            r = ratio(f"{prefix}-pd0", f"{prefix}-bare")
            check(f"spawn → tools/list, PD_MCP_PRELOAD=0 ({era})", f"{r:.2f}× bare", "≤ 1.10×", r <= 1.10)
        r = ratio("T-pd", "T-get")
        check("spawn → first get_dataset_status answer", f"{r:.2f}× bare + GET", "≤ 1.10×", r <= 1.10)
        r = ratio("L-pd", "L-bare", "rss_kib")
        check("peak memory, spawn → tools/list", f"{r:.2f}× bare", "≤ 1.15×", r <= 1.15)
        r = ratio("T-pd", "T-get", "rss_kib")
        check("peak memory, spawn → first answer", f"{r:.2f}× bare + GET", "≤ 1.15×", r <= 1.15)
    if lat:
        floor = lat["p50:bare-stdio"] + lat["p50:get"] + 0.0005
        check(
            "stdio call p50 ≤ bare trivial p50 + direct GET p50 + 0.5 ms",
            f"{ms(lat['p50:pd-stdio'])} ms",
            f"≤ {ms(floor)} ms",
            lat["p50:pd-stdio"] <= floor,
        )
    hundred = [s for s in steps if s.sessions == 100]
    if hundred:
        s = hundred[0]
        ok = not s.errors and s.upstream_max_per_second <= BUDGET
        check(
            "100 concurrent HTTP sessions: no errors, upstream within budget",
            f"{len(s.errors)} errors, max {s.upstream_max_per_second}/s",
            f"0 errors, ≤ {BUDGET:g}/s",
            ok,
        )
    for name, measured, limit, ok in extra:
        check(name, measured, limit, ok)
    passed = all(r[3] == "PASS" for r in rows)
    return table(["target", "measured", "limit", "result"], rows), passed


# --- commands and environment -----------------------------------------------------------------


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


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 every target met, 1 a target missed, 2 the benchmark itself failed."""
    parser = argparse.ArgumentParser(description="pd-mcp benchmark suite (loopback only, bounded).")
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute; no section 5)")
    parser.add_argument("--rounds", type=int, help="cold-start rounds (default 15, --quick 3)")
    parser.add_argument("--only", help=f"comma-separated sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, help="also write the report (markdown) to this file")
    parser.add_argument(
        "--baseline-pd-mcp", help="another installation's pd-mcp executable, for the command-line rows"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the children's stderr logs")
    parser.add_argument(
        "--sandbox-as-is",
        action="store_true",
        help="leave Nagle's algorithm on in the sandbox (see bench/sandbox_process.py)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=max(1, args.rounds))
    sections = (
        args.only.split(",") if args.only else [s for s in SECTIONS if not (args.quick and s == "imports")]
    )
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {','.join(SECTIONS)}")
    shown = ["python bench/run.py"]
    shown += ["--quick"] if args.quick else []
    shown += [f"--rounds {args.rounds}"] if args.rounds else []
    shown += [f"--only {args.only}"] if args.only else []
    shown += ["--sandbox-as-is"] if args.sandbox_as_is else []
    shown += ["--baseline-pd-mcp PATH"] if args.baseline_pd_mcp else []

    report: list[str] = []

    def emit(text: str) -> None:
        report.append(text)
        print(text + "\n", flush=True)

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: children stopped

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, stop)  # SIGINT too: a background job starts with it ignored

    began = time.monotonic()
    emit(f"Command: `{' '.join(shown)}`\n\n" + table(["machine", ""], machine()))
    try:
        with log_directory(args.keep_logs) as log_dir:
            passed = run_sections(plan, sections, args, log_dir, emit)
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


def run_sections(
    plan: Plan, sections: list[str], args: argparse.Namespace, log_dir: Path, emit: Callable[[str], None]
) -> bool:
    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID

    procs = Processes(log_dir)
    passed = True
    began = time.monotonic()
    try:
        env = clean_env()
        sandbox = SandboxProcess(procs, env, as_is=args.sandbox_as_is)
        pd_env = {
            **env,
            # pd-mcp's recording of its handshake (the pre-loader's answers) lives here, not in
            # the user's cache: recorded by the warm-up, so every measured start finds it.
            "XDG_CACHE_HOME": str(log_dir / "cache"),
            "POWERDRILL_API_URL": sandbox.url,
            "POWERDRILL_USER_ID": SANDBOX_USER_ID,
            "POWERDRILL_PROJECT_API_KEY": SANDBOX_API_KEY,
        }
        cmd = Commands(
            pd=find_pd_mcp(),
            bare=[sys.executable, str(BARE_SERVER)],
            env=env,
            pd_env=pd_env,
            pd0_env={**pd_env, "PD_MCP_PRELOAD": "0"},
            user_id=SANDBOX_USER_ID,
            api_key=SANDBOX_API_KEY,
            log_dir=log_dir,
        )
        vs: dict[str, Variant] = {}
        lat: dict[str, float] = {}
        steps: list[LoadStep] = []
        extra: list[tuple[str, str, str, bool]] = []
        if "start" in sections:
            print(f"1. cold start ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            vs = cold_start(procs, plan, cmd)
            emit("## 1. Cold start over stdio\n\n" + cold_start_report(vs, plan))
        if "latency" in sections:
            print(f"2. call latency ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            text, lat = latency_report(latency(procs, plan, cmd, sandbox.url))
            emit("## 2. Call latency on a warm server\n\n" + text)
        if "peer" in sections:
            import peer

            print(f"6. peer and command line ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            found = peer.run(sys.modules[__name__], procs, plan, cmd, sandbox.url, args.baseline_pd_mcp)
            extra += found.targets
            emit("## 6. The TypeScript SDK peer and the command line\n\n" + found.text)
        if "wait" in sections:
            print(f"3. waiting ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            text, wait_ok = waiting(procs, plan, args.quick, env)
            passed = passed and wait_ok is not False
            emit("## 3. Waiting\n\n" + text)
        if "live" in sections:
            print(f"3b. subscriptions ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            text, live_ok = script_section(procs, plan, LIVE_BENCH, args.quick, env)
            passed = passed and live_ok is not False
            emit("## 3b. Subscriptions against one waiter\n\n" + text)
        if "load" in sections:
            print(f"4. load ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            steps = load(procs, plan, cmd, sandbox)
            emit("## 4. Load: concurrent Streamable HTTP sessions\n\n" + load_report(steps))
        if "fleet" in sections:
            print(f"4b. fleet ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            text, fleet_ok = script_section(procs, plan, FLEET_BENCH, args.quick, env)
            passed = passed and fleet_ok is not False
            emit("## 4b. A fleet of replicas sharing one budget in Redis\n\n" + text)
        if "imports" in sections:
            print(f"5. import time ... (at {time.monotonic() - began:.0f} s)", file=sys.stderr)
            emit("## 5. Where the start-up goes (import time)\n\n" + import_report(procs, cmd))
        if vs or lat or steps or extra:
            text, targets_ok = targets(vs, lat, steps, extra)
            passed = passed and targets_ok
            emit("## Targets (issues 7 and 17)\n\n" + text)
    finally:
        procs.stop_all()
    return passed


if __name__ == "__main__":
    sys.exit(main())
