"""A warm tool call does no import that fails.

Why: httpcore imports `sniffio` on every request to learn the async library and
quietly falls back to asyncio when it is missing, so without the package each
upstream call paid for a failing import (a search of every path entry). The
test makes real calls through the shared client to the sandbox on loopback and
records every import statement that raises during the warm ones.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

import pytest
from support import CANARY_KEY, make_config

from pd_mcp.report import dataset_status
from pd_mcp.runtime import Runtime

USER_ID = "hot-path-user"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from pd_mcp.sandbox import SandboxOptions, running_sandbox

    with running_sandbox(SandboxOptions(user_id=USER_ID, api_key=CANARY_KEY, rate_limit=0)) as sb:
        yield sb


async def test_warm_calls_repeat_no_failing_import(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(base_url=sandbox.url, user_id=USER_ID)
    runtime = Runtime(config=config)
    failed: list[str] = []
    real_import = builtins.__import__

    def recording_import(name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_import(name, *args, **kwargs)
        except ImportError:
            failed.append(name)
            raise

    try:
        assert (await dataset_status(runtime.client(), "ds-ready")).ready  # cold: imports happen here
        monkeypatch.setattr(builtins, "__import__", recording_import)
        for _ in range(3):
            assert (await dataset_status(runtime.client(), "ds-ready")).ready
    finally:
        monkeypatch.undo()
        await runtime.aclose()
    assert failed == []
