"""Limits of the HTTP server, each with a safe default and a `PD_MCP_*` variable to change it.

Why: a local process needs no token on loopback, so without tight limits one
client could open sessions or connections until nobody else gets in, and a
SIGTERM could leave a deployment's calls hanging. Reading is pure: a bad value
is a `ConfigError` that names the variable, which `serve` reports in one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pd_mcp.errors import ConfigError
from pd_mcp.settings import Settings, load

DRAIN_SECONDS = 5.0
MAX_SESSIONS = 100
SESSION_IDLE_SECONDS = 300.0
MAX_CONNECTIONS = 256


@dataclass(frozen=True)
class HttpLimits:
    """How many sessions and connections, how long an idle session lives, how long a drain lasts."""

    drain_seconds: float = DRAIN_SECONDS
    max_sessions: int = MAX_SESSIONS
    session_idle_seconds: float = SESSION_IDLE_SECONDS
    max_connections: int = MAX_CONNECTIONS


def _number(name: str, raw: str | None, default: float, *, whole: bool, upper: float) -> float:
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value <= upper) or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{name} must be {kind} greater than 0 and at most {upper:g}, not {raw!r}")
    return value


def http_limits(settings: Settings | None = None) -> HttpLimits:
    """The limits from the environment; raises `ConfigError` for a value that is not allowed."""
    s = settings or load()
    return HttpLimits(
        drain_seconds=_number("PD_MCP_DRAIN_SECONDS", s.drain_seconds, DRAIN_SECONDS, whole=False, upper=600),
        max_sessions=int(
            _number("PD_MCP_HTTP_MAX_SESSIONS", s.http_max_sessions, MAX_SESSIONS, whole=True, upper=10_000)
        ),
        session_idle_seconds=_number(
            "PD_MCP_HTTP_SESSION_IDLE", s.http_session_idle, SESSION_IDLE_SECONDS, whole=False, upper=86_400
        ),
        max_connections=int(
            _number(
                "PD_MCP_HTTP_MAX_CONNECTIONS", s.http_max_connections, MAX_CONNECTIONS, whole=True, upper=1e5
            )
        ),
    )
