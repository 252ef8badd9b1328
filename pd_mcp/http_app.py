"""Streamable HTTP serving, safe by default.

Loopback binds accept only loopback `Host`/`Origin` values (DNS-rebinding
protection, which the MCP specification asks for). Any other bind address is
refused unless `PD_MCP_HTTP_TOKEN` is set; then every request must carry it as
a bearer token, and `Host`/`Origin` must match `PD_MCP_ALLOWED_HOSTS`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import TYPE_CHECKING

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
    if host in ("0.0.0.0", "::") and not _allowed_hosts_env():
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
        if host not in ("0.0.0.0", "::"):
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
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
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


def build_app(mcp: MCPServer, *, host: str, port: int, stateless: bool) -> ASGIApp:
    """The Streamable HTTP app at /mcp, with host checks and, when configured, the bearer token."""
    app: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        transport_security=security_settings(host, port),
        host=host,
    )
    token = _token()
    return BearerTokenMiddleware(app, token) if token else app


async def serve_http(mcp: MCPServer, *, host: str, port: int, stateless: bool) -> None:
    import uvicorn

    app = build_app(mcp, host=host, port=port, stateless=stateless)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    await uvicorn.Server(config).serve()
