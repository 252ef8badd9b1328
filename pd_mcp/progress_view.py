"""How `pd-mcp wait` shows progress: a live bar on a terminal, plain lines otherwise.

Both go to stderr, so stdout carries only the final report (or its JSON) and
`pd-mcp wait ID --json > report.json` shows the bar while it writes the file.

The callback has the signature of the waiter's `on_progress` (and of MCP
progress notifications): sources settled so far, all sources, and the verdict
sentence. The plain form is meant for CI logs: one line when the wait starts,
one whenever the counts change, and a heartbeat line whenever `HEARTBEAT`
seconds have passed without one (a thread ticks it, so a log shows a line at
least every 10 s even while a request hangs). It never writes escape codes.
The bar fits a 50-column terminal: below 80 columns it drops the words and
shortens the dataset id.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

OnProgress = Callable[[float, float | None, str | None], Awaitable[None]]

HEARTBEAT = 8.0  # seconds without a plain line before a heartbeat line; with TICK, always under 10 s
TICK = 0.5  # how often the heartbeat thread looks
NARROW = 80  # columns below which the bar drops its words


def is_live_terminal(stream: TextIO | None = None) -> bool:
    """True when `stream` (default stderr) is an interactive terminal that can redraw a bar."""
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


@contextmanager
def progress_view(dataset_id: str, timeout: float | None = None, mark: str = "") -> Iterator[OnProgress]:
    """Yield the progress callback for one wait; the bar (if any) is removed when the block ends.

    `mark` starts every plain line (and the bar's label), e.g. `[simulated] `.
    """
    if is_live_terminal():
        with _bar(dataset_id, timeout, mark) as on_progress:
            yield on_progress
        return
    lines = PlainLines(dataset_id, timeout, sys.stderr, mark=mark)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(TICK):
            lines.tick()

    ticker = threading.Thread(target=heartbeat, name="pd-mcp-wait-heartbeat", daemon=True)
    ticker.start()
    try:
        yield lines.on_progress
    finally:
        stop.set()
        ticker.join()


def bar_columns(dataset_id: str, timeout: float | None, width: int, mark: str = "") -> tuple[Any, ...]:
    """The bar's columns for a terminal `width` columns wide."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    if width >= NARROW:
        limit = f" (up to {timeout:g} s)" if timeout else ""
        return (
            TextColumn(f"{_escape(mark)}[bold]waiting for {_escape(dataset_id)}{limit}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("data sources settled"),
            TimeElapsedColumn(),
        )
    room = max(8, width - 32 - len(mark))  # bar 10, counts 9, elapsed 7, spaces
    short = dataset_id if len(dataset_id) <= room else dataset_id[: room - 1] + "…"
    return (
        TextColumn(f"{_escape(mark)}[bold]{_escape(short)}"),
        BarColumn(bar_width=10),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def _bar(dataset_id: str, timeout: float | None, mark: str) -> Iterator[OnProgress]:
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    with Progress(
        *bar_columns(dataset_id, timeout, console.width, mark), console=console, transient=True
    ) as bar:
        task = bar.add_task(dataset_id, total=None)

        async def on_bar(done: float, total: float | None, text: str | None) -> None:
            # total None or 0 (an empty dataset) shows the indeterminate pulse.
            bar.update(task, completed=done, total=total or None)

        yield on_bar


class PlainLines:
    """The plain-line view: a line per change, and `tick()` adds a heartbeat after HEARTBEAT quiet seconds."""

    def __init__(
        self,
        dataset_id: str,
        timeout: float | None,
        stream: TextIO,
        *,
        mark: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.mark, self.clock = stream, mark, clock
        self.started = self.last_line_at = clock()
        self.shown: tuple[float, float | None, str | None] | None = None
        self._lock = threading.Lock()
        from pd_mcp.messages import cli_waiting

        self.write(cli_waiting(dataset_id, timeout))

    def write(self, line: str) -> None:
        with self._lock:
            now = self.clock()
            self.last_line_at = now
            # Nobody reads stderr any more (a closed pipe or stream): the wait goes on regardless.
            with contextlib.suppress(BrokenPipeError, ValueError):
                print(f"{self.mark}[{now - self.started:6.1f}s] {line}", file=self.stream, flush=True)

    async def on_progress(self, done: float, total: float | None, text: str | None) -> None:
        if (done, total, text) == self.shown:
            return  # nothing new: the heartbeat covers the silence
        self.shown = (done, total, text)
        if text:
            self.write(text)
        else:
            self.write(_settled(done, total))

    def tick(self) -> None:
        """Write a heartbeat line if nothing was written for HEARTBEAT seconds."""
        if self.clock() - self.last_line_at < HEARTBEAT:
            return
        if self.shown is None:
            self.write("Still waiting for the first answer from Powerdrill.")
        else:
            done, total, _ = self.shown
            self.write(f"Still waiting: {_settled(done, total)}")


def _settled(done: float, total: float | None) -> str:
    if total is not None:
        noun = "data source" if int(total) == 1 else "data sources"
        return f"{int(done)} of {int(total)} {noun} settled."
    return f"{int(done)} data source settled." if int(done) == 1 else f"{int(done)} data sources settled."
