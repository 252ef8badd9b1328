"""The fast start is a contract, kept by tests rather than by reviewers' memory.

A host waits for the answer to `initialize` before its assistant can use the
server, and importing the MCP SDK takes most of a second. pd-mcp answers from a
recording while the SDK still imports (see `pd_mcp.handshake` and
`pd_mcp.stdio`), which only works while the modules on that early path import
nothing heavy. These tests fail as soon as one of them does: a heavy import
added at the top of `cli.py`, say, or an early answer that waits for the SDK.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

PYTHON = sys.executable
# What the early path must not load: the SDK and everything it stands on.
HEAVY = ("mcp", "mcp_types", "anyio", "httpx", "httpcore", "pydantic", "pydantic_core", "starlette", "rich")
# Every module that runs before the SDK is imported when `pd-mcp` serves stdio.
EARLY = ("pd_mcp", "pd_mcp.cli", "pd_mcp.stdio", "pd_mcp.handshake", "pd_mcp.logs", "pd_mcp.exit_codes")

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "guard", "version": "1"},
    },
}


def _imported(lines: str) -> list[str]:
    """Module names from `python -X importtime` output, in the order their imports finished."""
    names = []
    for line in lines.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.append(name)
    return names


def _heavy(names: list[str]) -> list[str]:
    return sorted({n for n in names if n.split(".")[0] in HEAVY})


def test_the_early_modules_import_nothing_heavy() -> None:
    code = f"import sys\nimport {', '.join(EARLY)}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert _heavy(done.stdout.splitlines()) == []


def test_check_with_an_empty_environment_does_not_import_httpx() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_"))}
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "pd_mcp", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0  # nothing is configured
    assert "POWERDRILL_PROJECT_API_KEY" in done.stdout + done.stderr
    names = _imported(done.stderr)
    assert names, "no -X importtime output"
    assert [n for n in names if n.split(".")[0] in ("httpx", "httpcore")] == []


def test_the_early_initialize_answer_leaves_before_the_sdk_is_imported(tmp_path: Path) -> None:
    """The proof is the order of bytes in one pipe that carries both stdout and stderr.

    With stdout and stderr on the same pipe, `-X importtime` lines (written to
    stderr as each import finishes) and the JSON-RPC answer (written to stdout)
    arrive in the order they were written. The answer to `initialize` must come
    before the line that says the `mcp` package finished importing.
    """
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "POWERDRILL_API_URL": "http://127.0.0.1:9/api"}
    # A first start without a recording answers through the SDK and records the handshake.
    subprocess.run(
        [PYTHON, "-m", "pd_mcp"],
        input=(json.dumps(INITIALIZE) + "\n").encode(),
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert (tmp_path / "pd-mcp" / "handshake.json").is_file()

    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [PYTHON, "-X", "importtime", "-m", "pd_mcp"],
        stdin=subprocess.PIPE,
        stdout=write_fd,
        stderr=write_fd,
        env=env,
    )
    os.close(write_fd)
    merged = b""
    try:
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        proc.stdin.flush()
        proc.stdin.close()  # the server finishes and exits at end of input
        with os.fdopen(read_fd, "rb") as stream:
            merged = stream.read()
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = merged.decode(errors="replace")
    answers = [i for i, line in enumerate(text.splitlines()) if line.startswith('{"jsonrpc"')]
    assert len(answers) == 1, text[-3000:]
    mcp_done = [
        i
        for i, line in enumerate(text.splitlines())
        if line.startswith("import time:") and line.rsplit("|", 1)[1].strip() == "mcp"
    ]
    assert mcp_done, "the SDK was never imported: the test proves nothing"
    assert answers[0] < mcp_done[0], "initialize was answered only after the SDK had been imported"
