"""Resource subscriptions over MCP, in both protocol eras, on top of `live.LiveStatus`.

2025-11-25: `resources/subscribe` and `resources/unsubscribe`; a subscription
belongs to its connection and ends with it (its exit stack), and updates go
out on the connection's standalone stream. 2026-07-28: a `subscriptions/listen`
stream with `resourceSubscriptions`; the SDK's own listen handler serves the
stream, and this wrapper checks the URIs first and holds the subscriptions for
exactly as long as the stream is open. Updates reach those streams through the
SDK's subscription bus. Thin on purpose: every rule is in `live`.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from pd_mcp.errors import PdMcpError
from pd_mcp.live import SCHEME, LiveStatus, SubscriptionRefused, dataset_of
from pd_mcp.messages import (
    SUBSCRIBE_BAD_URI_STEP,
    SUBSCRIBE_INSTEAD,
    SUBSCRIBE_STATELESS,
    subscription_refused,
)
from pd_mcp.sdk_internals import Handler, connection_of, lowlevel, wrap_request_handler

_CLEANUP_KEY = "pd_mcp.subscriptions"


class _ConnectionChannel:
    """A 2025-11-25 session's standalone stream."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def resource_updated(self, uri: str) -> None:
        await self._connection.send_resource_updated(uri)


class _BusChannel:
    """Every 2026-07-28 listen stream that asked for the URI (the SDK's listen handler filters)."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self._bus = bus

    async def resource_updated(self, uri: str) -> None:
        await self._bus.publish(ResourceUpdated(uri=uri))


def _refuse(exc: PdMcpError) -> MCPError:
    """The JSON-RPC error of a refused subscription: state, consequence, next step."""
    known = isinstance(exc, SubscriptionRefused) or exc.next_step is not None
    step = exc.what_to_do if known else SUBSCRIBE_BAD_URI_STEP
    return MCPError(INVALID_PARAMS, subscription_refused(exc.message, step))


def _datasets(uris: list[str]) -> list[str]:
    """The dataset ids of pd-mcp's URIs among `uris`; a malformed pd-mcp URI is refused.

    A URI of another scheme is honoured and never fires, as the spec's conformance
    suite expects (and as the SDK's listen handler does): it is nothing pd-mcp serves.
    """
    try:
        return list(dict.fromkeys(dataset_of(uri) for uri in uris if uri.startswith(SCHEME)))
    except PdMcpError as exc:
        raise _refuse(exc) from None


def install(mcp: MCPServer, live: LiveStatus, bus: SubscriptionBus) -> None:
    """Serve subscriptions for the status resource in both eras."""
    server = lowlevel(mcp)
    server.add_request_handler("resources/subscribe", SubscribeRequestParams, _subscribe(live))
    server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, _unsubscribe(live))
    broadcast = _BusChannel(bus)
    wrap_request_handler(
        mcp,
        "subscriptions/listen",
        SubscriptionsListenRequestParams,
        lambda sdk: _listen(live, broadcast, sdk),
    )


def _subscribe(live: LiveStatus) -> Handler:
    """2025-11-25 `resources/subscribe`: updates on the connection's standalone stream until it ends."""

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        datasets = _datasets([str(params.uri)])
        if not datasets:
            return EmptyResult()
        (dataset_id,) = datasets
        connection = connection_of(ctx)
        if not connection.has_standalone_channel:
            raise MCPError(INVALID_PARAMS, subscription_refused(SUBSCRIBE_STATELESS, SUBSCRIBE_INSTEAD))
        try:
            live.subscribe(connection, dataset_id, _ConnectionChannel(connection))
        except PdMcpError as exc:
            raise _refuse(exc) from None
        if _CLEANUP_KEY not in connection.state:
            connection.state[_CLEANUP_KEY] = True
            connection.exit_stack.callback(live.end_session, connection)
        return EmptyResult()

    return subscribe


def _unsubscribe(live: LiveStatus) -> Handler:
    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        for dataset_id in _datasets([str(params.uri)]):
            live.unsubscribe(connection_of(ctx), dataset_id)
        return EmptyResult()

    return unsubscribe


def _listen(live: LiveStatus, broadcast: _BusChannel, sdk_listen: Handler) -> Handler:
    """2026-07-28 `subscriptions/listen`: the URIs checked, held while the SDK's stream is open."""

    async def listen(ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        datasets = _datasets([str(u) for u in params.notifications.resource_subscriptions or ()])
        stream = object()  # this listen stream is the subscribing session
        try:
            for dataset_id in datasets:
                live.subscribe(stream, dataset_id, broadcast)
        except PdMcpError as exc:
            live.end_session(stream)
            raise _refuse(exc) from None
        try:
            # No await between subscribing and the SDK handler: it joins the bus before its first one.
            return await sdk_listen(ctx, params)
        finally:
            live.end_session(stream)

    return listen
