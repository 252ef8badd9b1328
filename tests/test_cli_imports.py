"""The command line never loads the MCP SDK.

Why: importing the SDK costs more than everything else `pd-mcp status` does,
and scripts call the command line in loops. Each command runs as a real
subprocess (`python -X importtime -m pd_mcp ...`) against the sandbox, and the
interpreter's own import log on stderr says which modules it loaded: none may
be `mcp`, `mcp_types` or below them. The commands must also have done their job
(exit code and output), so a command that failed before importing anything
cannot pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from support import CANARY_KEY

pytestmark = pytest.mark.process

USER_ID = "imports-user"
SDK_PACKAGES = ("mcp", "mcp_types")
RUN_TIMEOUT = 60


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from pd_mcp.sandbox import SandboxOptions, running_sandbox

    options = SandboxOptions(user_id=USER_ID, api_key=CANARY_KEY, rate_limit=0)
    with running_sandbox(options) as sb:
        yield sb


def run_logging_imports(sb: Any, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `pd-mcp ARGS` with `-X importtime`; the result and the names of every module imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_", "PYTHON"))}
    env.update(POWERDRILL_API_URL=sb.url, POWERDRILL_USER_ID=USER_ID, POWERDRILL_PROJECT_API_KEY=CANARY_KEY)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pd_mcp", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    }
    assert "pd_mcp.cli" in modules, done.stderr[-2000:]  # the log is there: the check below can fail
    return done, modules


def sdk_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in SDK_PACKAGES)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("status", "ds-ready"), 0),
        (("status", "ds-ready", "--json"), 0),
        (("wait", "ds-ready", "--timeout", "5"), 0),
        (("wait", "ds-ready", "--timeout", "5", "--json"), 0),
        (("status", "ds-missing-x"), 3),
        (("check",), 0),
    ],
)
def test_the_command_line_does_not_import_the_mcp_sdk(sandbox: Any, args: tuple[str, ...], code: int) -> None:
    done, modules = run_logging_imports(sandbox, *args)
    assert done.returncode == code, done.stderr[-2000:]
    if "--json" in args:
        assert json.loads(done.stdout)["verdict"] == "ready"
    assert sdk_modules(modules) == [], f"pd-mcp {' '.join(args)} imported the MCP SDK"


def test_the_import_log_shows_the_sdk_when_it_is_loaded() -> None:
    """The same log, read the same way, names the SDK when the MCP server module is imported."""
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pd_mcp.server"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in probe.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "mcp" in sdk_modules(modules)


# What a check that succeeds at once never needs: the retry library (loaded only after a failed
# attempt), pydantic-settings (pd-mcp reads its few text variables itself), and httpx's own
# command-line tool with what it drags in (rich, click, pygments).
NOT_FOR_ONE_GOOD_ANSWER = ("tenacity", "pydantic_settings", "rich", "click", "pygments")


@pytest.mark.parametrize("args", [("status", "ds-ready"), ("status", "ds-ready", "--json")])
def test_a_status_that_succeeds_at_once_loads_nothing_it_does_not_use(
    sandbox: Any, args: tuple[str, ...]
) -> None:
    done, modules = run_logging_imports(sandbox, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = sorted(m for m in modules if m.split(".")[0] in NOT_FOR_ONE_GOOD_ANSWER)
    assert loaded == [], f"pd-mcp {' '.join(args)} imported {loaded}"


def test_httpx_command_line_tool_stays_importable_after_pd_mcp_loaded_httpx() -> None:
    """pd-mcp skips importing httpx's command-line tool; a later import of it still works."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import pd_mcp.client; assert 'httpx._main' not in sys.modules; "
            "import httpx, httpx._main; assert callable(httpx._main.main); print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", probe.stderr[-2000:]
