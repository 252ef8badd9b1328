"""Shared fixtures: a fake Powerdrill (respx), a sleep that only records, and a clean environment.

No test may reach a real Powerdrill host: HTTP goes to `https://pd.test/api` through
respx, and subprocess servers point at a loopback port where nothing listens.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import respx
from support import BASE_URL, make_config

from pd_mcp.budget import LocalBudget
from pd_mcp.client import PowerdrillClient

ENV_VARS = (
    "POWERDRILL_USER_ID",
    "POWERDRILL_PROJECT_API_KEY",
    "POWERDRILL_API_URL",
    "POWERDRILL_API_VERSION",
    "PD_MCP_HTTP_TOKEN",
    "PD_MCP_ALLOWED_HOSTS",
    "PD_MCP_RATE_LIMIT",
    "PD_MCP_REQUEST_TIMEOUT",
)


@pytest.fixture(autouse=True)
def _no_powerdrill_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials of the developer's shell must never reach a test (or a real host)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


# A test that starts a process must carry the `process` marker, so that the fast lane
# (`pytest -m "not process"`) stays fast and the marker stays true as tests are added: an
# unmarked test that spawns anything (subprocess, asyncio or anyio, in a fixture too) fails.
_process_allowed = True
_popen_init = subprocess.Popen.__init__


def _guarded_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
    if not _process_allowed:
        raise AssertionError(f"this test starts a process ({args!r}): mark it @pytest.mark.process")
    _popen_init(self, args, *rest, **kw)


subprocess.Popen.__init__ = _guarded_popen_init  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _process_allowed
    _process_allowed = item.get_closest_marker("process") is not None


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    global _process_allowed
    _process_allowed = True


class SleepRecorder:
    """An async sleep that returns at once and remembers every delay it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(float(seconds))


@pytest.fixture
def fake_sleep() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A fake Powerdrill at BASE_URL; unmatched requests fail the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
async def make_client(fake_sleep: SleepRecorder) -> AsyncIterator[Callable[..., PowerdrillClient]]:
    """Build clients that never really sleep and have a request budget too large to matter."""
    clients: list[PowerdrillClient] = []

    def factory(version: str = "v2", **kw: Any) -> PowerdrillClient:
        client = PowerdrillClient(make_config(version, **kw), sleep=fake_sleep, limiter=LocalBudget(0.0))
        clients.append(client)
        return client

    yield factory
    for c in clients:
        await c.aclose()


@pytest.fixture
def client(make_client: Callable[..., PowerdrillClient]) -> PowerdrillClient:
    return make_client("v2")


@pytest.fixture
def client_v1(make_client: Callable[..., PowerdrillClient]) -> PowerdrillClient:
    return make_client("v1")
