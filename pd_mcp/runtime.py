"""What the tools and the command line share for the life of a process: configuration and one client.

Below the MCP layer on purpose: `pd-mcp status`, `wait` and `check` use the same
`Runtime` as the tools without importing the SDK. Configuration is read on the
first call, not at construction, so a server without credentials still starts.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from pd_mcp.drain import Drain

if TYPE_CHECKING:
    import httpx

    from pd_mcp.client import PowerdrillClient
    from pd_mcp.clock import Clock
    from pd_mcp.completion import DatasetCompleter
    from pd_mcp.live import LiveStatus
    from pd_mcp.models import Counts, DatasetPage
    from pd_mcp.settings import ApiConfig

log = logging.getLogger("pd_mcp.runtime")


class Runtime:
    """What the handlers share for the life of the process: configuration and one client."""

    def __init__(
        self,
        *,
        config: ApiConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        settings_update: Mapping[str, object] | None = None,
    ) -> None:
        """`config` is used as given; else the environment is read on first use, with
        `settings_update` (field → value, as `settings.Settings`) replacing what it says."""
        self._config = config
        self._settings_update = dict(settings_update or {})
        self._transport = transport
        self.clock = clock
        self.drain = Drain()
        self._client: PowerdrillClient | None = None

    # Built on first use: the command line needs neither, and skips their imports.
    @functools.cached_property
    def live(self) -> LiveStatus:
        """The subscriptions' poller manager."""
        return _live_status(self)

    @functools.cached_property
    def completer(self) -> DatasetCompleter:
        """Completion of dataset ids from the project's listing."""
        return _completer(self)

    def client(self) -> PowerdrillClient:
        """The shared client; raises `ConfigError` while the environment is incomplete."""
        if self._client is None:
            from pd_mcp import settings
            from pd_mcp.client import PowerdrillClient

            config = self._config or settings.load().model_copy(update=self._settings_update).resolve()
            self._client = PowerdrillClient(config, transport=self._transport)
        return self._client

    def secret(self) -> str:
        """The API key as configured (for scrubbing), or an empty string."""
        if self._client is not None:
            return self._client.config.api_key.get_secret_value()
        try:
            from pd_mcp import settings

            key = settings.load().api_key
        except Exception:  # a broken environment has no key to hide either
            return ""
        return key.get_secret_value().strip() if key else ""

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _live_status(runtime: Runtime) -> LiveStatus:
    """The subscriptions' poller manager, polling through the runtime's one client."""
    from pd_mcp import settings
    from pd_mcp.errors import ConfigError
    from pd_mcp.live import DEFAULT_LIFETIME, LiveStatus

    try:
        lifetime = settings.load().lifetime(DEFAULT_LIFETIME)
    except ConfigError as exc:
        log.warning("%s; using %g s", exc.message, DEFAULT_LIFETIME)
        lifetime = DEFAULT_LIFETIME

    async def fetch(dataset_id: str) -> Counts:
        return (await runtime.client().status(dataset_id, retry=False)).counts

    return LiveStatus(fetch, clock=runtime.clock, lifetime=lifetime)


def _completer(runtime: Runtime) -> DatasetCompleter:
    from pd_mcp.completion import DatasetCompleter

    def lister() -> Callable[[str], Awaitable[DatasetPage]]:
        return runtime.client().list_datasets

    clock = runtime.clock
    return DatasetCompleter(lister, now=clock.now if clock is not None else time.monotonic)
