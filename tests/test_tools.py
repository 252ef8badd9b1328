"""The MCP tools as a host sees them, through the in-memory MCP client, in both protocol eras.

`legacy` is the 2025-11-25 initialize handshake; `auto` is the 2026-07-28 era. Powerdrill is
faked with respx; the client's retry sleep is replaced so nothing waits.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from mcp import Client
from mcp_types import CallToolResult
from support import CANARY_KEY, make_config

import pd_mcp.client
from pd_mcp.budget import LocalBudget
from pd_mcp.clock import FakeClock
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import ApiConfig

USER_ID = "user-42"
BASE = "https://pd.test/api"
DS = "dset-cm5axptyyxxx298"
V2_STATUS = f"/v2/team/datasets/{DS}/status"
V2_SOURCES = f"/v2/team/datasets/{DS}/datasources"
TOOLS = ("get_dataset_status", "wait_for_dataset_sync")

STATUS_FIELDS: dict[str, type | tuple[type, ...]] = {
    "dataset_id": str,
    "synched_count": int,
    "synching_count": int,
    "invalid_count": int,
    "total_count": int,
    "verdict": str,
    "ready": bool,
    "message": str,
    "failed_sources": list,
    "trace_id": (str, type(None)),
    "api_version": str,
    "checked_at": str,
}
WAIT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "timed_out": bool,
    "waited_seconds": (int, float),
    "polls": int,
}

pytestmark = pytest.mark.parametrize("mode", ["legacy", "auto"])


def config(version: str = "v2") -> ApiConfig:
    return make_config(version, base_url=BASE, user_id=USER_ID)


@pytest.fixture(autouse=True)
def _instant_retries(monkeypatch: pytest.MonkeyPatch, fake_sleep: Any) -> None:
    """Every client the server builds records its retry delays instead of sleeping."""
    original = pd_mcp.client.PowerdrillClient

    class InstantClient(original):  # type: ignore[misc, valid-type]
        def __init__(self, cfg: ApiConfig, **kw: Any) -> None:
            kw.setdefault("sleep", fake_sleep)
            kw.setdefault("limiter", LocalBudget(0.0))
            super().__init__(cfg, **kw)

    monkeypatch.setattr(pd_mcp.client, "PowerdrillClient", InstantClient)


@pytest.fixture
def connect() -> Callable[..., Any]:
    """`async with connect(mode[, runtime]) as client:` an MCP client on a fresh server."""

    @asynccontextmanager
    async def _connect(mode: str, runtime: Runtime | None = None) -> AsyncIterator[Client]:
        runtime = runtime or Runtime(config=config(), clock=FakeClock())
        server = build_server(runtime)
        try:
            async with Client(server, mode=mode) as client:
                yield client
        finally:
            await runtime.aclose()

    return _connect


def text_of(result: CallToolResult) -> str:
    assert result.content, "a tool result must have a text block"
    assert result.content[0].type == "text"
    return "\n".join(block.text for block in result.content if block.type == "text")


def assert_no_secret(result: CallToolResult) -> None:
    dumped = result.model_dump_json(by_alias=True)
    assert CANARY_KEY not in dumped
    assert CANARY_KEY not in text_of(result)
    if result.structured_content is not None:
        assert CANARY_KEY not in json.dumps(result.structured_content)


def assert_readable_error(result: CallToolResult) -> str:
    assert result.is_error is True
    text = text_of(result)
    assert text.strip()
    assert "Traceback" not in text
    assert 'File "' not in text
    assert_no_secret(result)
    return text


def status_json(synched: int, synching: int, invalid: int) -> dict[str, Any]:
    return {
        "code": 0,
        "data": {"synched_count": synched, "synching_count": synching, "invalid_count": invalid},
    }


def sources_json(*names: str) -> dict[str, Any]:
    records = [
        {"id": f"src-{i}", "name": n, "type": "FILE", "status": "invalid"} for i, n in enumerate(names, 1)
    ]
    return {
        "code": 0,
        "data": {"records": records, "total_items": len(records), "page_number": 1, "page_size": 20},
    }


# --- listing -----------------------------------------------------------------------------------


async def test_server_identity(connect: Any, mode: str) -> None:
    async with connect(mode) as client:
        info = client.server_info
        assert info is not None
        assert info.name == "pd-mcp"
        assert info.version == importlib.metadata.version("pd-mcp")


async def test_both_tools_listed_with_their_contract(connect: Any, mode: str) -> None:
    async with connect(mode) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(TOOLS) <= set(listed)
    for name in TOOLS:
        tool = listed[name]
        assert tool.title and tool.title.strip()
        assert tool.description and len(tool.description) > 40
        schema = tool.input_schema
        assert schema["type"] == "object"
        assert "dataset_id" in schema["properties"]
        assert "dataset_id" in schema.get("required", [])
        assert schema["properties"]["dataset_id"]["type"] == "string"
        assert tool.output_schema is not None
        out = tool.output_schema["properties"]
        assert set(STATUS_FIELDS) <= set(out)
        ann = tool.annotations
        assert ann is not None
        assert ann.read_only_hint is True
        assert ann.idempotent_hint is True
        assert ann.open_world_hint is True
        assert ann.destructive_hint is False

    wait = listed["wait_for_dataset_sync"]
    assert set(WAIT_FIELDS) <= set(wait.output_schema["properties"])  # type: ignore[index]
    timeout = wait.input_schema["properties"]["timeout_seconds"]
    assert timeout.get("default") == 45
    assert "timeout_seconds" not in wait.input_schema.get("required", [])


async def test_listing_needs_no_configuration(connect: Any, mode: str) -> None:
    # Environment is empty (see conftest): the host can still list the tools.
    async with connect(mode, Runtime()) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert set(TOOLS) <= names


# --- one call per verdict ----------------------------------------------------------------------

VERDICT_CASES = [
    # synched, synching, invalid, verdict, failed names from the listing
    (5, 0, 0, "ready", ()),
    (0, 0, 0, "empty", ()),
    (2, 3, 0, "syncing", ()),
    (0, 0, 2, "failed", ("sales.csv", "q3.xlsx")),
    (4, 0, 1, "partially_failed", ("broken.pdf",)),
]


@pytest.mark.parametrize(
    ("synched", "synching", "invalid", "verdict", "names"), VERDICT_CASES, ids=[c[3] for c in VERDICT_CASES]
)
async def test_get_dataset_status_each_verdict(
    connect: Any,
    mode: str,
    synched: int,
    synching: int,
    invalid: int,
    verdict: str,
    names: tuple[str, ...],
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        status = api.get(V2_STATUS).respond(
            200, json=status_json(synched, synching, invalid), headers={"x-pd-trace-id": "tr-77"}
        )
        listing = api.get(V2_SOURCES).respond(200, json=sources_json(*names))
        before = datetime.now(UTC).replace(microsecond=0)
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})

    assert result.is_error is not True
    assert status.call_count == 1
    sc = result.structured_content
    assert sc is not None
    for field, kind in STATUS_FIELDS.items():
        assert field in sc, field
        assert isinstance(sc[field], kind), (field, sc[field])
        if kind is int:
            assert not isinstance(sc[field], bool), field
    assert sc["dataset_id"] == DS
    assert (sc["synched_count"], sc["synching_count"], sc["invalid_count"]) == (synched, synching, invalid)
    assert sc["total_count"] == synched + synching + invalid
    assert sc["verdict"] == verdict
    assert sc["ready"] is (verdict == "ready")
    assert sc["trace_id"] == "tr-77"
    assert sc["api_version"] == "v2"
    checked = datetime.fromisoformat(sc["checked_at"].replace("Z", "+00:00"))
    assert checked.utcoffset() is not None and checked.utcoffset().total_seconds() == 0
    assert checked >= before

    if invalid > 0:
        assert listing.call_count == 1
        assert [s["name"] for s in sc["failed_sources"]] == list(names)
        assert all(set(s) >= {"id", "name"} for s in sc["failed_sources"])
        for name in names:
            assert name in sc["message"]
    else:
        assert listing.call_count == 0
        assert sc["failed_sources"] == []

    text = text_of(result)
    first_line = text.splitlines()[0]
    assert first_line == sc["message"]
    assert first_line.startswith(f"Dataset {DS} ")
    assert not first_line.lstrip().startswith(("{", "["))
    if verdict == "syncing":
        assert "wait_for_dataset_sync" in first_line
    assert "tr-77" in text
    assert_no_secret(result)


async def test_v1_configuration_reports_v1(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get(f"/v1/team/datasets/{DS}/status").respond(
            200, json={"code": 0, "data": {"synchedCount": 3, "synchingCount": 0, "invalidCount": 0}}
        )
        async with connect(mode, Runtime(config=config("v1"))) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    assert route.call_count == 1
    assert result.structured_content is not None
    assert result.structured_content["api_version"] == "v1"
    assert result.structured_content["verdict"] == "ready"
    assert result.structured_content["trace_id"] is None


async def test_listing_failure_still_gives_the_verdict(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get(V2_STATUS).respond(200, json=status_json(1, 0, 2))
        api.get(V2_SOURCES).respond(500, json={"code": 9999, "message": "internal"})
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    assert result.is_error is not True
    sc = result.structured_content
    assert sc is not None
    assert sc["verdict"] == "partially_failed"
    assert sc["failed_sources"] == []
    assert "could not be fetched" in sc["message"]


async def test_wait_returns_at_once_when_not_syncing(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get(V2_STATUS).respond(200, json=status_json(3, 0, 0))
        async with connect(mode) as client:
            result = await client.call_tool("wait_for_dataset_sync", {"dataset_id": DS, "timeout_seconds": 5})
    assert result.is_error is not True
    sc = result.structured_content
    assert sc is not None
    for field, kind in {**STATUS_FIELDS, **WAIT_FIELDS}.items():
        assert isinstance(sc[field], kind), field
    assert sc["verdict"] == "ready"
    assert sc["timed_out"] is False
    assert sc["polls"] == route.call_count == 1
    assert text_of(result).splitlines()[0].startswith(f"Dataset {DS} is ready")


# --- errors ------------------------------------------------------------------------------------

BAD_IDS = ["a/b", "..", ".", "a?b", "a#b", "a&b", "a%2Fb", "a\\b", " ds", "ds\n", "x" * 129, "dätaset"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("tool", TOOLS)
async def test_bad_dataset_id_is_an_error_and_sends_nothing(
    connect: Any, mode: str, tool: str, bad: str
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        everything = api.route().respond(200, json=status_json(1, 0, 0))
        async with connect(mode) as client:
            result = await client.call_tool(tool, {"dataset_id": bad})
    text = assert_readable_error(result)
    assert "dataset_id" in text
    assert everything.call_count == 0
    assert api.calls.call_count == 0


async def test_empty_dataset_id_is_an_error(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": ""})
    assert_readable_error(result)
    assert api.calls.call_count == 0


@pytest.mark.parametrize("tool", TOOLS)
async def test_unexpected_extra_argument_is_an_error(connect: Any, mode: str, tool: str) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        async with connect(mode) as client:
            result = await client.call_tool(tool, {"dataset_id": DS, "user_id": "someone-else"})
    text = assert_readable_error(result)
    assert "user_id" in text
    assert api.calls.call_count == 0


async def test_missing_dataset_id_is_an_error(connect: Any, mode: str) -> None:
    async with connect(mode) as client:
        result = await client.call_tool("get_dataset_status", {})
    text = assert_readable_error(result)
    assert "dataset_id" in text


@pytest.mark.parametrize("seconds", [0.5, 0, 901, -5, "abc", None])
async def test_bad_timeout_is_an_error(connect: Any, mode: str, seconds: object) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        async with connect(mode) as client:
            result = await client.call_tool(
                "wait_for_dataset_sync", {"dataset_id": DS, "timeout_seconds": seconds}
            )
    text = assert_readable_error(result)
    assert "timeout_seconds" in text
    assert api.calls.call_count == 0


async def test_boolean_timeout_is_an_error(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        api.get(V2_STATUS).respond(200, json=status_json(1, 0, 0))
        async with connect(mode) as client:
            result = await client.call_tool(
                "wait_for_dataset_sync", {"dataset_id": DS, "timeout_seconds": True}
            )
    assert result.is_error is True
    assert api.calls.call_count == 0


@pytest.mark.parametrize("tool", TOOLS)
async def test_missing_configuration_names_the_variables(
    connect: Any, mode: str, tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with respx.mock(assert_all_called=False) as api:
        async with connect(mode, Runtime()) as client:
            result = await client.call_tool(tool, {"dataset_id": DS})
    text = assert_readable_error(result)
    assert "POWERDRILL_USER_ID" in text
    assert "POWERDRILL_PROJECT_API_KEY" in text
    assert api.calls.call_count == 0


async def test_missing_user_id_alone_is_named_and_the_key_stays_hidden(
    connect: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", CANARY_KEY)
    monkeypatch.setenv("POWERDRILL_API_URL", BASE)
    with respx.mock(assert_all_called=False) as api:
        async with connect(mode, Runtime()) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    text = assert_readable_error(result)
    assert "POWERDRILL_USER_ID" in text
    assert api.calls.call_count == 0


async def test_contradictory_version_is_reported_by_the_tool(
    connect: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERDRILL_USER_ID", USER_ID)
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", CANARY_KEY)
    monkeypatch.setenv("POWERDRILL_API_URL", f"{BASE}/v1/team")
    monkeypatch.setenv("POWERDRILL_API_VERSION", "v2")
    with respx.mock(assert_all_called=False) as api:
        async with connect(mode, Runtime()) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    text = assert_readable_error(result)
    assert "POWERDRILL_API_VERSION" in text
    assert api.calls.call_count == 0


async def test_configuration_from_the_environment_is_used(
    connect: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERDRILL_USER_ID", USER_ID)
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", CANARY_KEY)
    monkeypatch.setenv("POWERDRILL_API_URL", f"{BASE}/v2/team/")
    with respx.mock(base_url=BASE) as api:
        route = api.get(V2_STATUS).respond(200, json=status_json(1, 0, 0))
        async with connect(mode, Runtime()) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    assert result.is_error is not True
    request = route.calls.last.request
    assert request.headers["x-pd-api-key"] == CANARY_KEY
    assert request.url.params["user_id"] == USER_ID
    assert_no_secret(result)


UPSTREAM_FAILURES: dict[str, tuple[Callable[[], httpx.Response], str, int]] = {
    # name: (the answer Powerdrill keeps giving, what the text must say, requests one check makes)
    "auth": (lambda: httpx.Response(403, json={"code": 1004, "message": "bad credentials"}), "API_KEY", 1),
    "expired": (lambda: httpx.Response(403, json={"code": 1002, "message": "expired"}), "expired", 1),
    "http-401": (lambda: httpx.Response(401), "POWERDRILL_PROJECT_API_KEY", 1),
    "not-found": (lambda: httpx.Response(200, json={"code": 300003, "message": "not found"}), "not found", 1),
    "http-404": (lambda: httpx.Response(404), "not found", 1),
    "permission": (
        lambda: httpx.Response(200, json={"code": 300002, "message": "denied"}),
        "another powerdrill project",
        1,
    ),
    "rate-limit": (
        lambda: httpx.Response(
            429, json={"code": 201, "message": "rate limit"}, headers={"retry-after": "0"}
        ),
        "4 attempts",
        4,
    ),
    "upstream-500": (
        lambda: httpx.Response(500, json={"code": 9999, "message": "internal"}),
        "4 attempts",
        4,
    ),
    "bad-gateway-html": (lambda: httpx.Response(502, html="<html>502 Bad Gateway</html>"), "502", 4),
    "malformed": (
        lambda: httpx.Response(200, json={"code": 0, "data": {"synched_count": "many"}}),
        "no verdict",
        4,
    ),
    "not-json": (lambda: httpx.Response(200, text="definitely not json"), "not the documented", 4),
}


def traced(make: Callable[[], httpx.Response], case: str) -> Callable[[httpx.Request], httpx.Response]:
    """Answer every request with `make()`, each with its own trace id: tr-<case>-0, -1, ..."""
    served = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal served
        response = make()
        response.headers["x-pd-trace-id"] = f"tr-{case}-{served}"
        served += 1
        return response

    return answer


@pytest.mark.parametrize("case", list(UPSTREAM_FAILURES))
async def test_upstream_failures_are_readable_errors_with_trace_id(
    connect: Any, mode: str, case: str
) -> None:
    make, says, calls = UPSTREAM_FAILURES[case]
    with respx.mock(base_url=BASE) as api:
        route = api.get(V2_STATUS).mock(side_effect=traced(make, case))
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    text = assert_readable_error(result)
    assert says.lower() in text.lower()
    assert DS in text
    assert route.call_count == calls
    assert f"tr-{case}-{calls - 1}" in text  # the trace id of the last answer, for support


@pytest.mark.parametrize("case", ["auth", "not-found", "permission", "upstream-500", "malformed"])
async def test_wait_failures_are_readable_errors_with_trace_id(connect: Any, mode: str, case: str) -> None:
    make, _, _ = UPSTREAM_FAILURES[case]
    with respx.mock(base_url=BASE) as api:
        api.get(V2_STATUS).mock(side_effect=traced(make, case))
        async with connect(mode) as client:
            result = await client.call_tool("wait_for_dataset_sync", {"dataset_id": DS, "timeout_seconds": 5})
    text = assert_readable_error(result)
    assert DS in text
    assert re.search(rf"tr-{case}-\d+", text)


async def test_unreachable_upstream_is_a_readable_error(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get(V2_STATUS).mock(side_effect=httpx.ConnectError("connection refused"))
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    text = assert_readable_error(result)
    assert "could not reach" in text.lower()
    assert route.call_count == 4


async def test_unexpected_exception_is_an_error_result_not_a_traceback(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get(V2_STATUS).mock(side_effect=RuntimeError(f"kaboom {CANARY_KEY}"))
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    text = assert_readable_error(result)
    assert "kaboom" not in text
    assert "readiness is now unknown" in text.lower()  # tells the assistant not to assume it is ready


# --- the key never leaks ------------------------------------------------------------------------

ECHOES = {
    "error-message": lambda: httpx.Response(
        403,
        json={"code": 1004, "message": f"invalid x-pd-api-key {CANARY_KEY}"},
        headers={"x-pd-trace-id": "tr-1"},
    ),
    "not-found-message": lambda: httpx.Response(
        200, json={"code": 300003, "message": f"key={CANARY_KEY} no dataset"}
    ),
    "trace-header": lambda: httpx.Response(404, headers={"x-pd-trace-id": f"trace-{CANARY_KEY}"}),
    "success-trace-header": lambda: httpx.Response(
        200, json=status_json(1, 0, 0), headers={"x-pd-trace-id": CANARY_KEY}
    ),
    "unknown-code": lambda: httpx.Response(200, json={"code": 777, "message": CANARY_KEY}),
}


@pytest.mark.parametrize("case", list(ECHOES))
async def test_key_echoed_by_upstream_never_reaches_the_assistant(connect: Any, mode: str, case: str) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get(V2_STATUS).mock(side_effect=lambda request: ECHOES[case]())
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    assert_no_secret(result)
    assert "Traceback" not in text_of(result)


async def test_key_echoed_in_failed_source_names_never_reaches_the_assistant(connect: Any, mode: str) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get(V2_STATUS).respond(200, json=status_json(1, 0, 1))
        api.get(V2_SOURCES).respond(200, json=sources_json(f"{CANARY_KEY}.csv"))
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    assert result.is_error is not True
    assert_no_secret(result)


async def test_truncated_echo_of_the_key_leaks_no_part_of_it(connect: Any, mode: str) -> None:
    # Powerdrill's message is quoted up to 200 characters; put the key across that cut.
    message = "x" * 185 + f" {CANARY_KEY} trailing words"
    with respx.mock(base_url=BASE) as api:
        api.get(V2_STATUS).respond(403, json={"code": 1004, "message": message})
        async with connect(mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": DS})
    text = text_of(result)
    assert result.is_error is True
    windows = {CANARY_KEY[i : i + 10] for i in range(len(CANARY_KEY) - 9)}
    assert not any(w in text for w in windows), text
