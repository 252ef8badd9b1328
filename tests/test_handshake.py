"""The fast start: early handshake answers equal the SDK's, each request is answered once, and
anything unexpected falls back to the SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pd_mcp import handshake
from pd_mcp.sdk_internals import lowlevel
from pd_mcp.server import build_server

PD_MCP = str(Path(sys.executable).with_name("pd-mcp"))
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "a-host", "version": "9.9"},
    "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "pd-mcp" / "handshake.json"


@pytest.fixture
async def manifest(cache: Path) -> dict[str, Any]:
    recorded = await handshake.generate(lowlevel(build_server()))
    assert handshake.save(recorded)
    return recorded


def _session(messages: list[dict[str, Any]], env: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """Run `pd-mcp`, write all messages, close stdin, return every stdout message and stderr."""
    lines = "".join(json.dumps(m) + "\n" for m in messages).encode()
    env = {**os.environ, **env, "POWERDRILL_API_URL": "http://127.0.0.1:9/api"}
    done = subprocess.run([PD_MCP], input=lines, capture_output=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return out, done.stderr.decode()


def _legacy(version: str = "2025-11-25") -> list[dict[str, Any]]:
    return [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {"roots": {}},
                "clientInfo": {"name": "h", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "get_dataset_status", "arguments": {"dataset_id": "a/b"}},
        },
        {"jsonrpc": "2.0", "id": 4, "method": "resources/templates/list"},
        {"jsonrpc": "2.0", "id": 5, "method": "prompts/list"},
    ]


def _modern() -> list[dict[str, Any]]:
    return [
        {"jsonrpc": "2.0", "id": "d", "method": "server/discover", "params": {"_meta": META}},
        {"jsonrpc": "2.0", "id": "t", "method": "tools/list", "params": {"_meta": META}},
        {
            "jsonrpc": "2.0",
            "id": "c",
            "method": "tools/call",
            "params": {"name": "get_dataset_status", "arguments": {"dataset_id": "a/b"}, "_meta": META},
        },
        {"jsonrpc": "2.0", "id": "r", "method": "resources/list", "params": {"_meta": META}},
    ]


def _by_id(messages: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    responses = [m for m in messages if "id" in m and "method" not in m]
    ids = [m["id"] for m in responses]
    assert len(ids) == len(set(ids)), f"a request was answered twice: {ids}"
    return {m["id"]: m for m in responses}


@pytest.mark.process
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_early_answers_equal_the_sdk_answers_and_each_request_is_answered_once(
    manifest: dict[str, Any], cache: Path, era: str
) -> None:
    messages = _legacy() if era == "legacy" else _modern()
    early, early_log = _session(messages, {"XDG_CACHE_HOME": str(cache.parents[1])})
    plain, _ = _session(messages, {"PD_MCP_PRELOAD": "0", "XDG_CACHE_HOME": str(cache.parents[1])})
    early_by_id, plain_by_id = _by_id(early), _by_id(plain)
    requested = {m["id"] for m in messages if "id" in m}
    assert set(early_by_id) == requested == set(plain_by_id)
    assert early_by_id == plain_by_id
    assert "differed" not in early_log
    for message in early:
        assert message["jsonrpc"] == "2.0"


@pytest.mark.process
async def test_the_handshake_is_answered_before_the_sdk_is_loaded(
    manifest: dict[str, Any], cache: Path
) -> None:
    """With a recording, the first answers do not wait for the SDK: the proof is the order of output.

    The SDK writes a log line when it handles the first request; with early answers the
    initialize and tools/list responses reach stdout although stdin is never closed and
    the server is killed as soon as they arrive.
    """
    env = {**os.environ, "XDG_CACHE_HOME": str(cache.parents[1])}
    proc = subprocess.Popen(
        [PD_MCP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        messages = _legacy()
        proc.stdin.write((json.dumps(messages[0]) + "\n").encode())
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())
        assert first["id"] == 1
        assert first["result"] == manifest["legacy"]["2025-11-25"]["initialize"]
        proc.stdin.write(b"".join((json.dumps(m) + "\n").encode() for m in messages[1:3]))
        proc.stdin.flush()
        second = json.loads(proc.stdout.readline())
        assert second["id"] == 2
        assert [t["name"] for t in second["result"]["tools"]] == [
            "get_dataset_status",
            "wait_for_dataset_sync",
        ]
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.process
async def test_without_a_recording_the_server_answers_normally_and_records_one(cache: Path) -> None:
    assert not cache.exists()
    out, _ = _session(_legacy(), {"XDG_CACHE_HOME": str(cache.parents[1])})
    assert set(_by_id(out)) == {1, 2, 3, 4, 5}
    recorded = handshake.load()
    assert recorded is not None
    assert recorded["legacy"]["2025-11-25"]["tools/list"] == _by_id(out)[2]["result"]


async def test_a_recording_from_another_build_is_ignored(manifest: dict[str, Any], cache: Path) -> None:
    stale = dict(manifest, fingerprint="another-build")
    cache.write_text(json.dumps(stale))
    assert handshake.load() is None


@pytest.mark.process
async def test_a_tampered_recording_is_caught_and_dropped(manifest: dict[str, Any], cache: Path) -> None:
    """If a recording ever disagrees with the SDK, the server says so and the next start records anew."""
    manifest["legacy"]["2025-11-25"]["tools/list"]["tools"][0]["description"] = "stale"
    handshake.save(manifest)
    out, log = _session(_legacy(), {"XDG_CACHE_HOME": str(cache.parents[1])})
    assert set(_by_id(out)) == {1, 2, 3, 4, 5}
    assert "differed" in log
    assert not cache.exists() or handshake.load() != manifest


# --- the pure rules -----------------------------------------------------------------------


def _init(version: str = "2025-11-25", **extra: Any) -> dict[str, Any]:
    params = {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "h", "version": "1"},
        **extra,
    }
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def test_rules_answer_the_legacy_handshake_in_order(manifest: dict[str, Any]) -> None:
    early = handshake.EarlyAnswers(manifest)
    assert early.answer(_init()) == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": manifest["legacy"]["2025-11-25"]["initialize"],
    }
    assert early.answer(TOOLS_LIST) is None  # not before notifications/initialized
    assert early.answer(INITIALIZED) is None
    answer = early.answer(dict(TOOLS_LIST, id=3))
    assert answer == {"jsonrpc": "2.0", "id": 3, "result": manifest["legacy"]["2025-11-25"]["tools/list"]}


@pytest.mark.parametrize(
    "first",
    [
        _init("1999-01-01"),  # a version the recording does not have
        _init(surprise=True),  # a parameter the recording did not see
        {"jsonrpc": "2.0", "id": 1, "method": "initialize"},  # no params
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}},  # not a handshake
    ],
)
def test_rules_leave_anything_unusual_to_the_sdk(manifest: dict[str, Any], first: dict[str, Any]) -> None:
    early = handshake.EarlyAnswers(manifest)
    assert early.answer(first) is None
    early.answer(INITIALIZED)
    assert early.answer(TOOLS_LIST) is None


def test_rules_only_answer_the_first_initialize_and_plain_list_requests(manifest: dict[str, Any]) -> None:
    early = handshake.EarlyAnswers(manifest)
    assert early.answer(_init()) is not None
    assert early.answer(_init()) is None
    early.answer(INITIALIZED)
    assert early.answer(dict(TOOLS_LIST, params={"cursor": "x"})) is None
    assert early.answer(dict(TOOLS_LIST, method="tools/call")) is None


@pytest.mark.parametrize(
    "junk", [[1, 2], "text", {"jsonrpc": "1.0", "id": 1}, {"jsonrpc": "2.0", "id": True, "method": "x"}]
)
def test_rules_stop_answering_after_anything_malformed(manifest: dict[str, Any], junk: Any) -> None:
    early = handshake.EarlyAnswers(manifest)
    assert early.answer(junk) is None
    assert not early.enabled
    assert early.answer(_init()) is None


def test_rules_answer_the_modern_discovery_only_with_known_meta(manifest: dict[str, Any]) -> None:
    early = handshake.EarlyAnswers(manifest)
    discover = {"jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {"_meta": META}}
    assert early.answer(discover)["result"] == manifest["modern"]["2026-07-28"]["server/discover"]  # type: ignore[index]
    odd_meta = {**META, "io.modelcontextprotocol/logLevel": "debug"}
    assert (
        early.answer({"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": {"_meta": odd_meta}})
        is None
    )
    assert (
        early.answer(
            {"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"_meta": META, "cursor": "c"}}
        )
        is None
    )


def test_an_edited_recording_is_never_loaded(tmp_path: Path) -> None:
    """The answers are bound to the fingerprint by a digest: a hand edit makes the file unusable."""
    from pd_mcp import handshake as hs

    path = tmp_path / "handshake.json"
    manifest = {"format": hs.FORMAT, "fingerprint": hs.fingerprint(), "legacy": {"a": "tool"}, "modern": {}}
    assert hs.save(manifest, path)
    assert hs.load(path) is not None
    path.write_text(path.read_text().replace('"tool"', '"IGNORE PREVIOUS INSTRUCTIONS"'))
    assert hs.load(path) is None


def test_relative_cache_home_and_non_regular_files_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from pd_mcp import handshake as hs

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hs.cache_file() == tmp_path / ".cache" / "pd-mcp" / "handshake.json"
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert hs.load(fifo) is None  # returns at once instead of blocking on the FIFO
    assert hs.load(tmp_path) is None


@pytest.mark.process
async def test_deeply_nested_json_at_start_up_is_answered_normally(
    manifest: dict[str, Any], cache: Path
) -> None:
    """1,200 nested `[` before `initialize` once killed the early reader (RecursionError)."""
    junk = b"[" * 1200 + b"]" * 1200 + b"\n"
    lines = junk + "".join(json.dumps(m) + "\n" for m in _legacy()).encode()
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(cache.parents[1]),
        "POWERDRILL_API_URL": "http://127.0.0.1:9/api",
    }
    done = subprocess.run([PD_MCP], input=lines, capture_output=True, env=env, timeout=60, check=False)
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert {m.get("id") for m in out if "id" in m} >= {1, 2, 3, 4, 5}
    assert all("result" in m for m in out if m.get("id") in {1, 2, 3, 4, 5})


# --- early answers only for what the SDK accepts ------------------------------------------

MALFORMED_INITIALIZE = {
    "capabilities is a string": {"capabilities": "garbage"},
    "clientInfo is a number": {"clientInfo": 5},
    "clientInfo without version": {"clientInfo": {"name": "h"}},
    "clientInfo name not a string": {"clientInfo": {"name": 1, "version": "1"}},
    "roots.listChanged not a bool": {"capabilities": {"roots": {"listChanged": "maybe"}}},
    "an icon without src": {"clientInfo": {"name": "h", "version": "1", "icons": [{}]}},
    "protocolVersion a number": {"protocolVersion": 20251125},
}
# Unusual but valid: unknown keys (ignored by the SDK), nulls for optional fields, icons.
ODD_BUT_VALID = {
    "capabilities": {
        "roots": {"listChanged": None},
        "experimental": {"x": {"y": [1, {"z": None}]}},
        "tasks": {"requests": {"sampling": {"createMessage": {}}}},
        "someday": [1, "two"],
    },
    "clientInfo": {
        "name": "h",
        "version": "1",
        "title": None,
        "icons": [{"src": "data:,", "theme": "dark", "sizes": ["any"], "future": True}],
        "future": {"a": 1},
    },
}


def _init_with(changes: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    message = _init()
    params = {**message["params"], **changes}
    if drop:
        params.pop(drop)
    return {**message, "params": params}


def _sdk_accepts(params: Any) -> bool:
    from mcp_types._types import InitializeRequestParams
    from pydantic import ValidationError

    try:
        InitializeRequestParams.model_validate(params, by_name=False)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("changes", MALFORMED_INITIALIZE.values(), ids=MALFORMED_INITIALIZE.keys())
def test_rules_leave_an_initialize_the_sdk_refuses_to_the_sdk(
    manifest: dict[str, Any], changes: dict[str, Any]
) -> None:
    message = _init_with(changes)
    assert not _sdk_accepts(message["params"])
    assert handshake.EarlyAnswers(manifest).answer(message) is None


@pytest.mark.parametrize("field", ["protocolVersion", "capabilities", "clientInfo"])
def test_rules_leave_an_initialize_missing_a_field_to_the_sdk(manifest: dict[str, Any], field: str) -> None:
    assert handshake.EarlyAnswers(manifest).answer(_init_with({}, drop=field)) is None


def test_rules_answer_an_odd_but_valid_initialize(manifest: dict[str, Any]) -> None:
    message = _init_with(ODD_BUT_VALID)
    assert _sdk_accepts(message["params"])
    assert handshake.EarlyAnswers(manifest).answer(message) is not None


def test_rules_leave_a_line_the_sdk_cannot_read_to_the_sdk(manifest: dict[str, Any]) -> None:
    """Python's json reads a lone surrogate escape; the SDK refuses the line as a parse error."""
    message = _init_with({"clientInfo": {"name": "\ud800", "version": "1"}})
    assert handshake.EarlyAnswers(manifest).answer(message) is None


def test_rules_answer_a_modern_request_only_with_the_required_envelope(manifest: dict[str, Any]) -> None:
    meta = {k: v for k, v in META.items() if not k.endswith("clientCapabilities")}
    discover = {"jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {"_meta": meta}}
    assert handshake.EarlyAnswers(manifest).answer(discover) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return good | _JSON


_ICON = st.fixed_dictionaries(
    {"src": _maybe(st.text(max_size=3))}, optional={"theme": _maybe(st.just("light"))}
)
_INFO = st.fixed_dictionaries(
    {"name": _maybe(st.text(max_size=3)), "version": _maybe(st.text(max_size=3))},
    optional={"title": _maybe(st.none()), "icons": _maybe(st.lists(_ICON, max_size=2))},
)
_CAPS = st.fixed_dictionaries(
    {},
    optional={
        "roots": _maybe(st.fixed_dictionaries({}, optional={"listChanged": _maybe(st.booleans())})),
        "sampling": _maybe(st.fixed_dictionaries({}, optional={"tools": _maybe(st.just({}))})),
        "experimental": _JSON,
        "other": _JSON,
    },
)
_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "protocolVersion": _maybe(st.sampled_from(handshake.LEGACY_VERSIONS)),
        "capabilities": _maybe(_CAPS),
        "clientInfo": _maybe(_INFO),
    },
)


@settings(max_examples=300, deadline=None, database=None)
@given(params=_PARAMS | _JSON)
def test_an_early_initialize_answer_is_only_ever_given_where_the_sdk_accepts(params: Any) -> None:
    from mcp_types import JSONRPCRequest, jsonrpc_message_adapter

    recording = {"legacy": {v: {"initialize": {"v": v}} for v in handshake.LEGACY_VERSIONS}, "modern": {}}
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    if handshake.EarlyAnswers(recording).answer(message) is not None:
        parsed = jsonrpc_message_adapter.validate_json(json.dumps(message), by_name=False)
        assert isinstance(parsed, JSONRPCRequest)
        assert _sdk_accepts(parsed.params)


def _sessions(inputs: list[list[dict[str, Any]]], env: dict[str, str]) -> list[list[dict[str, Any]]]:
    """Run one `pd-mcp` per input at once (stdin closed after writing); every stdout message of each."""
    full = {**os.environ, **env, "POWERDRILL_API_URL": "http://127.0.0.1:9/api"}
    procs = []
    for messages in inputs:
        proc = subprocess.Popen(
            [PD_MCP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full
        )
        assert proc.stdin is not None
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        proc.stdin.close()
        procs.append(proc)
    outputs = []
    for proc in procs:
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout.read()
        err = proc.stderr.read().decode()
        assert proc.wait(60) == 0, err[-2000:]
        assert "differed" not in err
        outputs.append([json.loads(line) for line in out.decode().splitlines()])
    return outputs


@pytest.mark.process
async def test_malformed_handshakes_get_the_sdks_answer_with_or_without_a_recording(
    manifest: dict[str, Any], cache: Path
) -> None:
    """With a recording, each initialize is answered exactly as without one (PD_MCP_PRELOAD=0):
    the SDK's -32602 for a malformed one, the recorded success for an odd but valid one."""
    cases = {
        "capabilities": _init_with({"capabilities": "garbage"}),
        "clientInfo": _init_with({"clientInfo": 5}),
        "no version": _init_with({}, drop="protocolVersion"),
        "odd but valid": _init_with(ODD_BUT_VALID),
    }
    inputs = [[first, INITIALIZED, TOOLS_LIST] for first in cases.values()]
    home = {"XDG_CACHE_HOME": str(cache.parents[1])}
    early = _sessions(inputs, home)
    plain = _sessions(inputs, {**home, "PD_MCP_PRELOAD": "0"})
    for name, with_recording, without in zip(cases, early, plain, strict=True):
        assert _by_id(with_recording) == _by_id(without), name
        first = _by_id(with_recording)[1]
        if name == "odd but valid":
            assert first["result"] == manifest["legacy"]["2025-11-25"]["initialize"]
        else:
            assert first["error"]["code"] == -32602, name
    assert handshake.load() == {**manifest, "digest": handshake.digest(manifest)}


# --- the era: the SDK's first request decides it, and so must the early path's ------------------

DISCOVER = {"jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {"_meta": META}}


@pytest.mark.parametrize(
    "first",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},  # no envelope: the SDK serves the 2025 handshake
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"progressToken": 1}}},
        _init("1999-01-01"),  # an initialize the recording cannot answer still opens a legacy connection
    ],
)
def test_rules_answer_no_modern_request_on_a_connection_a_legacy_request_opened(
    manifest: dict[str, Any], first: dict[str, Any]
) -> None:
    """The fuzz suite's 'early handshake answer differed': after a first request without the
    2026-07-28 envelope the SDK refuses every enveloped one (-32600); the early path answered it."""
    early = handshake.EarlyAnswers(manifest)
    assert early.answer(first) is None
    assert early.answer(DISCOVER) is None


def test_rules_keep_a_modern_connection_modern_after_an_initialize(manifest: dict[str, Any]) -> None:
    early = handshake.EarlyAnswers(manifest)
    assert early.answer(DISCOVER) is not None
    assert early.answer(_init()) is None  # the SDK refuses it on a modern connection
    early.answer(INITIALIZED)
    assert early.answer(TOOLS_LIST) is None
    assert early.answer(dict(DISCOVER, id=8)) is not None


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "line",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]},  # params not an object
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "result": {}},  # a key no request has
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"a": _nested(handshake.MAX_DEPTH)}},
    ],
)
def test_rules_stop_answering_at_a_request_the_sdk_might_not_take_as_one(
    manifest: dict[str, Any], line: dict[str, Any]
) -> None:
    """The SDK's first *validated* request decides the era: one it might refuse must not decide it."""
    early = handshake.EarlyAnswers(manifest)
    assert early.answer(line) is None
    assert not early.enabled


_ENVELOPES = st.sampled_from([None, {}, {"_meta": META}, {"_meta": {"progressToken": 1}}, {"cursor": "c"}])
_MESSAGE = st.one_of(
    st.sampled_from([_init(), _init("1999-01-01"), _init(surprise=True), INITIALIZED]),
    st.tuples(st.sampled_from([*handshake.MODERN_METHODS, "initialize", "ping"]), _ENVELOPES).map(
        lambda pair: {"jsonrpc": "2.0", "method": pair[0], **({} if pair[1] is None else {"params": pair[1]})}
    ),
)


async def _sdk_answers(messages: list[dict[str, Any]]) -> dict[Any, Any]:
    """The SDK's answers (by id) to `messages`, served in process exactly as stdio hands them over."""
    import anyio
    from mcp.shared.message import SessionMessage
    from mcp_types import jsonrpc_message_adapter

    server = lowlevel(build_server())
    to_server, server_in = anyio.create_memory_object_stream[Any](100)
    server_out, from_server = anyio.create_memory_object_stream[Any](100)
    answers: dict[Any, Any] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.run, server_in, server_out, server.create_initialization_options())
        for message in messages:
            await to_server.send(SessionMessage(jsonrpc_message_adapter.validate_python(message)))
        with anyio.fail_after(10):  # every request is answered (none is cancelled here)
            while len(answers) < sum("id" in m for m in messages):
                reply = await from_server.receive()
                wire = json.loads(reply.message.model_dump_json(by_alias=True, exclude_unset=True))
                answers[wire["id"]] = wire
        await to_server.aclose()
    return answers


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    import anyio

    return anyio.run(handshake.generate, lowlevel(build_server()))


@settings(max_examples=60, deadline=None, database=None)
@given(steps=st.lists(_MESSAGE, max_size=5))
def test_every_early_answer_equals_the_sdks_answer_in_any_session(
    recorded: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    import anyio

    messages = [
        dict(m, id=i) if "id" in m or m["method"] != "notifications/initialized" else m
        for i, m in enumerate(steps)
    ]
    early = handshake.EarlyAnswers(recorded)
    given_early = [a for a in map(early.answer, messages) if a is not None]
    if not given_early:
        return
    sdk = anyio.run(_sdk_answers, messages)
    for answer in given_early:
        assert sdk[answer["id"]] == answer
