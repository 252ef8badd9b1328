"""What pd-mcp answers for a stdin line the SDK cannot take as a JSON-RPC message.

Why: the SDK drops such a line (it logs it at debug level), so a host that sent a
malformed request waits for an answer that never comes, with nothing on either side
saying why. JSON-RPC 2.0 says what to answer instead: -32700 with id null for a line
that is not JSON, -32600 for one that is not a request object, by its id when one can
be read and with id null otherwise. A response or a valid notification is never
answered (answering a response could start two peers answering each other's errors).
A whitespace-only line is skipped before it gets here, as the SDK's own transport
effectively does. Batches (a JSON array) left MCP in 2025-06-18 and the SDK refuses
them: one -32600 with id null.

Also the excerpt a log line may show of such a line: short, the API key removed in
every encoding before it is cut, and what is left of a key cut in two masked.

Pure functions on bytes, no SDK: the stdio pump calls them for each line the SDK refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pd_mcp import messages
from pd_mcp.scrub import MIN_LENGTH, REDACTED, scrub

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
EXCERPT_CHARS = 40
# Nesting this deep is refused unread (the SDK's parser stops at about 200; Python's recursion limit
# would fall at a depth that depends on the stack).
MAX_NESTING = 200
# A run this long of characters a key can be made of is masked in an excerpt, whatever it is.
LONG_RUN = 16
_RUN = re.compile(rf"[A-Za-z0-9_\-+=]{{{LONG_RUN},}}")
_KINDS = {bool: "true or false", int: "a number", float: "a number", str: "a string", type(None): "null"}


@dataclass(frozen=True)
class Refusal:
    """The JSON-RPC error to send for a line: its code, the id to answer (None: id null) and text."""

    code: int
    id: str | int | None
    message: str
    reason: str  # a few words for the log line


def of_unreadable(line: bytes) -> Refusal | None:
    """The refusal for a line the SDK could not validate; None when it must not be answered."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return _parse_error(messages.WIRE_NOT_UTF8, "not UTF-8")
    if _too_deep(text):
        return _parse_error(messages.WIRE_TOO_DEEP, "nested too deeply")
    try:
        value = json.loads(text)
    except RecursionError:  # not expected below MAX_NESTING; whatever the stack, never a crash
        return _parse_error(messages.WIRE_TOO_DEEP, "nested too deeply")
    except ValueError as exc:
        if text.startswith("\ufeff"):
            return _parse_error(messages.WIRE_BYTE_ORDER_MARK, "a byte-order mark")
        if isinstance(exc, json.JSONDecodeError) and _ends_inside(exc, text):
            return _parse_error(messages.WIRE_CUT_SHORT, "cut short")
        return _parse_error(messages.WIRE_NOT_JSON, "not JSON")
    if isinstance(value, list):
        return _invalid(None, messages.WIRE_BATCH, "an array")
    if not isinstance(value, dict):
        kind = _KINDS.get(type(value), "not an object")
        return _invalid(None, messages.WIRE_NOT_OBJECT.format(kind=kind), kind)
    return _of_object(value)


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest MAX_NESTING deep (outside strings): decided here, not by
    where Python's recursion limit falls on the current stack."""
    if text.count("[") + text.count("{") < MAX_NESTING:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth >= MAX_NESTING:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _ends_inside(exc: json.JSONDecodeError, text: str) -> bool:
    """Whether the JSON was fine as far as it went: the line ended inside a value or a string."""
    return exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip())


def _of_object(value: dict[str, Any]) -> Refusal | None:
    if "method" not in value and ("result" in value or "error" in value):
        return None  # a (malformed) response: never answered
    ident = value.get("id")
    usable = "id" in value and _usable_id(ident)
    if "method" in value and usable:  # a request after all: answered by its id, so the host stops waiting
        return _invalid(ident, messages.INVALID_REQUEST_MESSAGE, "malformed request")
    if value.get("jsonrpc") != "2.0":
        return _invalid(None, messages.WIRE_VERSION, "no jsonrpc 2.0")
    if not isinstance(value.get("method"), str):
        return _invalid(None, messages.WIRE_NO_METHOD, "no string method")
    if "id" in value and not usable:
        return bad_id()
    return _invalid(None, messages.WIRE_PARAMS, "params not an object")


def bad_id() -> Refusal:
    """For a line with an id that is neither a string nor an integer (the SDK reads it as a notification)."""
    return _invalid(None, messages.WIRE_BAD_ID, "id not a string or integer")


def carries_id(line: bytes) -> bool:
    """Whether a line the SDK read as a notification has an `id` member all the same (`null`,
    `1.5`, `true`: not a notification for JSON-RPC, and not an MCP request either)."""
    if b"id" not in line and b"\\u" not in line:  # cheap: most notifications are not looked at twice
        return False
    try:
        value = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "id" in value


def _usable_id(ident: Any) -> bool:
    return not isinstance(ident, bool) and isinstance(ident, str | int)


def _parse_error(message: str, reason: str) -> Refusal:
    return Refusal(PARSE_ERROR, None, message, reason)


def _invalid(ident: str | int | None, message: str, reason: str) -> Refusal:
    return Refusal(INVALID_REQUEST, ident, message, reason)


def excerpt(line: bytes, secret: str) -> str:
    """At most EXCERPT_CHARS of the line's start, printable and without the key.

    The key is removed from the whole line before it is cut (so a cut cannot split
    it), a line that starts with the key's end or ends with its start (a key split
    across lines) has that part removed too, and any long run of key-like characters
    in what is left is masked; anything not printable ASCII is escaped.
    """
    text = line.decode("utf-8", errors="replace").strip()
    if len(secret) >= MIN_LENGTH:
        text = _without_key_parts(scrub(text, secret), secret)
    short = _RUN.sub(lambda run: f"<{len(run.group())} chars>", text[:EXCERPT_CHARS])
    more = "..." if len(text) > EXCERPT_CHARS else ""
    return ascii(short)[1:-1] + more


def _without_key_parts(text: str, secret: str) -> str:
    for size in range(min(len(secret), len(text)), MIN_LENGTH - 1, -1):
        if text.endswith(secret[:size]):
            text = text[:-size] + REDACTED
            break
    for size in range(min(len(secret), len(text)), MIN_LENGTH - 1, -1):
        if text.startswith(secret[-size:]):
            text = REDACTED + text[size:]
            break
    return text
