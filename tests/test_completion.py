"""`completion/complete` for the status template's `dataset_id`, through the in-memory client in both eras."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from live_support import MODES, Setup
from mcp import Client
from mcp_types import PromptReference, ResourceTemplateReference
from support import CANARY_KEY, make_config

from pd_mcp.server import Runtime, build_server

TEMPLATE = ResourceTemplateReference(type="ref/resource", uri="powerdrill://datasets/{dataset_id}/status")


async def complete(server: Any, mode: str, typed: str, ref: Any = TEMPLATE, name: str = "dataset_id") -> Any:
    async with Client(server, mode=mode) as client:
        return (await client.complete(ref, {"name": name, "value": typed})).completion


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_an_id_prefix_completes_to_the_matching_ids(mode: str, version: str) -> None:
    found = await complete(Setup(version).server, mode, "ds-s")
    assert found.values == ["ds-syncing", "ds-stuck"]
    assert found.total == 2 and found.has_more is False


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_a_word_of_the_name_or_description_completes_to_its_dataset(mode: str, version: str) -> None:
    setup = Setup(version)
    assert (await complete(setup.server, mode, "orders")).values == ["ds-syncing"]
    assert (await complete(setup.server, mode, "clickstream")).values == ["ds-stuck"]
    assert (await complete(setup.server, mode, "never finish")).values == ["ds-stuck"]


@pytest.mark.parametrize("mode", MODES)
async def test_nothing_typed_lists_the_datasets_and_nothing_matching_lists_none(mode: str) -> None:
    setup = Setup()
    everything = await complete(setup.server, mode, "")
    assert everything.values[0] == "ds-ready" and len(everything.values) == everything.total >= 7
    nothing = await complete(setup.server, mode, "zebra")
    assert nothing.values == [] and nothing.total == 0


async def test_answers_are_cached_for_a_few_seconds_per_query() -> None:
    setup = Setup()
    async with Client(setup.server, mode="legacy") as client:
        for _ in range(3):
            await client.complete(TEMPLATE, {"name": "dataset_id", "value": "sales"})
        asked = len(setup.sandbox.requests)
        setup.clock.advance(10.0)
        await client.complete(TEMPLATE, {"name": "dataset_id", "value": "sales"})
    assert asked == 2  # the unfiltered page and the search, once each
    assert len(setup.sandbox.requests) == 4


def _many(request: httpx.Request) -> httpx.Response:
    size = int(request.url.params.get("page_size", "10"))
    records = [{"id": f"dset-{n:03d}", "name": f"table {n}", "description": ""} for n in range(size)]
    return httpx.Response(
        200,
        json={
            "code": 0,
            "data": {"page_number": 1, "page_size": size, "total_items": 250, "records": records},
        },
    )


@pytest.mark.parametrize("mode", MODES)
async def test_at_most_one_hundred_values_with_has_more(mode: str) -> None:
    config = make_config(base_url="https://pd.test/api", user_id="u")
    server = build_server(Runtime(config=config, transport=httpx.MockTransport(_many)))
    found = await complete(server, mode, "dset-")
    assert len(found.values) == 100 and found.has_more is True and found.total == 250


def _failing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(403, json={"code": 1004, "message": f"bad credentials {CANARY_KEY}"})


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("handler", [_failing, _unreachable])
async def test_upstream_failure_gives_an_empty_list_without_the_key(mode: str, handler: Any) -> None:
    config = make_config(base_url="https://pd.test/api", user_id="u")
    server = build_server(Runtime(config=config, transport=httpx.MockTransport(handler)))
    async with Client(server, mode=mode) as client:
        result = await client.complete(TEMPLATE, {"name": "dataset_id", "value": "sales"})
    assert result.completion.values == []
    assert CANARY_KEY not in result.model_dump_json()


@pytest.mark.parametrize("mode", MODES)
async def test_without_configuration_the_list_is_empty(mode: str) -> None:
    found = await complete(build_server(Runtime()), mode, "ds")
    assert found.values == []


@pytest.mark.parametrize("mode", MODES)
async def test_other_references_complete_to_nothing(mode: str) -> None:
    setup = Setup()
    assert (await complete(setup.server, mode, "ds", name="other")).values == []
    prompt = PromptReference(type="ref/prompt", name="nope")
    assert (await complete(setup.server, mode, "ds", ref=prompt)).values == []
    assert setup.sandbox.requests == []


def test_the_listing_parser_keeps_usable_records_and_reads_v1_pages() -> None:
    from pd_mcp.client import parse_datasets

    data = {
        "records": [{"id": "a", "name": "A\x00", "description": None}, {"name": "no id"}, "junk"],
        "total": 3,
    }
    page = parse_datasets(data, "v1", 1, None)
    assert [(e.id, e.name, e.description) for e in page.records] == [("a", "A ", "")]
    assert page.total == 3  # three pages of one
    assert parse_datasets({"records": [], "total_items": 0}, "v2", 10, None).total == 0
    with pytest.raises(Exception, match="records"):
        parse_datasets({"total_items": 1}, "v2", 10, None)
