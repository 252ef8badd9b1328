"""Logging that can never stall the HTTP server: a bounded queue, a writer thread, repeats suppressed.

Why: with stderr a pipe nobody reads, a write to it blocks; done on the event
loop, that stops the whole server (and its SIGTERM drain). Records go to a
queue instead and a thread writes them; when the queue is full, records are
dropped. A flood of the same message (EMFILE on every accept attempt, for
example) is written once per interval, with a count of what was left out.

asyncio's own reports of its accept loop running out of descriptors need more:
Python's loop reports EMFILE once per accept attempt (up to the backlog, 2,048
with uvicorn, on every wake-up) with a traceback, and schedules a retry for
each; the retries still due when the listener closes each fail with a different
message. `quiet_accept_errors` turns the first into one line per interval and
drops the second (the listener is gone; there is nothing to retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import queue
import time
from collections.abc import Callable
from typing import Any

from pd_mcp.messages import OUT_OF_DESCRIPTORS

QUEUE_SIZE = 1000
REPEAT_INTERVAL = 10.0  # seconds between two records of the same logger and message


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Puts records on the queue without ever waiting; a full queue drops the record."""

    def enqueue(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(record)


class RepeatFilter(logging.Filter):
    """Lets the same (logger, message) through at most once per `interval` seconds."""

    def __init__(self, interval: float = REPEAT_INTERVAL, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval = interval
        self._now = now
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        at = self._now()
        seen = self._last.get(key)
        if seen is not None and at - seen[0] < self._interval:
            self._last[key] = (seen[0], seen[1] + 1)
            return False
        if len(self._last) > 1000:
            self._last.clear()
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} ({seen[1]} more like this in the last {at - seen[0]:.0f} s)"
        self._last[key] = (at, 0)
        return True


def offload_root_handlers() -> logging.handlers.QueueListener:
    """Move the root logger's handlers behind a queue and a thread; the caller stops the listener."""
    root = logging.getLogger()
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
    listener = logging.handlers.QueueListener(records, *root.handlers, respect_handler_level=True)
    handler = _DroppingQueueHandler(records)
    handler.addFilter(RepeatFilter())
    root.handlers[:] = [handler]
    listener.start()
    return listener


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Report the accept loop's EMFILE as one warning per interval, without a traceback; drop the
    retries that fail after the listener closed; everything else goes to asyncio's default."""
    log = logging.getLogger("pd_mcp.http")

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if message == "socket.accept() out of system resource":
            exc = context.get("exception")
            log.warning(OUT_OF_DESCRIPTORS, getattr(exc, "strerror", None) or exc)
            return
        if message.startswith("Exception in callback") and "._start_serving(" in message:
            return  # a retry of the accept loop, due after the listening socket was closed
        loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
