# Tests of the simulated Powerdrill API (pd_mcp.sandbox): scenario timelines as
# pure functions and over HTTP, paging, filters, authentication, errors, the
# rate limit, every fault knob, the request log, and running over a real socket.
# Time is a fake clock moved by hand, so nothing here waits for a scenario.
"""Behaviour of pd_mcp.sandbox."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import socket
import subprocess
import sys
import time
from contextlib import suppress
from typing import Any

import httpx
import pytest
from sandbox_support import call, client_for

from pd_mcp.sandbox import (
    MALFORMED_KINDS,
    SANDBOX_API_KEY,
    SANDBOX_HEADER,
    SANDBOX_USER_ID,
    Counts,
    InjectedDrop,
    Sandbox,
    SandboxOptions,
    add_arguments,
    banner,
    describe,
    find_scenario,
    main,
    options_from_args,
    running_sandbox,
    scenario_table,
    serve_sandbox,
)
from pd_mcp.sandbox.app import malformed_body

TRACE = "x-pd-trace-id"


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def counts_of(response: httpx.Response, version: str) -> Counts:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0
    data = body["data"]
    if version == "v2":
        return Counts(data["synched_count"], data["invalid_count"], data["synching_count"])
    return Counts(data["synchedCount"], data["invalidCount"], data["synchingCount"])


# --- scenarios as pure functions -------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset_id", "elapsed", "expected"),
    [
        ("ds-ready", 0, Counts(5, 0, 0)),
        ("ds-ready", 1e6, Counts(5, 0, 0)),
        ("ds-syncing", 0, Counts(0, 0, 8)),
        ("ds-syncing", 0.74, Counts(0, 0, 8)),
        ("ds-syncing", 0.75, Counts(1, 0, 7)),
        ("ds-syncing", 3, Counts(4, 0, 4)),
        ("ds-syncing", 5.99, Counts(7, 0, 1)),
        ("ds-syncing", 6, Counts(8, 0, 0)),
        ("ds-syncing", 1e6, Counts(8, 0, 0)),
        ("ds-partial", 0, Counts(0, 0, 6)),
        ("ds-partial", 3, Counts(2, 1, 3)),
        ("ds-partial", 6, Counts(4, 2, 0)),
        ("ds-failed", 0, Counts(0, 3, 0)),
        ("ds-empty", 0, Counts(0, 0, 0)),
        ("ds-stuck", 0, Counts(1, 0, 3)),
        ("ds-stuck", 1e9, Counts(1, 0, 3)),
        ("ds-large", 0, Counts(288, 12, 0)),
        ("ds-sync-10", 0, Counts(0, 0, 10)),
        ("ds-sync-10", 5, Counts(5, 0, 5)),
        ("ds-sync-10", 10, Counts(10, 0, 0)),
        ("ds-sync-3600", 3599, Counts(9, 0, 1)),
        ("ds-syncfail-60", 30, Counts(4, 1, 5)),
        ("ds-syncfail-60", 60, Counts(8, 2, 0)),
    ],
)
def test_scenario_counts_over_time(dataset_id: str, elapsed: float, expected: Counts) -> None:
    scenario = find_scenario(dataset_id)
    assert scenario is not None
    assert scenario.counts(elapsed) == expected


@pytest.mark.parametrize(
    "dataset_id",
    [
        "nope",
        "ds-sync-0",
        "ds-sync-3601",
        "ds-sync-010",
        "ds-sync-x",
        "ds-syncfail-",
        "DS-READY",
        "ds-forbidden",
    ],
)
def test_unknown_ids_are_not_scenarios(dataset_id: str) -> None:
    assert find_scenario(dataset_id) is None


@pytest.mark.parametrize(
    ("dataset_id", "seconds", "total"),
    [("ds-syncing", 6.0, 8), ("ds-partial", 6.0, 6), ("ds-sync-2", 2.0, 10), ("ds-sync-300", 300.0, 10)],
)
def test_sources_finish_one_by_one_evenly(dataset_id: str, seconds: float, total: int) -> None:
    scenario = find_scenario(dataset_id)
    assert scenario is not None
    assert [s.done_at for s in scenario.sources] == pytest.approx(
        [seconds * n / total for n in range(1, total + 1)]
    )
    assert scenario.finishes_after == pytest.approx(seconds)
    previous = 0
    for step in range(0, 2001):  # fine steps: the number done never jumps by more than one
        done = total - scenario.counts(seconds * step / 2000).synching
        assert done - previous in (0, 1)
        previous = done
    assert previous == total


def test_sources_have_stable_ids_names_and_sizes() -> None:
    for dataset_id in (
        "ds-ready",
        "ds-syncing",
        "ds-partial",
        "ds-failed",
        "ds-stuck",
        "ds-large",
        "ds-sync-2",
    ):
        scenario = find_scenario(dataset_id)
        assert scenario is not None
        assert [s.id for s in scenario.sources] == [
            f"src-{dataset_id}-{n}" for n in range(1, len(scenario.sources) + 1)
        ]
        assert all(s.file_name and s.size > 0 for s in scenario.sources)
        assert find_scenario(dataset_id, 7.0) is not None
    partial = find_scenario("ds-partial")
    assert partial is not None
    assert {s.file_name for s in partial.sources if s.final_status == "invalid"} == {
        "broken-export.csv",
        "scan.pdf",
    }
    assert find_scenario("ds-stuck").finishes_after is None  # type: ignore[union-attr]


def test_sync_seconds_changes_only_the_unparameterised_scenarios() -> None:
    assert find_scenario("ds-syncing", 2.0).finishes_after == pytest.approx(2.0)  # type: ignore[union-attr]
    assert find_scenario("ds-partial", 30.0).finishes_after == pytest.approx(30.0)  # type: ignore[union-attr]
    assert find_scenario("ds-sync-10", 2.0).finishes_after == pytest.approx(10.0)  # type: ignore[union-attr]


def test_describe_and_table_list_every_scenario() -> None:
    rows = describe(6.0)
    ids = [row.dataset_id for row in rows]
    for concrete in ("ds-ready", "ds-syncing", "ds-partial", "ds-failed", "ds-empty", "ds-stuck", "ds-large"):
        assert concrete in ids
        scenario = find_scenario(concrete)
        assert scenario is not None
        assert next(r.sources for r in rows if r.dataset_id == concrete) == len(scenario.sources)
    assert {"ds-sync-<N>", "ds-syncfail-<N>", "ds-forbidden", "ds-internal-error"} <= set(ids)
    table = scenario_table(9.0)
    assert all(dataset_id in table for dataset_id in ids)
    assert "9 s" in table


# --- scenarios over HTTP ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_status_follows_the_clock_from_first_ask(version: str, clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock))
    async with client_for(sandbox) as client:
        assert counts_of(await call(client, version, "status", "ds-syncing"), version) == Counts(0, 0, 8)
        clock.advance(3)
        assert counts_of(await call(client, version, "status", "ds-syncing"), version) == Counts(4, 0, 4)
        # another dataset first asked now starts from zero
        assert counts_of(await call(client, version, "status", "ds-partial"), version) == Counts(0, 0, 6)
        clock.advance(3)
        assert counts_of(await call(client, version, "status", "ds-syncing"), version) == Counts(8, 0, 0)
        assert counts_of(await call(client, version, "status", "ds-partial"), version) == Counts(2, 1, 3)
        clock.advance(3)
        assert counts_of(await call(client, version, "status", "ds-partial"), version) == Counts(4, 2, 0)
        for dataset_id, expected in [
            ("ds-ready", Counts(5, 0, 0)),
            ("ds-failed", Counts(0, 3, 0)),
            ("ds-empty", Counts(0, 0, 0)),
            ("ds-stuck", Counts(1, 0, 3)),
            ("ds-large", Counts(288, 12, 0)),
        ]:
            assert counts_of(await call(client, version, "status", dataset_id), version) == expected
        clock.advance(10_000)
        assert counts_of(await call(client, version, "status", "ds-stuck"), version) == Counts(1, 0, 3)
    assert sandbox.first_asked("ds-syncing") == 1000.0
    assert sandbox.first_asked("ds-partial") == 1003.0
    assert sandbox.first_asked("never-asked") is None


async def test_listing_also_starts_the_clock_and_sync_seconds_is_configurable(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, sync_seconds=2))
    async with client_for(sandbox) as client:
        listing = (await call(client, "v2", "datasources", "ds-syncing")).json()["data"]
        assert [r["status"] for r in listing["records"]] == ["synching"] * 8
        clock.advance(1)
        assert counts_of(await call(client, "v2", "status", "ds-syncing"), "v2") == Counts(4, 0, 4)
        listing = (await call(client, "v2", "datasources", "ds-syncing")).json()["data"]
        assert [r["status"] for r in listing["records"]] == ["synched"] * 4 + ["synching"] * 4
        clock.advance(1)
        assert counts_of(await call(client, "v2", "status", "ds-syncing"), "v2") == Counts(8, 0, 0)


async def test_parameterised_scenarios_over_http(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock))
    async with client_for(sandbox) as client:
        for dataset_id in ("ds-sync-60", "ds-syncfail-60"):
            assert counts_of(await call(client, "v2", "status", dataset_id), "v2") == Counts(0, 0, 10)
        clock.advance(60)
        assert counts_of(await call(client, "v2", "status", "ds-sync-60"), "v2") == Counts(10, 0, 0)
        assert counts_of(await call(client, "v1", "status", "ds-syncfail-60"), "v1") == Counts(8, 2, 0)
        invalid = (await call(client, "v2", "datasources", "ds-syncfail-60", status="invalid")).json()["data"]
        assert [r["name"] for r in invalid["records"]] == [
            "table-05-truncated.csv",
            "table-10-bad-encoding.csv",
        ]


async def test_one_by_one_progress_over_http(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, rate_limit=0))
    async with client_for(sandbox) as client:
        seen = []
        for _ in range(25):  # 0 s .. 6 s in steps of 0.25 s
            seen.append(counts_of(await call(client, "v1", "status", "ds-syncing"), "v1").synched)
            clock.advance(0.25)
    assert seen == sorted(seen)
    assert {b - a for a, b in itertools.pairwise(seen)} <= {0, 1}
    assert seen[0] == 0 and seen[-1] == 8 and len(set(seen)) == 9


# --- listing: paging and filters -------------------------------------------------------


async def test_v2_paging_on_ds_large() -> None:
    sandbox = Sandbox(SandboxOptions(rate_limit=0))
    async with client_for(sandbox) as client:
        default = (await call(client, "v2", "datasources", "ds-large")).json()["data"]
        assert (default["page_number"], default["page_size"], default["total_items"]) == (1, 10, 300)
        assert len(default["records"]) == 10
        ids: list[str] = []
        page = 1
        while True:
            data = (
                await call(client, "v2", "datasources", "ds-large", page_number=page, page_size=7)
            ).json()["data"]
            assert data["total_items"] == 300 and data["page_number"] == page and data["page_size"] == 7
            if not data["records"]:
                break
            assert len(data["records"]) == (7 if page < 43 else 300 - 42 * 7)
            ids += [r["id"] for r in data["records"]]
            page += 1
        assert page == 44
        assert ids == [f"src-ds-large-{n}" for n in range(1, 301)]
        invalid = (
            await call(client, "v2", "datasources", "ds-large", status="invalid", page_size=100)
        ).json()
        records = invalid["data"]["records"]
        assert invalid["data"]["total_items"] == 12 and len(records) == 12
        assert all(r["status"] == "invalid" and r["name"].startswith("bad-part-") for r in records)
        assert all(set(r) == {"id", "dataset_id", "name", "type", "status", "size"} for r in records)
        assert all(r["type"] == "FILE" and r["dataset_id"] == "ds-large" for r in records)


async def test_v1_paging_on_ds_large_reports_pages_in_total() -> None:
    sandbox = Sandbox(SandboxOptions(rate_limit=0))
    async with client_for(sandbox) as client:
        default = (await call(client, "v1", "datasources", "ds-large")).json()["data"]
        # The v1 document defines `total` as the total number of pages.
        assert (default["pageNumber"], default["pageSize"], default["total"]) == (1, 10, 30)
        ids: list[str] = []
        for page in range(1, 5):
            data = (
                await call(client, "v1", "datasources", "ds-large", pageNumber=page, pageSize=100)
            ).json()["data"]
            assert data["total"] == 3 and data["pageNumber"] == page and data["pageSize"] == 100
            ids += [r["id"] for r in data["records"]]
        assert ids == [f"src-ds-large-{n}" for n in range(1, 301)]
        invalid = (await call(client, "v1", "datasources", "ds-large", status="invalid", pageSize=5)).json()[
            "data"
        ]
        assert invalid["total"] == math.ceil(12 / 5)
        record = invalid["records"][0]
        assert set(record) == {"id", "datasetId", "name", "fileName", "type", "status"}
        assert record["fileName"] == record["name"] == "bad-part-025.csv"
        empty = (await call(client, "v1", "datasources", "ds-empty")).json()["data"]
        assert empty == {"total": 0, "pageNumber": 1, "pageSize": 10, "records": []}


@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_status_filter(version: str, clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock))
    total = "total_items" if version == "v2" else "total"
    async with client_for(sandbox) as client:
        await call(client, version, "status", "ds-partial")
        clock.advance(3)  # sources 1-3 done (3 invalid), 4-6 synching

        async def names(status: str) -> list[str]:
            response = await call(client, version, "datasources", "ds-partial", status=status)
            assert response.status_code == 200, response.text
            records = response.json()["data"]["records"]
            assert all(r["status"] in status.split(",") for r in records)
            return [r["name"] for r in records]

        assert await names("synched") == ["inventory.csv", "suppliers.xlsx"]
        assert await names("invalid") == ["broken-export.csv"]
        assert await names("synching") == ["shipping_rates.csv", "warehouse_notes.txt", "scan.pdf"]
        assert await names("invalid,synching") == [
            "broken-export.csv",
            "shipping_rates.csv",
            "warehouse_notes.txt",
            "scan.pdf",
        ]
        everything = (await call(client, version, "datasources", "ds-partial")).json()["data"]
        assert len(everything["records"]) == 6
        failed = (await call(client, version, "datasources", "ds-failed", status="invalid")).json()["data"]
        assert [r["name"] for r in failed["records"]] == [
            "corrupted-workbook.xlsx",
            "empty-sheet.csv",
            "password-protected.pdf",
        ]
        assert failed[total] == (3 if version == "v2" else 1)  # v1 counts pages


@pytest.mark.parametrize(
    ("version", "params", "code"),
    [
        ("v2", {"page_size": "abc"}, 300001),
        ("v2", {"page_number": "1.5"}, 300001),
        ("v2", {"page_size": "0"}, 300001),
        ("v2", {"page_size": "101"}, 300001),
        ("v2", {"page_number": "0"}, 300001),
        ("v2", {"status": "pending"}, 300001),
        ("v1", {"pageSize": "x"}, 100),
        ("v1", {"pageSize": "101"}, 100),
        ("v1", {"pageSize": "-1"}, 100),
        ("v1", {"pageNumber": "zero"}, 100),
        ("v1", {"status": "synched,done"}, 100),
    ],
)
async def test_bad_paging_parameters(version: str, params: dict[str, str], code: int) -> None:
    sandbox = Sandbox()
    async with client_for(sandbox) as client:
        response = await call(client, version, "datasources", "ds-large", **params)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert isinstance(response.json()["message"], str)


async def test_page_size_limits_are_inclusive() -> None:
    sandbox = Sandbox()
    async with client_for(sandbox) as client:
        for size in (1, 100):
            response = await call(client, "v2", "datasources", "ds-large", page_size=size)
            assert len(response.json()["data"]["records"]) == size
        far = await call(client, "v2", "datasources", "ds-large", page_number=99)
        assert far.status_code == 200 and far.json()["data"]["records"] == []


# --- authentication and errors ---------------------------------------------------------


@pytest.mark.parametrize("leaf", ["status", "datasources"])
@pytest.mark.parametrize(
    ("version", "key", "user_id", "code"),
    [
        ("v2", None, SANDBOX_USER_ID, 1003),
        ("v2", "", SANDBOX_USER_ID, 1003),
        ("v2", "wrong-key", SANDBOX_USER_ID, 1004),
        ("v2", SANDBOX_API_KEY, None, 1003),
        ("v2", SANDBOX_API_KEY, "", 1003),
        ("v2", SANDBOX_API_KEY, "someone-else", 1004),
        ("v2", "wrong-key", None, 1004),  # the key is checked first
        ("v1", None, None, 1003),
        ("v1", "wrong-key", None, 1004),
    ],
)
async def test_authentication_failures(
    version: str, key: str | None, user_id: str | None, code: int, leaf: str
) -> None:
    sandbox = Sandbox()
    async with client_for(sandbox) as client:
        response = await call(client, version, leaf, "ds-ready", key=key, user_id=user_id)
    assert response.status_code == 403
    assert response.json() == {"code": code, "message": response.json()["message"]}
    assert response.headers["content-type"] == "application/json"


async def test_v1_needs_no_user_id_and_custom_credentials_work() -> None:
    sandbox = Sandbox(SandboxOptions(user_id="u-1", api_key="k-1"))
    async with client_for(sandbox) as client:
        assert (await call(client, "v1", "status", "ds-ready", key="k-1", user_id=None)).status_code == 200
        assert (await call(client, "v2", "status", "ds-ready", key="k-1", user_id="u-1")).status_code == 200
        assert (await call(client, "v2", "status", "ds-ready")).json()["code"] == 1004


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("leaf", ["status", "datasources"])
@pytest.mark.parametrize(
    ("dataset_id", "status", "code"),
    [("no-such-dataset", 200, 300003), ("ds-forbidden", 200, 300002), ("ds-internal-error", 500, 9999)],
)
async def test_dataset_errors(version: str, leaf: str, dataset_id: str, status: int, code: int) -> None:
    sandbox = Sandbox()
    async with client_for(sandbox) as client:
        response = await call(client, version, leaf, dataset_id)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and isinstance(body["message"], str) and "data" not in body
    assert sandbox.first_asked(dataset_id) is None


async def test_unknown_routes_and_methods_use_the_error_envelope() -> None:
    sandbox = Sandbox()
    async with client_for(sandbox) as client:
        for path in (
            "/",
            "/v2/team/datasets/",
            "/v2/team/datasets/ds-ready/status/",
            "/v3/team/datasets/x/status",
        ):
            response = await client.get(path)
            assert response.status_code == 404
            assert response.json()["code"] == 300003
            assert response.headers[SANDBOX_HEADER] == "true" and response.headers[TRACE]
        response = await client.post(
            "/v2/team/datasets/ds-ready/status", headers={"x-pd-api-key": SANDBOX_API_KEY}
        )
        assert response.status_code == 405 and response.json()["code"] == 300001
        response = await client.delete("/v1/team/datasets/ds-ready/datasources")
        assert response.status_code == 405 and response.json()["code"] == 100


# --- rate limit ------------------------------------------------------------------------


async def test_rate_limit_sliding_window(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, rate_limit=3))
    async with client_for(sandbox) as client:
        for _ in range(3):
            assert (await call(client, "v2", "status", "ds-ready")).status_code == 200
            clock.advance(0.2)  # at 1000.0, 1000.2, 1000.4
        limited = await call(client, "v2", "status", "ds-ready")  # at 1000.6
        assert limited.status_code == 429
        assert limited.json()["code"] == 201
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers[TRACE]
        clock.advance(0.39)  # 1000.99: the first is still inside the window
        assert (await call(client, "v1", "status", "ds-ready")).status_code == 429
        clock.advance(0.01)  # 1001.0: the first has left the window
        assert (await call(client, "v1", "status", "ds-ready")).status_code == 200
        assert (await call(client, "v2", "datasources", "ds-ready")).status_code == 429
        # authentication failures neither count nor get a 429
        assert (await call(client, "v2", "status", "ds-ready", key="wrong")).status_code == 403
        clock.advance(1.0)
        statuses = [(await call(client, "v2", "status", "ds-ready")).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
    assert sandbox.max_requests_in_window(1.0) >= 5


async def test_rate_limit_zero_disables_it(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, rate_limit=0))
    async with client_for(sandbox) as client:
        statuses = {(await call(client, "v2", "status", "ds-ready")).status_code for _ in range(60)}
    assert statuses == {200}
    assert sandbox.max_requests_in_window(1.0) == 60


async def test_default_rate_limit_is_twenty_per_second(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock))
    async with client_for(sandbox) as client:
        statuses = [(await call(client, "v2", "status", "ds-ready")).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]


# --- faults ----------------------------------------------------------------------------


async def test_error_fault_rotates_500_502_503(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, error_rate=1.0, rate_limit=0))
    async with client_for(sandbox) as client:
        responses = [await call(client, "v2", "status", "ds-ready") for _ in range(6)]
    assert [r.status_code for r in responses] == [500, 502, 503, 500, 502, 503]
    for response in responses:
        assert response.headers[TRACE] and response.headers[SANDBOX_HEADER] == "true"
        if response.status_code == 502:
            assert response.content == b""
        else:
            assert response.json()["code"] == 9999
    assert [r.fault for r in sandbox.requests] == ["error-500", "error-502", "error-503"] * 2


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("leaf", ["status", "datasources"])
async def test_malformed_fault_rotates_through_every_kind(version: str, leaf: str) -> None:
    sandbox = Sandbox(SandboxOptions(malformed_rate=1.0, rate_limit=0))
    async with client_for(sandbox) as client:
        responses = [await call(client, version, leaf, "ds-ready") for _ in MALFORMED_KINDS]
        # only successful answers are spoiled
        assert (await call(client, version, leaf, "nope")).json()["code"] == 300003
    assert [r.fault for r in sandbox.requests][: len(MALFORMED_KINDS)] == [
        f"malformed-{k}" for k in MALFORMED_KINDS
    ]
    counts = (
        ("synched_count", "invalid_count", "synching_count")
        if version == "v2"
        else ("synchedCount", "invalidCount", "synchingCount")
    )
    number = counts[0] if leaf == "status" else ("total_items" if version == "v2" else "total")
    for kind, response in zip(MALFORMED_KINDS, responses, strict=True):
        assert response.status_code == 200, kind
        if kind == "truncated":
            with pytest.raises(ValueError):
                response.json()
        elif kind == "html":
            assert response.headers["content-type"].startswith("text/html")
            assert response.text.startswith("<!DOCTYPE html>")
        elif kind == "array":
            assert isinstance(response.json(), list)
        elif kind == "strings":
            assert isinstance(response.json()["data"][number], str)
        elif kind == "missing_field":
            missing = counts[2] if leaf == "status" else "records"
            assert missing not in response.json()["data"]
        elif kind == "negative":
            assert response.json()["data"][number] < 0
        elif kind == "null_data":
            assert response.json() == {"code": 0, "data": None}
        elif kind == "no_code":
            assert "code" not in response.json() and "data" in response.json()


def test_malformed_body_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown malformed kind"):
        malformed_body("nonsense", "v2", "status", {"code": 0, "data": {}})


async def test_drop_fault_in_process_is_a_transport_error() -> None:
    sandbox = Sandbox(SandboxOptions(drop_rate=1.0))
    async with client_for(sandbox) as client:
        with pytest.raises(httpx.TransportError):
            await call(client, "v2", "status", "ds-ready")
        # authentication failures are never faulted
        assert (await call(client, "v2", "status", "ds-ready", key="bad")).status_code == 403
    assert [r.fault for r in sandbox.requests] == ["drop", None]


def test_drop_fault_over_a_socket_closes_the_connection() -> None:
    with running_sandbox(SandboxOptions(drop_rate=1.0)) as running:
        with httpx.Client(base_url=running.url) as client:
            for path in ("/v2/team/datasets/ds-large/datasources", "/v2/team/datasets/ds-ready/status"):
                with pytest.raises(httpx.RemoteProtocolError) as caught:
                    client.get(
                        path, params={"user_id": SANDBOX_USER_ID}, headers={"x-pd-api-key": SANDBOX_API_KEY}
                    )
                assert not isinstance(caught.value, InjectedDrop)  # raised by httpx, not passed through
            # the server is still healthy for the next connection
            assert client.get("/v1/team/datasets/ds-ready/status").status_code == 403
        assert [r.fault for r in running.sandbox.requests] == ["drop", "drop", None]


async def test_latency_is_added_to_every_response() -> None:
    sandbox = Sandbox(SandboxOptions(latency_ms=60))
    async with client_for(sandbox) as client:
        for key in (SANDBOX_API_KEY, None):
            started = time.perf_counter()
            await call(client, "v2", "status", "ds-ready", key=key)
            assert time.perf_counter() - started >= 0.055


def _fault_sequence(seed: int) -> list[str | None]:
    async def run() -> list[str | None]:
        sandbox = Sandbox(
            SandboxOptions(seed=seed, error_rate=0.3, drop_rate=0.2, malformed_rate=0.3, rate_limit=0)
        )
        async with client_for(sandbox) as client:
            for _ in range(40):
                with suppress(httpx.TransportError):
                    await call(client, "v2", "status", "ds-ready")
        return [r.fault for r in sandbox.requests]

    return asyncio.run(run())


def test_faults_are_reproducible_from_the_seed() -> None:
    first = _fault_sequence(7)
    assert first == _fault_sequence(7)
    assert first != _fault_sequence(8)
    assert None in first and "drop" in first
    assert any(f and f.startswith("error-") for f in first) and any(
        f and f.startswith("malformed-") for f in first
    )


# --- options ---------------------------------------------------------------------------


def test_options_from_env_and_overrides() -> None:
    env = {
        "PD_SANDBOX_LATENCY_MS": "15",
        "PD_SANDBOX_ERROR_RATE": "0.25",
        "PD_SANDBOX_DROP_RATE": "0.1",
        "PD_SANDBOX_MALFORMED_RATE": "0.05",
        "PD_SANDBOX_SEED": "42",
        "PD_SANDBOX_RATE_LIMIT": "0",
        "PD_SANDBOX_SYNC_SECONDS": "2.5",
    }
    options = SandboxOptions.from_env(env)
    assert (options.latency_ms, options.error_rate, options.drop_rate, options.malformed_rate) == (
        15,
        0.25,
        0.1,
        0.05,
    )
    assert (options.seed, options.rate_limit, options.sync_seconds) == (42, 0, 2.5)
    overridden = SandboxOptions.from_env(env, seed=1, error_rate=0.0)
    assert (overridden.seed, overridden.error_rate, overridden.drop_rate) == (1, 0.0, 0.1)
    defaults = SandboxOptions.from_env({"PD_SANDBOX_SEED": ""})
    assert defaults == SandboxOptions()
    assert (defaults.user_id, defaults.api_key, defaults.rate_limit, defaults.sync_seconds) == (
        "sandbox-user",
        "sandbox-key",
        20,
        6.0,
    )
    assert "sandbox-key" not in repr(defaults)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PD_SANDBOX_ERROR_RATE": "lots"}, "PD_SANDBOX_ERROR_RATE"),
        ({"PD_SANDBOX_ERROR_RATE": "1.5"}, "PD_SANDBOX_ERROR_RATE"),
        ({"PD_SANDBOX_RATE_LIMIT": "2.5"}, "PD_SANDBOX_RATE_LIMIT"),
        ({"PD_SANDBOX_RATE_LIMIT": "-1"}, "PD_SANDBOX_RATE_LIMIT"),
        ({"PD_SANDBOX_SYNC_SECONDS": "0"}, "PD_SANDBOX_SYNC_SECONDS"),
        ({"PD_SANDBOX_LATENCY_MS": "nan"}, "PD_SANDBOX_LATENCY_MS"),
    ],
)
def test_bad_environment_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxOptions.from_env(env)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="drop_rate"):
        SandboxOptions(drop_rate=-0.1)
    with pytest.raises(ValueError, match="api_key"):
        SandboxOptions(api_key="")
    with pytest.raises(TypeError, match="nonsense"):
        SandboxOptions.from_env({}, nonsense=1)


def test_cli_flags_fall_back_to_the_environment() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--error-rate", "0.5", "--seed", "3", "--sync-seconds", "1.5", "--rate-limit", "0"]
    )
    options = options_from_args(args, {"PD_SANDBOX_LATENCY_MS": "20", "PD_SANDBOX_SEED": "99"})
    assert (options.error_rate, options.seed, options.sync_seconds, options.rate_limit) == (0.5, 3, 1.5, 0)
    assert options.latency_ms == 20
    for bad in (["--drop-rate", "2"], ["--latency-ms", "-1"], ["--sync-seconds", "0"], ["--seed", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


# --- request log and headers -----------------------------------------------------------


async def test_request_log_never_holds_the_key(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, api_key="very-secret-value"))
    async with client_for(sandbox) as client:
        await call(client, "v2", "status", "ds-ready", key="very-secret-value")
        await call(client, "v2", "status", "ds-ready", key="another-secret")
        await call(client, "v1", "status", "ds-ready", key=None)
        await client.get(
            "/v2/team/datasets/ds-ready/status",
            params={"user_id": SANDBOX_USER_ID, "api_key": "query-secret", "x": "very-secret-value"},
            headers={"x-pd-api-key": "very-secret-value", "x-pd-external-trace-id": "ext-1"},
        )
    records = sandbox.requests
    text = repr(records) + repr(sandbox.dataset_requests)
    for secret in ("very-secret-value", "another-secret", "query-secret"):
        assert secret not in text
    assert [r.api_key_present for r in records] == [True, True, False, True]
    assert records[0].param("user_id") == SANDBOX_USER_ID and records[0].param("missing") is None
    assert records[0].method == "GET" and records[0].path == "/v2/team/datasets/ds-ready/status"
    assert records[0].time == 1000.0
    assert [r.status for r in records] == [200, 403, 403, 200]
    assert [r.code for r in records] == [0, 1004, 1003, 0]
    assert records[3].external_trace_id == "ext-1"


async def test_request_log_is_bounded_and_counts_per_dataset(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, log_limit=6, rate_limit=0))
    async with client_for(sandbox) as client:
        for dataset_id in ["ds-ready"] * 4 + ["ds-large"] * 3 + ["nope"]:
            await call(client, "v2", "status", dataset_id)
            clock.advance(0.3)
        await call(client, "v2", "status", "ds-ready", key=None)
        await client.get("/elsewhere")
    assert len(sandbox.requests) == 6
    assert sandbox.requests[-1].path == "/elsewhere" and sandbox.requests[-1].dataset_id is None
    assert sandbox.dataset_requests == {"ds-ready": 5, "ds-large": 3, "nope": 1}
    assert sandbox.max_requests_in_window(1.0, dataset_id="ds-large") == 3
    sandbox.clear_log()
    assert sandbox.requests == [] and sandbox.dataset_requests == {}


async def test_every_response_has_a_fresh_trace_id_and_the_sandbox_header(clock: FakeClock) -> None:
    sandbox = Sandbox(SandboxOptions(clock=clock, rate_limit=2))
    responses: list[httpx.Response] = []
    async with client_for(sandbox) as client:
        responses.append(await call(client, "v2", "status", "ds-ready"))
        responses.append(await call(client, "v1", "datasources", "ds-large"))
        responses.append(await call(client, "v2", "status", "ds-ready"))  # 429
        responses.append(await call(client, "v2", "status", "ds-ready", key=None))
        responses.append(await client.get("/nope"))
        responses.append(await client.put("/v2/team/datasets/x/status"))
        clock.advance(5)
        responses.append(await call(client, "v2", "datasources", "ds-forbidden"))
        responses.append(await call(client, "v2", "status", "ds-internal-error"))
    assert [r.status_code for r in responses] == [200, 200, 429, 403, 404, 405, 200, 500]
    traces = [r.headers[TRACE] for r in responses]
    assert all(traces) and len(set(traces)) == len(traces)
    assert all(r.headers[SANDBOX_HEADER] == "true" for r in responses)
    assert all(r.headers["content-type"] == "application/json" for r in responses)
    assert [r.trace_id for r in sandbox.requests] == traces


# --- running over a socket -------------------------------------------------------------


def test_running_sandbox_serves_and_stops_promptly() -> None:
    with running_sandbox() as running:
        assert running.url == f"http://127.0.0.1:{running.port}"
        response = httpx.get(
            running.url + "/v2/team/datasets/ds-ready/status",
            params={"user_id": SANDBOX_USER_ID},
            headers={"x-pd-api-key": SANDBOX_API_KEY},
        )
        assert response.json() == {
            "code": 0,
            "data": {"synched_count": 5, "invalid_count": 0, "synching_count": 0},
        }
        assert response.headers[SANDBOX_HEADER] == "true"
        keep_alive = httpx.Client(
            base_url=running.url
        )  # an idle keep-alive connection must not delay the stop
        keep_alive.get("/v1/team/datasets/ds-ready/status")
        started = time.monotonic()
    stopped_in = time.monotonic() - started
    keep_alive.close()
    assert stopped_in < 0.8
    assert running.sandbox.dataset_requests == {"ds-ready": 2}
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", running.port), timeout=0.5):
        pass


async def test_serve_sandbox_in_a_running_loop_and_cancel() -> None:
    urls: list[str] = []
    ready = asyncio.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    task = asyncio.create_task(serve_sandbox(SandboxOptions(), ready=on_ready))
    await asyncio.wait_for(ready.wait(), 5)
    async with httpx.AsyncClient(base_url=urls[0]) as client:
        response = await client.get(
            "/v1/team/datasets/ds-empty/status", headers={"x-pd-api-key": SANDBOX_API_KEY}
        )
    assert response.json()["data"] == {"synchedCount": 0, "invalidCount": 0, "synchingCount": 0}
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.8
    port = int(urls[0].rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
async def test_serve_sandbox_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        await serve_sandbox(SandboxOptions(), host=host)


def test_main_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(busy.getsockname()[1], SandboxOptions()) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_banner_names_url_credentials_and_scenarios() -> None:
    text = banner("http://127.0.0.1:9", SandboxOptions())
    for expected in (
        "http://127.0.0.1:9",
        SANDBOX_USER_ID,
        SANDBOX_API_KEY,
        "ds-syncing",
        "ds-large",
        "simulated",
    ):
        assert expected in text


def _python(code: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PD_SANDBOX_")}
    return subprocess.Popen([sys.executable, "-c", code], text=True, env=env, **kwargs)


@pytest.mark.process
def test_import_starts_nothing() -> None:
    code = "import threading, pd_mcp.sandbox;assert threading.active_count() == 1, threading.enumerate()"
    process = _python(code)
    assert process.wait(timeout=30) == 0


@pytest.mark.process
def test_main_runs_until_ctrl_c() -> None:
    import signal

    process = _python(
        "import sys; from pd_mcp.sandbox import main; sys.exit(main(0))",
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        url = ""
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "POWERDRILL_API_URL=" in line:
                url = line.split("=", 1)[1].strip()
            if "Ctrl-C" in line:
                break
        assert url.startswith("http://127.0.0.1:"), lines
        response = httpx.get(
            url + "/v1/team/datasets/ds-ready/status", headers={"x-pd-api-key": SANDBOX_API_KEY}
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out == ""  # nothing on stdout: it belongs to MCP stdio when run in-process
    assert "Sandbox stopped." in err


async def test_serve_sandbox_stops_when_an_anyio_scope_is_cancelled() -> None:
    import anyio

    urls: list[str] = []
    listening = anyio.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        listening.set()

    async with anyio.create_task_group() as group:

        async def run() -> None:
            await serve_sandbox(SandboxOptions(), ready=on_ready)

        group.start_soon(run)
        with anyio.fail_after(5):
            await listening.wait()
        async with httpx.AsyncClient(base_url=urls[0]) as client:
            assert (await client.get("/v1/team/datasets/ds-ready/status")).status_code == 403
        started = time.monotonic()
        group.cancel_scope.cancel()
    assert time.monotonic() - started < 0.8
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "pd-mcp-sandbox"]
    port = int(urls[0].rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass
