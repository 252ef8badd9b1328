"""How `pd-mcp wait` shows progress: a live bar on a terminal, plain lines otherwise.

Both go to stderr, so stdout carries only the final report (or its JSON).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

OnProgress = Callable[[float, float | None, str | None], Awaitable[None]]


@contextmanager
def progress_view(dataset_id: str) -> Iterator[OnProgress]:
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task(f"syncing {dataset_id}", total=None)

            async def on_bar(done: float, total: float | None, text: str | None) -> None:
                bar.update(task, completed=done, total=total or None)

            yield on_bar
        return

    started = time.monotonic()

    async def on_line(done: float, total: float | None, text: str | None) -> None:
        shown = f"{int(done)}/{int(total)}" if total is not None else f"{int(done)}"
        print(
            f"[{time.monotonic() - started:6.1f}s] {shown} data sources done. {text or ''}".rstrip(),
            file=sys.stderr,
            flush=True,
        )

    yield on_line
