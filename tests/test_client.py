"""The Powerdrill client against a fake Powerdrill (respx): requests sent, answers understood.

Nothing here sleeps: the client gets a sleep that only records the delays it asks for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from support import CANARY_KEY

from pd_mcp.client import PowerdrillClient
from pd_mcp.errors import (
    AuthenticationError,
    BadRequest,
    DatasetNotFound,
    InvalidArgument,
    MalformedResponse,
    NetworkError,
    PermissionDenied,
    RateLimited,
    RequestTimedOut,
    UpstreamError,
    UpstreamUnavailable,
)

USER_ID = "user-42"
DS = "dset-cm5axptyyxxx298"
V2_STATUS = f"/v2/team/datasets/{DS}/status"
V1_STATUS = f"/v1/team/datasets/{DS}/status"
V2_SOURCES = f"/v2/team/datasets/{DS}/datasources"
V1_SOURCES = f"/v1/team/datasets/{DS}/datasources"
MAX_ATTEMPTS = 4  # ApiConfig.max_attempts default


def v2_body(synched: int = 5, synching: int = 0, invalid: int = 0) -> dict[str, Any]:
    return {
        "code": 0,
        "data": {"synched_count": synched, "synching_count": synching, "invalid_count": invalid},
    }


def v1_body(synched: int = 5, synching: int = 0, invalid: int = 0) -> dict[str, Any]:
    return {
        "code": 0,
        "data": {"synchedCount": synched, "synchingCount": synching, "invalidCount": invalid},
    }


def external_ids(route: respx.Route) -> list[str]:
    return [call.request.headers["x-pd-external-trace-id"] for call in route.calls]


# --- request shape and parsing ---------------------------------------------------------------


async def test_v2_status_request_shape_and_parsing(api: respx.MockRouter, client: PowerdrillClient) -> None:
    route = api.get(V2_STATUS).respond(200, json=v2_body(3, 2, 1), headers={"x-pd-trace-id": "tr-abc"})
    answer = await client.status(DS)

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.scheme == "https"
    assert request.url.host == "pd.test"
    assert request.url.path == f"/api/v2/team/datasets/{DS}/status"
    assert dict(request.url.params.multi_items()) == {"user_id": USER_ID}
    assert request.headers["x-pd-api-key"] == CANARY_KEY
    external = request.headers["x-pd-external-trace-id"]
    assert 0 < len(external) <= 128

    assert (answer.counts.synched, answer.counts.synching, answer.counts.invalid) == (3, 2, 1)
    assert answer.trace_id == "tr-abc"


async def test_v1_status_request_shape_and_camelcase_parsing(
    api: respx.MockRouter, client_v1: PowerdrillClient
) -> None:
    route = api.get(V1_STATUS).respond(200, json=v1_body(7, 1, 2), headers={"x-pd-trace-id": "tr-v1"})
    answer = await client_v1.status(DS)

    request = route.calls.last.request
    assert request.url.path == f"/api/v1/team/datasets/{DS}/status"
    assert "user_id" not in request.url.params
    assert not request.url.params  # the v1 status endpoint takes no query
    assert request.headers["x-pd-api-key"] == CANARY_KEY
    assert 0 < len(request.headers["x-pd-external-trace-id"]) <= 128
    assert (answer.counts.synched, answer.counts.synching, answer.counts.invalid) == (7, 1, 2)
    assert answer.trace_id == "tr-v1"
    assert client_v1.api_version == "v1"


async def test_v1_does_not_read_v2_field_names(api: respx.MockRouter, client_v1: PowerdrillClient) -> None:
    api.get(V1_STATUS).respond(200, json=v2_body(5, 0, 0))
    with pytest.raises(MalformedResponse):
        await client_v1.status(DS)


async def test_v2_does_not_read_v1_field_names(api: respx.MockRouter, client: PowerdrillClient) -> None:
    api.get(V2_STATUS).respond(200, json=v1_body(5, 0, 0))
    with pytest.raises(MalformedResponse):
        await client.status(DS)


async def test_missing_trace_header_gives_none(api: respx.MockRouter, client: PowerdrillClient) -> None:
    api.get(V2_STATUS).respond(200, json=v2_body())
    assert (await client.status(DS)).trace_id is None


async def test_integral_float_counts_are_accepted(api: respx.MockRouter, client: PowerdrillClient) -> None:
    api.get(V2_STATUS).respond(
        200, json={"code": 0, "data": {"synched_count": 2.0, "synching_count": 0, "invalid_count": 0.0}}
    )
    answer = await client.status(DS)
    assert (answer.counts.synched, answer.counts.invalid) == (2, 0)


async def test_base_url_path_is_kept(
    api: respx.MockRouter, make_client: Callable[..., PowerdrillClient]
) -> None:
    client = make_client("v2", base_url="https://pd.test/api/prefix")
    route = api.get(f"https://pd.test/api/prefix/v2/team/datasets/{DS}/status").respond(200, json=v2_body())
    await client.status(DS)
    assert route.call_count == 1


async def test_external_trace_id_is_fresh_for_every_request(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    route = api.get(V2_STATUS).respond(200, json=v2_body())
    for _ in range(3):
        await client.status(DS)
    ids = external_ids(route)
    assert len(ids) == 3
    assert len(set(ids)) == 3


async def test_v2_datasources_request_shape_and_parsing(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    records = [
        {
            "id": "src-1",
            "name": "sales.csv",
            "type": "FILE",
            "status": "invalid",
            "size": 12,
            "dataset_id": DS,
        },
        {"id": "src-2", "name": "q3.xlsx", "type": "FILE", "status": "invalid", "size": 34, "dataset_id": DS},
    ]
    route = api.get(V2_SOURCES).respond(
        200,
        json={"code": 0, "data": {"records": records, "total_items": 2, "page_number": 1, "page_size": 20}},
    )
    sources = await client.failed_sources(DS)

    request = route.calls.last.request
    assert request.url.path == f"/api/v2/team/datasets/{DS}/datasources"
    assert dict(request.url.params.multi_items()) == {
        "user_id": USER_ID,
        "status": "invalid",
        "page_number": "1",
        "page_size": "20",
    }
    assert request.headers["x-pd-api-key"] == CANARY_KEY
    assert 0 < len(request.headers["x-pd-external-trace-id"]) <= 128
    assert [(s.id, s.name) for s in sources] == [("src-1", "sales.csv"), ("src-2", "q3.xlsx")]


async def test_v1_datasources_request_shape(api: respx.MockRouter, client_v1: PowerdrillClient) -> None:
    route = api.get(V1_SOURCES).respond(
        200, json={"code": 0, "data": {"records": [{"id": "s1", "name": "a.csv"}]}}
    )
    sources = await client_v1.failed_sources(DS)

    request = route.calls.last.request
    assert request.url.path == f"/api/v1/team/datasets/{DS}/datasources"
    assert dict(request.url.params.multi_items()) == {
        "status": "invalid",
        "pageNumber": "1",
        "pageSize": "20",
    }
    assert request.headers["x-pd-api-key"] == CANARY_KEY
    assert [(s.id, s.name) for s in sources] == [("s1", "a.csv")]


async def test_datasources_are_capped_at_twenty(api: respx.MockRouter, client: PowerdrillClient) -> None:
    records = [{"id": f"s{i}", "name": f"f{i}.csv"} for i in range(30)]
    api.get(V2_SOURCES).respond(200, json={"code": 0, "data": {"records": records}})
    sources = await client.failed_sources(DS)
    assert len(sources) == 20


async def test_datasources_listing_without_records_is_malformed(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    api.get(V2_SOURCES).respond(200, json={"code": 0, "data": {}})
    with pytest.raises(MalformedResponse):
        await client.failed_sources(DS)


# --- documented error codes --------------------------------------------------------------------

ERROR_CODES = [
    # code, HTTP status (as Powerdrill documents them), error class, retryable
    (100, 400, BadRequest, False),
    (300001, 400, BadRequest, False),
    (300002, 200, PermissionDenied, False),
    (300003, 200, DatasetNotFound, False),
    (100001, 200, BadRequest, False),
    (100001, 400, BadRequest, False),
    (201, 429, RateLimited, True),
    (1002, 403, AuthenticationError, False),
    (1003, 403, AuthenticationError, False),
    (1004, 403, AuthenticationError, False),
    (9999, 500, UpstreamUnavailable, True),
]


@pytest.mark.parametrize(
    ("code", "status", "cls", "retryable"),
    ERROR_CODES,
    ids=[f"code{c}-http{s}" for c, s, _, _ in ERROR_CODES],
)
async def test_documented_error_codes(
    api: respx.MockRouter,
    client: PowerdrillClient,
    code: int,
    status: int,
    cls: type[UpstreamError],
    retryable: bool,
) -> None:
    route = api.get(V2_STATUS).respond(
        status, json={"code": code, "message": f"upstream says {code}"}, headers={"x-pd-trace-id": "tr-err"}
    )
    with pytest.raises(UpstreamError) as info:
        await client.status(DS)
    exc = info.value
    assert type(exc) is cls
    assert exc.retryable is retryable
    assert exc.code == code
    assert exc.status == status
    assert exc.trace_id == "tr-err"
    assert f"upstream says {code}" in exc.message  # Powerdrill's own words are passed on
    expected_calls = MAX_ATTEMPTS if retryable else 1
    assert route.call_count == expected_calls
    assert exc.attempts == expected_calls


HTTP_CLASSES = [
    (400, BadRequest, False),
    (401, AuthenticationError, False),
    (402, UpstreamError, False),
    (403, PermissionDenied, False),
    (404, DatasetNotFound, False),
    (409, UpstreamError, False),
    (429, RateLimited, True),
    (500, UpstreamUnavailable, True),
    (502, UpstreamUnavailable, True),
    (503, UpstreamUnavailable, True),
    (504, UpstreamUnavailable, True),
]

BODIES = {
    "json": lambda status: {"json": {"code": status, "message": "something went wrong"}},
    "no-body": lambda status: {},
    "html": lambda status: {"html": f"<html><body><h1>{status}</h1></body></html>"},
}


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize(
    ("status", "cls", "retryable"), HTTP_CLASSES, ids=[str(s) for s, _, _ in HTTP_CLASSES]
)
async def test_http_error_classes(
    api: respx.MockRouter,
    client: PowerdrillClient,
    status: int,
    cls: type[UpstreamError],
    retryable: bool,
    body: str,
) -> None:
    route = api.get(V2_STATUS).respond(status, **BODIES[body](status))
    with pytest.raises(UpstreamError) as info:
        await client.status(DS)
    exc = info.value
    assert type(exc) is cls
    assert exc.retryable is retryable
    assert exc.status == status
    assert str(status) in exc.message
    if body == "json":
        assert "something went wrong" in exc.message
    expected_calls = MAX_ATTEMPTS if retryable else 1
    assert route.call_count == expected_calls
    assert exc.attempts == expected_calls


async def test_unknown_code_on_http_200_is_an_error_not_counts(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    body = {"code": 210023, "message": "Selected files are not all ready", "data": v2_body()["data"]}
    route = api.get(V2_STATUS).respond(200, json=body)
    with pytest.raises(UpstreamError) as info:
        await client.status(DS)
    assert info.value.code == 210023
    assert "Selected files are not all ready" in info.value.message
    assert route.call_count == 1


async def test_error_code_wins_over_counts_in_data(api: respx.MockRouter, client: PowerdrillClient) -> None:
    body = {"code": 300003, "message": "not found", "data": v2_body()["data"]}
    api.get(V2_STATUS).respond(200, json=body)
    with pytest.raises(DatasetNotFound):
        await client.status(DS)


async def test_datasources_errors_are_classified_too(api: respx.MockRouter, client: PowerdrillClient) -> None:
    route = api.get(V2_SOURCES).respond(403, json={"code": 1004, "message": "bad credentials"})
    with pytest.raises(AuthenticationError):
        await client.failed_sources(DS)
    assert route.call_count == 1


# --- malformed answers -----------------------------------------------------------------------

DEEP = 100_000


def raw(content: bytes | str, status: int = 200) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return httpx.Response(status, content=data, headers={"content-type": "application/json"})


def envelope(**counts: Any) -> httpx.Response:
    data = {"synched_count": 1, "synching_count": 0, "invalid_count": 0}
    for name, value in counts.items():
        if value is _MISSING:
            data.pop(name)
        else:
            data[name] = value
    return raw(json.dumps({"code": 0, "data": data}))


_MISSING = object()

MALFORMED = {
    "empty": lambda: raw(b""),
    "not-json": lambda: raw("this is not json"),
    "truncated-json": lambda: raw('{"code": 0, "data": {"synched_count": 1'),
    "html": lambda: httpx.Response(200, html="<html><body>Welcome to nginx!</body></html>"),
    "binary": lambda: raw(b"\xff\xfe\x00\x81garbage"),
    "json-array": lambda: raw("[1, 2, 3]"),
    "json-string": lambda: raw('"ok"'),
    "json-null": lambda: raw("null"),
    "no-code": lambda: raw(json.dumps({"data": v2_body()["data"]})),
    "code-string": lambda: raw(json.dumps({"code": "0", "data": v2_body()["data"]})),
    "code-bool": lambda: raw(json.dumps({"code": False, "data": v2_body()["data"]})),
    "data-missing": lambda: raw(json.dumps({"code": 0})),
    "data-null": lambda: raw(json.dumps({"code": 0, "data": None})),
    "data-list": lambda: raw(json.dumps({"code": 0, "data": [1, 0, 0]})),
    "data-empty": lambda: raw(json.dumps({"code": 0, "data": {}})),
    "synched-missing": lambda: envelope(synched_count=_MISSING),
    "synching-missing": lambda: envelope(synching_count=_MISSING),
    "invalid-missing": lambda: envelope(invalid_count=_MISSING),
    "negative": lambda: envelope(invalid_count=-1),
    "float-non-integer": lambda: envelope(synched_count=2.5),
    "string": lambda: envelope(synched_count="3"),
    "bool": lambda: envelope(synching_count=True),
    "null": lambda: envelope(synched_count=None),
    "list": lambda: envelope(synched_count=[1]),
    "object": lambda: envelope(synched_count={"n": 1}),
    "infinity": lambda: raw(
        '{"code": 0, "data": {"synched_count": Infinity, "synching_count": 0, "invalid_count": 0}}'
    ),
    "nan": lambda: raw(
        '{"code": 0, "data": {"synched_count": NaN, "synching_count": 0, "invalid_count": 0}}'
    ),
    "huge-nesting": lambda: raw("[" * DEEP + "]" * DEEP),
    "huge-nesting-in-count": lambda: raw(
        '{"code": 0, "data": {"synched_count": ' + "[" * DEEP + "]" * DEEP + "}}"
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_answers_never_become_counts(
    api: respx.MockRouter, client: PowerdrillClient, case: str
) -> None:
    api.get(V2_STATUS).mock(side_effect=lambda request: MALFORMED[case]())
    with pytest.raises(MalformedResponse) as info:
        await client.status(DS)
    assert info.value.attempts is not None


async def test_malformed_answer_keeps_the_trace_id(api: respx.MockRouter, client: PowerdrillClient) -> None:
    api.get(V2_STATUS).respond(200, json={"code": 0, "data": {}}, headers={"x-pd-trace-id": "tr-bad"})
    with pytest.raises(MalformedResponse) as info:
        await client.status(DS)
    assert info.value.trace_id == "tr-bad"


# --- retries -------------------------------------------------------------------------------------


async def test_transient_error_then_success_is_retried(
    api: respx.MockRouter, client: PowerdrillClient, fake_sleep: Any
) -> None:
    route = api.get(V2_STATUS).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(500, json={"code": 9999, "message": "internal"}),
            httpx.Response(200, json=v2_body(4, 0, 0), headers={"x-pd-trace-id": "tr-final"}),
        ]
    )
    answer = await client.status(DS)
    assert answer.counts.synched == 4
    assert answer.trace_id == "tr-final"
    assert route.call_count == 3
    assert len(fake_sleep.delays) == 2
    assert all(0 <= d <= 4 for d in fake_sleep.delays)


async def test_every_attempt_has_a_fresh_external_trace_id(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    route = api.get(V2_STATUS).respond(503)
    with pytest.raises(UpstreamUnavailable):
        await client.status(DS)
    ids = external_ids(route)
    assert len(ids) == MAX_ATTEMPTS
    assert len(set(ids)) == MAX_ATTEMPTS
    assert all(0 < len(i) <= 128 for i in ids)


async def test_retry_after_is_honoured_as_the_delay(
    api: respx.MockRouter, client: PowerdrillClient, fake_sleep: Any
) -> None:
    limited = {"code": 201, "message": "rate limit"}
    route = api.get(V2_STATUS).mock(
        side_effect=[
            httpx.Response(429, json=limited, headers={"retry-after": "3"}),
            httpx.Response(429, json=limited, headers={"retry-after": "1.5"}),
            httpx.Response(200, json=v2_body(2, 0, 0)),
        ]
    )
    answer = await client.status(DS)
    assert answer.counts.synched == 2
    assert route.call_count == 3
    assert fake_sleep.delays == [3.0, 1.5]


async def test_rate_limit_gives_up_after_the_attempt_budget(
    api: respx.MockRouter, client: PowerdrillClient, fake_sleep: Any
) -> None:
    route = api.get(V2_STATUS).respond(
        429,
        json={"code": 201, "message": "slow down"},
        headers={"retry-after": "2", "x-pd-trace-id": "tr-429"},
    )
    with pytest.raises(RateLimited) as info:
        await client.status(DS)
    assert route.call_count == MAX_ATTEMPTS
    assert info.value.attempts == MAX_ATTEMPTS
    assert info.value.retry_after == 2.0
    assert info.value.trace_id == "tr-429"
    assert fake_sleep.delays == [2.0] * (MAX_ATTEMPTS - 1)


@pytest.mark.parametrize(
    ("exception", "cls"),
    [
        (httpx.ConnectError("connection refused"), NetworkError),
        (httpx.RemoteProtocolError("server disconnected"), NetworkError),
        (httpx.ReadError("connection reset"), NetworkError),
        (httpx.ConnectTimeout("connect timed out"), RequestTimedOut),
        (httpx.ReadTimeout("read timed out"), RequestTimedOut),
    ],
    ids=["connect-error", "disconnected", "reset", "connect-timeout", "read-timeout"],
)
async def test_network_failures_are_retried_then_reported(
    api: respx.MockRouter, client: PowerdrillClient, fake_sleep: Any, exception: Exception, cls: type
) -> None:
    route = api.get(V2_STATUS).mock(side_effect=exception)
    with pytest.raises(UpstreamError) as info:
        await client.status(DS)
    assert type(info.value) is cls
    assert info.value.retryable
    assert route.call_count == MAX_ATTEMPTS
    assert info.value.attempts == MAX_ATTEMPTS
    assert len(fake_sleep.delays) == MAX_ATTEMPTS - 1


async def test_network_failure_then_success(api: respx.MockRouter, client: PowerdrillClient) -> None:
    route = api.get(V2_STATUS).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=v2_body(1, 0, 0))]
    )
    assert (await client.status(DS)).counts.synched == 1
    assert route.call_count == 2


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409])
async def test_permanent_errors_are_sent_exactly_once(
    api: respx.MockRouter, client: PowerdrillClient, fake_sleep: Any, status: int
) -> None:
    route = api.get(V2_STATUS).respond(status, json={"code": status, "message": "no"})
    with pytest.raises(UpstreamError) as info:
        await client.status(DS)
    assert route.call_count == 1
    assert info.value.attempts == 1
    assert fake_sleep.delays == []


async def test_no_retry_when_asked(api: respx.MockRouter, client: PowerdrillClient) -> None:
    route = api.get(V2_STATUS).respond(503)
    with pytest.raises(UpstreamUnavailable):
        await client.status(DS, retry=False)
    assert route.call_count == 1


# --- refused ids never reach the network -----------------------------------------------------

REFUSED_IDS = [
    "a/b",
    "a\\b",
    ".",
    "..",
    "a?b",
    "a#b",
    "a&b",
    "a%2Fb",
    "",
    " ds",
    "ds\n",
    "a" * 129,
    "dätaset",
]


@pytest.mark.parametrize("bad", REFUSED_IDS)
@pytest.mark.parametrize("call", ["status", "failed_sources"])
async def test_refused_id_sends_no_request(
    api: respx.MockRouter, make_client: Callable[..., PowerdrillClient], bad: str, call: str
) -> None:
    everything = api.route().respond(200, json=v2_body())
    for version in ("v2", "v1"):
        client = make_client(version)
        with pytest.raises(InvalidArgument):
            await getattr(client, call)(bad)
    assert everything.call_count == 0
    assert api.calls.call_count == 0


async def test_accepted_unusual_id_is_one_path_segment(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    route = api.get("/v2/team/datasets/..a/status").respond(200, json=v2_body())
    await client.status("..a")
    assert route.calls.last.request.url.raw_path.startswith(b"/api/v2/team/datasets/..a/status")


async def test_retry_after_on_503_is_honoured(
    api: respx.MockRouter, client: PowerdrillClient, fake_sleep: Any
) -> None:
    api.get(V2_STATUS).mock(
        side_effect=[
            httpx.Response(503, headers={"retry-after": "5"}),
            httpx.Response(200, json=v2_body(1, 0, 0)),
        ]
    )
    await client.status(DS)
    assert fake_sleep.delays == [5.0]


async def test_malformed_answer_then_good_one_gives_the_good_counts(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    route = api.get(V2_STATUS).mock(
        side_effect=[
            httpx.Response(200, html="<html>proxy error</html>"),
            httpx.Response(200, json={"code": 0, "data": {"synched_count": -3}}),
            httpx.Response(200, json=v2_body(6, 0, 0)),
        ]
    )
    assert (await client.status(DS)).counts.synched == 6
    assert route.call_count == 3


def test_an_absurd_count_is_a_malformed_answer_not_a_crash() -> None:
    """A 4,300-digit count (the sum would not even print) is the malformed-answer error."""
    from pd_mcp.client import MalformedResponse, classify, parse_counts

    huge = b"1" * 4300
    body = b'{"code":0,"data":{"synched_count":' + huge + b',"synching_count":' + huge
    body += b',"invalid_count":0}}'
    with pytest.raises(MalformedResponse, match="synched_count"):
        parse_counts(classify(200, body, {}, None), "v2", None)


def test_control_characters_in_upstream_ids_are_removed() -> None:
    """Source and dataset ids reach terminals and messages: no ANSI escape or newline survives."""
    from pd_mcp.client import parse_datasets, parse_sources

    evil = "ds-1\x1b[31m\nFAKE LINE\r\x07"
    sources = parse_sources({"records": [{"id": evil, "name": "a.csv"}]}, None)
    datasets = parse_datasets({"records": [{"id": evil, "name": "n"}], "total_items": 1}, "v2", 10, None)
    for ident in (sources[0].id, datasets.records[0].id):
        assert ident.isprintable() and "\x1b" not in ident and "\n" not in ident


async def test_a_read_given_up_by_its_last_caller_is_not_joined_by_the_next_one() -> None:
    """The next caller starts a fresh read instead of inheriting the cancellation of a dying one."""
    import anyio

    from pd_mcp.coalesce import Coalescer, Flight

    reads: list[Flight] = []
    calls = 0

    async def read(flight: Flight) -> int:
        nonlocal calls
        calls += 1
        reads.append(flight)
        if calls == 1:
            await anyio.sleep_forever()
        return calls

    shared: Coalescer[int] = Coalescer()
    with anyio.move_on_after(0.01):
        await shared.run("k", read)
    assert await shared.run("k", read) == 2  # at once, before the first read has finished dying
    assert reads[0] is not reads[1]
