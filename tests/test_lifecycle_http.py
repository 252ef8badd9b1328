"""The HTTP server as a process: its start-up line, bind errors, health endpoints, the SIGTERM drain,
honest capabilities, resource error codes and the session cap, on the installed `pd-mcp`."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest
from e2e_support import (
    MODES,
    PD_MCP,
    START_TIMEOUT,
    TEST_TIMEOUT,
    UNKNOWN_DATASET,
    HttpServer,
    base_env,
    free_port,
    http_server,
    text_of,
)
from mcp import Client
from mcp.shared.exceptions import MCPError

pytestmark = pytest.mark.process

INVALID_PARAMS = -32602
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def initialize(n: int) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": n,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }


def test_the_url_line_is_printed_once_listening(tmp_path: Path) -> None:
    with http_server(["--sandbox"], base_env(), tmp_path) as server:
        deadline = time.monotonic() + START_TIMEOUT
        while f"serving MCP at {server.url}" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"pd-mcp: serving MCP at {server.url}\n" in server.output()


def test_a_busy_port_is_one_line_and_the_usage_exit_code(tmp_path: Path) -> None:
    with http_server(["--sandbox"], base_env(), tmp_path) as server:
        result = subprocess.run(
            [PD_MCP, "serve", "--transport", "http", "--port", str(server.port)],
            env=base_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
    assert result.returncode == 3, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(server.port) in lines[0] and "in use" in lines[0], result.stderr


def test_a_bad_limit_is_one_line_and_the_usage_exit_code() -> None:
    result = subprocess.run(
        [PD_MCP, "serve", "--transport", "http", "--port", str(free_port())],
        env=base_env(PD_MCP_HTTP_MAX_SESSIONS="lots"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 3, result
    assert result.stderr.count("\n") == 1 and "PD_MCP_HTTP_MAX_SESSIONS" in result.stderr, result.stderr


def test_help_names_the_paths() -> None:
    result = subprocess.run(
        [PD_MCP, "serve", "--help"], capture_output=True, text=True, timeout=START_TIMEOUT
    )
    assert all(path in result.stdout for path in ("/mcp", "/healthz", "/readyz")), result.stdout


def test_health_endpoints_need_no_token_and_no_host_check(tmp_path: Path) -> None:
    with http_server(["--sandbox"], base_env(PD_MCP_HTTP_TOKEN="s3cret-t0ken"), tmp_path) as server:
        base = f"http://127.0.0.1:{server.port}"
        for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
            for headers in ({}, {"host": "evil.example", "origin": "http://evil.example"}):
                answer = httpx.get(base + path, headers=headers)
                assert answer.status_code == 200 and answer.json() == {"status": status}, answer.text
                assert "s3cret" not in answer.text
        assert httpx.post(base + "/mcp", json=initialize(1), headers=MCP_HEADERS).status_code == 401


@pytest.mark.parametrize("mode", MODES)
async def test_sigterm_returns_the_wait_in_flight_and_exits(tmp_path: Path, mode: str) -> None:
    with http_server(["--sandbox"], base_env(), tmp_path) as server:
        polled = anyio.Event()

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            polled.set()

        results = []

        async def wait(client: Client) -> None:
            results.append(
                await client.call_tool(
                    "wait_for_dataset_sync",
                    {"dataset_id": "ds-stuck", "timeout_seconds": 600},
                    progress_callback=on_progress,
                )
            )

        with anyio.fail_after(TEST_TIMEOUT):
            async with (
                Client(server.url, mode=mode, read_timeout_seconds=TEST_TIMEOUT) as client,
                anyio.create_task_group() as tg,
            ):
                tg.start_soon(wait, client)
                await polled.wait()
                server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
    (result,) = results
    data = result.structured_content
    assert result.is_error is not True and data is not None, text_of(result)
    assert data["timed_out"] is True and data["verdict"] == "syncing", data
    assert (data["synched_count"], data["synching_count"]) == (1, 3), data
    assert "restarting" in data["message"] and "again" in data["message"], data


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with http_server(["--sandbox"], base_env(), tmp_path_factory.mktemp("lifecycle")) as server:
        yield server


@pytest.mark.parametrize("mode", MODES)
async def test_capabilities_are_what_is_delivered(sandbox_server: HttpServer, mode: str) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with Client(sandbox_server.url, mode=mode, read_timeout_seconds=TEST_TIMEOUT) as client:
            caps = client.server_capabilities
            assert caps.prompts is None, caps
            assert caps.tools is not None and not caps.tools.list_changed, caps
            assert caps.resources is not None, caps
            assert not caps.resources.list_changed, caps
            assert caps.resources.subscribe is True, caps  # delivered (tests of the subscriptions)
            assert {t.name for t in (await client.list_tools()).tools} == {
                "get_dataset_status",
                "wait_for_dataset_sync",
            }
            assert (await client.list_resource_templates()).resource_templates


@pytest.mark.parametrize("mode", MODES)
async def test_a_missing_dataset_resource_is_invalid_params(sandbox_server: HttpServer, mode: str) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with Client(sandbox_server.url, mode=mode, read_timeout_seconds=TEST_TIMEOUT) as client:
            for dataset_id in (UNKNOWN_DATASET, "bad%20id"):
                with pytest.raises(MCPError) as caught:
                    await client.read_resource(f"powerdrill://datasets/{dataset_id}/status")
                assert caught.value.error.code == INVALID_PARAMS, caught.value.error
                assert "Traceback" not in caught.value.error.message


def test_a_session_flood_does_not_lock_out_a_new_client(tmp_path: Path) -> None:
    env = base_env(PD_MCP_HTTP_MAX_SESSIONS="5")
    with http_server(["--sandbox"], env, tmp_path) as server:
        with httpx.Client(headers=MCP_HEADERS, timeout=TEST_TIMEOUT) as http:
            sessions = []
            for n in range(20):  # four times the cap, never closed
                answer = http.post(server.url, json=initialize(n))
                assert answer.status_code == 200, answer.text
                sessions.append(answer.headers["mcp-session-id"])
        # The newest sessions are still there; the oldest made room.
        assert len(set(sessions)) == 20
        assert "Too many open sessions" not in server.output()
