# End to end over stdio: the installed `pd-mcp` launched as a subprocess the way
# an MCP host launches it, driven by the `mcp` package's own client in both
# protocol eras, against the sandbox Powerdrill API on loopback. One server
# per era and module, shared by the tests of that era: its client lives in an
# anyio blocking portal (an event loop in a thread), so it is entered and left
# in one task however pytest orders the tests; each test body runs there under
# a time bound. The portal, the server process and the sandbox thread all end
# with the module.
"""The real server over stdio against the sandbox."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from e2e_support import (
    FIRST_ASK,
    MODES,
    PD_MCP,
    PROTOCOL_OF_MODE,
    TEST_TIMEOUT,
    assert_success,
    bounded,
    check_cancelled_wait,
    check_invalid_dataset_ids,
    check_status_scenarios,
    check_tools,
    check_unknown_dataset,
    check_wait_finishes,
    check_wait_times_out,
    sandbox_env,
    sandbox_options,
    text_of,
)
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from pd_mcp.sandbox import RunningSandbox, running_sandbox

pytestmark = pytest.mark.process


@dataclass
class StdioStack:
    """A sandbox, and the real server over stdio pointed at it, with a connected client."""

    mode: str
    portal: BlockingPortal
    client: Client
    sandbox: RunningSandbox
    stderr: Path

    def run(self, check: Callable[..., Any], *args: Any) -> Any:
        """Run `check(client, sandbox, *args)` in the client's event loop, time-bounded."""
        return self.portal.call(bounded, check, self.client, self.sandbox, *args)


@contextlib.contextmanager
def stdio_stack(
    mode: str, log_dir: Path, env: Callable[[RunningSandbox], dict[str, str]], args: list[str] | None = None
) -> Iterator[StdioStack]:
    stderr = log_dir / f"pd-mcp-stdio-{mode}.log"
    with (
        running_sandbox(sandbox_options()) as sandbox,
        stderr.open("w") as errlog,
        start_blocking_portal() as portal,
    ):
        # Its own cache directory (the handshake recording), not the developer's.
        settings = {"XDG_CACHE_HOME": str(log_dir / "cache"), **env(sandbox)}
        params = StdioServerParameters(command=PD_MCP, args=args or [], env=settings)
        # The transport stops the process when the client is left: it closes stdin, waits,
        # then terminates and kills the process tree. read_timeout bounds every request.
        client = Client(stdio_client(params, errlog=errlog), mode=mode, read_timeout_seconds=TEST_TIMEOUT)
        with portal.wrap_async_context_manager(client):
            yield StdioStack(mode, portal, client, sandbox, stderr)


@pytest.fixture(scope="module", params=MODES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StdioStack]:
    """The server configured by environment variables, as hosts run it."""
    with stdio_stack(request.param, tmp_path_factory.mktemp("stdio"), sandbox_env) as s:
        yield s


def test_connects_in_the_requested_protocol_era(stack: StdioStack) -> None:
    assert stack.client.protocol_version == PROTOCOL_OF_MODE[stack.mode]
    info = stack.client.server_info
    if info is not None:  # 2026-era servers may stay anonymous
        assert info.name == "pd-mcp"


def test_lists_both_tools_with_annotations_and_schemas(stack: StdioStack) -> None:
    stack.run(check_tools)


def test_status_of_every_scenario(stack: StdioStack) -> None:
    stack.run(check_status_scenarios)


def test_wait_returns_when_sync_is_over_with_progress(stack: StdioStack) -> None:
    stack.run(check_wait_finishes)


def test_wait_on_a_stuck_dataset_times_out_without_error(stack: StdioStack) -> None:
    stack.run(check_wait_times_out)


def test_unknown_dataset_is_a_readable_error_with_trace_id(stack: StdioStack) -> None:
    stack.run(check_unknown_dataset)


def test_invalid_dataset_id_is_rejected_before_any_request(stack: StdioStack) -> None:
    stack.run(check_invalid_dataset_ids)


def test_cancelled_wait_stops_polling(stack: StdioStack) -> None:
    stack.run(check_cancelled_wait)


def test_server_is_still_well_and_logged_no_traceback(stack: StdioStack) -> None:
    """After whatever the tests above did, the server answers and its stderr holds no traceback."""
    stack.run(_ping)
    output = stack.stderr.read_text()
    assert "Traceback" not in output, output


async def _ping(client: Client, sandbox: RunningSandbox) -> None:
    result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert result.is_error is False, text_of(result)


# --- Powerdrill API v1 ----------------------------------------------------------------


def _v1_by_variable(sandbox: RunningSandbox) -> dict[str, str]:
    return sandbox_env(sandbox, POWERDRILL_API_VERSION="v1")


def _v1_by_url(sandbox: RunningSandbox) -> dict[str, str]:
    # The form the official Powerdrill MCP server uses: the suffix selects the version.
    return sandbox_env(sandbox, POWERDRILL_API_URL=f"{sandbox.url}/v1/team")


@pytest.fixture(
    scope="module",
    params=[("legacy", _v1_by_variable), ("auto", _v1_by_url)],
    ids=["legacy-POWERDRILL_API_VERSION", "auto-url-suffix"],
)
def v1_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StdioStack]:
    mode, env = request.param
    with stdio_stack(mode, tmp_path_factory.mktemp("stdio-v1"), env) as s:
        yield s


def test_v1_gives_the_same_verdicts(v1_stack: StdioStack) -> None:
    v1_stack.run(check_status_scenarios, "v1")
    v1_stack.run(check_wait_finishes, "v1")
    paths = [r.path for r in v1_stack.sandbox.sandbox.requests]
    assert paths and all(p.startswith("/v1/team/datasets/") for p in paths), paths
    assert any(p.endswith("/datasources") for p in paths)  # failed sources' names, from the v1 listing


# --- pd-mcp serve --sandbox -------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_serve_sandbox_needs_no_credentials(mode: str, tmp_path: Path) -> None:
    """`pd-mcp serve --sandbox` with no Powerdrill settings at all answers from the simulated API."""
    # The stdio client passes only a few safe variables (PATH, HOME, …): no credentials.
    params = StdioServerParameters(
        command=PD_MCP,
        args=["serve", "--sandbox"],
        env={"PD_MCP_LOG_LEVEL": "WARNING", "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    with (tmp_path / "stderr.log").open("w") as errlog, anyio.fail_after(TEST_TIMEOUT):
        async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
            result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
            assert_success(result, "ds-ready", FIRST_ASK["ds-ready"], "v2")
            result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-failed"})
            assert_success(result, "ds-failed", FIRST_ASK["ds-failed"], "v2")
