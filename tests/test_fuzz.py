"""Property tests: hostile dataset ids, hostile upstream answers and hostile tool arguments.

- Any string as a dataset id: no request ever leaves for a path other than
  `/v{1,2}/team/datasets/<one segment>/(status|datasources)`, and the segment is the id.
- Any JSON (or any bytes) with any HTTP status from upstream: the tool answers with a valid
  report or an `isError` result, never a protocol error, a crash or a traceback; and an
  `isError: false` report carries exactly the counts the body held.
- Wrong types, missing and extra arguments: an `isError` result whose text names the
  argument and says what is allowed.

Upstream is a respx router (a catch-all route that records every request) used as the
client's transport, so nothing can reach the network. The tool-level properties share one
in-process server and MCP client, run in a blocking portal so hypothesis can drive it from
plain functions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio.from_thread
import httpx
import mcp
import pytest
import respx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import CANARY_KEY, make_config, no_sleep, text_of

from pd_mcp.budget import LocalBudget
from pd_mcp.client import MAX_COUNT, PowerdrillClient
from pd_mcp.clock import FakeClock
from pd_mcp.errors import InvalidArgument
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import ApiConfig

BASE_URL = "https://pd.test/api"
PATH = re.compile(rb"/api/(v1|v2)/team/datasets/([^/?#]+)/(status|datasources)")
VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
COUNT_FIELDS = ("synched_count", "synching_count", "invalid_count")
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def config(version: str = "v2") -> ApiConfig:
    return make_config(version, base_url=BASE_URL, user_id="fuzz-user")


@dataclass
class Upstream:
    """What the fake Powerdrill answers next, and every request it saw."""

    status: int = 200
    body: bytes = b'{"code": 0, "data": {"synched_count": 1, "synching_count": 0, "invalid_count": 0}}'
    headers: dict[str, str] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def reset(self) -> None:
        fresh = Upstream()
        self.status, self.body, self.headers = fresh.status, fresh.body, fresh.headers

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return httpx.Response(self.status, content=self.body, headers=self.headers)

    def transport(self) -> httpx.MockTransport:
        router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        router.route().mock(side_effect=self.answer)  # catch-all: every URL is recorded
        return httpx.MockTransport(router.handler)


def assert_only_dataset_paths(requests: list[httpx.Request], dataset_id: str) -> None:
    for request in requests:
        path = request.url.raw_path.split(b"?", 1)[0]
        match = PATH.fullmatch(path)
        assert match, f"request outside the dataset endpoints: {request.url.raw_path!r} for {dataset_id!r}"
        segment = match.group(2).decode("ascii")
        assert segment not in (".", "..") and unquote(segment) == dataset_id, (segment, dataset_id)
        assert request.url.host == "pd.test" and request.method == "GET"
        assert request.headers["x-pd-api-key"] == CANARY_KEY


# --- dataset ids, at the client ------------------------------------------------------------------

dataset_ids = st.one_of(
    st.text(max_size=140),
    st.from_regex(VALID_ID, fullmatch=True),
    st.text(alphabet="./\\%?#&=;:@ \t\n\r\x00-_aA1~+", max_size=12),
    st.sampled_from(
        [
            ".",
            "..",
            "...",
            "a/b",
            "../status",
            "..%2f..",
            "%2e%2e",
            "a?b=c",
            "a#b",
            "a b",
            " a",
            "a\n",
            "ds-1/",
            "ds\u2024x",
            "ｄｓ",
            "a" * 128,
            "a" * 129,
            "",
        ]
    ),
)


@pytest.mark.parametrize("version", ["v2", "v1"])
@settings(SETTINGS, max_examples=250)
@given(dataset_id=dataset_ids)
def test_any_dataset_id_requests_only_its_own_dataset_endpoints(version: str, dataset_id: str) -> None:
    upstream = Upstream(
        body=b'{"code": 0, "data": {"synched_count": 1, "synching_count": 0, "invalid_count": 2,'
        b' "synchedCount": 1, "synchingCount": 0, "invalidCount": 2, "records": []}}'
    )

    async def run() -> None:
        client = PowerdrillClient(
            config(version), transport=upstream.transport(), sleep=no_sleep, limiter=LocalBudget(0.0)
        )
        try:
            for call in (client.status, client.failed_sources):
                try:
                    await call(dataset_id)
                except InvalidArgument as exc:
                    assert exc.argument == "dataset_id"
        finally:
            await client.aclose()

    anyio.run(run)
    valid = bool(VALID_ID.fullmatch(dataset_id)) and dataset_id not in (".", "..")
    assert len(upstream.seen) == (2 if valid else 0), (dataset_id, upstream.seen)
    assert_only_dataset_paths(upstream.seen, dataset_id)
    if valid:
        assert {r.url.raw_path.split(b"?")[0].rsplit(b"/", 1)[1] for r in upstream.seen} == {
            b"status",
            b"datasources",
        }


# --- the tools, in one in-process server ---------------------------------------------------------


@dataclass
class ToolHarness:
    portal: anyio.from_thread.BlockingPortal
    client: mcp.Client
    upstream: Upstream

    def call(self, tool: str, arguments: Any) -> Any:
        self.upstream.seen.clear()
        return self.portal.call(self.client.call_tool, tool, arguments)


def harness_for(mode: str) -> Iterator[ToolHarness]:
    upstream = Upstream()
    cfg = config()
    runtime = Runtime(config=cfg, clock=FakeClock())  # waits sleep on a clock that never really waits
    # Runtime has no switch for the client's sleep and limiter; the client has, so seed it.
    runtime._client = PowerdrillClient(
        cfg, transport=upstream.transport(), sleep=no_sleep, limiter=LocalBudget(0.0)
    )
    with anyio.from_thread.start_blocking_portal() as portal:
        try:
            with portal.wrap_async_context_manager(mcp.Client(build_server(runtime), mode=mode)) as client:
                yield ToolHarness(portal, client, upstream)
        finally:
            portal.call(runtime.aclose)


@pytest.fixture(scope="module")
def tools() -> Iterator[ToolHarness]:
    yield from harness_for("legacy")


def assert_clean(result: Any) -> str:
    text = text_of(result)
    assert "Traceback" not in text and 'File "' not in text, text
    assert "failed unexpectedly" not in text, f"the tool crashed: {text}"
    assert text.strip(), result
    return text


@settings(SETTINGS, max_examples=150)
@given(dataset_id=dataset_ids, tool=st.sampled_from(["get_dataset_status", "wait_for_dataset_sync"]))
def test_any_dataset_id_through_the_tools_stays_on_its_endpoints(
    tools: ToolHarness, dataset_id: str, tool: str
) -> None:
    tools.upstream.reset()  # a valid status answer, whatever an earlier test left
    arguments: dict[str, Any] = {"dataset_id": dataset_id}
    if tool == "wait_for_dataset_sync":
        arguments["timeout_seconds"] = 1
    result = tools.call(tool, arguments)
    text = assert_clean(result)
    assert_only_dataset_paths(tools.upstream.seen, dataset_id)
    valid = bool(VALID_ID.fullmatch(dataset_id)) and dataset_id not in (".", "..")
    if not valid:
        assert result.is_error and not tools.upstream.seen, text
        assert "dataset_id" in text, text
    else:
        assert not result.is_error, text
        assert result.structured_content["dataset_id"] == dataset_id


# --- hostile answers -----------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=12,
)
count_values = st.one_of(
    st.integers(min_value=0, max_value=50),
    st.integers(min_value=-3, max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 3.0, -0.0, 2.5, "4", "", True, False, None, [], {}]),
    json_values,
)
count_data = st.fixed_dictionaries(
    {name: count_values for name in COUNT_FIELDS},
    optional={
        "records": json_values,
        "extra": json_values,
        **{name: count_values for name in ("total_count",)},
    },
).flatmap(lambda d: st.sampled_from([d, {k: v for k, v in list(d.items())[1:]}]))
envelopes = st.fixed_dictionaries(
    {
        "code": st.one_of(
            st.sampled_from([0, 0, 0, 0, 201, 9999, 300002, 300003, 1004, 100, 7]), json_scalars
        ),
        "data": st.one_of(count_data, count_data, json_values),
    },
    optional={"message": json_values, "msg": json_values},
)
bodies = st.one_of(
    envelopes.map(lambda e: json.dumps(e).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"", b"null", b"{", b"<html>502</html>", b'{"code": 0}', b'{"code": 0, "data": null}']),
)
statuses = st.one_of(
    st.sampled_from([200, 200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 429, 500, 502, 503]),
    st.integers(min_value=200, max_value=599),
)
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
answer_headers = st.fixed_dictionaries(
    {},
    optional={
        "retry-after": st.one_of(
            header_text,
            st.sampled_from(["0", "1", "-5", "nan", "inf", "1e308", "Wed, 21 Oct 2015 07:28:00 GMT"]),
        ),
        "x-pd-trace-id": header_text,
        "content-type": st.sampled_from(["application/json", "text/html", "text/plain", ""]),
    },
)


def counts_in(body: bytes, status: int) -> dict[str, int] | None:
    """The counts a correct client must report for this answer, or None if it must not report any."""
    if status >= 300:  # a redirect is never followed nor read, whatever its body says
        return None
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(envelope, dict) or type(envelope.get("code")) is not int or envelope["code"] != 0:
        return None
    data = envelope.get("data")
    if not isinstance(data, dict):
        return None
    counts = {}
    for name in COUNT_FIELDS:
        value = data.get(name)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        # Above MAX_COUNT no dataset is real: the answer is malformed (and its sum unprintable).
        if type(value) is not int or not 0 <= value <= MAX_COUNT:
            return None
        counts[name] = value
    return counts


def verdict_of(c: dict[str, int]) -> str:
    total = sum(c.values())
    if total == 0:
        return "empty"
    if c["synching_count"]:
        return "syncing"
    if not c["invalid_count"]:
        return "ready"
    return "failed" if not c["synched_count"] else "partially_failed"


@settings(SETTINGS, max_examples=400)
@given(status=statuses, body=bodies, headers=answer_headers)
@example(
    status=200,
    body=b'{"code": 0, "data": {"synched_count": 5.0, "synching_count": 0, "invalid_count": 0}}',
    headers={},
)
@example(
    status=200,
    body=b'{"code": 0, "data": {"synched_count": 1e300, "synching_count": 0, "invalid_count": 0}}',
    headers={},
)
@example(
    status=200,
    body=b'{"code": 0, "data": {"synched_count": NaN, "synching_count": 0, "invalid_count": 0}}',
    headers={},
)
@example(
    status=200,
    body=b'{"code": true, "data": {"synched_count": 1, "synching_count": 0, "invalid_count": 0}}',
    headers={},
)
@example(
    status=200,
    body=b'{"code": 0.0, "data": {"synched_count": 1, "synching_count": 0, "invalid_count": 0}}',
    headers={},
)
@example(
    status=200,
    body=b'{"code": 0, "data": {"synched_count": 1, "synching_count": -1, "invalid_count": 0}}',
    headers={},
)
@example(status=200, body=b"[" * 100_000, headers={})
@example(status=200, body=b'{"code": 0, "data": {"synched_count": 1' + b"0" * 5000 + b"}}", headers={})
@example(status=429, body=b'{"code": 201}', headers={"retry-after": "1e308"})
def test_any_answer_gives_the_true_counts_or_a_clear_error(
    tools: ToolHarness, status: int, body: bytes, headers: dict[str, str]
) -> None:
    tools.upstream.status, tools.upstream.body, tools.upstream.headers = status, body, headers
    result = tools.call("get_dataset_status", {"dataset_id": "dset-fuzz"})
    text = assert_clean(result)
    assert tools.upstream.seen, "no request was made"
    expected = counts_in(body, status)
    if result.is_error:
        assert not result.structured_content or "verdict" not in result.structured_content, result
        assert text.startswith("Could not check dataset dset-fuzz: "), text
        assert expected is None, f"a valid answer was refused: {body!r} -> {text}"
        return
    assert expected is not None, f"a verdict from an answer that has no valid counts: {body!r} -> {text}"
    got = result.structured_content
    assert {name: got[name] for name in COUNT_FIELDS} == expected
    assert all(type(got[name]) is int for name in COUNT_FIELDS)
    assert got["total_count"] == sum(expected.values())
    assert got["verdict"] == verdict_of(expected) and got["ready"] is (got["verdict"] == "ready")


@settings(SETTINGS, max_examples=150)
@given(status=statuses, body=bodies, headers=answer_headers)
def test_any_answer_during_a_wait_gives_true_counts_or_a_clear_error(
    tools: ToolHarness, status: int, body: bytes, headers: dict[str, str]
) -> None:
    tools.upstream.status, tools.upstream.body, tools.upstream.headers = status, body, headers
    result = tools.call("wait_for_dataset_sync", {"dataset_id": "dset-fuzz", "timeout_seconds": 1})
    text = assert_clean(result)
    expected = counts_in(body, status)
    if result.is_error:
        assert not result.structured_content or "verdict" not in result.structured_content, result
        assert text.startswith("Could not wait for dataset dset-fuzz: "), text
        return
    assert expected is not None, f"a verdict from an answer that has no valid counts: {body!r} -> {text}"
    got = result.structured_content
    assert {name: got[name] for name in COUNT_FIELDS} == expected
    assert got["timed_out"] is (expected["synching_count"] > 0)


# --- hostile arguments ---------------------------------------------------------------------------

# (tool, arguments, the argument the text must name, words that say what is allowed)
BAD_ARGUMENTS: list[tuple[str, Any, str, tuple[str, ...]]] = [
    ("get_dataset_status", {}, "dataset_id", ("required",)),
    ("get_dataset_status", {"dataset_id": 5}, "dataset_id", ("string",)),
    ("get_dataset_status", {"dataset_id": None}, "dataset_id", ("string",)),
    ("get_dataset_status", {"dataset_id": ["ds-1"]}, "dataset_id", ("string",)),
    ("get_dataset_status", {"dataset_id": {"id": "ds-1"}}, "dataset_id", ("string",)),
    ("get_dataset_status", {"dataset_id": True}, "dataset_id", ("string",)),
    ("get_dataset_status", {"dataset_id": ""}, "dataset_id", ("1 to 128",)),
    ("get_dataset_status", {"dataset_id": "a/b"}, "dataset_id", ("letters, digits",)),
    ("get_dataset_status", {"dataset_id": "x" * 129}, "dataset_id", ("1 to 128",)),
    ("get_dataset_status", {"dataset_id": "ds-1", "verbose": True}, "verbose", ("takes only", "dataset_id")),
    ("get_dataset_status", {"dataset_id": "ds-1", "timeout_seconds": 5}, "timeout_seconds", ("takes only",)),
    ("wait_for_dataset_sync", {"timeout_seconds": 5}, "dataset_id", ("required",)),
    ("wait_for_dataset_sync", {"dataset_id": 7, "timeout_seconds": 5}, "dataset_id", ("string",)),
    (
        "wait_for_dataset_sync",
        {"dataset_id": "ds-1", "timeout_seconds": "abc"},
        "timeout_seconds",
        ("number",),
    ),
    (
        "wait_for_dataset_sync",
        {"dataset_id": "ds-1", "timeout_seconds": "45"},
        "timeout_seconds",
        ("number",),
    ),
    (
        "wait_for_dataset_sync",
        {"dataset_id": "ds-1", "timeout_seconds": None},
        "timeout_seconds",
        ("number",),
    ),
    (
        "wait_for_dataset_sync",
        {"dataset_id": "ds-1", "timeout_seconds": True},
        "timeout_seconds",
        ("number",),
    ),
    ("wait_for_dataset_sync", {"dataset_id": "ds-1", "timeout_seconds": [5]}, "timeout_seconds", ("number",)),
    ("wait_for_dataset_sync", {"dataset_id": "ds-1", "timeout_seconds": 0}, "timeout_seconds", ("1", "900")),
    (
        "wait_for_dataset_sync",
        {"dataset_id": "ds-1", "timeout_seconds": 901},
        "timeout_seconds",
        ("1", "900"),
    ),
    ("wait_for_dataset_sync", {"dataset_id": "ds-1", "timeout_seconds": -1}, "timeout_seconds", ("1", "900")),
    (
        "wait_for_dataset_sync",
        {"dataset_id": "ds-1", "timeout_seconds": 1e308},
        "timeout_seconds",
        ("1", "900"),
    ),
    (
        "wait_for_dataset_sync",
        {"dataset_id": "ds-1", "timeout": 5},
        "timeout",
        ("takes only", "timeout_seconds"),
    ),
]


@pytest.mark.parametrize(("tool", "arguments", "argument", "allowed"), BAD_ARGUMENTS)
def test_bad_arguments_give_an_error_result_that_names_the_argument(
    tools: ToolHarness, tool: str, arguments: Any, argument: str, allowed: tuple[str, ...]
) -> None:
    result = tools.call(tool, arguments)
    text = assert_clean(result)
    assert result.is_error, text
    assert not tools.upstream.seen, "a request was sent for bad arguments"
    assert argument in text, text
    for words in allowed:
        assert words in text, text
    # The package's own wording, not pydantic's internals.
    assert "validation error for" not in text and "errors.pydantic.dev" not in text, text


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_bad_arguments_are_checked_the_same_way_whatever_the_client_mode(mode: str) -> None:
    for harness in harness_for(mode):
        for tool, arguments, argument, allowed in (
            BAD_ARGUMENTS[:2] + BAD_ARGUMENTS[9:10] + BAD_ARGUMENTS[13:14]
        ):
            result = harness.call(tool, arguments)
            text = assert_clean(result)
            assert result.is_error and argument in text and all(w in text for w in allowed), text
            assert "validation error for" not in text, text


names = st.text(min_size=1, max_size=30).filter(lambda n: n not in ("dataset_id", "timeout_seconds"))


@settings(SETTINGS, max_examples=100)
@given(
    tool=st.sampled_from(["get_dataset_status", "wait_for_dataset_sync"]),
    extra=st.dictionaries(names, json_values, min_size=1, max_size=3),
    dataset_id=st.one_of(st.just("ds-1"), json_values),
)
def test_unexpected_arguments_are_an_error_naming_one_of_them(
    tools: ToolHarness, tool: str, extra: dict[str, Any], dataset_id: Any
) -> None:
    result = tools.call(tool, {"dataset_id": dataset_id, **extra})
    text = assert_clean(result)
    assert result.is_error, text
    assert not tools.upstream.seen
    assert any(repr(name) in text or name in text for name in extra), text
