"""Lines the SDK cannot take: the JSON-RPC error each gets, and the log excerpt that never shows the key.

The rules (pure, on bytes), then the stdio pump in process: every such line is answered once (or,
for a response, not at all), nothing but valid messages reaches the SDK, and the next request does.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp_types import JSONRPCError, JSONRPCRequest, jsonrpc_message_adapter
from support import CANARY_KEY

from pd_mcp import messages, refusals, stdio
from pd_mcp.refusals import INVALID_REQUEST, PARSE_ERROR

INIT = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}'


@pytest.mark.parametrize(
    ("line", "code", "ident", "message"),
    [
        (b"garbage", PARSE_ERROR, None, messages.WIRE_NOT_JSON),
        (b'{"jsonrpc":"2.0","id":1,"met', PARSE_ERROR, None, messages.WIRE_CUT_SHORT),
        (b"{", PARSE_ERROR, None, messages.WIRE_CUT_SHORT),
        (b'{"id": 1} trailing', PARSE_ERROR, None, messages.WIRE_NOT_JSON),
        (b'{"jsonrpc":"2.0","id":"\xff","method":"ping"}', PARSE_ERROR, None, messages.WIRE_NOT_UTF8),
        (b"\xef\xbb\xbf" + INIT, PARSE_ERROR, None, messages.WIRE_BYTE_ORDER_MARK),
        (b"[" * 5000 + b"]" * 5000, PARSE_ERROR, None, messages.WIRE_TOO_DEEP),
        (b"42", INVALID_REQUEST, None, "Invalid request: not a JSON-RPC request object: a number"),
        (b'"ping"', INVALID_REQUEST, None, "Invalid request: not a JSON-RPC request object: a string"),
        (b"null", INVALID_REQUEST, None, "Invalid request: not a JSON-RPC request object: null"),
        (b"[" + INIT + b"]", INVALID_REQUEST, None, messages.WIRE_BATCH),
        (b"[]", INVALID_REQUEST, None, messages.WIRE_BATCH),
        (b'{"foo": "boo"}', INVALID_REQUEST, None, messages.WIRE_VERSION),
        (b'{"jsonrpc":"2.0","method":1,"params":"bar"}', INVALID_REQUEST, None, messages.WIRE_NO_METHOD),
        (b'{"jsonrpc":"2.0","method":"x","params":[1]}', INVALID_REQUEST, None, messages.WIRE_PARAMS),
        (b'{"jsonrpc":"2.0","id":[1],"method":"x","params":7}', INVALID_REQUEST, None, messages.WIRE_BAD_ID),
        (b'{"jsonrpc":"2.0","id":7}', INVALID_REQUEST, None, messages.WIRE_NO_METHOD),
        # A request with a usable id is refused by that id (the round before this one).
        (
            b'{"jsonrpc":"2.0","id":7,"method":"x","params":[1]}',
            INVALID_REQUEST,
            7,
            messages.INVALID_REQUEST_MESSAGE,
        ),
        (
            b'{"jsonrpc":"1.0","id":"a","method":"ping"}',
            INVALID_REQUEST,
            "a",
            messages.INVALID_REQUEST_MESSAGE,
        ),
    ],
)
def test_each_unreadable_line_gets_the_json_rpc_error_for_it(
    line: bytes, code: int, ident: Any, message: str
) -> None:
    with pytest.raises(ValueError):  # the SDK indeed cannot read it
        jsonrpc_message_adapter.validate_json(line, by_name=False)
    refusal = refusals.of_unreadable(line)
    assert refusal is not None
    assert (refusal.code, refusal.id, refusal.message) == (code, ident, message)


@pytest.mark.parametrize(
    "line", [b'{"jsonrpc":"2.0","id":5,"result":3}', b'{"error":{}}', b'{"result":1,"id":"x"}']
)
def test_a_malformed_response_is_never_answered(line: bytes) -> None:
    assert refusals.of_unreadable(line) is None


@pytest.mark.parametrize(
    ("line", "carries"),
    [
        (b'{"jsonrpc":"2.0","id":null,"method":"tools/call"}', True),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', True),
        (b'{"jsonrpc":"2.0","\\u0069d":true,"method":"ping"}', True),
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', False),
        (b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}', False),
    ],
)
def test_a_notification_with_an_id_member_is_told_apart(line: bytes, carries: bool) -> None:
    """The SDK reads `"id": null` (or 1.5, or true) as a notification and would run it unanswered."""
    assert type(jsonrpc_message_adapter.validate_json(line, by_name=False)).__name__ == "JSONRPCNotification"
    assert refusals.carries_id(line) is carries


def test_the_excerpt_is_short_printable_and_without_the_key() -> None:
    line = b'{"params":{"key":"' + CANARY_KEY.encode() + b'"}, "junk": "\x00\x1b[31m\xff' + b"x" * 500
    text = refusals.excerpt(line, CANARY_KEY)
    assert CANARY_KEY not in text and len(text) <= 4 * refusals.EXCERPT_CHARS
    assert text.isprintable() and text.isascii()
    assert refusals.excerpt(b"  hello  \n", CANARY_KEY) == "hello"


@settings(max_examples=300, deadline=None, database=None)
@given(
    key=st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=16, max_size=48),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    cut=st.integers(0, 200),
)
def test_no_part_of_the_key_longer_than_7_characters_is_ever_in_an_excerpt(
    key: str, before: str, after: str, cut: int
) -> None:
    """Not even when the line is cut inside the key (a message split across lines, a truncated line)."""
    full = (before + key + after).encode()
    for line in (full, full[:cut], full[cut:]):
        text = refusals.excerpt(line, key)
        parts = {key[i : i + 8] for i in range(len(key) - 7)}
        leaked = [p for p in parts if p in text and p not in before + after]
        assert not leaked, (text, key)


@settings(max_examples=400, deadline=None, database=None)
@given(line=st.binary(max_size=60).filter(lambda b: b"\n" not in b) | st.text(max_size=40).map(str.encode))
def test_any_line_the_sdk_refuses_gets_at_most_one_error_with_a_json_rpc_code(line: bytes) -> None:
    try:
        jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError:
        refusal = refusals.of_unreadable(line)
    else:
        return
    if refusal is None:
        return
    assert refusal.code in (PARSE_ERROR, INVALID_REQUEST)
    wire = JSONRPCError(
        jsonrpc="2.0", id=refusal.id, error={"code": refusal.code, "message": refusal.message}
    )
    assert "\n" not in wire.model_dump_json(by_alias=True, exclude_unset=True)
    if refusal.id is not None:  # only a request's own id, never one made up
        assert json.loads(line)["id"] == refusal.id


# --- the stdio pump, in process -------------------------------------------------------------------


class _Lines:
    """A stand-in for `stdio.Wire` as `_pump_in` uses it: the lines read, then the end of input."""

    def __init__(self, lines: list[bytes], answered: dict[Any, Any] | None = None) -> None:
        self._lines = [*lines, stdio._EOF]
        self.answered = answered or {}

    async def next_line(self) -> Any:
        return self._lines.pop(0)


async def _pump(lines: list[bytes], answered: dict[Any, Any] | None = None) -> tuple[list[Any], list[Any]]:
    """What `_pump_in` hands the SDK and what it answers itself, for `lines`."""
    in_send, in_receive = anyio.create_memory_object_stream[Any](100)
    out_send, out_receive = anyio.create_memory_object_stream[Any](100)
    await stdio._pump_in(_Lines(lines, answered), in_send, out_send, _NoOpen())  # type: ignore[arg-type]
    out_send.close()
    to_sdk = [item.message async for item in in_receive]
    answers = [
        json.loads(item.message.model_dump_json(by_alias=True, exclude_unset=True))
        async for item in out_receive
    ]
    return to_sdk, answers


class _NoOpen(stdio._OpenRequests):
    """Open requests as `_pump_in` notes them; never waited for here (no SDK answers them)."""

    async def drained(self) -> None:
        return None


JUNK = [
    b"garbage",
    b"42",
    b"[" + INIT + b"]",
    b'{"jsonrpc":"2.0","method":"x","params":[1]}',
    b'{"result":{}}',
]


async def test_the_pump_answers_junk_itself_and_hands_the_sdk_only_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
    with caplog.at_level(logging.WARNING, "pd_mcp.stdio"):
        to_sdk, answers = await _pump([INIT, *JUNK, b'{"jsonrpc":"2.0","id":null,"method":"ping"}', tools])
    assert [m.id for m in to_sdk if isinstance(m, JSONRPCRequest)] == [1, 2]
    assert len(to_sdk) == 2
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(None, -32700)] + [(None, -32600)] * 4
    assert all(set(a) == {"jsonrpc", "id", "error"} for a in answers)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(JUNK) + 1  # one each, the response too (logged, not answered)


async def test_an_id_answered_early_gets_no_second_answer() -> None:
    _, answers = await _pump([b'{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}'], answered={1: {}})
    assert answers == []


async def test_the_log_never_shows_the_key_and_a_flood_goes_quiet(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", CANARY_KEY)
    lines = [b'{"key": "' + CANARY_KEY[:n].encode() for n in range(4, 40)]
    with caplog.at_level(logging.DEBUG, "pd_mcp.stdio"):
        _, answers = await _pump(lines)
    assert len(answers) == len(lines)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert CANARY_KEY[:8] not in logged
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == stdio._Refuser.LOUD + 1  # the last one says the rest go to debug level


def test_nesting_is_measured_outside_strings_and_refused_from_max_nesting_on() -> None:
    deep = refusals.MAX_NESTING
    assert refusals.of_unreadable(b"[" * deep + b"]" * deep).message == messages.WIRE_TOO_DEEP  # type: ignore[union-attr]
    shallow = b"[" * (deep - 1) + b"]" * (deep - 1)
    assert refusals.of_unreadable(shallow).message == messages.WIRE_BATCH  # type: ignore[union-attr]
    in_strings = json.dumps(["[{" * deep + '\\"', '\\"[[[', "]]"]).encode()  # brackets, quotes in strings
    assert refusals.of_unreadable(in_strings).message == messages.WIRE_BATCH  # type: ignore[union-attr]
