"""The official MCP conformance suite's server scenarios against `pd-mcp serve --transport http --sandbox`.

To check another scenario, add its name to SCENARIOS (`conformance list` shows them).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import HttpServer, base_env, http_server
from npm_support import CONFORMANCE, NODE, bin_path, npm_prefix

pytestmark = pytest.mark.process

SCENARIOS = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "dns-rebinding-protection",
    "completion-complete",
    "resources-subscribe",
    "resources-unsubscribe",
)
SCENARIO_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def suite_path() -> str:
    return bin_path(npm_prefix(NODE, CONFORMANCE))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with http_server(["--sandbox"], base_env(), tmp_path_factory.mktemp("conformance")) as running:
        yield running


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_conformance_scenario_passes(
    scenario: str, suite_path: str, server: HttpServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        ["conformance", "server", "--url", server.url, "--scenario", scenario, "-o", str(tmp_path)],
        env={**base_env(), "PATH": suite_path, "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
    )
    assert result.returncode == 0, f"{scenario} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert "0 failed" in result.stdout
