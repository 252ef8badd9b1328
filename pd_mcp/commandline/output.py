"""Every line the commands print: the API key scrubbed, `[simulated] ` marks, a closed pipe survived.

Why one writer: the commands print on stdout and stderr from many places, and
each line must go through the same scrub, so no path can print the key.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO

from pd_mcp.exit_codes import EXIT_ERROR
from pd_mcp.scrub import scrub

SIMULATED_MARK = "[simulated] "  # starts every line a `--sandbox` command prints, JSON aside

USER_ID_VAR = "POWERDRILL_USER_ID"
API_KEY_VAR = "POWERDRILL_PROJECT_API_KEY"
API_URL_VAR = "POWERDRILL_API_URL"


def plural(count: int, noun: str) -> str:
    """`1 status check`, `2 status checks`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class Output:
    """Writes lines to stdout and stderr with the API key scrubbed, and survives a closed pipe.

    With `mark`, every line starts with it (the `--sandbox` commands' `[simulated] `);
    `raw` output (JSON for scripts) is written as it is.
    """

    def __init__(self, secret: str = "", mark: str = "") -> None:
        self.secret = secret
        self.mark = mark
        for stream in (sys.stdout, sys.stderr):
            # A terminal that cannot show a character gets a '?' instead of a UnicodeEncodeError.
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                with contextlib.suppress(ValueError, OSError):
                    reconfigure(errors="replace")
        encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
        self.ok, self.bad = ("✓", "✗") if encoding.startswith("utf") else ("[ok]", "[error]")

    @classmethod
    def for_command(cls, simulated: bool) -> Output:
        """The writer of one command: marked when it asks the simulated API."""
        return cls(mark=SIMULATED_MARK if simulated else "")

    def scrub(self, text: str) -> str:
        return scrub(text, self.secret)

    def _write(self, stream: TextIO, text: str, scrubbed: bool, raw: bool = False) -> None:
        text = text if scrubbed else self.scrub(text)
        if self.mark and not raw:
            text = "\n".join(self.mark + line for line in text.split("\n"))
        try:
            print(text, file=stream, flush=True)
        except BrokenPipeError:  # e.g. `pd-mcp status x | head -1`: the reader has gone
            # Point the stream at devnull, so the flush at exit does not complain either.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())

    def out(self, text: str, *, raw: bool = False) -> None:
        self._write(sys.stdout, text, False, raw)

    def err(self, text: str, *, scrubbed: bool = False) -> None:
        """`scrubbed=True`: the caller has scrubbed `text` already."""
        self._write(sys.stderr, text, scrubbed)


def unexpected(out: Output, exc: BaseException, what: str) -> int:
    """A bug in pd-mcp, said in one line instead of a traceback; exit 3."""
    out.err(
        f"pd-mcp: failed unexpectedly ({type(exc).__name__}) while trying to {what}. "
        "This is a bug in pd-mcp, not a problem with your data; please report it."
    )
    return EXIT_ERROR
