"""Streamable HTTP transport security: Host/Origin checks, the bearer token, safe binds.

Most tests drive `pd_mcp.http_app.build_app(...)` in-process through `httpx.ASGITransport`,
with the app's lifespan run by hand (the SDK's session manager starts its task group there).
The upstream is the sandbox, in-process too. Two subprocess checks cover the command line:
`pd-mcp serve --help` and the refusal of unsafe binds, and a real `pd-mcp serve --transport
http` that listens on loopback only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from support import free_port, sandbox_config

from pd_mcp.http_app import build_app, is_loopback, refuse_unsafe_bind
from pd_mcp.sandbox import Sandbox, SandboxOptions
from pd_mcp.server import Runtime, build_server

PD_MCP = str(Path(sys.executable).parent / "pd-mcp")
TOKEN = "test-bearer-token-5b1e"
PORT = 8000
PROTOCOL = "2025-06-18"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "sec-test", "version": "1"},
    },
}


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan (startup before the block, shutdown after) in this task."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def run() -> None:
        await app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, app_inbox.receive, app_outbox.send
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        with anyio.fail_after(10):
            assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            with anyio.fail_after(10):
                assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


@contextlib.asynccontextmanager
async def http_client(
    host: str = "127.0.0.1", *, stateless: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the pd-mcp app as it would be served on `host`:PORT (environment as set)."""
    sandbox = Sandbox(SandboxOptions(rate_limit=0))
    config = sandbox_config("http://sandbox.test")
    runtime = Runtime(config=config, transport=httpx.ASGITransport(app=sandbox.app))
    app = build_app(build_server(runtime), host=host, port=PORT, stateless=stateless)
    try:
        async with lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://server.test") as client:
                yield client
    finally:
        await runtime.aclose()


def headers(
    host: str | None = f"127.0.0.1:{PORT}", origin: str | None = None, token: str | None = None
) -> dict[str, str]:
    h = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    if host is not None:
        h["host"] = host
    if origin is not None:
        h["origin"] = origin
    if token is not None:
        h["authorization"] = f"Bearer {token}"
    return h


def messages_in(response: httpx.Response) -> list[dict[str, Any]]:
    """JSON-RPC messages of a response, whether plain JSON or server-sent events."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return [response.json()]
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


async def initialize(client: httpx.AsyncClient, **kw: Any) -> httpx.Response:
    return await client.post("/mcp", json=INITIALIZE, headers=headers(**kw))


async def status_call(client: httpx.AsyncClient, session: str | None, **kw: Any) -> httpx.Response:
    h = headers(**kw) | {"mcp-protocol-version": PROTOCOL}
    if session:
        h["mcp-session-id"] = session
    body = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "get_dataset_status", "arguments": {"dataset_id": "ds-ready"}},
    }
    return await client.post("/mcp", json=body, headers=h)


async def full_session(client: httpx.AsyncClient, **kw: Any) -> dict[str, Any]:
    """initialize, initialized, one tools/call; returns the tool's structured content."""
    response = await initialize(client, **kw)
    assert response.status_code == 200, (response.status_code, response.text)
    assert messages_in(response)[0]["result"]["serverInfo"]["name"] == "pd-mcp"
    session = response.headers.get("mcp-session-id")
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    h = headers(**kw) | {"mcp-protocol-version": PROTOCOL} | ({"mcp-session-id": session} if session else {})
    assert (await client.post("/mcp", json=note, headers=h)).status_code == 202
    response = await status_call(client, session, **kw)
    assert response.status_code == 200, (response.status_code, response.text)
    (message,) = [m for m in messages_in(response) if m.get("id") == 2]
    return message["result"]["structuredContent"]


# --- loopback: Host and Origin ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}", "127.0.0.1", "localhost", "localhost:3000"],
)
async def test_loopback_host_names_are_accepted(host: str) -> None:
    async with http_client() as client:
        response = await initialize(client, host=host)
    assert response.status_code == 200, (host, response.text)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        f"evil.example:{PORT}",
        f"127.0.0.1.nip.io:{PORT}",
        f"localhost.evil.example:{PORT}",
        f"192.168.1.10:{PORT}",
        f"0.0.0.0:{PORT}",
        "",
    ],
)
async def test_a_foreign_host_header_is_refused(host: str) -> None:
    """DNS rebinding: a page on evil.example resolved to 127.0.0.1 still says Host: evil.example."""
    async with http_client() as client:
        response = await initialize(client, host=host)
        call = await status_call(client, None, host=host)
    assert response.status_code in (400, 421), (host, response.status_code, response.text)
    assert call.status_code in (400, 421), call.text
    assert "serverInfo" not in response.text and "synched_count" not in call.text


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        f"http://evil.example:{PORT}",
        "https://attacker.test",
        "null",
        f"http://127.0.0.1.nip.io:{PORT}",
        f"http://localhost.evil.example:{PORT}",
        f"file://localhost:{PORT}",
    ],
)
async def test_a_foreign_origin_is_refused(origin: str) -> None:
    async with http_client() as client:
        response = await initialize(client, origin=origin)
        call = await status_call(client, None, origin=origin)
    assert response.status_code == 403, (origin, response.status_code, response.text)
    assert call.status_code in (400, 403), call.text
    assert "serverInfo" not in response.text


@pytest.mark.parametrize(
    "origin", [f"http://localhost:{PORT}", f"http://127.0.0.1:{PORT}", "http://localhost:5173"]
)
async def test_a_loopback_origin_is_accepted(origin: str) -> None:
    async with http_client() as client:
        response = await initialize(client, origin=origin)
    assert response.status_code == 200, (origin, response.text)


@pytest.mark.parametrize("stateless", [False, True])
async def test_a_whole_session_works_on_loopback_without_a_token(stateless: bool) -> None:
    async with http_client(stateless=stateless) as client:
        report = await full_session(client)
    assert report["verdict"] == "ready" and report["synched_count"] == 5


async def test_stateless_mode_keeps_no_session_and_still_checks_hosts() -> None:
    async with http_client(stateless=True) as client:
        response = await initialize(client)
        assert response.status_code == 200
        assert "mcp-session-id" not in response.headers
        # Any replica can answer a call that carries no session: nothing was kept.
        call = await status_call(client, None)
        assert call.status_code == 200, call.text
        assert "synched_count" in call.text
        refused = await status_call(client, None, host="evil.example")
        assert refused.status_code == 421


# --- the bearer token ---------------------------------------------------------------------------


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PD_MCP_HTTP_TOKEN", TOKEN)
    return TOKEN


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
        f"Bearer  {TOKEN}",
    ],
)
@pytest.mark.parametrize("stateless", [False, True])
async def test_a_missing_or_wrong_bearer_token_gets_401(
    token: str, authorization: str | None, stateless: bool
) -> None:
    async with http_client(stateless=stateless) as client:
        h = headers()
        if authorization is not None:
            h["authorization"] = authorization
        response = await client.post("/mcp", json=INITIALIZE, headers=h)
        call = await status_call(client, None)
    assert response.status_code == 401, (authorization, response.status_code, response.text)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert call.status_code == 401
    assert TOKEN not in response.text


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/mcp"), ("DELETE", "/mcp"), ("GET", "/"), ("POST", "/other")]
)
async def test_every_request_needs_the_token(token: str, method: str, path: str) -> None:
    async with http_client() as client:
        response = await client.request(method, path, headers=headers())
    assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.parametrize("stateless", [False, True])
async def test_the_right_token_passes(token: str, stateless: bool) -> None:
    async with http_client(stateless=stateless) as client:
        report = await full_session(client, token=token)
    assert report["verdict"] == "ready"


async def test_the_right_token_does_not_excuse_a_foreign_host_or_origin(token: str) -> None:
    async with http_client() as client:
        assert (await initialize(client, host="evil.example", token=token)).status_code == 421
        assert (await initialize(client, origin="http://evil.example", token=token)).status_code == 403


# --- binding -------------------------------------------------------------------------------------


@pytest.mark.process
def test_loopback_is_the_default_bind() -> None:
    from pd_mcp.cli import build_parser

    args = build_parser(sandbox_flags=False).parse_args(["serve", "--transport", "http"])
    assert args.host == "127.0.0.1"
    shown = subprocess.run([PD_MCP, "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    assert "default 127.0.0.1" in " ".join(shown.stdout.split()), shown.stdout


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_binds_need_no_token(host: str) -> None:
    assert is_loopback(host)
    assert refuse_unsafe_bind(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.5", "mcp.example.com", "fe80::1"])
def test_a_non_loopback_bind_without_a_token_is_refused(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not is_loopback(host)
    problem = refuse_unsafe_bind(host)
    assert problem and "PD_MCP_HTTP_TOKEN" in problem
    monkeypatch.setenv("PD_MCP_HTTP_TOKEN", "   ")  # blank is not a token
    assert refuse_unsafe_bind(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_an_any_address_bind_also_needs_allowed_hosts(
    host: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = refuse_unsafe_bind(host)
    assert problem and "PD_MCP_ALLOWED_HOSTS" in problem
    monkeypatch.setenv("PD_MCP_ALLOWED_HOSTS", "mcp.example.com")
    assert refuse_unsafe_bind(host) is None


def test_a_specific_address_with_a_token_may_be_bound(token: str) -> None:
    assert refuse_unsafe_bind("192.168.1.10") is None


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("PD_MCP_", "POWERDRILL_"))}
    return subprocess.run([PD_MCP, *args], capture_output=True, text=True, timeout=30, env=base | env)


@pytest.mark.process
def test_the_command_line_refuses_unsafe_binds() -> None:
    no_token = run_cli("serve", "--transport", "http", "--host", "0.0.0.0", "--port", "0", env={})
    assert no_token.returncode != 0 and "PD_MCP_HTTP_TOKEN" in no_token.stderr, no_token
    no_hosts = run_cli(
        "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "0", env={"PD_MCP_HTTP_TOKEN": TOKEN}
    )
    assert no_hosts.returncode != 0 and "PD_MCP_ALLOWED_HOSTS" in no_hosts.stderr, no_hosts
    assert TOKEN not in no_hosts.stderr + no_hosts.stdout


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (the container's own), if it has one."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
        address = s.getsockname()[0]
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


@pytest.mark.process
def test_a_real_server_listens_on_loopback_only() -> None:
    port = free_port()
    process = subprocess.Popen(
        [PD_MCP, "serve", "--transport", "http", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={
            k: v for k, v in __import__("os").environ.items() if not k.startswith(("PD_MCP_", "POWERDRILL_"))
        },
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/mcp",
                    json=INITIALIZE,
                    headers=headers(f"127.0.0.1:{port}"),
                    timeout=5,
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.1)
        assert response.status_code == 200, response.text
        foreign = httpx.post(
            f"http://127.0.0.1:{port}/mcp",
            json=INITIALIZE,
            headers=headers(f"evil.example:{port}"),
            timeout=5,
        )
        assert foreign.status_code == 421
        address = non_loopback_address()
        if address is not None:
            with pytest.raises(httpx.ConnectError):
                httpx.post(f"http://{address}:{port}/mcp", json=INITIALIZE, headers=headers(), timeout=5)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- behind a proxy: PD_MCP_ALLOWED_HOSTS --------------------------------------------------------


@pytest.fixture
def allowed(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_MCP_ALLOWED_HOSTS", " mcp.example.com , api.example.com:8443 ")


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("mcp.example.com", None, 200),
        (f"mcp.example.com:{PORT}", None, 200),
        ("mcp.example.com:443", "https://mcp.example.com", 200),
        ("api.example.com:8443", "https://api.example.com:8443", 200),
        ("api.example.com:9999", None, 421),
        ("api.example.com", None, 421),
        ("evil.example", None, 421),
        (f"127.0.0.1:{PORT}", None, 421),
        ("mcp.example.com", "https://evil.example", 403),
        ("mcp.example.com", "https://api.example.com:9999", 403),
    ],
)
@pytest.mark.parametrize("stateless", [False, True])
async def test_allowed_hosts_are_honoured_on_an_any_address_bind(
    allowed: None, host: str, origin: str | None, status: int, stateless: bool
) -> None:
    async with http_client("0.0.0.0", stateless=stateless) as client:
        response = await initialize(client, host=host, origin=origin, token=TOKEN)
        missing_token = await initialize(client, host=host, origin=origin)
    assert response.status_code == status, (host, origin, response.status_code, response.text)
    assert missing_token.status_code == 401


async def test_a_specific_bind_address_is_an_allowed_host(token: str) -> None:
    async with http_client("10.1.2.3") as client:
        assert (await initialize(client, host=f"10.1.2.3:{PORT}", token=TOKEN)).status_code == 200
        assert (await initialize(client, host=f"10.9.9.9:{PORT}", token=TOKEN)).status_code == 421


def test_lower_case_bearer_scheme_is_accepted() -> None:
    """The auth scheme is case-insensitive in HTTP: `bearer`, `BEARER` pass, a wrong token does not."""
    from pd_mcp.http_app import BearerTokenMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def status(header: bytes) -> int:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        scope: Any = {"type": "http", "headers": [(b"authorization", header)]}
        await BearerTokenMiddleware(app, "tok-123")(scope, send, send)
        return int(sent[0]["status"])

    for header, expected in [
        (b"Bearer tok-123", 200),
        (b"bearer tok-123", 200),
        (b"BEARER tok-123", 200),
        (b"bearer tok-124", 401),
        (b"Basic tok-123", 401),
        (b"tok-123", 401),
    ]:
        assert anyio.run(status, header) == expected, header


def test_every_spelling_of_all_interfaces_needs_allowed_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_MCP_HTTP_TOKEN", "a-long-token-value")
    monkeypatch.delenv("PD_MCP_ALLOWED_HOSTS", raising=False)
    for host in ("0.0.0.0", "::", "0:0:0:0:0:0:0:0", "[::]", "0000::0"):
        assert "PD_MCP_ALLOWED_HOSTS" in (refuse_unsafe_bind(host) or ""), host
