"""The readiness verdict: a pure function of the three counts.

Its texts live in `pd_mcp.messages`, with every other text.
"""

from __future__ import annotations

from pd_mcp.models import Counts, Verdict


def verdict(counts: Counts) -> Verdict:
    """Classify a dataset; `syncing` wins over everything but `empty`."""
    if counts.total == 0:
        return "empty"
    if counts.synching > 0:
        return "syncing"
    if counts.invalid == 0:
        return "ready"
    if counts.synched == 0:
        return "failed"
    return "partially_failed"
