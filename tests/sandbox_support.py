"""Helpers shared by the sandbox's tests: an in-process client and one GET to a dataset endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, Sandbox


@asynccontextmanager
async def client_for(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield client


async def call(
    client: httpx.AsyncClient,
    version: str,
    leaf: str,
    dataset_id: str,
    *,
    key: str | None = SANDBOX_API_KEY,
    user_id: str | None = SANDBOX_USER_ID,
    **params: Any,
) -> httpx.Response:
    """One GET to a dataset endpoint, with the sandbox credentials unless told otherwise."""
    query = dict(params)
    if version == "v2" and user_id is not None:
        query["user_id"] = user_id
    headers = {} if key is None else {"x-pd-api-key": key}
    return await client.get(f"/{version}/team/datasets/{dataset_id}/{leaf}", params=query, headers=headers)
