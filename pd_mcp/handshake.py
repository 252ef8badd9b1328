"""The start-up handshake, recorded from the real server, and the rules for answering from it.

Why: a host waits for `initialize` and `tools/list` before the assistant can use
a server, and importing the `mcp` SDK takes about a second. The answers to
those requests are fixed for a given build of pd-mcp, so they are recorded
once from the real server (`generate`, which runs it on memory streams and
serializes exactly as the stdio transport does) and cached on disk. On the
next start `EarlyAnswers` can answer them from the recording while the SDK
still imports; the SDK then receives every message anyway, and its own
answers to those requests are compared with the recorded ones and dropped.

Only stdlib imports at module level: this runs before the SDK is loaded.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

FORMAT = 1
LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LIST_METHODS = ("tools/list", "resources/list", "resources/templates/list", "prompts/list")
MODERN_METHODS = ("server/discover", *LIST_METHODS)
_META = "io.modelcontextprotocol/"
# `_meta` keys a modern request may carry and still get a recorded answer.
KNOWN_META = {f"{_META}protocolVersion", f"{_META}clientInfo", f"{_META}clientCapabilities"}


# --- where the recording lives, and whether it still matches this build ---------------


def cache_file() -> Path | None:
    """The recording's path in the user's cache directory, or None when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is invalid and ignored
        home = os.path.expanduser("~")
        base = os.path.join(home, ".cache") if os.path.isabs(home) else ""
    return Path(base, "pd-mcp", "handshake.json") if base else None


def fingerprint() -> str:
    """What the answers depend on: this interpreter, pd_mcp's sources and the installed SDK.

    Cheap (a few dozen `stat` calls, no imports), so it runs before every early answer.
    """
    parts = [sys.version, sys.executable]
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")):
        stat = path.stat()
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for name in sorted(names):
            if name.endswith(".dist-info") and name.lower().startswith(("mcp-", "mcp_types-", "pd_mcp-")):
                parts.append(f"{entry}/{name}")
    return str(hash_text("\n".join(parts)))


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(path: Path | None = None) -> dict[str, Any] | None:
    """The recording if it exists, is well formed and matches this build; else None."""
    path = path or cache_file()
    if path is None:
        return None
    try:
        data = json.loads(_read_regular(path))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("fingerprint") != fingerprint():
        return None
    if not isinstance(data.get("legacy"), dict) or not isinstance(data.get("modern"), dict):
        return None
    if data.get("digest") != digest(data):
        return None
    return data


def digest(manifest: dict[str, Any]) -> str:
    """A hash binding the recorded answers to the fingerprint: an edited answer no longer matches."""
    answers = {"fingerprint": manifest.get("fingerprint"), "legacy": manifest.get("legacy")}
    answers["modern"] = manifest.get("modern")
    return hash_text(json.dumps(answers, sort_keys=True))


def _read_regular(path: Path) -> str:
    """The file's text, without blocking: a FIFO, device or directory is an OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        return handle.read().decode("utf-8")


def save(manifest: dict[str, Any], path: Path | None = None) -> bool:
    """Write the recording atomically; False when the cache directory cannot be written."""
    path = path or cache_file()
    if path is None:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**manifest, "digest": digest(manifest)}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        return False
    return True


# --- answering from the recording -------------------------------------------------------


# What the SDK's models accept as `initialize` params (mcp_types' InitializeRequestParams),
# stated as strictly or more: a model is (required fields, optional fields), each field's shape
# `str`, `bool`, `dict` (any object), ("list", shape), ("map", shape), a set of allowed values or
# a model. An optional field may also be null; keys a model does not name are ignored, as
# pydantic ignores them. A message that fits gets the recorded answer; any other is the SDK's.
Model = tuple[dict[str, Any], dict[str, Any]]
_EMPTY: Model = ({}, {})
_ICON: Model = ({"src": str}, {"mimeType": str, "sizes": ("list", str), "theme": {"light", "dark"}})
_IMPLEMENTATION: Model = (
    {"name": str, "version": str},
    {"title": str, "description": str, "websiteUrl": str, "icons": ("list", _ICON)},
)
_TASKS_REQUESTS: Model = (
    {},
    {"sampling": ({}, {"createMessage": _EMPTY}), "elicitation": ({}, {"create": _EMPTY})},
)
_CAPABILITIES: Model = (
    {},
    {
        "experimental": ("map", dict),
        "sampling": ({}, {"context": _EMPTY, "tools": _EMPTY}),
        "elicitation": ({}, {"form": _EMPTY, "url": _EMPTY}),
        "roots": ({}, {"listChanged": bool}),
        "extensions": ("map", dict),
        "tasks": ({}, {"list": _EMPTY, "cancel": _EMPTY, "requests": _TASKS_REQUESTS}),
    },
)
_INITIALIZE_KEYS = {"protocolVersion", "capabilities", "clientInfo"}
_INITIALIZE: Model = (
    {"protocolVersion": str, "capabilities": _CAPABILITIES, "clientInfo": _IMPLEMENTATION},
    {},
)


def fits(value: Any, shape: Any) -> bool:
    """Whether `value` (parsed JSON) has `shape`, in the notation above."""
    if isinstance(shape, type):
        return isinstance(value, shape)
    if isinstance(shape, set):
        return isinstance(value, str) and value in shape
    if isinstance(shape, tuple) and shape[0] in ("list", "map"):
        kind, item = shape
        items = value if kind == "list" and isinstance(value, list) else None
        if kind == "map" and isinstance(value, dict):
            items = list(value.values())
        return items is not None and all(fits(v, item) for v in items)
    required, optional = shape
    if not isinstance(value, dict) or any(k not in value for k in required):
        return False
    fields = {**optional, **required}
    return all(fits(v, fields[k]) or (k in optional and v is None) for k, v in value.items() if k in fields)


# Deeper than this, the SDK's JSON parser refuses a line Python's reads (its limit is about 200).
MAX_DEPTH = 64
# The keys of a JSON-RPC request or notification; another key makes a line one the early path leaves.
_MESSAGE_KEYS = {"jsonrpc", "id", "method", "params"}
PROTOCOL_VERSION_KEY = f"{_META}protocolVersion"


def sdk_readable(message: Any) -> bool:
    """Whether the SDK's JSON reader reads `message` as Python's did: no lone surrogate anywhere
    (Python's `json` accepts `"\\ud800"`, the SDK's parser refuses the whole line) and no nesting
    deeper than MAX_DEPTH."""
    try:
        json.dumps(message, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    level, depth = [message], 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return False
        level = [v for item in level if isinstance(item, dict | list) for v in _children(item)]
    return True


def _children(value: dict[str, Any] | list[Any]) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else value


def modern_envelope(params: Any) -> bool:
    """Whether a request opens a 2026-07-28 connection, as the SDK decides it: `params._meta`
    carries the protocol-version key (the SDK's `runner._has_modern_envelope`)."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and PROTOCOL_VERSION_KEY in meta


class EarlyAnswers:
    """Decides, message by message, whether a request can be answered from the recording.

    Conservative on purpose: anything it does not recognize exactly gets no early
    answer (the SDK will answer it), and after the first surprise it stops
    answering altogether.
    """

    def __init__(self, manifest: dict[str, Any]) -> None:
        self._legacy: dict[str, dict[str, Any]] = manifest["legacy"]
        self._modern: dict[str, dict[str, Any]] = manifest["modern"]
        self._version: str | None = None  # the legacy session's version, once initialize was answered
        self._initialized = False
        # The connection's era, "legacy" or "modern": as the SDK, decided by the first request
        # (an enveloped request that is not `initialize` opens a modern one) and never again.
        self._era: str | None = None
        self.enabled = True

    def answer(self, message: Any) -> dict[str, Any] | None:
        """The JSON-RPC response to send now for `message`, or None."""
        if not self.enabled:
            return None
        try:
            result = self._result(message)
        except Exception:  # never let the fast path break the real one
            self.enabled = False
            return None
        if result is None:
            return None
        return {"jsonrpc": "2.0", "id": message["id"], "result": result}

    def _result(self, message: Any) -> dict[str, Any] | None:
        if not self._well_formed(message):
            self.enabled = False
            return None
        method, params = message.get("method"), message.get("params")
        if "id" not in message:  # a notification
            if method == "notifications/initialized" and self._version is not None:
                self._initialized = True
            return None
        first = self._era is None
        if first:
            self._era = "modern" if method != "initialize" and modern_envelope(params) else "legacy"
        if method == "initialize":
            return self._initialize(params) if first else None
        if self._era == "legacy":
            plain = self._initialized and method in LIST_METHODS and params in (None, {})
            return self._legacy[self._version].get(method) if plain and self._version else None
        return self._modern_answer(method, params)

    @staticmethod
    def _well_formed(message: Any) -> bool:
        """A JSON-RPC request or notification the SDK reads as it is: version, a str/int id (if
        any), a str method, object params (if any), no other key. Whatever the SDK would not take
        as a request must not count as the first one, which decides the era."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or set(message) - _MESSAGE_KEYS:
            return False
        ident = message.get("id")
        id_ok = "id" not in message or (not isinstance(ident, bool) and isinstance(ident, str | int))
        params_ok = isinstance(message.get("params"), dict | None)
        return id_ok and params_ok and isinstance(message.get("method"), str) and sdk_readable(message)

    def _initialize(self, params: Any) -> dict[str, Any] | None:
        if not fits(params, _INITIALIZE) or set(params) - _INITIALIZE_KEYS:
            return None
        entry = self._legacy.get(params["protocolVersion"])
        if entry is None:
            return None
        self._version = params["protocolVersion"]
        return entry["initialize"]

    def _modern_answer(self, method: str, params: Any) -> dict[str, Any] | None:
        """A 2026-07-28 request: the SDK requires the version and the capabilities in `_meta`."""
        if method not in MODERN_METHODS or not isinstance(params, dict) or set(params) != {"_meta"}:
            return None
        meta = params["_meta"]
        if not isinstance(meta, dict) or set(meta) - KNOWN_META:
            return None
        if f"{_META}clientCapabilities" not in meta:
            return None
        entry = self._modern.get(meta.get(PROTOCOL_VERSION_KEY))  # type: ignore[arg-type]
        return entry.get(method) if entry else None


# --- recording from the real server -----------------------------------------------------


async def generate(server: Any) -> dict[str, Any]:
    """Record the handshake answers of `server` (a low-level `mcp` Server) for every era.

    Runs the server on memory streams, as one session per protocol version, and
    keeps each answer serialized exactly as the stdio transport writes it.
    """
    import anyio
    from mcp.shared.message import SessionMessage
    from mcp_types import jsonrpc_message_adapter
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    async def session(requests: list[dict[str, Any]]) -> dict[str, Any]:
        to_server, server_in = anyio.create_memory_object_stream[Any](100)
        server_out, from_server = anyio.create_memory_object_stream[Any](100)
        answers: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.run, server_in, server_out, server.create_initialization_options())
            for request in requests:
                await to_server.send(SessionMessage(jsonrpc_message_adapter.validate_python(request)))
                if "id" not in request:
                    continue
                reply = await from_server.receive()
                wire = json.loads(reply.message.model_dump_json(by_alias=True, exclude_unset=True))
                if "result" in wire:
                    answers[request["method"]] = wire["result"]
            await to_server.aclose()
        return answers

    client = {"name": "pd-mcp-recorder", "version": "0"}
    legacy = {}
    for version in LEGACY_VERSIONS:
        requests: list[dict[str, Any]] = [
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": client},
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
        ]
        requests += [{"jsonrpc": "2.0", "id": i, "method": m} for i, m in enumerate(LIST_METHODS, 1)]
        legacy[version] = await session(requests)
    modern = {}
    for version in MODERN_PROTOCOL_VERSIONS:
        meta: dict[str, Any] = {
            f"{_META}protocolVersion": version,
            f"{_META}clientInfo": client,
            f"{_META}clientCapabilities": {},
        }
        requests = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": {"_meta": meta}}
            for i, m in enumerate(MODERN_METHODS)
        ]
        modern[version] = await session(requests)
    return {"format": FORMAT, "fingerprint": fingerprint(), "legacy": legacy, "modern": modern}
