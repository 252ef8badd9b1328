"""The one scrub function: a key with `\\`, `"`, `%` or non-ASCII never survives in any encoding."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

import pytest

from pd_mcp.logs import RedactingFormatter
from pd_mcp.models import DatasetStatus
from pd_mcp.report import structured
from pd_mcp.scrub import scrub

TRICKY = ["k\\ey-1234", 'k"ey-5678', "k%ey-90/ab", "kéy-ünï-✓", 'a\\"b%c d+e']


def _encodings(key: str) -> list[str]:
    return [
        key,
        json.dumps(key)[1:-1],
        json.dumps(key, ensure_ascii=False)[1:-1],
        quote(key, safe=""),
        quote(key),
        quote_plus(key),
    ]


@pytest.mark.parametrize("key", TRICKY)
def test_every_encoding_is_scrubbed(key: str) -> None:
    for form in _encodings(key):
        text = scrub(f"upstream said: {form} (echo)", key)
        for leak in _encodings(key):
            assert leak not in text
        assert "[redacted]" in text


@pytest.mark.parametrize("key", TRICKY)
def test_structured_content_never_carries_the_key(key: str) -> None:
    echoed = f"echo {key} / {json.dumps({'k': key})} / {quote(key, safe='')} / {quote_plus(key)}"
    report = DatasetStatus(
        dataset_id=echoed,
        synched_count=1,
        synching_count=0,
        invalid_count=0,
        total_count=1,
        verdict="ready",
        ready=True,
        message=echoed,
        trace_id=key,
        api_version="v2",
        checked_at="2026-01-01T00:00:00Z",
    )
    content = structured(report, key)
    for dumped in (json.dumps(content), json.dumps(content, ensure_ascii=False), str(content)):
        for leak in _encodings(key):
            assert leak not in dumped
    assert content["synched_count"] == 1 and content["trace_id"] == "[redacted]"


@pytest.mark.parametrize("key", TRICKY)
def test_log_lines_never_carry_the_key(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", key)
    args = (json.dumps({"key": key}),)
    record = logging.LogRecord("pd_mcp", logging.INFO, __file__, 1, "body %s", args, None)
    line = RedactingFormatter().format(record)
    for leak in _encodings(key):
        assert leak not in line
