"""Stateful HTTP sessions: a session cap that reaps the longest-idle session first.

Why: without a token on loopback any local process can open sessions; at the
cap the SDK refuses every new client until old sessions expire. Here a new
session at the cap takes the place of the session idle the longest (one with
no request in flight), so a flood cannot lock out new clients. This is the
only module that reaches into the SDK's session manager.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger("pd_mcp.http")


def reap_idle_first(manager: Any) -> None:
    """Make `manager` (a `StreamableHTTPSessionManager`) end its longest-idle session when it is full."""
    admit = manager._admit_session

    def admit_session(requestor: Any) -> Any:
        cap = manager.max_sessions
        if cap is not None and len(manager._server_instances) >= cap:
            _end_longest_idle(manager)
        return admit(requestor)

    manager._admit_session = admit_session


def _end_longest_idle(manager: Any) -> None:
    """Forget the session whose idle countdown started first and cancel its server task."""
    oldest: tuple[float, str, Any] | None = None
    for session_id, transport in manager._server_instances.items():
        scope = transport.idle_scope
        if scope is None or transport._requests_in_flight or not math.isfinite(scope.deadline):
            continue
        if oldest is None or scope.deadline < oldest[0]:
            oldest = (scope.deadline, session_id, transport)
    if oldest is None:
        return
    _, session_id, transport = oldest
    manager._server_instances.pop(session_id, None)
    manager._session_owners.pop(session_id, None)
    oldest[2].idle_scope.cancel()
    log.info("session limit reached: ended the session idle the longest to admit a new one")
