"""`pd-mcp serve --sandbox` in both transports: the tools answer from the simulated API in-process,
and the rest of the configuration is read and checked as without `--sandbox`.

Why: the sandbox host configuration is what a newcomer tries first; a setting it
silently ignored (a wrong `POWERDRILL_API_VERSION` became v2) would teach them
that pd-mcp accepts it. The server is assembled exactly as `serve` assembles it
(`serving.assembled`) and called through the in-memory MCP client.
"""

from __future__ import annotations

import pytest
from mcp import Client
from support import text_of

from pd_mcp.serving import assembled


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real key and URL in the environment are replaced by the sandbox's; the rest is kept."""
    monkeypatch.setenv("POWERDRILL_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("POWERDRILL_USER_ID", "not-the-sandbox-user")
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", "pdk-not-the-sandbox-key")
    for name in ("POWERDRILL_API_VERSION", "PD_MCP_RATE_LIMIT", "PD_MCP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PD_SANDBOX_RATE_LIMIT", "0")


@pytest.mark.parametrize("version", [None, "v1", "v2"])
async def test_the_tools_answer_from_the_sandbox_in_the_api_version_asked_for(
    monkeypatch: pytest.MonkeyPatch, version: str | None
) -> None:
    if version:
        monkeypatch.setenv("POWERDRILL_API_VERSION", version)
    async with assembled(sandbox=True) as (_, mcp), Client(mcp) as client:
        result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["verdict"] == "ready"
    assert result.structured_content["api_version"] == (version or "v2")
    assert result.structured_content.get("simulated") is True


async def test_a_wrong_api_version_is_reported_with_the_sandbox_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERDRILL_API_VERSION", "v3")
    async with assembled(sandbox=True) as (_, mcp), Client(mcp) as client:
        result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert result.is_error
    assert "POWERDRILL_API_VERSION" in text_of(result)
    assert "v3" in text_of(result)
