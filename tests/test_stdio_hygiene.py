"""stdio hygiene: the installed `pd-mcp`, driven with raw JSON-RPC lines, as a host drives it.

Every byte on stdout must be newline-delimited JSON-RPC 2.0, whatever happens: an
unreachable or faulty upstream, a malformed line, bad arguments, Python warnings raised
inside the server (and a library's stray print), warnings turned into errors, the
handshake answered early from a recording or by the SDK. Each request gets exactly one
response. When stdin closes while a call is in flight, its response is still written, and
the process then exits promptly with status 0.

Each server is a subprocess with its own XDG_CACHE_HOME (where it records its handshake),
pointed at a loopback address: a sandbox in this process or a port that refuses connections.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, SandboxOptions, running_sandbox

pytestmark = pytest.mark.process

PD_MCP = str(Path(sys.executable).parent / "pd-mcp")
LIMIT = 60.0  # no session here should come near this; it only bounds a hung process
# "Exits promptly" after its last answer: the lingering this guards against lasted minutes
# (up to 910 s). Ten servers start and stop at once in this module, so on a loaded 2-core
# machine the teardown alone has taken 4-5 s; the bound leaves room for that.
PROMPT_EXIT = 10.0


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    if not Path(PD_MCP).exists():
        pytest.fail(f"the pd-mcp command is not installed next to {sys.executable}")


def rpc(id_: int | None, method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        message["id"] = id_
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode() + b"\n"


HANDSHAKE = [
    rpc(
        1,
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "hygiene-test", "version": "1"},
        },
    ),
    rpc(None, "notifications/initialized"),
    rpc(2, "tools/list", {}),
]


def call(id_: int, tool: str, **arguments: Any) -> bytes:
    return rpc(id_, "tools/call", {"name": tool, "arguments": arguments})


@dataclass
class Session:
    code: int
    stdout: bytes
    stderr: str
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (arrival, message)
    stdin_closed: float = 0.0
    exited: float = 0.0

    def responses(self) -> dict[Any, dict[str, Any]]:
        return {m["id"]: m for _, m in self.lines if "id" in m and ("result" in m or "error" in m)}

    def arrival(self, id_: Any) -> float:
        return next(t for t, m in self.lines if m.get("id") == id_ and ("result" in m or "error" in m))


def environment(url: str, cache_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_", "PD_SANDBOX_"))}
    env.pop("PYTHONWARNINGS", None)
    env.update(
        POWERDRILL_USER_ID=SANDBOX_USER_ID,
        POWERDRILL_PROJECT_API_KEY=SANDBOX_API_KEY,
        POWERDRILL_API_URL=url,
        XDG_CACHE_HOME=str(cache_home),
    )
    env.update(extra)
    return env


def run_session(
    env: dict[str, str], messages: list[bytes], *, args: tuple[str, ...] = (), pause: float = 0.0
) -> Session:
    """Write `messages` (pausing `pause` s before the last), close stdin, read until exit."""
    process = subprocess.Popen(
        [PD_MCP, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stdin and process.stdout and process.stderr
    raw: list[bytes] = []
    lines: list[tuple[float, bytes]] = []
    errors: list[bytes] = []

    def read_out() -> None:
        assert process.stdout
        for line in process.stdout:
            raw.append(line)
            lines.append((time.monotonic(), line))

    def read_err() -> None:
        assert process.stderr
        errors.append(process.stderr.read())

    readers = [threading.Thread(target=read_out), threading.Thread(target=read_err)]
    for reader in readers:
        reader.start()
    try:
        _write_all(process.stdin, messages, pause)
        closed = time.monotonic()
        code = process.wait(timeout=LIMIT)
        exited = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(10)
    stdout = b"".join(raw)
    session = Session(
        code, stdout, b"".join(errors).decode(errors="replace"), stdin_closed=closed, exited=exited
    )
    for t, line in lines:  # what parses; `assert_pure_json_rpc` judges every byte
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict):
                session.lines.append((t, message))
    return session


def _write_all(stdin: Any, messages: list[bytes], pause: float) -> None:
    """Write `messages`, pausing `pause` s before the last, then close stdin."""
    for n, message in enumerate(messages):
        if pause and n == len(messages) - 1:
            time.sleep(pause)
        stdin.write(message)
        stdin.flush()
    stdin.close()


def assert_pure_json_rpc(session: Session) -> None:
    """Every byte of stdout: lines ending in a newline, each one JSON-RPC 2.0 object."""
    data = session.stdout
    assert not data or data.endswith(b"\n"), data[-200:]
    for line in data.split(b"\n")[:-1]:
        try:
            message = json.loads(line)
        except ValueError:
            pytest.fail(f"not JSON on stdout: {line[:300]!r}\nstderr:\n{session.stderr[-2000:]}")
        assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", line[:300]
        assert ("id" in message and ("result" in message or "error" in message)) or "method" in message, line
        assert b"\r" not in line


def assert_answered_once(session: Session, ids: list[Any]) -> None:
    answered = Counter(m["id"] for _, m in session.lines if "id" in m and ("result" in m or "error" in m))
    assert {i: answered[i] for i in ids} == dict.fromkeys(ids, 1), (answered, session.stderr[-2000:])
    assert set(answered) <= set(ids) | {None}, answered


def tool_text(response: dict[str, Any]) -> str:
    return "\n".join(c.get("text", "") for c in response["result"]["content"])


def failing_calls() -> list[bytes]:
    return [
        call(3, "get_dataset_status", dataset_id="ds-ready"),
        call(4, "wait_for_dataset_sync", dataset_id="ds-ready", timeout_seconds=1),
        b"this is not JSON\n",
        rpc(5, "ping"),
        call(6, "get_dataset_status", dataset_id="a/b", extra=1),
        call(7, "get_dataset_status"),
        rpc(8, "no/such/method", {}),
    ]


def check_failing_session(session: Session) -> None:
    assert session.code == 0, session.stderr[-2000:]
    responses = session.responses()
    assert_answered_once(session, [1, 2, 3, 4, 5, 6, 7, 8])
    assert {t["name"] for t in responses[2]["result"]["tools"]} >= {
        "get_dataset_status",
        "wait_for_dataset_sync",
    }
    for id_ in (3, 4):
        assert responses[id_]["result"]["isError"] is True
        text = tool_text(responses[id_])
        assert "reach" in text and "Traceback" not in text, text
    for id_ in (6, 7):
        assert responses[id_]["result"]["isError"] is True
        assert "Traceback" not in tool_text(responses[id_])
    assert "error" in responses[8]
    # The malformed line got a JSON-RPC parse error (id null) or nothing; never raw text.
    assert all(m.get("id") is not None or "error" in m for _, m in session.lines if "method" not in m)


FAULTY = SandboxOptions(rate_limit=0, seed=11, error_rate=0.25, drop_rate=0.25, malformed_rate=0.25)
FAULTY_DATASETS = ["ds-ready", "ds-partial", "ds-failed", "ds-large", "ds-empty", "ds-forbidden", "nope"]
FAILING_IDS = [1, 2, 3, 4, 5, 6, 7, 8]


def faulty_calls() -> list[bytes]:
    messages = HANDSHAKE + [
        call(10 + n, "get_dataset_status", dataset_id=d) for n, d in enumerate(FAULTY_DATASETS)
    ]
    return [*messages, call(30, "wait_for_dataset_sync", dataset_id="ds-sync-1", timeout_seconds=3)]


IN_FLIGHT = [*HANDSHAKE, call(3, "wait_for_dataset_sync", dataset_id="ds-stuck", timeout_seconds=2)]
NOTIFICATION = rpc(None, "notifications/progress", {"progressToken": "x", "progress": 1})


@dataclass
class Sessions:
    by_name: dict[str, Session]
    faulty_faults: list[str]
    stuck_polls: int
    recorded: bool


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Sessions:
    """Every server session of this module, run at once (they mostly wait on the network)."""
    warm_home = tmp_path_factory.mktemp("xdg-warm")
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    refused = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with running_sandbox(FAULTY) as faulty, running_sandbox(SandboxOptions(rate_limit=0)) as clean:
            # A first session records the handshake; "warm" is then answered early from it.
            run_session(environment(refused, warm_home), HANDSHAKE)
            recorded = (warm_home / "pd-mcp" / "handshake.json").exists()

            def home() -> Path:
                return tmp_path_factory.mktemp("xdg")

            failing = HANDSHAKE + failing_calls()
            jobs: dict[str, tuple[dict[str, str], list[bytes], float]] = {
                "cold": (environment(refused, home()), failing, 0.0),
                "warm": (environment(refused, warm_home), failing, 0.0),
                "faulty": (environment(faulty.url, home()), faulty_calls(), 0.0),
                "warnings": (
                    environment(
                        refused, home(), PYTHONWARNINGS="always", PYTHONDEVMODE="1", PYTHONPATH=str(site)
                    ),
                    failing,
                    0.0,
                ),
                "error::DeprecationWarning": (
                    environment(refused, home(), PYTHONWARNINGS="error::DeprecationWarning"),
                    failing,
                    0.0,
                ),
                "error": (environment(refused, home(), PYTHONWARNINGS="error"), failing, 0.0),
                "dev-mode": (environment(refused, home(), PYTHONDEVMODE="1"), HANDSHAKE[:2], 0.0),
                # Warm: no handshake recording runs, so the exit measures the drain alone.
                "in-flight": (environment(clean.url, warm_home), IN_FLIGHT, 0.0),
                "in-flight-later": (environment(clean.url, warm_home), [*IN_FLIGHT, NOTIFICATION], 0.5),
                "in-flight-cold": (environment(clean.url, home()), IN_FLIGHT, 0.0),
            }
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                futures = {
                    name: pool.submit(run_session, env, messages, pause=pause)
                    for name, (env, messages, pause) in jobs.items()
                }
                by_name = {name: future.result() for name, future in futures.items()}
            faults = [r.fault for r in faulty.sandbox.requests if r.fault]
            polls = sum(1 for r in clean.sandbox.requests if r.dataset_id == "ds-stuck")
    finally:
        sock.close()
    return Sessions(by_name, faults, polls, recorded)


@pytest.mark.parametrize("name", ["cold", "warm"])
def test_stdout_is_only_json_rpc_when_the_upstream_is_unreachable(name: str, sessions: Sessions) -> None:
    """Cold: no recorded handshake (the SDK answers it). Warm: answered early from the recording."""
    if name == "warm":
        assert sessions.recorded, "the first session did not record the handshake"
    session = sessions.by_name[name]
    assert_pure_json_rpc(session)
    check_failing_session(session)


def test_stdout_is_only_json_rpc_with_a_faulty_upstream(sessions: Sessions) -> None:
    session = sessions.by_name["faulty"]
    assert_pure_json_rpc(session)
    assert session.code == 0, session.stderr[-2000:]
    ids = [1, 2, *range(10, 10 + len(FAULTY_DATASETS)), 30]
    assert_answered_once(session, ids)
    responses = session.responses()
    for id_ in ids[2:]:
        result = responses[id_]["result"]
        assert "Traceback" not in tool_text(responses[id_])
        assert result["isError"] or result["structuredContent"]["verdict"], result
    assert sessions.faulty_faults, "no fault was injected"


SITECUSTOMIZE = """\
import sys, warnings
warnings.warn("hygiene test: a warning while the server starts", UserWarning)
import pd_mcp.client as _client
_attempt = _client.PowerdrillClient._attempt
async def _noisy_attempt(self, *args, **kwargs):
    warnings.warn("hygiene test: a library's deprecation warning mid-call", DeprecationWarning)
    print("hygiene test: a library's stray print mid-call")
    sys.stdout.write("hygiene test: a stray write to sys.stdout\\n")
    return await _attempt(self, *args, **kwargs)
_client.PowerdrillClient._attempt = _noisy_attempt
"""


def test_warnings_and_stray_prints_inside_the_server_stay_off_stdout(sessions: Sessions) -> None:
    """PYTHONWARNINGS=always, dev mode, and a sitecustomize that warns at start and in every call."""
    session = sessions.by_name["warnings"]
    assert_pure_json_rpc(session)
    check_failing_session(session)
    # The warnings and prints really happened, and went to stderr.
    assert "a warning while the server starts" in session.stderr
    assert "deprecation warning mid-call" in session.stderr
    assert "stray print mid-call" in session.stderr and "stray write to sys.stdout" in session.stderr


def crashes_in(stderr: str) -> list[str]:
    """The exception line of every traceback in `stderr` (`Exception ignored` ones included)."""
    found = []
    for block in stderr.split("Traceback (most recent call last):")[1:]:
        lines = block.splitlines()[1:]
        found.append(next((line for line in lines if line and not line[0].isspace()), "?"))
    return found


@pytest.mark.parametrize("name", ["error::DeprecationWarning", "error"])
def test_warnings_as_errors_do_not_break_the_server_or_stdout(name: str, sessions: Sessions) -> None:
    """`-W error::DeprecationWarning` (and all warnings as errors): the server starts and serves."""
    session = sessions.by_name[name]
    assert_pure_json_rpc(session)
    check_failing_session(session)
    # No crash from a warning turned error. (Unclosed resources at exit are reported, as
    # ignored ResourceWarnings, by the test below.)
    crashes = [c for c in crashes_in(session.stderr) if not c.startswith("ResourceWarning")]
    assert crashes == [], session.stderr[-3000:]


def test_the_server_exits_without_leaking_its_stdin_reader(sessions: Sessions) -> None:
    session = sessions.by_name["dev-mode"]
    assert_pure_json_rpc(session)
    assert session.code == 0
    assert "unclosed file <_io.BufferedReader" not in session.stderr, session.stderr[-2000:]


def test_a_call_in_flight_when_stdin_closes_is_answered_before_a_clean_exit(sessions: Sessions) -> None:
    """A 2 s wait on ds-stuck is sent last; stdin closes right after it."""
    session = sessions.by_name["in-flight"]
    assert_pure_json_rpc(session)
    assert session.code == 0, session.stderr[-2000:]
    assert_answered_once(session, [1, 2, 3])
    result = session.responses()[3]["result"]
    assert result["isError"] is False, result
    report = result["structuredContent"]
    assert report["timed_out"] is True and report["verdict"] == "syncing" and report["polls"] >= 2
    assert sessions.stuck_polls >= 2
    answered = session.arrival(3)
    print(
        f"\nresponse {answered - session.stdin_closed:.2f} s after stdin closed; "
        f"exit {session.exited - answered:.2f} s after the response"
    )
    assert answered > session.stdin_closed  # it really was in flight when stdin closed
    assert session.exited - answered < PROMPT_EXIT  # then the process exits promptly


@pytest.mark.parametrize("name", ["in-flight-later", "in-flight-cold"])
def test_a_call_in_flight_is_answered_when_stdin_closes_later_or_on_a_cold_start(
    name: str, sessions: Sessions
) -> None:
    """The wait is already running (0.5 s in) when the host closes stdin; or the server starts cold.

    Cold (no handshake recording yet), the exit may also wait for the recording to be written,
    which the server bounds at 3 s (`pd_mcp.stdio.RECORD_GRACE`).
    """
    session = sessions.by_name[name]
    assert_pure_json_rpc(session)
    assert session.code == 0, session.stderr[-2000:]
    assert_answered_once(session, [1, 2, 3])
    assert session.responses()[3]["result"]["structuredContent"]["timed_out"] is True
    assert session.arrival(3) > session.stdin_closed
    grace = 0.0 if name == "in-flight-later" else 3.0  # cold: the recording may be written first
    assert session.exited - session.arrival(3) < PROMPT_EXIT + grace
