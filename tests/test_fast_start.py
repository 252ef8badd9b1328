"""The fast start is a contract, kept by a test rather than by reviewers' memory.

Why: `pd-mcp` over stdio answers the handshake from a recording while the SDK is
still importing, and that rests on the modules of the early path importing
nothing heavy at their top. One heavy import there makes the first answer an
order of magnitude slower and no functional test notices. Each check runs a
fresh interpreter, because this test process has long imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pd_mcp import handshake
from pd_mcp.sdk_internals import lowlevel
from pd_mcp.server import build_server

pytestmark = pytest.mark.process

# What `pd-mcp` over stdio imports before it can answer `initialize` from the recording.
EARLY_MODULES = ("pd_mcp", "pd_mcp.cli", "pd_mcp.stdio", "pd_mcp.handshake", "pd_mcp.logs")
HEAVY = ("mcp", "mcp_types", "anyio", "httpx", "pydantic", "pydantic_settings")
SDK_MODULE = "mcp.server.mcpserver"  # the SDK proper: its import log line means it is loaded
RUN_TIMEOUT = 60
# `python -m`/`-c` put the working directory first on sys.path: run them elsewhere, so they load
# the installed pd_mcp this test process imported (and whose build the recording fingerprints),
# not the source tree of a checkout.
NEUTRAL_DIR = Path(sys.executable).parent


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def _imported(line: str) -> str | None:
    """The module an `-X importtime` line reports (the line is written when its import ends)."""
    if not line.startswith("import time:") or "self [us]" in line:
        return None
    return line.rsplit("|", 1)[1].strip()


def _clean_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_", "PYTHON"))}
    return {**keep, **extra}


def test_the_early_modules_import_nothing_heavy() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {EARLY_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_clean_env(),
        cwd=NEUTRAL_DIR,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(json.loads(done.stdout))
    assert set(EARLY_MODULES) <= modules  # the imports happened: the check below can fail
    assert _heavy(modules) == []


def test_check_without_configuration_does_not_import_httpx(tmp_path: Path) -> None:
    """With nothing configured there is nothing to send, so the HTTP client stays unloaded."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pd_mcp", "check"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "POWERDRILL_PROJECT_API_KEY" in done.stdout + done.stderr
    modules = {m for m in map(_imported, done.stderr.splitlines()) if m}
    assert "pd_mcp.cli" in modules  # the import log is there
    assert sorted(m for m in modules if m.split(".")[0] in ("httpx", "httpcore")) == []


@pytest.fixture
async def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    recorded = await handshake.generate(lowlevel(build_server()))
    assert handshake.save(recorded)
    return recorded


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("serve", "--transport", "stdio"),
        ("serve", "--sandbox"),  # the sandbox host config (client_configs/*.sandbox.json)
        ("serve", "--stateless", "--sandbox"),  # a stdio form only the full parser recognizes
    ],
    ids=lambda args: " ".join(args) or "bare",
)
def test_the_first_initialize_answer_leaves_before_the_sdk_is_imported(
    recording: dict[str, Any], tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Order, not only content: stdout and stderr share one pipe, so their lines keep the order of writing.

    `-X importtime` writes a line on stderr as each import ends; the early answer
    goes to stdout. The answer must come before the line for the SDK, and the
    SDK's line must follow (the server does load it), so the test can fail.
    Every way of serving stdio gets this fast start, `serve --sandbox` included.
    """
    env = _clean_env(XDG_CACHE_HOME=str(tmp_path), POWERDRILL_API_URL="http://127.0.0.1:9/api")
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "pd_mcp", *args],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "h", "version": "1"},
        },
    }
    order: list[str] = []
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(initialize) + "\n").encode())
        proc.stdin.flush()
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("{"):
                answer = json.loads(line)
                assert answer["id"] == 1
                assert answer["result"] == recording["legacy"]["2025-11-25"]["initialize"]
                order.append("answer")
            elif _imported(line) == SDK_MODULE:
                order.append("sdk")
            if "answer" in order and "sdk" in order:
                break
    finally:
        proc.kill()
        proc.wait(10)
    assert order == ["answer", "sdk"]
