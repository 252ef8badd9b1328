"""One measured start: spawn a server, play a script of JSON-RPC lines, stop the clock, reap.

Why shared: the cold-start, peer, import-time and memory sections all time or
weigh a fresh process the same way (wall time to the last awaited answer, peak
RSS from wait4), so their figures can be set side by side.

The floor of wait4's peak: Linux carries the high-water mark of the address
space a process had before exec into its figure, and Python starts children
with vfork, so a child's ru_maxrss is never below the bench's own peak RSS at
spawn. A run whose figure is at that floor is marked (`Variant.floored`) and
shown as "≤"; sections that weigh servers run before the ones that grow the
bench (latency, load).
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import EXIT_TIMEOUT, START_TIMEOUT, BenchError
from procs import Lines, Processes, reap, write_all
from rpc import Script, line


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
    floored: bool = False  # a peak RSS at the bench's own peak: the child's is at most that (see above)


def run_once(procs: Processes, v: Variant) -> tuple[float, int]:
    """Spawn, play the script, stop the clock at the last answer; then close stdin and reap."""
    env = v.env
    cache = None
    if v.fresh_cache:
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=procs.log_dir))
        env = {**env, "XDG_CACHE_HOME": str(cache)}
    floor = own_peak_kib()
    started = time.perf_counter()
    proc = procs.spawn(v.key, v.argv, env)
    try:
        elapsed, peak = _run_to_exit(proc, v, started) if v.script is None else _play(procs, proc, v, started)
        v.floored = v.floored or peak <= floor
        return elapsed, peak
    finally:
        procs.stop(proc)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def own_peak_kib() -> int:
    """The bench's own peak RSS so far (KiB): the floor of a child's wait4 figure."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def mib(v: Variant, kib: float) -> str:
    """A peak RSS in MiB, "≤" when the variant's figure was at the floor."""
    return ("≤ " if v.floored else "") + f"{kib / 1024:.1f}"


def _run_to_exit(proc: Any, v: Variant, started: float) -> tuple[float, int]:
    """A command that needs no input: close stdin, time it to its exit."""
    proc.stdin.close()
    usage, killed = reap(proc, START_TIMEOUT)
    elapsed = time.perf_counter() - started
    if killed or proc.returncode != 0:
        raise BenchError(f"{v.label}: exit status {proc.returncode}")
    return elapsed, usage.ru_maxrss


def _play(procs: Processes, proc: Any, v: Variant, started: float) -> tuple[float, int]:
    """Write the script's lines, wait for each awaited answer; then read stdout to its end."""
    assert v.script is not None
    lines = Lines(proc.stdout.fileno())
    deadline = time.monotonic() + START_TIMEOUT
    answer: dict[str, Any] = {}
    for messages, wait_for in v.script:
        write_all(proc.stdin.fileno(), b"".join(map(line, messages)))
        if wait_for is not None:
            answer = _answer(procs, lines, v, wait_for, deadline)
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
        print(f"  note: {v.label} did not exit within {EXIT_TIMEOUT:g} s of stdin closing", file=sys.stderr)
    return elapsed, usage.ru_maxrss


def _answer(procs: Processes, lines: Lines, v: Variant, wait_for: int, deadline: float) -> dict[str, Any]:
    try:
        answer = lines.response(wait_for, deadline)
    except (TimeoutError, EOFError) as exc:
        raise BenchError(f"{v.label}: {exc} (log: {procs.log_dir / (v.key + '.log')})") from exc
    if "error" in answer:
        raise BenchError(f"{v.label}: error answer {json.dumps(answer)[:300]}")
    return answer
