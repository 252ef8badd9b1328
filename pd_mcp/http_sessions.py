"""Stateful HTTP sessions: a session cap that reaps the longest-idle session first.

Why: without a token on loopback any local process can open sessions; at the
cap the SDK refuses every new client until old sessions expire. Here a new
session at the cap takes the place of the session idle the longest (one with
no request in flight), so a flood cannot lock out new clients. What this needs
of the SDK's session manager beyond its public API is in `sdk_internals`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from pd_mcp.sdk_internals import forget_session, requests_in_flight, sessions, wrap_admission

log = logging.getLogger("pd_mcp.http")


def reap_idle_first(manager: StreamableHTTPSessionManager) -> None:
    """Make `manager` end its longest-idle session when it is full."""

    def wrap(admit: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def admit_session(requestor: Any) -> Any:
            cap = manager.max_sessions
            if cap is not None and len(sessions(manager)) >= cap:
                _end_longest_idle(manager)
            return admit(requestor)

        return admit_session

    wrap_admission(manager, wrap)


def _end_longest_idle(manager: StreamableHTTPSessionManager) -> None:
    """Forget the session whose idle countdown started first and cancel its server task."""
    oldest: tuple[float, str, Any] | None = None
    for session_id, transport in sessions(manager).items():
        scope = transport.idle_scope
        if scope is None or requests_in_flight(transport) or not math.isfinite(scope.deadline):
            continue
        if oldest is None or scope.deadline < oldest[0]:
            oldest = (scope.deadline, session_id, scope)
    if oldest is None:
        return
    _, session_id, scope = oldest
    forget_session(manager, session_id)
    scope.cancel()
    log.info("session limit reached: ended the session idle the longest to admit a new one")
