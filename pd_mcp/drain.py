"""The drain: after SIGTERM no new calls, waits in flight end early, and the server knows when it is idle.

Why: a rolling restart must not fail the calls it interrupts. The serving code
starts the drain; tool handlers `track()` their call and pass `stopping` to the
wait loop; `/readyz` reads `draining`. Events are made lazily, inside the loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio


class Drain:
    """Whether the server is draining, and how many calls are still running."""

    def __init__(self) -> None:
        self.draining = False
        self.active = 0
        self.requests = 0  # HTTP requests being answered (see `http_app.HealthMiddleware`)
        self._last_request = 0.0
        self._no_requests: anyio.Event | None = None
        self._stop: anyio.Event | None = None
        self._idle: anyio.Event | None = None

    def stopping(self) -> anyio.Event:
        """Set when the drain starts (a wait in flight returns its latest counts then)."""
        if self._stop is None:
            self._stop = anyio.Event()
            if self.draining:
                self._stop.set()
        return self._stop

    def start(self) -> None:
        self.draining = True
        self.stopping().set()
        self._check_idle()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count one call as running for as long as the block runs."""
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._check_idle()

    @contextlib.contextmanager
    def track_request(self) -> Iterator[None]:
        """Count one HTTP request as being answered for as long as the block runs."""
        self.requests += 1
        try:
            yield
        finally:
            self.requests -= 1
            self._last_request = anyio.current_time()
            if not self.requests and self._no_requests is not None:
                self._no_requests.set()

    async def wait_quiet(self, quiet: float) -> None:
        """Return once no HTTP request is being answered and none ended in the last `quiet` seconds.

        After a wait returns, its client often asks one more thing (the tool list, to
        check the result); this lets that be answered before the server stops.
        """
        while True:
            if self.requests:
                self._no_requests = anyio.Event()
                await self._no_requests.wait()
                continue
            left = quiet - (anyio.current_time() - self._last_request)
            if left <= 0:
                return
            await anyio.sleep(left)

    async def wait_idle(self) -> None:
        """Return once no tracked call is running."""
        if self.active == 0:
            return
        if self._idle is None:
            self._idle = anyio.Event()
        await self._idle.wait()

    def _check_idle(self) -> None:
        if self.active == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None
