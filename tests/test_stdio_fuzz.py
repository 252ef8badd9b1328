"""Fuzzing the raw stdio wire: any sequence of JSON-RPC messages (and junk) to a real `pd-mcp`.

Properties, with and without a fast-start recording on disk: the process never dies (it
exits 0 once stdin closes), stdout carries only JSON, no request id is answered twice,
every request that was not cancelled is answered (one the SDK cannot read, `params` not an
object say, with JSON-RPC's -32600), and each junk line gets at most one answer, with id
null (-32700 for every one that is not JSON). With a recording, no early answer ever
differs from the SDK's (the recording would be deleted). Upstream is the built-in sandbox
(`pd-mcp serve --sandbox`), so nothing leaves the machine.

Each example runs a few sessions at once, one process each, to keep the test under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pd_mcp import handshake, refusals

pytestmark = pytest.mark.process

PD_MCP = str(Path(sys.executable).with_name("pd-mcp"))
SESSIONS_PER_EXAMPLE = 3
VERSIONS = [*handshake.LEGACY_VERSIONS, "1999-01-01"]
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
# No shrinking: each example costs a few process starts; a failing example is printed as found.
FUZZ = settings(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=5,
)
_GOOD_INIT = st.fixed_dictionaries(
    {
        "protocolVersion": st.sampled_from(VERSIONS),
        "capabilities": st.just({}) | st.just({"roots": {"listChanged": True}}),
        "clientInfo": st.just({"name": "fuzz", "version": "0"}),
    }
)
_DATASET = st.sampled_from(
    ["ds-ready", "ds-failed", "ds-empty", "ds-forbidden", "ds-internal-error", "a/b", ""]
)


def _tool_call() -> st.SearchStrategy[dict[str, Any]]:
    status = st.fixed_dictionaries(
        {"name": st.just("get_dataset_status"), "arguments": st.fixed_dictionaries({"dataset_id": _DATASET})}
    )
    wait = st.fixed_dictionaries(
        {
            "name": st.just("wait_for_dataset_sync"),
            "arguments": st.fixed_dictionaries(
                {"dataset_id": st.just("ds-ready"), "timeout_seconds": st.just(1)}
            ),
        }
    )
    odd = st.fixed_dictionaries({"name": st.text(max_size=5) | _JSON, "arguments": _JSON})
    return status | wait | odd


# A request as (method, params); the id is given when the session is put together.
_REQUEST = st.one_of(
    st.tuples(st.just("initialize"), _GOOD_INIT | _JSON),
    st.tuples(st.sampled_from(handshake.LIST_METHODS), st.none() | st.just({}) | _JSON),
    st.tuples(st.just("ping"), st.none()),
    st.tuples(st.just("tools/call"), _tool_call()),
    st.tuples(st.sampled_from(handshake.MODERN_METHODS), st.just({"_meta": META}) | _JSON),
    st.tuples(st.just("server/discover"), st.just({"_meta": META})),
    st.tuples(st.text(max_size=8), _JSON),
)
_JUNK = st.one_of(
    st.binary(max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 1500).map(lambda n: b"[" * n + b"]" * n),
    st.just(b'{"jsonrpc":"2.0","id":99999,"result":{}}'),
    st.just(b'[{"jsonrpc":"2.0","id":99998,"method":"ping"}]'),
)
# One step of a session: a request, a notification, a cancel of an earlier request, or junk.
_STEP = st.one_of(
    _REQUEST.map(lambda r: ("request", r)),
    st.just(("initialized", None)),
    st.integers(0, 20).map(lambda n: ("cancel", n)),
    _JUNK.map(lambda j: ("junk", j)),
)
_SESSION = st.tuples(st.booleans(), st.lists(_STEP, max_size=10), st.booleans())


def _lines(session: tuple[bool, list[Any], bool]) -> tuple[bytes, set[Any], set[Any], list[bytes]]:
    """The bytes to write, the ids of the requests sent, the ids a cancel named, the junk lines."""
    starts_well, steps, string_ids = session
    if starts_well:
        first = (
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "f", "version": "0"},
            },
        )
        steps = [("request", first), ("initialized", None), *steps]
    out: list[bytes] = []
    sent: list[Any] = []
    cancelled: set[Any] = set()
    junk: list[bytes] = []
    for kind, value in steps:
        if kind == "request":
            ident: Any = f"r{len(sent)}" if string_ids else len(sent) + 1
            method, params = value
            message = {"jsonrpc": "2.0", "id": ident, "method": method}
            if params is not None:
                message["params"] = params
            sent.append(ident)  # params not an object too: pd-mcp refuses it (-32600) by its id
            out.append(json.dumps(message).encode())
        elif kind == "initialized":
            out.append(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        elif kind == "cancel" and sent:
            target = sent[value % len(sent)]
            cancelled.add(target)
            notice = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": target}}
            out.append(json.dumps(notice).encode())
        elif kind == "junk":
            out.append(value)
            junk.append(value)
    return b"".join(line + b"\n" for line in out), set(sent), cancelled, junk


def _parse_errors(junk: list[bytes]) -> tuple[int, int]:
    """How many junk lines are surely not JSON, and how many nest so deep (MAX_NESTING brackets or
    more) that pd-mcp may refuse them unread as -32700."""
    sure = deep = 0
    for line in junk:
        if line.count(b"[") + line.count(b"{") >= refusals.MAX_NESTING:
            deep += 1
            continue
        try:
            json.loads(line.decode("utf-8"))
        except ValueError:
            sure += line.strip() != b""
    return sure, deep


def _check_null_answers(null: list[dict[str, Any]], junk: list[bytes]) -> None:
    """Each junk line gets zero or one answer, with id null; each that is not JSON gets -32700."""
    assert len(null) <= sum(line.strip() != b"" for line in junk), (null, junk)
    codes = [m["error"]["code"] for m in null]
    assert set(codes) <= {-32700, -32600}, null
    sure, deep = _parse_errors(junk)
    assert sure <= codes.count(-32700) <= sure + deep, (codes, junk)


def _run(sessions: list[tuple[bool, list[Any], bool]], env: dict[str, str]) -> None:
    """One `pd-mcp serve --sandbox` per session, all at once; check each against the properties."""
    full = {**os.environ, "PD_MCP_LOG_LEVEL": "WARNING", **env}
    started = []
    for session in sessions:
        data, sent, cancelled, junk = _lines(session)
        proc = subprocess.Popen(
            [PD_MCP, "serve", "--sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full,
        )
        started.append((proc, data, sent, cancelled, junk))
    for proc, data, sent, cancelled, junk in started:
        out, err = proc.communicate(data, timeout=60)
        log = err.decode(errors="replace")
        assert proc.returncode == 0, log[-3000:]
        assert "differed" not in log, log[-3000:]  # an early answer the SDK disagreed with
        answered: list[Any] = []
        null: list[dict[str, Any]] = []
        # Split at "\n" only, as the framing does: `splitlines` would also split at U+0085 or
        # U+2028 inside a string (a fuzzed method name the SDK's error echoes).
        for line in filter(None, out.decode().split("\n")):
            message = json.loads(line)  # stdout carries only JSON-RPC
            assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", line
            if "method" not in message and message.get("id") is not None:
                answered.append(message["id"])
            elif "method" not in message:
                null.append(message)
        _check_null_answers(null, junk)
        assert len(answered) == len(set(answered)), f"answered twice: {answered}"
        assert sent - cancelled <= set(answered), (sent - cancelled - set(answered), data[-2000:])


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A cache directory holding the recording `pd-mcp serve --sandbox` makes of itself."""
    cache = tmp_path_factory.mktemp("fuzz-cache")
    env = {"XDG_CACHE_HOME": str(cache)}
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "f", "version": "0"},
        },
    }
    subprocess.run(
        [PD_MCP, "serve", "--sandbox"],
        input=(json.dumps(hello) + "\n").encode(),
        capture_output=True,
        env={**os.environ, **env},
        timeout=60,
        check=True,
    )
    assert handshake.load(cache / "pd-mcp" / "handshake.json") is not None
    return env


@settings(FUZZ, max_examples=6)
@given(sessions=st.lists(_SESSION, min_size=SESSIONS_PER_EXAMPLE, max_size=SESSIONS_PER_EXAMPLE))
def test_with_a_recording_the_server_never_dies_and_answers_each_request_once(
    recording: dict[str, str], sessions: list[Any]
) -> None:
    _run(sessions, recording)
    assert handshake.load(Path(recording["XDG_CACHE_HOME"]) / "pd-mcp" / "handshake.json") is not None


@settings(FUZZ, max_examples=3)
@given(sessions=st.lists(_SESSION, min_size=SESSIONS_PER_EXAMPLE, max_size=SESSIONS_PER_EXAMPLE))
def test_without_a_recording_the_server_never_dies_and_answers_each_request_once(sessions: list[Any]) -> None:
    _run(sessions, {"PD_MCP_PRELOAD": "0"})


@pytest.mark.parametrize("preload", ["1", "0"])
def test_a_request_the_sdk_cannot_read_is_refused_by_its_id_not_dropped(
    recording: dict[str, str], preload: str
) -> None:
    """The SDK drops a line it cannot validate, so a host would wait for ever; pd-mcp answers -32600."""
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": ["not", "an", "object"]},
        {"jsonrpc": "1.0", "id": "x", "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    ]
    data = "".join(json.dumps(m) + "\n" for m in lines).encode()
    env = {**os.environ, **recording, "PD_MCP_PRELOAD": preload}
    done = subprocess.run(
        [PD_MCP, "serve", "--sandbox"], input=data, capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    answers = {m["id"]: m for m in map(json.loads, done.stdout.decode().splitlines())}
    assert answers[1]["error"]["code"] == -32600 and answers["x"]["error"]["code"] == -32600
    assert "object params" in answers[1]["error"]["message"]
    assert set(answers) == {1, "x", 2}


def test_a_byte_order_mark_before_initialize_gets_no_early_answer(recording: dict[str, str]) -> None:
    """Python's json skips a BOM in bytes, the SDK's parser refuses the line: no early success either."""
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "f", "version": "0"},
        },
    }
    data = b"\xef\xbb\xbf" + json.dumps(hello).encode() + b"\n"
    outputs = []
    for preload in ("1", "0"):
        env = {**os.environ, **recording, "PD_MCP_PRELOAD": preload}
        done = subprocess.run(
            [PD_MCP, "serve", "--sandbox"], input=data, capture_output=True, env=env, timeout=60
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]


HELLO = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "f", "version": "0"},
    },
}


@pytest.mark.parametrize("preload", ["1", "0"])
def test_lines_without_a_usable_id_get_an_error_with_id_null_and_the_server_goes_on(
    recording: dict[str, str], preload: str
) -> None:
    """Garbage, a bare number, an array, an object without id, a request with a null id: each gets
    one JSON-RPC error with id null (the SDK dropped them all, silently); a malformed response, a
    notification and a blank line get none; tools/list after them is answered as usual."""
    from support import CANARY_KEY

    lines = [
        json.dumps(HELLO).encode(),
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
        b"garbage \xff " + CANARY_KEY.encode(),
        b"42",
        b'[{"jsonrpc":"2.0","id":9,"method":"ping"}]',
        b'{"jsonrpc":"2.0","method":"tools/list","params":[1]}',
        b'{"jsonrpc":"2.0","id":null,"method":"tools/list"}',
        b'{"jsonrpc":"2.0","result":{}}',
        b"   ",
        b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
    ]
    env = {**os.environ, **recording, "PD_MCP_PRELOAD": preload, "POWERDRILL_PROJECT_API_KEY": CANARY_KEY}
    done = subprocess.run(
        [PD_MCP, "serve", "--sandbox"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=env,
        timeout=60,
    )
    log = done.stderr.decode(errors="replace")
    assert done.returncode == 0, log[-2000:]
    out = [json.loads(line) for line in filter(None, done.stdout.decode().split("\n"))]  # only JSON
    assert all(set(m) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}) for m in out), out
    null = [m for m in out if m["id"] is None]
    assert null == [
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "Parse error: not JSON, the line is not UTF-8"},
        },
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Invalid request: not a JSON-RPC request object: a number"},
        },
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": -32600,
                "message": "Invalid request: not a JSON-RPC request object: an array (MCP has no batches; "
                "send each message on its own line)",
            },
        },
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Invalid request: params must be an object"},
        },
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Invalid request: the id must be a string or an integer"},
        },
    ]
    by_id = {m["id"]: m for m in out if m["id"] is not None}
    assert set(by_id) == {1, 2} and len(out) == 7
    assert {t["name"] for t in by_id[2]["result"]["tools"]} == {"get_dataset_status", "wait_for_dataset_sync"}
    assert CANARY_KEY not in log and CANARY_KEY[:8] not in log
    assert log.count("WARNING pd_mcp.stdio: stdin line") == 6, log  # five refused, one ignored
