"""The Agent Skill and the Claude Code plugin that installs it together with the server.

The skill is only found if its frontmatter is what Agent Skills readers expect
(`name` matching the folder, a `description` that says when to use it), and it
only helps if what it teaches is true of the tools: so the verdicts and tool
names it uses are checked against pd-mcp's own. The plugin's server entry is
launched exactly as Claude Code would, with `${CLAUDE_PLUGIN_ROOT}` pointing at
a copy of what the plugin installs and a PATH holding only uv and one Python.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any, get_args

import anyio
import pytest
from uv_support import only_uv_and, uv_environment

ROOT = Path(__file__).resolve().parent.parent
SKILLS = ROOT / "skills"
PLUGIN = ROOT / ".claude-plugin" / "plugin.json"
MARKETPLACE = ROOT / ".claude-plugin" / "marketplace.json"
FRONTMATTER_KEYS = {"name", "description", "license", "allowed-tools", "metadata"}
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
START_TIMEOUT = 240.0


def skill_files() -> list[Path]:
    return sorted(SKILLS.glob("*/SKILL.md"))


def frontmatter(path: Path) -> tuple[dict[str, str], str]:
    """The `key: value` lines between the opening and closing `---`, and the body after them."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path}: no frontmatter"
    head, sep, body = text[4:].partition("\n---\n")
    assert sep, f"{path}: frontmatter not closed"
    fields: dict[str, str] = {}
    for line in head.splitlines():
        key, colon, value = line.partition(":")
        assert colon and key and not key.startswith(" "), f"{path}: not a key line: {line!r}"
        fields[key] = value.strip()
    return fields, body


def test_there_is_a_skill() -> None:
    assert skill_files()


@pytest.mark.parametrize("path", skill_files(), ids=lambda p: p.parent.name)
def test_skill_frontmatter_follows_the_agent_skills_format(path: Path) -> None:
    fields, body = frontmatter(path)
    assert {"name", "description"} <= set(fields) <= FRONTMATTER_KEYS
    name = fields["name"]
    assert name == path.parent.name, "the name must be the folder's"
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) and len(name) <= 64
    description = fields["description"]
    assert 0 < len(description) <= 1024 and "<" not in description and ">" not in description
    assert "Use " in description, "the description says when to use the skill"
    assert len(body.splitlines()) < 500


@pytest.mark.parametrize("path", skill_files(), ids=lambda p: p.parent.name)
def test_skill_speaks_of_the_real_tools_and_verdicts(path: Path) -> None:
    from pd_mcp.models import Verdict

    _, body = frontmatter(path)
    for tool in ("get_dataset_status", "wait_for_dataset_sync", "mcp_powerdrill_create_job"):
        assert f"`{tool}`" in body, tool
    for verdict in get_args(Verdict):
        assert f"`{verdict}`" in body, verdict
    assert "timed_out" in body


def load_plugin() -> dict[str, Any]:
    return json.loads(PLUGIN.read_text(encoding="utf-8"))


def test_plugin_manifest_names_the_package_and_its_server() -> None:
    plugin = load_plugin()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert plugin["name"] == pyproject["project"]["name"]
    assert plugin["version"] == pyproject["project"]["version"]
    ((name, server),) = plugin["mcpServers"].items()
    assert name == "powerdrill-status"
    assert server["command"] == "uv" and "${CLAUDE_PLUGIN_ROOT}" in server["args"]
    assert server["args"][-1] in pyproject["project"]["scripts"]
    for variable in ("POWERDRILL_USER_ID", "POWERDRILL_PROJECT_API_KEY"):
        assert server["env"][variable] == "${" + variable + "}", "taken from the environment, never a value"
    marketplace = json.loads(MARKETPLACE.read_text(encoding="utf-8"))
    assert [p["name"] for p in marketplace["plugins"]] == [plugin["name"]]
    assert marketplace["plugins"][0]["source"] == "./"


@pytest.mark.process
async def test_the_plugins_server_command_launches(tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, running_sandbox

    root = tmp_path / "plugin"  # what a plugin install copies: the repository, without a venv
    shutil.copytree(ROOT / "pd_mcp", root / "pd_mcp", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / ".claude-plugin", root / ".claude-plugin")
    shutil.copytree(SKILLS, root / "skills")

    (server,) = load_plugin()["mcpServers"].values()
    only = only_uv_and(Path(sys.executable).resolve(), tmp_path / "bin")
    with running_sandbox() as sb:
        shell = {
            "CLAUDE_PLUGIN_ROOT": str(root),
            "POWERDRILL_USER_ID": SANDBOX_USER_ID,
            "POWERDRILL_PROJECT_API_KEY": SANDBOX_API_KEY,
        }

        def expand(value: str) -> str:
            return REFERENCE.sub(lambda m: shell[m.group(1)], value)

        env = {k: expand(v) for k, v in server["env"].items()}
        env |= {"POWERDRILL_API_URL": sb.url, **uv_environment(only, tmp_path / "home", tmp_path / "cache")}
        params = StdioServerParameters(
            command=expand(server["command"]), args=[expand(a) for a in server["args"]], env=env
        )
        with anyio.fail_after(START_TIMEOUT):
            async with Client(params) as client:
                result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert not result.is_error, result.content
    assert result.structured_content is not None and result.structured_content["verdict"] == "ready"
