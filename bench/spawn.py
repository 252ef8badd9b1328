"""One measured start: spawn a server, play a script of JSON-RPC lines, stop the clock, reap.

Why shared: the cold-start, peer, import-time and memory sections all time or
weigh a fresh process the same way (wall time to the last awaited answer, peak
RSS of the child itself), so their figures can be set side by side.

Each child's own peak RSS: wait4's ru_maxrss is no good for that, because
Linux keeps the high-water mark of the address space a process had before exec
in its figure, and Python starts children with vfork (sharing the bench's), so
ru_maxrss is never below the bench's own peak at spawn. A fresh exec's VmHWM
does start at zero, so a server's peak is read from /proc/PID/status (VmHWM)
at its last awaited answer, and a command run to its exit is started through
GNU time (`/usr/bin/time -f %M`), which forks it from its own small process
and reports its ru_maxrss (so its floor is time's ~2 MiB; every run-to-exit
variant pays the same extra fork and exec, about a millisecond). Where neither
exists (no /proc, no GNU time), wait4's figure is used, and a figure at the
bench's own peak is marked (`Variant.floored`) and shown as "≤".
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
    floored: bool = False  # wait4's figure at the bench's own peak (no /proc or GNU time; see above)


def run_once(procs: Processes, v: Variant) -> tuple[float, int]:
    """Spawn, play the script, stop the clock at the last answer; then close stdin and reap."""
    env = v.env
    cache = None
    if v.fresh_cache:
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=procs.log_dir))
        env = {**env, "XDG_CACHE_HOME": str(cache)}
    floor = own_peak_kib()
    argv, measured = v.argv, None
    if v.script is None and GNU_TIME:
        measured = Path(tempfile.mkstemp(prefix="maxrss-", dir=procs.log_dir)[1])
        argv = [GNU_TIME, "-f", "%M", "-o", str(measured), *v.argv]
    started = time.perf_counter()
    proc = procs.spawn(v.key, argv, env)
    try:
        if v.script is None:
            elapsed, peak = _run_to_exit(proc, v, started)
            own = _time_figure(measured) if measured is not None else None
        else:
            elapsed, peak, own = _play(procs, proc, v, started)
        if own is not None:
            return elapsed, own
        v.floored = v.floored or peak <= floor
        return elapsed, peak
    finally:
        procs.stop(proc)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
        if measured is not None:
            measured.unlink(missing_ok=True)


def _gnu_time() -> str | None:
    """GNU time's path, if it is the GNU one (`-f`/`-o`); None otherwise."""
    import subprocess

    path = shutil.which("time", path="/usr/bin:/bin") or shutil.which("gtime")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if "GNU" in done.stdout + done.stderr else None


GNU_TIME = _gnu_time()


def _time_figure(path: Path) -> int | None:
    """The child's max RSS (KiB) that GNU time wrote, its last line; None if unreadable."""
    try:
        return int(path.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def vm_hwm_kib(pid: int) -> int | None:
    """A running process's own peak RSS (VmHWM, KiB) from /proc; None where there is none."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for text in status:
                if text.startswith("VmHWM:"):
                    return int(text.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


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


def _play(procs: Processes, proc: Any, v: Variant, started: float) -> tuple[float, int, int | None]:
    """Write the script's lines, wait for each awaited answer; then read stdout to its end.

    Returns the time to the last answer, wait4's peak and the child's own (VmHWM at that answer).
    """
    assert v.script is not None
    lines = Lines(proc.stdout.fileno())
    deadline = time.monotonic() + START_TIMEOUT
    answer: dict[str, Any] = {}
    for messages, wait_for in v.script:
        write_all(proc.stdin.fileno(), b"".join(map(line, messages)))
        if wait_for is not None:
            answer = _answer(procs, lines, v, wait_for, deadline)
    elapsed = time.perf_counter() - started
    own = vm_hwm_kib(proc.pid)
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
    return elapsed, usage.ru_maxrss, own


def _answer(procs: Processes, lines: Lines, v: Variant, wait_for: int, deadline: float) -> dict[str, Any]:
    try:
        answer = lines.response(wait_for, deadline)
    except (TimeoutError, EOFError) as exc:
        raise BenchError(f"{v.label}: {exc} (log: {procs.log_dir / (v.key + '.log')})") from exc
    if "error" in answer:
        raise BenchError(f"{v.label}: error answer {json.dumps(answer)[:300]}")
    return answer
