"""The MCP Bundle, built and started with the ecosystem's own tools, as a host would.

A bundle that validates can still fail to start (it did: no dependencies, the
wrong Python, compiled wheels for one interpreter only). So this installs the
official bundler (`@anthropic-ai/mcpb`) from npm, validates and packs the
repository root, checks that only what runs is inside, unpacks it, resolves
`mcp_config` with the bundler's own host library (`getMcpConfigForManifest`,
tests/data/resolve_mcp_config.mjs), and launches exactly that command with a
PATH holding nothing but `uv` and one Python, for each of 3.11, 3.12 and 3.13.
uv installs the dependencies from PyPI the way it does on a user's machine; it
may not download a Python, so the one given is the one that runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from npm_support import npm_prefix
from uv_support import find_python, only_uv_and, uv_environment

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parent.parent
RESOLVER = Path(__file__).resolve().parent / "data" / "resolve_mcp_config.mjs"
MCPB = "@anthropic-ai/mcpb@2.1.2"
PYTHONS = ("3.11", "3.12", "3.13")
MAX_BUNDLE_BYTES = 1_000_000
TOP_LEVEL_FILES = {"manifest.json", "icon.png", "pyproject.toml", "README.md", "LICENSE"}
TOOL_TIMEOUT = 300.0
# First start of each Python: uv creates the environment and installs from PyPI (cached after the first).
START_TIMEOUT = 240.0


def mcpb(prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(prefix / "node_modules" / ".bin" / "mcpb"), *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
    )
    assert result.returncode == 0, f"mcpb {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def prefix() -> Path:
    return npm_prefix(MCPB)


@pytest.fixture(scope="module")
def bundle(prefix: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mcpb pack .` at the repository root (into a temporary folder, not the clone)."""
    out = tmp_path_factory.mktemp("bundle") / "pd-mcp.mcpb"
    mcpb(prefix, "pack", ".", str(out))
    return out


@pytest.fixture(scope="module")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


def test_the_bundler_validates_the_manifest(prefix: Path) -> None:
    result = mcpb(prefix, "validate", "manifest.json")
    assert "validation passes" in result.stdout.lower()
    assert "error" not in result.stdout.lower()


def test_the_bundle_is_small_and_holds_only_what_runs(bundle: Path) -> None:
    assert bundle.stat().st_size < MAX_BUNDLE_BYTES
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    outside = {n for n in names if n not in TOP_LEVEL_FILES and not n.startswith("pd_mcp/")}
    assert not outside, f"not needed to run: {sorted(outside)}"
    assert names >= TOP_LEVEL_FILES
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    for unwanted in ("tests/", "bench/", ".ci/", ".venv/", "docs/", "client_configs/"):
        assert not [n for n in names if n.startswith(unwanted)], unwanted
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pd_mcp").rglob("*.py")}
    assert sources <= names, f"missing from the bundle: {sorted(sources - names)}"


def resolve_mcp_config(prefix: Path, extension: Path, user_config: dict[str, str], home: Path) -> Any:
    result = subprocess.run(
        ["node", str(RESOLVER), str(prefix), str(extension), json.dumps(user_config), str(home)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("version", PYTHONS)
async def test_the_unpacked_bundle_answers_on_python(
    version: str, prefix: Path, bundle: Path, uv_cache: Path, tmp_path: Path
) -> None:
    from mcp import Client, StdioServerParameters

    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, running_sandbox

    python = find_python(version)
    if python is None:
        assert not os.environ.get("CI"), f"CI has no Python {version}"
        pytest.skip(f"no Python {version} on this machine")
    extension = tmp_path / "extension"
    mcpb(prefix, "unpack", str(bundle), str(extension))
    only = only_uv_and(python, tmp_path / "bin")  # the whole PATH: uv and one Python
    home = tmp_path / "home"
    with running_sandbox() as sb:
        user_config = {
            "powerdrill_user_id": SANDBOX_USER_ID,
            "powerdrill_api_key": SANDBOX_API_KEY,
            "powerdrill_api_url": sb.url,
        }
        config = resolve_mcp_config(prefix, extension, user_config, home)
        assert config["command"] == "uv"
        env = {**config["env"], **uv_environment(only, home, uv_cache)}
        params = StdioServerParameters(command=config["command"], args=config["args"], env=env)
        with anyio.fail_after(START_TIMEOUT):
            async with Client(params) as client:
                result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert not result.is_error, result.content
    report = result.structured_content
    assert report is not None and report["verdict"] == "ready" and report["simulated"] is True
    environment = extension / ".venv"
    assert (environment / "pyvenv.cfg").is_file(), "uv did not build the environment in the bundle"
    cfg = (environment / "pyvenv.cfg").read_text(encoding="utf-8")
    assert f"version_info = {version}." in cfg or f"version = {version}." in cfg, cfg
    assert sys.executable not in cfg
