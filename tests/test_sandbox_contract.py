# Contract tests: every answer the sandbox gives on its dataset endpoints,
# for every scenario, both API versions and several moments, is checked against
# Powerdrill's own OpenAPI documents. If the sandbox drifts from the documents,
# the MCP server would be tested against an API that does not exist; this file
# is what keeps the two together.
"""The sandbox's answers against Powerdrill's published OpenAPI documents.

What the documents define and how each answer is checked:

- A success (HTTP 200, code 0) must validate against the operation's `200`
  response schema, carry only documented fields, and carry the headers the
  document marks required (`x-pd-trace-id`).
- The documents give these four operations no error responses, so an error
  (code ≠ 0, whatever the HTTP status) is checked against the documents'
  generic response model (`{code: integer}`, required) plus the envelope the
  Powerdrill error-code page describes: a non-zero integer `code` and a string
  `message`, with the HTTP status that page pairs with the code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7
from sandbox_support import call, client_for

from pd_mcp.sandbox import MALFORMED_KINDS, Sandbox, SandboxOptions

VENDORED = Path(__file__).parent / "data" / "powerdrill-api"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "powerdrill-api"

PATHS = {
    ("v2", "status"): "/v2/team/datasets/{id}/status",
    ("v2", "datasources"): "/v2/team/datasets/{id}/datasources",
    ("v1", "status"): "/v1/team/datasets/{datasetId}/status",
    ("v1", "datasources"): "/v1/team/datasets/{datasetId}/datasources",
    ("v2", "datasets"): "/v2/team/datasets",
    ("v1", "datasets"): "/v1/team/datasets",
}

# Error code -> the HTTP statuses Powerdrill's error-code page pairs with it.
ERROR_HTTP = {
    100: {400},
    201: {429},
    300001: {400},
    300002: {200},
    300003: {200},
    100001: {200, 400},
    1002: {403},
    1003: {403},
    1004: {403},
    9999: {500, 502, 503},
}

SCENARIOS = [
    "ds-ready",
    "ds-syncing",
    "ds-partial",
    "ds-failed",
    "ds-empty",
    "ds-stuck",
    "ds-large",
    "ds-sync-2",
    "ds-sync-3600",
    "ds-syncfail-2",
    "ds-syncfail-60",
]
MOMENTS = [0.0, 1.0, 3.0, 6.0, 100_000.0]
LISTING_VARIANTS: dict[str, list[dict[str, Any]]] = {
    "v2": [
        {},
        {"page_number": 2, "page_size": 3},
        {"page_size": 100},
        {"page_number": 50},
        {"status": "synched"},
        {"status": "synching"},
        {"status": "invalid", "page_size": 20},
        {"status": "invalid,synching"},
    ],
    "v1": [
        {},
        {"pageNumber": 2, "pageSize": 3},
        {"pageSize": 100},
        {"pageNumber": 50},
        {"status": "synched"},
        {"status": "synching"},
        {"status": "invalid", "pageSize": 20},
        {"status": "invalid,synching"},
    ],
}


def _documents_dir() -> Path:
    for candidate in (VENDORED, SHARED):
        if (candidate / "v2-openapi.json").is_file() and (candidate / "v1-openapi.json").is_file():
            return candidate
    pytest.skip(f"Powerdrill's OpenAPI documents are missing (looked in {VENDORED} and {SHARED})")


@cache
def _document(version: str) -> dict[str, Any]:
    return json.loads((_documents_dir() / f"{version}-openapi.json").read_text(encoding="utf-8"))


def _uri(version: str) -> str:
    return f"urn:powerdrill:{version}-openapi"


def _pointer(*segments: str) -> str:
    escaped = (s.replace("~", "~0").replace("/", "~1") for s in segments)
    return "/" + "/".join(quote(s, safe="~") for s in escaped)


@cache
def _registry(version: str) -> Registry:
    return Registry().with_resource(_uri(version), DRAFT7.create_resource(_document(version)))


def _validator(version: str, schema: dict[str, Any]) -> Draft7Validator:
    return Draft7Validator(schema, registry=_registry(version))


def _operation(version: str, leaf: str) -> dict[str, Any]:
    return _document(version)["paths"][PATHS[version, leaf]]["get"]


@cache
def _success_validator(version: str, leaf: str) -> Draft7Validator:
    pointer = _pointer(
        "paths", PATHS[version, leaf], "get", "responses", "200", "content", "application/json", "schema"
    )
    return _validator(version, {"$ref": f"{_uri(version)}#{pointer}"})


@cache
def _error_validator(version: str) -> Draft7Validator:
    schemas = _document(version)["components"]["schemas"]
    # The documents' generic response model: an object whose one required property is `code`.
    generic = next(
        name
        for name, s in schemas.items()
        if set(s.get("properties", {})) == {"code"} and s.get("required") == ["code"]
    )
    envelope = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "integer", "not": {"const": 0}},
            "message": {"type": "string", "minLength": 1},
        },
    }
    ref = f"{_uri(version)}#{_pointer('components', 'schemas', generic)}"
    return _validator(version, {"allOf": [{"$ref": ref}, envelope]})


def _resolve(version: str, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = _document(version)
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def _undocumented(version: str, schema: dict[str, Any], instance: Any, where: str = "$") -> Iterator[str]:
    """Paths of fields in `instance` that `schema` does not list."""
    schema = _resolve(version, schema)
    if isinstance(instance, dict) and "properties" in schema:
        for key, value in instance.items():
            if key not in schema["properties"]:
                yield f"{where}.{key}"
            else:
                yield from _undocumented(version, schema["properties"][key], value, f"{where}.{key}")
    elif isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            yield from _undocumented(version, schema["items"], item, f"{where}[{i}]")


def _messages(validator: Draft7Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def assert_success(version: str, leaf: str, response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == 0, body
    assert _messages(_success_validator(version, leaf), body) == []
    schema = _operation(version, leaf)["responses"]["200"]["content"]["application/json"]["schema"]
    assert list(_undocumented(version, schema, body)) == []
    for name, header in _operation(version, leaf)["responses"]["200"].get("headers", {}).items():
        if header.get("required"):
            assert response.headers.get(name), f"missing required header {name}"


def assert_error(version: str, leaf: str, response: httpx.Response, code: int) -> None:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code, body
    assert response.status_code in ERROR_HTTP[code], (response.status_code, body)
    assert _messages(_error_validator(version), body) == []
    assert response.headers.get("x-pd-trace-id")
    declared = _operation(version, leaf)["responses"].get(str(response.status_code))
    if declared is not None and response.status_code != 200:  # the 200 schema describes success only
        schema = declared["content"]["application/json"]["schema"]
        assert _messages(_validator(version, schema), body) == []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the documents ---------------------------------------------------------------------


def test_documents_define_the_operations() -> None:
    for (version, leaf), path in PATHS.items():
        operation = _document(version)["paths"][path]["get"]
        assert "200" in operation["responses"], (version, leaf)
        _success_validator(version, leaf).check_schema(_success_validator(version, leaf).schema)


def test_vendored_documents_match_the_shared_copies() -> None:
    if not (SHARED / "v2-openapi.json").is_file():
        pytest.skip(f"no shared copy of the documents at {SHARED} to compare with")
    if not (VENDORED / "v2-openapi.json").is_file():
        pytest.skip(f"no vendored documents at {VENDORED}")
    for name in ("v2-openapi.json", "v1-openapi.json"):
        assert (VENDORED / name).read_bytes() == (SHARED / name).read_bytes(), name


# --- successes -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_every_scenario_answer_matches_the_document(version: str) -> None:
    clock = Clock()
    sandbox = Sandbox(SandboxOptions(clock=clock, rate_limit=0))
    checked = 0
    async with client_for(sandbox) as client:
        for moment in MOMENTS:
            clock.now = moment
            for dataset_id in SCENARIOS:
                assert_success(version, "status", await call(client, version, "status", dataset_id))
                for params in LISTING_VARIANTS[version]:
                    response = await call(client, version, "datasources", dataset_id, **params)
                    assert_success(version, "datasources", response)
                    checked += 2
    assert checked == len(MOMENTS) * len(SCENARIOS) * len(LISTING_VARIANTS[version]) * 2


def test_document_examples_match_the_sandbox_shapes() -> None:
    """The documents' own success examples validate, so the validators are not vacuous."""
    for (version, leaf), path in PATHS.items():
        content = _document(version)["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        if "example" not in content and "examples" not in content:
            continue
        examples = (
            [content["example"]]
            if "example" in content
            else [e["value"] for e in content["examples"].values()]
        )
        for example in examples:
            if leaf == "datasources" and version == "v1":
                # The v1 example lists a status "pending" that its own schema does not allow.
                assert any("pending" in m for m in _messages(_success_validator(version, leaf), example))
            else:
                assert _messages(_success_validator(version, leaf), example) == []


# --- errors ----------------------------------------------------------------------------


def _error_cases(version: str, leaf: str) -> list[tuple[dict[str, Any], int]]:
    cases: list[tuple[dict[str, Any], int]] = [
        ({"dataset_id": "ds-ready", "key": None}, 1003),
        ({"dataset_id": "ds-ready", "key": "wrong"}, 1004),
        ({"dataset_id": "no-such-dataset"}, 300003),
        ({"dataset_id": "ds-forbidden"}, 300002),
        ({"dataset_id": "ds-internal-error"}, 9999),
    ]
    if version == "v2":
        cases += [
            ({"dataset_id": "ds-ready", "user_id": None}, 1003),
            ({"dataset_id": "ds-ready", "user_id": "x"}, 1004),
        ]
    if leaf == "datasources":
        bad = 300001 if version == "v2" else 100
        size, number = ("page_size", "page_number") if version == "v2" else ("pageSize", "pageNumber")
        cases += [
            ({"dataset_id": "ds-large", size: "many"}, bad),
            ({"dataset_id": "ds-large", size: 0}, bad),
            ({"dataset_id": "ds-large", size: 101}, bad),
            ({"dataset_id": "ds-large", number: 0}, bad),
            ({"dataset_id": "ds-large", "status": "done"}, bad),
        ]
    return cases


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("leaf", ["status", "datasources"])
async def test_error_answers_use_the_documented_envelope(version: str, leaf: str) -> None:
    sandbox = Sandbox(SandboxOptions(rate_limit=0))
    async with client_for(sandbox) as client:
        for case, code in _error_cases(version, leaf):
            params = dict(case)
            response = await call(client, version, leaf, params.pop("dataset_id"), **params)
            assert_error(version, leaf, response, code)


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("leaf", ["status", "datasources"])
async def test_rate_limit_answer_uses_the_documented_envelope(version: str, leaf: str) -> None:
    sandbox = Sandbox(SandboxOptions(clock=Clock(), rate_limit=1))
    async with client_for(sandbox) as client:
        assert_success(version, leaf, await call(client, version, leaf, "ds-ready"))
        response = await call(client, version, leaf, "ds-ready")
    assert_error(version, leaf, response, 201)
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("leaf", ["status", "datasources"])
async def test_injected_server_errors_use_the_documented_envelope(version: str, leaf: str) -> None:
    sandbox = Sandbox(SandboxOptions(error_rate=1.0, rate_limit=0))
    async with client_for(sandbox) as client:
        responses = [await call(client, version, leaf, "ds-ready") for _ in range(3)]
    assert [r.status_code for r in responses] == [500, 502, 503]
    for response in responses:
        if response.content:  # the 502 imitates a gateway and sends no body
            assert_error(version, leaf, response, 9999)


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("leaf", ["status", "datasources"])
async def test_malformed_answers_break_the_contract(version: str, leaf: str) -> None:
    """Each malformed kind violates the document, except negative counts.

    The documents set no minimum on counts, so negative numbers are valid by
    the schema: a client has to reject them on its own.
    """
    sandbox = Sandbox(SandboxOptions(malformed_rate=1.0, rate_limit=0))
    async with client_for(sandbox) as client:
        responses = [await call(client, version, leaf, "ds-ready") for _ in MALFORMED_KINDS]
    for kind, response in zip(MALFORMED_KINDS, responses, strict=True):
        try:
            body = response.json()
        except ValueError:
            assert kind in ("truncated", "html")
            continue
        problems = _messages(_success_validator(version, leaf), body)
        if kind == "negative":
            assert problems == [], kind
        else:
            assert problems, kind


# --- the dataset listing ---------------------------------------------------------------

DATASET_LISTING_VARIANTS: dict[str, list[dict[str, Any]]] = {
    "v2": [
        {},
        {"search": "sales"},
        {"search": "SYNC"},
        {"search": "nothing-like-it"},
        {"page_size": 3},
        {"page_number": 2, "page_size": 3},
        {"page_number": 9},
    ],
    "v1": [
        {},
        {"name": "sales"},
        {"name": "SYNC"},
        {"name": "nothing-like-it"},
        {"pageSize": 3},
        {"pageNumber": 2, "pageSize": 3},
        {"pageNumber": 9},
    ],
}


async def _list(client: httpx.AsyncClient, version: str, **params: Any) -> httpx.Response:
    query = dict(params)
    if version == "v2":
        query.setdefault("user_id", "sandbox-user")
    return await client.get(
        f"/{version}/team/datasets", params=query, headers={"x-pd-api-key": "sandbox-key"}
    )


@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_dataset_listing_answers_match_the_document(version: str) -> None:
    sandbox = Sandbox(SandboxOptions(rate_limit=0))
    async with client_for(sandbox) as client:
        for params in DATASET_LISTING_VARIANTS[version]:
            assert_success(version, "datasets", await _list(client, version, **params))


@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_dataset_listing_honours_search_and_paging(version: str) -> None:
    keyword, number, size = (
        ("search", "page_number", "page_size") if version == "v2" else ("name", "pageNumber", "pageSize")
    )
    sandbox = Sandbox(SandboxOptions(rate_limit=0))
    async with client_for(sandbox) as client:
        everything = (await _list(client, version, **{size: 100})).json()["data"]["records"]
        found = (await _list(client, version, **{keyword: "ORDERS"})).json()["data"]
        by_description = (await _list(client, version, **{keyword: "never finish"})).json()["data"]
        first = (await _list(client, version, **{size: 3})).json()["data"]
        second = (await _list(client, version, **{number: 2, size: 3})).json()["data"]
    ids = [r["id"] for r in everything]
    assert "ds-ready" in ids and "ds-syncing" in ids and len(ids) == len(set(ids)) >= 7
    assert [r["id"] for r in found["records"]] == ["ds-syncing"]
    assert [r["id"] for r in by_description["records"]] == ["ds-stuck"]
    assert [r["id"] for r in first["records"] + second["records"]] == ids[:6]
    if version == "v2":
        assert first["total_items"] == len(ids)
    else:
        assert first["total"] == -(-len(ids) // 3)  # v1 counts pages


@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_dataset_listing_errors_use_the_documented_envelope(version: str) -> None:
    sandbox = Sandbox(SandboxOptions(rate_limit=0))
    bad = 300001 if version == "v2" else 100
    size = "page_size" if version == "v2" else "pageSize"
    async with client_for(sandbox) as client:
        refused = await client.get(f"/{version}/team/datasets", headers={"x-pd-api-key": "wrong"})
        assert_error(version, "datasets", refused, 1004)
        assert_error(version, "datasets", await _list(client, version, **{size: 0}), bad)
