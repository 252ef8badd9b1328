"""Streamable HTTP serving, safe by default.

Loopback binds accept only loopback `Host`/`Origin` values (DNS-rebinding
protection, which the MCP specification asks for). Any other bind address is
refused unless `PD_MCP_HTTP_TOKEN` is set; then every request must carry it as
a bearer token, and `Host`/`Origin` must match `PD_MCP_ALLOWED_HOSTS`.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import json
import socket
from typing import TYPE_CHECKING

from pd_mcp.drain import Drain
from pd_mcp.http_limits import HttpLimits

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Receive, Scope, Send

MCP_PATH = "/mcp"


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_unspecified(host: str) -> bool:
    """Whether `host` is an all-interfaces address in any spelling (`0.0.0.0`, `::`, `0:0:0:0:0:0:0:0`)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _token() -> str:
    """`PD_MCP_HTTP_TOKEN`, as the settings read it."""
    from pd_mcp.settings import load

    token = load().http_token
    return token.get_secret_value().strip() if token else ""


def _allowed_hosts_env() -> list[str]:
    """`PD_MCP_ALLOWED_HOSTS`, as the settings read it, split on commas."""
    from pd_mcp.settings import load

    return [h.strip() for h in (load().allowed_hosts or "").split(",") if h.strip()]


def refuse_unsafe_bind(host: str) -> str | None:
    """Why `host` may not be bound with the current environment, or None."""
    if is_loopback(host):
        return None
    if not _token():
        return (
            f"refusing to serve on {host}: a non-loopback address needs PD_MCP_HTTP_TOKEN "
            "(a bearer token every request must carry). Set it, or use --host 127.0.0.1."
        )
    if _is_unspecified(host) and not _allowed_hosts_env():
        return (
            f"refusing to serve on {host}: set PD_MCP_ALLOWED_HOSTS to the host names clients use "
            "(for example 'mcp.example.com' or 'mcp.example.com:8000'), so Host and Origin can be checked."
        )
    return None


def security_settings(host: str, port: int) -> TransportSecuritySettings:
    """Which Host and Origin values to accept."""
    from mcp.server.transport_security import TransportSecuritySettings

    if is_loopback(host):
        names = ["127.0.0.1", "localhost", "[::1]"]
    else:
        names = list(_allowed_hosts_env())
        if not _is_unspecified(host):
            names.append(f"[{host}]" if ":" in host else host)
    hosts: list[str] = []
    origins: list[str] = []
    for name in names:
        has_port = name.rsplit("]", 1)[-1].count(":") == 1
        forms = [name] if has_port else [name, f"{name}:*", f"{name}:{port}"]
        hosts += forms
        origins += [f"{scheme}://{form}" for form in forms for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class BearerTokenMiddleware:
    """Every HTTP request must carry `Authorization: Bearer <token>`; 401 otherwise."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, credentials = given.partition(b" ")
            # The scheme is case-insensitive in HTTP (RFC 9110 section 11.1).
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials, self._expected):
                body = json.dumps({"error": "unauthorized", "message": "a valid bearer token is required"})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="pd-mcp"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


class HealthMiddleware:
    """`GET /healthz` and `GET /readyz`, answered before the token and the Host/Origin checks.

    They say only "alive" and "ready"/"draining", never call Powerdrill, and
    need no token, so a load balancer or an orchestrator can probe them. While
    draining, `/readyz` answers 503 and a 2025-era `initialize` (a request that
    would open a new session) gets 503 with `Retry-After`, so new clients go to
    another replica. Open sessions and 2026-era requests go on (a client may
    still list tools to check a result); a wait started now returns at once.
    """

    def __init__(self, app: ASGIApp, drain: Drain, *, stateless: bool = False) -> None:
        self.app = app
        self.drain = drain
        self.stateless = stateless

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if path in ("/healthz", "/readyz") and scope.get("method") in ("GET", "HEAD"):
                if path == "/readyz" and self.drain.draining:
                    await _json(send, 503, {"status": "draining"})
                else:
                    await _json(send, 200, {"status": "ok" if path == "/healthz" else "ready"})
                return
            headers = dict(scope.get("headers") or [])
            # A 2025-era initialize: no session yet and no protocol version header.
            opens_session = b"mcp-session-id" not in headers and b"mcp-protocol-version" not in headers
            if self.drain.draining and opens_session and not self.stateless:
                message = "pd-mcp is restarting and takes no new requests; retry in a moment"
                await _json(send, 503, {"error": "draining", "message": message}, ((b"retry-after", b"1"),))
                return
            if scope.get("method") != "GET":  # a GET is a stream that may stay open: not a call
                with self.drain.track_request():
                    await self.app(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _json(
    send: Send, status: int, body: dict[str, str], extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def build_app(
    mcp: MCPServer,
    *,
    host: str,
    port: int,
    stateless: bool,
    drain: Drain | None = None,
    limits: HttpLimits | None = None,
) -> ASGIApp:
    """The Streamable HTTP app at /mcp, with host checks, health endpoints and, when configured, the token."""
    from pd_mcp.http_sessions import reap_idle_first

    limits = limits or HttpLimits()
    app: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        transport_security=security_settings(host, port),
        host=host,
        max_sessions=limits.max_sessions,
        session_idle_timeout=limits.session_idle_seconds,
    )
    if not stateless:
        reap_idle_first(mcp.session_manager)
    token = _token()
    return HealthMiddleware(
        BearerTokenMiddleware(app, token) if token else app, drain or Drain(), stateless=stateless
    )


class BindError(Exception):
    """The address cannot be listened on; the message names it and why, in one line."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port`, or `BindError` that says what is wrong."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose protocol
        # says TCP, and without it each answer's body waits ~40 ms behind its headers (Nagle's
        # algorithm against the client's delayed ACK): 45 ms per tool call instead of 5 (bench/ §2).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except (OSError, IndexError) as exc:
        raise BindError(f"cannot listen on {where}: the host name cannot be resolved ({exc})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = {
            errno.EADDRINUSE: f"port {port} is already in use by another process; choose another with --port",
            errno.EADDRNOTAVAIL: f"{host} is not an address of this machine; check --host",
            errno.EACCES: f"port {port} needs privileges; choose a port above 1023 with --port",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        raise BindError(f"cannot listen on {where}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def mcp_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}{MCP_PATH}" if ":" in host else f"http://{host}:{port}{MCP_PATH}"


async def serve_http(
    mcp: MCPServer, *, sock: socket.socket, stateless: bool, drain: Drain, limits: HttpLimits
) -> int:
    """Serve until SIGTERM or SIGINT has been drained; return the signal's number (0 if none)."""
    from pd_mcp.http_run import run_server

    host, port = sock.getsockname()[:2]
    app = build_app(mcp, host=host, port=port, stateless=stateless, drain=drain, limits=limits)
    return await run_server(app, sock=sock, drain=drain, limits=limits, url=mcp_url(sock))
