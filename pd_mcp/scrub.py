"""The one function that removes the API key from any text pd-mcp emits.

Why: an upstream can echo the key back JSON-escaped (a key with `\\` or `"`),
URL-encoded (a key with `%`, `/` or non-ASCII) or raw; replacing only the raw
form misses the others. Tools, resources, logs and the command line all call
`scrub` (or `scrub_tree` for structured content), so every encoding is covered
in one place. Standard library only: the log formatter and the command line
import it before anything heavy.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_LENGTH = 4


@lru_cache(maxsize=8)
def _forms(secret: str) -> tuple[str, ...]:
    """Every encoding of `secret` that may appear in text, longest first."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote(secret, safe="").lower(),
    }
    return tuple(sorted((f for f in forms if len(f) >= MIN_LENGTH), key=len, reverse=True))


def scrub(text: str, secret: str) -> str:
    """`text` with every encoding of the API key replaced (a key under 4 characters is not searched for)."""
    if len(secret) < MIN_LENGTH:
        return text
    for form in _forms(secret):
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def scrub_tree(value: Any, secret: str) -> Any:
    """`value` (decoded JSON) with the key scrubbed from every string, keys included."""
    if isinstance(value, str):
        return scrub(value, secret)
    if isinstance(value, dict):
        return {scrub(str(k), secret): scrub_tree(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_tree(v, secret) for v in value]
    return value
