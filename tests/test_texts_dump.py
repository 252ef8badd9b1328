"""dev/texts_dump.py still writes every section, every verdict and every error class (it starts a process)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from pd_mcp import errors

pytestmark = pytest.mark.process

TOOL = Path(__file__).resolve().parent.parent / "dev" / "texts_dump.py"


def test_the_dump_has_every_section_verdict_and_error_class(tmp_path: Path) -> None:
    out = tmp_path / "texts.md"
    done = subprocess.run(
        [sys.executable, str(TOOL), str(out), "--no-demo"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    for heading in ("initialize and tools/list", "Results with Powerdrill API v2", "API v1", "Configuration"):
        assert heading in text, heading
    for verdict in ("ready", "syncing", "partially_failed", "failed", "empty"):
        assert f"Verdict: {verdict}." in text, verdict
    for outcome in ("cut the wait short", "none finished during this wait", "finished during the wait"):
        assert outcome in text, outcome
    assert "the first 20 of 27" in text and "2.5 / 6:" in text  # a cut list; progress that stood still
    assert "(API v1)" in text and "(API v2)" in text
    classes = [
        c.__name__ for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.PdMcpError)
    ]
    assert len(classes) > 10
    assert "Traceback" not in text and "pd-dump-key-0123456789" not in text
