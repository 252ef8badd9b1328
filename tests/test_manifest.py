"""manifest.json is a valid MCP Bundle manifest (v0.4, server type uv) that starts this server.

The allowed keys below are those of the strict 0.4 schema of the MCPB
toolchain (`mcpb-manifest-v0.4.schema.json` in the npm package
`@anthropic-ai/mcpb`), so a typo that Claude Desktop would reject fails here
first, without npm. tests/test_bundle.py builds the bundle with the real
bundler and starts it on each Python.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from pathlib import Path
from typing import Any

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
PRIVACY_NOTICE = "https://docs.powerdrill.ai/legal/privacy-notice"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def test_shape_follows_the_0_4_schema(manifest: dict[str, Any]) -> None:
    assert manifest["manifest_version"] == "0.4"
    assert REQUIRED_TOP_LEVEL <= set(manifest) <= TOP_LEVEL, set(manifest) - TOP_LEVEL
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", manifest["name"])
    assert manifest["description"] and len(manifest["description"]) <= 200
    assert set(manifest["author"]) <= {"name", "email", "url"} and manifest["author"]["name"]
    server = manifest["server"]
    assert set(server) == SERVER and server["type"] == "uv"
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


def test_uv_runs_the_packages_own_command_in_the_bundle(manifest: dict[str, Any]) -> None:
    """uv builds an environment in the unpacked bundle from pyproject.toml and runs `pd-mcp` in it."""
    entry = manifest["server"]["entry_point"]
    assert (ROOT / entry).is_file(), entry
    config = manifest["server"]["mcp_config"]
    assert config["command"] == "uv"
    args = config["args"]
    assert args[0] == "run" and args[args.index("--directory") + 1] == "${__dirname}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert args[-1] in pyproject["project"]["scripts"], "the last argument is the command uv runs"
    assert "--compile-bytecode" in args, "without bytecode every start costs about a second more"
    assert "PYTHONPATH" not in config["env"], "a uv bundle carries no lib/"


def test_names_the_privacy_notice_and_an_icon_it_carries(manifest: dict[str, Any]) -> None:
    assert manifest["privacy_policies"] == [PRIVACY_NOTICE]
    icon = ROOT / manifest["icon"]
    assert icon.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert icon.stat().st_size < 50_000


def test_every_address_is_a_real_one(manifest: dict[str, Any]) -> None:
    """No invented homepage or repository: the only addresses are Powerdrill's."""
    addresses = re.findall(r"https?://[^\s\"]+", json.dumps(manifest))
    assert all(a.startswith(("https://docs.powerdrill.ai/", "https://ai.data.cloud/")) for a in addresses)


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
