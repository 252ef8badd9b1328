"""Helpers shared by the test files: one canary key, one way to read a tool result's text.

Why: every test that proves the key never leaks must use the same key, and a
helper written once cannot drift between files.
"""

from __future__ import annotations

from typing import Any

# The API key the in-process tests configure; any output containing it is a leak.
CANARY_KEY = "pdk-CANARY-9f8e7d6c"


def text_of(result: Any) -> str:
    """The text blocks of a tool result, joined by newlines."""
    return "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")
