"""How `pd-mcp wait` shows progress: a live bar on a terminal, plain lines otherwise.

Both go to stderr, so stdout carries only the final report (or its JSON) and
`pd-mcp wait ID --json > report.json` shows the bar while it writes the file.

The callback has the signature of the waiter's `on_progress` (and of MCP
progress notifications): sources settled so far, all sources, and the verdict
sentence. The plain form is meant for CI logs: one line when the wait starts,
one whenever the counts change, and a heartbeat line at least every
`HEARTBEAT` seconds so a log never looks stalled. It never writes escape codes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

OnProgress = Callable[[float, float | None, str | None], Awaitable[None]]

HEARTBEAT = 30.0  # seconds between plain lines when nothing changes


def is_live_terminal(stream: TextIO | None = None) -> bool:
    """True when `stream` (default stderr) is an interactive terminal that can redraw a bar."""
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


@contextmanager
def progress_view(dataset_id: str, timeout: float | None = None) -> Iterator[OnProgress]:
    """Yield the progress callback for one wait; the bar (if any) is removed when the block ends."""
    if is_live_terminal():
        with _bar(dataset_id, timeout) as on_progress:
            yield on_progress
    else:
        yield _lines(dataset_id, timeout, sys.stderr)


@contextmanager
def _bar(dataset_id: str, timeout: float | None) -> Iterator[OnProgress]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    limit = f" (up to {timeout:g} s)" if timeout else ""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("data sources settled"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"waiting for {dataset_id}{limit}", total=None)

        async def on_bar(done: float, total: float | None, text: str | None) -> None:
            # total None or 0 (an empty dataset) shows the indeterminate pulse.
            bar.update(task, completed=done, total=total or None)

        yield on_bar


def _lines(dataset_id: str, timeout: float | None, stream: TextIO) -> OnProgress:
    started = time.monotonic()
    shown: tuple[float, float | None, str | None] | None = None
    shown_at = 0.0

    def write(line: str) -> None:
        # Nobody reads stderr any more (a closed pipe or stream): the wait goes on regardless.
        with contextlib.suppress(BrokenPipeError, ValueError):
            print(f"[{time.monotonic() - started:6.1f}s] {line}", file=stream, flush=True)

    limit = f" for up to {timeout:g} s" if timeout else ""
    write(f"Waiting{limit} for dataset {dataset_id} to finish syncing.")

    async def on_line(done: float, total: float | None, text: str | None) -> None:
        nonlocal shown, shown_at
        now = time.monotonic()
        if (done, total, text) == shown and now - shown_at < HEARTBEAT:
            return
        shown, shown_at = (done, total, text), now
        if text:
            write(text)
        elif total is not None:
            write(f"{int(done)} of {int(total)} data sources settled.")
        else:
            write(f"{int(done)} data sources settled.")

    return on_line
