"""The machine a bench run measured: hardware, versions, the source commit and the load average.

Why: every figure is relative to this machine and its other work; the report opens with it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from common import HERE


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
