"""`pd-mcp demo` end to end: every verdict as expected, and the new report fields shown."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process


def test_demo_passes_and_shows_the_user_message_and_the_structured_facts() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pd_mcp", "demo"], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every verdict was as expected" in done.stdout
    assert "for the user: Dataset ds-ready is simulated data in pd-mcp's sandbox (all 5 files" in done.stdout
    assert "for the user: pd-mcp is pointed at its sandbox, which answered with an error" in done.stdout
    assert "failed_sources_total=12, failed_sources_truncated=false" in done.stdout
    assert "finished_during_wait=0" in done.stdout and "with none finished during this wait" in done.stdout
