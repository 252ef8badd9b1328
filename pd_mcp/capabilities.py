"""The one place that decides which capabilities pd-mcp advertises, in both protocol eras.

Why: the SDK derives capabilities from the handlers it registers, so it would
announce prompts (pd-mcp has none), `listChanged` (never sent: the tool and
resource lists are fixed). A client that trusts those flags waits for
notifications that never come. `SUBSCRIBE` says whether resource subscriptions
are delivered (they are, in both eras).
"""

from __future__ import annotations

from typing import Any

from mcp.server.lowlevel.server import Server
from mcp_types import ServerCapabilities

# Whether resource subscriptions are delivered (`resources/subscribe`, `subscriptions/listen`: see
# `subscriptions`, which serves both eras).
SUBSCRIBE = True


def honest(capabilities: ServerCapabilities) -> ServerCapabilities:
    """`capabilities` without anything pd-mcp does not deliver."""
    update: dict[str, Any] = {"prompts": None}
    if capabilities.tools is not None:
        update["tools"] = capabilities.tools.model_copy(update={"list_changed": None})
    if capabilities.resources is not None:
        update["resources"] = capabilities.resources.model_copy(
            update={"list_changed": None, "subscribe": True if SUBSCRIBE else None}
        )
    return capabilities.model_copy(update=update)


def advertise_honestly(server: Server[Any]) -> None:
    """Make every handshake and `server/discover` answer of `server` pass through `honest`."""
    derive = server.get_capabilities

    def get_capabilities(*args: Any, **kwargs: Any) -> ServerCapabilities:
        return honest(derive(*args, **kwargs))

    server.get_capabilities = get_capabilities  # type: ignore[method-assign]
