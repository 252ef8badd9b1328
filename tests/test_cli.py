"""`pd-mcp status`, `wait` and `check` through the installed entry point, against the sandbox.

Every command runs as a subprocess of `.venv/bin/pd-mcp` (the console script
next to this interpreter) with pipes for stdout and stderr, so what is tested
is what a shell or a CI job gets: exit codes, `--json` equal to the tool's
`structuredContent` (the tool is called in-process against the same sandbox),
plain lines without escape codes, and sentences instead of tracebacks. The
sandbox's valid key is a canary: it must never appear in any output.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support import CANARY_KEY, free_port, make_config

ROOT = Path(__file__).resolve().parent.parent
PD_MCP = Path(sys.executable).parent / ("pd-mcp.exe" if sys.platform == "win32" else "pd-mcp")
HAVE_SANDBOX = (ROOT / "pd_mcp" / "sandbox").is_dir()

pytestmark = [
    pytest.mark.skipif(not HAVE_SANDBOX, reason="the sandbox has not landed yet"),
    pytest.mark.process,
]

WRONG_KEY = "pdk-WRONG-cli-0f9e8d7c6b"
USER_ID = "cli-user"
SYNC_SECONDS = 1.0  # ds-syncing and ds-partial finish this long after first asked
ANSI = re.compile(r"\x1b[\[\]()#;?]*[0-9;]*[A-Za-z]|\x1b")
RUN_TIMEOUT = 60  # no subprocess may outlive this


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def both(self) -> str:
        return self.out + self.err


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from pd_mcp.sandbox import SandboxOptions, running_sandbox

    options = SandboxOptions(user_id=USER_ID, api_key=CANARY_KEY, sync_seconds=SYNC_SECONDS, rate_limit=0)
    with running_sandbox(options) as sb:
        yield sb


def clean_environment() -> dict[str, str]:
    """The test process's environment without anything that configures pd-mcp, the sandbox or colour."""
    dropped = ("POWERDRILL_", "PD_MCP_", "PD_SANDBOX_")
    colour = {"FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "PY_COLORS"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped) and k not in colour}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def configured(sb: Any, **changes: str | None) -> dict[str, str]:
    env = clean_environment()
    env.update(POWERDRILL_API_URL=sb.url, POWERDRILL_USER_ID=USER_ID, POWERDRILL_PROJECT_API_KEY=CANARY_KEY)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(*args: str, env: Mapping[str, str]) -> Result:
    """Run the installed `pd-mcp` with pipes (so not a terminal), bounded in time."""
    started = time.monotonic()
    done = subprocess.run(
        [str(PD_MCP), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_TIMEOUT,
        check=False,
    )
    result = Result(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    for leak in (CANARY_KEY, WRONG_KEY):
        assert leak not in result.both, f"the API key leaked into the output of {args}"
    assert "Traceback" not in result.both, result.err
    return result


async def tool_result(sb: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The structured content of a tool called in-process against the same sandbox."""
    from mcp import Client

    from pd_mcp.server import Runtime, build_server

    config = make_config(base_url=sb.url, user_id=USER_ID)
    runtime = Runtime(config=config)
    try:
        async with Client(build_server(runtime)) as client:
            result = await client.call_tool(name, arguments)
    finally:
        await runtime.aclose()
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def test_the_entry_point_is_installed() -> None:
    assert PD_MCP.is_file(), f"{PD_MCP} missing: install the project into this environment"


# --- exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "code", "verdict"),
    [
        ("ds-ready", 0, "ready"),
        ("ds-failed", 1, "failed"),
        ("ds-large", 1, "partially_failed"),
        ("ds-empty", 1, "empty"),
        ("ds-stuck", 2, "syncing"),
    ],
)
def test_status_exit_codes(sandbox: Any, dataset: str, code: int, verdict: str) -> None:
    result = run("status", dataset, env=configured(sandbox))
    assert result.code == code, result.both
    assert result.err == ""
    assert result.out.startswith(f"Dataset {dataset} ")
    shown = {"ready": "is ready", "failed": "cannot be analysed", "partially_failed": "only partly usable"}
    assert shown.get(verdict, "") in result.out.splitlines()[0]
    assert "simulated" in result.out.lower()


def test_status_of_a_syncing_dataset_suggests_waiting(sandbox: Any) -> None:
    result = run("status", "ds-sync-600", env=configured(sandbox))
    assert result.code == 2, result.both
    assert "pd-mcp wait ds-sync-600" in result.out


@pytest.mark.parametrize(
    ("dataset", "code", "verdict"),
    [("ds-ready", 0, "ready"), ("ds-failed", 1, "failed"), ("ds-empty", 1, "empty"), ("ds-partial", 1, None)],
)
def test_wait_exit_codes_when_syncing_is_over(
    sandbox: Any, dataset: str, code: int, verdict: str | None
) -> None:
    result = run("wait", dataset, "--timeout", "20", "--json", env=configured(sandbox))
    assert result.code == code, result.both
    report = json.loads(result.out)
    assert report["timed_out"] is False and report["synching_count"] == 0
    assert report["verdict"] == (verdict or "partially_failed")
    if dataset == "ds-partial":
        assert {s["name"] for s in report["failed_sources"]} == {"broken-export.csv", "scan.pdf"}


def test_wait_follows_a_dataset_until_it_is_ready(sandbox: Any) -> None:
    result = run("wait", "ds-sync-2", "--timeout", "30", env=configured(sandbox))
    assert result.code == 0, result.both
    assert result.out.startswith("Dataset ds-sync-2 is ready")
    assert "synchronizing is over" in result.out
    assert result.seconds < 20


def test_wait_that_times_out_exits_2_at_its_deadline(sandbox: Any) -> None:
    result = run("wait", "ds-stuck", "--timeout", "1", env=configured(sandbox))
    assert result.code == 2, result.both
    assert "still synchronizing" in result.out and "deadline" in result.out
    assert "pd-mcp wait ds-stuck" in result.out  # what to run next
    assert result.seconds < 15  # the deadline plus the interpreter's start-up, with room for a slow CI


@pytest.mark.parametrize("command", [["status"], ["wait", "--timeout", "5"]])
def test_unknown_dataset_exits_3(sandbox: Any, command: list[str]) -> None:
    result = run(command[0], "ds-no-such-dataset", *command[1:], env=configured(sandbox))
    assert result.code == 3, result.both
    assert result.out == ""
    first = next(line for line in result.err.splitlines() if line.startswith("pd-mcp:"))  # after "Waiting…"
    assert first.startswith("pd-mcp: could not") and "ds-no-such-dataset" in first and "not found" in first
    assert "Check the dataset id" in result.err
    assert "trace id" in result.err


@pytest.mark.parametrize("command", ["status", "wait"])
def test_invalid_dataset_id_exits_3_without_a_request(sandbox: Any, command: str) -> None:
    before = len(sandbox.sandbox.requests)
    result = run(command, "../etc/passwd", env=configured(sandbox))
    assert result.code == 3, result.both
    assert result.err.startswith("pd-mcp: dataset_id is not valid (it contains '/')")
    assert len(sandbox.sandbox.requests) == before


@pytest.mark.parametrize("command", [["status", "ds-ready"], ["wait", "ds-ready"]])
def test_missing_configuration_exits_3_and_names_the_variables(command: list[str]) -> None:
    result = run(*command, env=clean_environment())
    assert result.code == 3, result.both
    assert "POWERDRILL_USER_ID is not set" in result.err
    assert "POWERDRILL_PROJECT_API_KEY is not set" in result.err
    assert "pd-mcp check" in result.err


def test_a_refused_key_exits_3_and_says_so(sandbox: Any) -> None:
    result = run("status", "ds-ready", env=configured(sandbox, POWERDRILL_PROJECT_API_KEY=WRONG_KEY))
    assert result.code == 3, result.both
    assert "refused" in result.err and "POWERDRILL_PROJECT_API_KEY" in result.err


# --- --json is the tool's structured content ------------------------------------------------


@pytest.mark.parametrize("dataset", ["ds-ready", "ds-failed", "ds-large", "ds-empty", "ds-stuck"])
async def test_status_json_equals_the_tools_structured_content(sandbox: Any, dataset: str) -> None:
    cli = json.loads(run("status", dataset, "--json", env=configured(sandbox)).out)
    tool = await tool_result(sandbox, "get_dataset_status", {"dataset_id": dataset})
    assert set(cli) == set(tool)
    # Each check has its own time and its own Powerdrill trace id; everything else is equal.
    for field in ("checked_at", "trace_id"):
        assert cli.pop(field) and tool.pop(field)
    assert cli == tool


async def test_wait_json_equals_the_tools_structured_content(sandbox: Any) -> None:
    cli = json.loads(run("wait", "ds-failed", "--timeout", "5", "--json", env=configured(sandbox)).out)
    tool = await tool_result(
        sandbox, "wait_for_dataset_sync", {"dataset_id": "ds-failed", "timeout_seconds": 5}
    )
    assert set(cli) == set(tool)
    for field in ("checked_at", "trace_id", "waited_seconds"):
        assert field in cli and field in tool
        cli.pop(field), tool.pop(field)
    assert cli == tool
    assert cli["polls"] == 1 and cli["timed_out"] is False


def test_json_is_the_only_thing_on_stdout(sandbox: Any) -> None:
    result = run("status", "ds-partial", "--json", env=configured(sandbox))
    report = json.loads(result.out)  # the whole of stdout is one JSON document
    assert report["dataset_id"] == "ds-partial"
    assert datetime.fromisoformat(report["checked_at"].replace("Z", "+00:00"))
    assert re.fullmatch(r"sbx-[0-9a-f]+", report["trace_id"])


# --- not a terminal: plain lines ------------------------------------------------------------


def test_wait_prints_plain_progress_lines_when_not_a_terminal(sandbox: Any) -> None:
    result = run("wait", "ds-sync-3", "--timeout", "30", env=configured(sandbox))
    assert result.code == 0, result.both
    assert not ANSI.search(result.out) and not ANSI.search(result.err), "escape codes in piped output"
    assert "\r" not in result.err
    lines = result.err.splitlines()
    assert lines[0].endswith("Waiting for up to 30 s for dataset ds-sync-3 to finish synchronizing.")
    assert all(re.match(r"\[\s*\d+\.\d+s\] ", line) for line in lines), lines
    assert any("still synchronizing" in line for line in lines)
    assert "is ready" in lines[-1]
    assert len(lines) == len(set(line.split("] ", 1)[1] for line in lines)), "a line repeated"


def test_status_and_check_print_no_escape_codes_when_not_a_terminal(sandbox: Any) -> None:
    for args in (("status", "ds-large"), ("check",)):
        result = run(*args, env=configured(sandbox))
        assert not ANSI.search(result.both), args


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_wait_draws_a_bar_on_a_terminal_and_keeps_stdout_plain(sandbox: Any) -> None:
    import pty

    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = configured(sandbox, TERM="xterm-256color")
    try:
        done = subprocess.run(
            [str(PD_MCP), "wait", "ds-sync-2", "--timeout", "30", "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(5)
        os.close(leader)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert done.returncode == 0
    assert ANSI.search(terminal), "no live bar on the terminal"
    assert "ds-sync-2" in terminal
    assert json.loads(done.stdout)["verdict"] == "ready"  # stdout stays machine-readable
    assert CANARY_KEY not in terminal


# --- check ----------------------------------------------------------------------------------


def test_check_passes_with_working_credentials(sandbox: Any) -> None:
    result = run("check", env=configured(sandbox))
    assert result.code == 0, result.both
    assert "accepted the user id and the API key" in result.out
    assert "ready to use" in result.out
    assert result.err == ""


def test_check_names_every_missing_variable() -> None:
    result = run("check", env=clean_environment())
    assert result.code != 0
    assert "POWERDRILL_USER_ID is not set" in result.err
    assert "POWERDRILL_PROJECT_API_KEY is not set" in result.err
    assert "not usable" in result.err
    # It reads this shell, not the host's entry: say so, or a user with a working host is misled.
    assert "reads the environment of this terminal, not your MCP host's settings" in result.err


def test_check_names_only_the_variable_that_is_missing(sandbox: Any) -> None:
    result = run("check", env=configured(sandbox, POWERDRILL_PROJECT_API_KEY=None))
    assert result.code != 0
    assert "POWERDRILL_PROJECT_API_KEY is not set" in result.err
    assert "POWERDRILL_USER_ID is set" in result.out
    assert "POWERDRILL_USER_ID" not in result.err


def test_check_says_the_key_was_refused(sandbox: Any) -> None:
    result = run("check", env=configured(sandbox, POWERDRILL_PROJECT_API_KEY=WRONG_KEY))
    assert result.code != 0
    assert "refused the credentials" in result.err
    assert "POWERDRILL_PROJECT_API_KEY" in result.err
    assert "trace id" in result.err


def test_check_says_the_url_could_not_be_reached(sandbox: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    result = run("check", env=configured(sandbox, POWERDRILL_API_URL=url))
    assert result.code != 0
    assert f"Could not reach Powerdrill at {url}" in result.err
    assert "Check POWERDRILL_API_URL" in result.err


def test_check_notices_a_url_that_is_not_the_api(sandbox: Any) -> None:
    result = run("check", env=configured(sandbox, POWERDRILL_API_URL=sandbox.url + "/not-the-api"))
    assert result.code != 0
    assert "whatever the key" in result.err and "POWERDRILL_API_URL" in result.err


def test_check_reports_an_invalid_url_without_a_request(sandbox: Any) -> None:
    before = len(sandbox.sandbox.requests)
    result = run("check", env=configured(sandbox, POWERDRILL_API_URL="ftp://files.example/api"))
    assert result.code != 0
    assert "POWERDRILL_API_URL must be an http(s) URL" in result.err
    assert len(sandbox.sandbox.requests) == before


def test_check_notices_a_reference_the_host_did_not_expand(sandbox: Any) -> None:
    unexpanded = "${env:POWERDRILL_PROJECT_API_KEY}"
    result = run("check", env=configured(sandbox, POWERDRILL_PROJECT_API_KEY=unexpanded))
    assert result.code != 0
    assert unexpanded in result.err and "did not expand" in result.err


def test_check_reports_contradicting_version_settings(sandbox: Any) -> None:
    env = configured(sandbox, POWERDRILL_API_URL=sandbox.url + "/v2/team", POWERDRILL_API_VERSION="v1")
    result = run("check", env=env)
    assert result.code != 0
    assert "POWERDRILL_API_VERSION is v1 but POWERDRILL_API_URL ends in /v2/team" in result.err


def test_check_accepts_the_official_servers_url_form(sandbox: Any) -> None:
    result = run("check", env=configured(sandbox, POWERDRILL_API_URL=sandbox.url + "/v1/team"))
    assert result.code == 0, result.both
    assert "API v1" in result.out


# --- --sandbox, JSON errors, heartbeat, narrow bar, plurals ----------------------------------

MARK = "[simulated] "


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["status", "ds-ready"], 0),
        (["status", "ds-failed"], 1),
        (["wait", "ds-sync-1", "--timeout", "30"], 0),
    ],
)
def test_sandbox_flag_answers_in_one_terminal_and_marks_every_line(command: list[str], code: int) -> None:
    result = run(*command, "--sandbox", env=clean_environment())
    assert result.code == code, result.both
    assert lines_of(result.out) and lines_of(result.err if command[0] == "wait" else result.out)
    for line in lines_of(result.both):
        assert line.startswith(MARK), line


def test_check_with_the_sandbox_flag_passes_and_marks_every_line() -> None:
    result = run("check", "--sandbox", env=clean_environment())
    assert result.code == 0, result.both
    assert all(line.startswith(MARK) for line in lines_of(result.both)), result.both
    assert "accepted" in result.both


def test_sandbox_flag_with_json_prints_plain_json_marked_simulated() -> None:
    result = run("status", "ds-ready", "--sandbox", "--json", env=clean_environment())
    assert result.code == 0
    report = json.loads(result.out)
    assert report["simulated"] is True and report["verdict"] == "ready"


@pytest.mark.parametrize("command", [["status"], ["wait", "--timeout", "5"]])
def test_json_failure_is_a_json_error_on_stdout_with_the_same_exit_code(
    sandbox: Any, command: list[str]
) -> None:
    result = run(*command, "ds-missing-xyz", "--json", env=configured(sandbox))
    assert result.code == 3
    answer = json.loads(result.out)
    assert answer["dataset_id"] == "ds-missing-xyz"
    assert answer["error"]["type"] == "DatasetNotFound" and answer["error"]["retryable"] is False
    assert answer["error"]["message"] and "trace_id" in answer["error"]
    assert "could not" in result.err  # the sentence for a person stays on stderr


def test_json_failure_without_configuration_or_with_a_bad_id_is_json_too() -> None:
    missing = run("status", "ds-ready", "--json", env=clean_environment())
    assert missing.code == 3 and json.loads(missing.out)["error"]["type"] == "ConfigError"
    bad = run("wait", "not a valid id!", "--json", env=clean_environment())
    assert bad.code == 3 and json.loads(bad.out)["error"]["type"] == "InvalidArgument"


def test_one_status_check_reads_right(sandbox: Any) -> None:
    result = run("wait", "ds-ready", "--timeout", "10", env=configured(sandbox))
    assert result.code == 0
    assert "1 status check:" in result.out and "1 status checks" not in result.out


def test_plural() -> None:
    from pd_mcp.commandline.output import plural

    assert [plural(n, "status check") for n in (0, 1, 2)] == [
        "0 status checks",
        "1 status check",
        "2 status checks",
    ]


def test_plain_lines_have_a_heartbeat_at_least_every_10_seconds() -> None:
    """A wait whose counts never change, with a request that hangs: the log still moves."""
    import io

    import anyio

    from pd_mcp.progress_view import TICK, PlainLines

    now = [0.0]
    stream = io.StringIO()
    lines = PlainLines("ds-stuck", 60, stream, clock=lambda: now[0])
    stamps = [0.0]
    changes = {3.0: (1, 4, "1 of 4 done."), 20.0: (1, 4, "1 of 4 done."), 41.0: (2, 4, "2 of 4 done.")}
    while now[0] < 60:
        now[0] = round(now[0] + TICK, 3)
        if now[0] in changes:
            anyio.run(lines.on_progress, *changes[now[0]])
        before = stream.getvalue().count("\n")
        lines.tick()
        if stream.getvalue().count("\n") > before or now[0] in changes:
            stamps.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) < 10, gaps
    text = stream.getvalue()
    assert "Still waiting: 1 of 4 data sources settled." in text
    assert text.count("1 of 4 done.") == 1  # an unchanged report is not repeated, the heartbeat says it


def test_the_bar_is_readable_at_50_columns() -> None:
    import io

    from rich.console import Console
    from rich.progress import Progress

    from pd_mcp.progress_view import bar_columns

    for width, dataset in (
        (50, "ds-a-rather-long-dataset-identifier-0123456789"),
        (50, "ds-sync-2"),
        (100, "ds-x"),
    ):
        console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
        progress = Progress(*bar_columns(dataset, 300, width, MARK), console=console)
        task = progress.add_task(dataset, total=8)
        progress.update(task, completed=3)
        console.print(progress.make_tasks_table(progress.tasks))
        (line,) = lines_of(console.file.getvalue())  # type: ignore[attr-defined]
        assert len(line) <= width, line
        assert "3/8" in line and line.strip().startswith(MARK.strip()), line
        assert dataset[:6] in line
