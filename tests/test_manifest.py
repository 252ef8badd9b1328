"""manifest.json is a valid MCP Bundle manifest (v0.3) that starts this server and asks for the key.

The allowed keys below are those of the strict 0.3 schema of the MCPB
toolchain (`src/schemas/0.3.ts` in modelcontextprotocol/mcpb), so a typo that
Claude Desktop would reject fails here first. The last test starts the server
exactly as `mcp_config` says, with the user's answers filled in, against the
sandbox.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.json"

TOP_LEVEL = {
    "$schema", "dxt_version", "manifest_version", "name", "display_name", "version", "description",
    "long_description", "author", "repository", "homepage", "documentation", "support", "icon", "icons",
    "screenshots", "localization", "server", "tools", "tools_generated", "prompts", "prompts_generated",
    "keywords", "license", "privacy_policies", "compatibility", "user_config", "_meta",
}  # fmt: skip
REQUIRED_TOP_LEVEL = {"manifest_version", "name", "version", "description", "author", "server"}
SERVER = {"type", "entry_point", "mcp_config"}
MCP_CONFIG = {"command", "args", "env", "platform_overrides"}
USER_OPTION = {"type", "title", "description", "required", "default", "multiple", "sensitive", "min", "max"}
COMPATIBILITY = {"claude_desktop", "platforms", "runtimes"}
SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")
HOST_VARIABLES = {"__dirname", "HOME", "DESKTOP", "DOCUMENTS", "DOWNLOADS", "pathSeparator", "/"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def test_shape_follows_the_0_3_schema(manifest: dict[str, Any]) -> None:
    assert manifest["manifest_version"] == "0.3"
    assert REQUIRED_TOP_LEVEL <= set(manifest) <= TOP_LEVEL, set(manifest) - TOP_LEVEL
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", manifest["name"])
    assert manifest["description"] and len(manifest["description"]) <= 200
    assert set(manifest["author"]) <= {"name", "email", "url"} and manifest["author"]["name"]
    server = manifest["server"]
    assert set(server) == SERVER and server["type"] == "python"
    assert set(server["mcp_config"]) <= MCP_CONFIG
    assert isinstance(server["mcp_config"]["command"], str)
    assert all(isinstance(a, str) for a in server["mcp_config"]["args"])
    assert all(isinstance(v, str) for v in server["mcp_config"]["env"].values())
    for tool in manifest["tools"]:
        assert set(tool) <= {"name", "description"}
    for option in manifest["user_config"].values():
        assert set(option) <= USER_OPTION
        assert option["type"] in {"string", "number", "boolean", "directory", "file"}
        assert option["title"] and option["description"]
    compatibility = manifest["compatibility"]
    assert set(compatibility) <= COMPATIBILITY
    assert set(compatibility["platforms"]) <= {"darwin", "win32", "linux"}
    assert set(compatibility["runtimes"]) <= {"python", "node"}


def test_version_is_the_package_version(manifest: dict[str, Any]) -> None:
    assert manifest["version"] == importlib.metadata.version("pd-mcp")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert manifest["version"] == pyproject["project"]["version"]


def test_python_requirement_matches_the_package(manifest: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert manifest["compatibility"]["runtimes"]["python"] == pyproject["project"]["requires-python"]


def test_asks_for_the_user_id_and_the_key_and_hides_the_key(manifest: dict[str, Any]) -> None:
    options = manifest["user_config"]
    user_id, key = options["powerdrill_user_id"], options["powerdrill_api_key"]
    assert user_id["type"] == key["type"] == "string"
    assert user_id["required"] is True and key["required"] is True
    assert key["sensitive"] is True
    assert "default" not in key and "default" not in user_id
    env = manifest["server"]["mcp_config"]["env"]
    assert env["POWERDRILL_USER_ID"] == "${user_config.powerdrill_user_id}"
    assert env["POWERDRILL_PROJECT_API_KEY"] == "${user_config.powerdrill_api_key}"


def test_every_substitution_is_one_the_host_knows(manifest: dict[str, Any]) -> None:
    config = manifest["server"]["mcp_config"]
    for value in [config["command"], *config["args"], *config["env"].values()]:
        for name in SUBSTITUTION.findall(value):
            if name.startswith("user_config."):
                assert name.removeprefix("user_config.") in manifest["user_config"], name
            else:
                assert name in HOST_VARIABLES, name


def test_entry_point_is_the_package_main_inside_lib(manifest: dict[str, Any]) -> None:
    """The bundle holds `lib/` (pd-mcp and its dependencies, `pip install --target lib .`)."""
    import pd_mcp

    entry = manifest["server"]["entry_point"]
    assert entry.startswith("lib/")
    package_dir = Path(pd_mcp.__file__).resolve().parent
    assert (package_dir.parent / entry.removeprefix("lib/")).is_file(), entry
    config = manifest["server"]["mcp_config"]
    assert config["args"] == ["-m", "pd_mcp"]
    assert config["env"]["PYTHONPATH"] == "${__dirname}/lib"


async def test_tools_are_the_servers_tools(manifest: dict[str, Any]) -> None:
    from mcp import Client

    from pd_mcp.server import build_server

    async with Client(build_server()) as client:
        listed = (await client.list_tools()).tools
    assert [t["name"] for t in manifest["tools"]] == [t.name for t in listed]
    assert all(t["description"] for t in manifest["tools"])
    assert manifest.get("tools_generated", False) is False


def test_no_key_and_no_real_values(manifest: dict[str, Any]) -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    assert "sandbox-key" not in text
    assert not re.search(r"\b(sk|pk|pdk)[-_][A-Za-z0-9]{8,}", text)


@pytest.mark.skipif(not (ROOT / "pd_mcp" / "sandbox").is_dir(), reason="the sandbox has not landed yet")
async def test_mcp_config_starts_a_server_that_answers(manifest: dict[str, Any], tmp_path: Path) -> None:
    """`command args env` as Claude Desktop would run them, with the user's answers filled in."""
    from mcp import Client, StdioServerParameters

    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, running_sandbox

    config = manifest["server"]["mcp_config"]
    with running_sandbox() as sb:
        answers = {
            "__dirname": str(tmp_path),  # the unpacked bundle; here `lib/` is empty and the venv has pd-mcp
            "user_config.powerdrill_user_id": SANDBOX_USER_ID,
            "user_config.powerdrill_api_key": SANDBOX_API_KEY,
            "user_config.powerdrill_api_url": sb.url,
        }

        def fill(value: str) -> str:
            return SUBSTITUTION.sub(lambda m: answers[m.group(1)], value)

        # "python" is whichever Python the host runs; here, the one running the tests.
        command = sys.executable if config["command"] == "python" else fill(config["command"])
        params = StdioServerParameters(
            command=command,
            args=[fill(a) for a in config["args"]],
            env={k: fill(v) for k, v in config["env"].items()},
        )
        with anyio.fail_after(60):
            async with Client(params) as client:
                result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["verdict"] == "ready"
    assert result.structured_content["simulated"] is True
