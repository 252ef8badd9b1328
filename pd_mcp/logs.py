"""Logging setup: stderr only, the API key removed from every line.

In stdio mode stdout belongs to JSON-RPC, so no log line may ever reach it.
Kept apart from the command line so that the stdio entry and the commands can
share it without importing each other. Standard library only: it runs before
the SDK is imported.
"""

from __future__ import annotations

import logging
import os
import sys

from pd_mcp.scrub import scrub

NOISY = ("httpx", "httpcore", "mcp", "uvicorn.access")


class RedactingFormatter(logging.Formatter):
    """A formatter that removes the API key from every line, tracebacks included (defence in depth)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        secret = os.environ.get("POWERDRILL_PROJECT_API_KEY", "").strip()
        return scrub(text, secret)


def configure_logging(default: str) -> None:
    """Send logs to stderr at `PD_MCP_LOG_LEVEL` (or `default`); quieten chatty libraries."""
    level = os.environ.get("PD_MCP_LOG_LEVEL", default).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else default)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
