"""Every host configuration in client_configs/ parses, starts pd-mcp, and holds no key.

A configuration that is slightly wrong fails silently in most hosts, so each
file is read the way its host reads it: the right top-level key for the host,
the server entry, its command and arguments, and the two variables. Values
must be placeholders or the host's own way of fetching the key from elsewhere
(`${input:…}` in VS Code, `${env:…}` in Cursor and Windsurf, `${…}` in Claude
Code, `${{ secrets.… }}` in Continue), never a key.

The last test is the new user's first try: it launches exactly the command line
of `claude_desktop_config.sandbox.json`, as Claude Desktop would, and asks it
about a dataset.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "client_configs"
HOSTS_DOC = ROOT / "docs" / "hosts.md"
REQUIRED = ("POWERDRILL_USER_ID", "POWERDRILL_PROJECT_API_KEY")
SANDBOX_CONFIG = "claude_desktop_config.sandbox.json"

# file -> (host, where the server entries are, the reference styles the host expands)
HOSTS: dict[str, tuple[str, str, frozenset[str]]] = {
    "claude_desktop_config.json": ("Claude Desktop", "mcpServers", frozenset()),
    SANDBOX_CONFIG: ("Claude Desktop", "mcpServers", frozenset()),
    "claude_code.mcp.json": ("Claude Code", "mcpServers", frozenset({"shell"})),
    "cursor.mcp.json": ("Cursor", "mcpServers", frozenset({"env"})),
    "vscode.mcp.json": ("VS Code", "servers", frozenset({"input"})),
    "windsurf.mcp_config.json": ("Windsurf", "mcpServers", frozenset({"env"})),
    "zed.settings.json": ("Zed", "context_servers", frozenset()),
    "continue.pd-mcp.yaml": ("Continue", "mcpServers", frozenset({"secrets"})),
    "codex.config.toml": ("Codex CLI", "mcp_servers", frozenset()),
    "gemini.settings.json": ("Gemini CLI", "mcpServers", frozenset({"shell"})),
    "cline_mcp_settings.json": ("Cline", "mcpServers", frozenset()),
    "goose.config.yaml": ("Goose", "extensions", frozenset()),
    "copilot.mcp-config.json": ("GitHub Copilot CLI", "mcpServers", frozenset()),
}
# Hosts that name the command and the environment differently.
FIELD_NAMES = {"goose.config.yaml": {"cmd": "command", "envs": "env"}}
# Each host's tool-call time limit as the file sets it, in seconds (docs/hosts.md has the table).
TOOL_TIMEOUTS = {
    "codex.config.toml": ("tool_timeout_sec", 1),
    "gemini.settings.json": ("timeout", 1000),  # milliseconds
    "cline_mcp_settings.json": ("timeout", 1),
    "goose.config.yaml": ("timeout", 1),
}

# Host-side references, by style; group 1 is what they name.
REFERENCES = {
    "input": re.compile(r"^\$\{input:([A-Za-z0-9_.-]+)\}$"),
    "env": re.compile(r"^\$\{env:([A-Z][A-Z0-9_]*)\}$"),
    "shell": re.compile(r"^\$\{([A-Z][A-Z0-9_]*)\}$"),
    "secrets": re.compile(r"^\$\{\{\s*secrets\.([A-Z][A-Z0-9_]*)\s*\}\}$"),
}
PLACEHOLDER = re.compile(r"^<[^<>]+>$")


def config_files() -> list[Path]:
    return sorted(p for p in CONFIGS.iterdir() if p.is_file())


def load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix in (".yaml", ".yml"):
        return parse_simple_yaml(text)
    raise AssertionError(f"{path.name}: no parser for this kind of file")


def parse_simple_yaml(text: str) -> dict[str, Any]:
    """The block-style YAML subset of Continue's config files: mappings, lists of mappings, scalars.

    The project does not depend on PyYAML, and this subset is all the file may
    use; anything else fails here, which keeps the file simple.
    """
    lines = [
        (len(line) - len(line.lstrip(" ")), line.strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    pos = 0

    def scalar(raw: str) -> Any:
        if raw == "[]":
            return []
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            return raw[1:-1]
        assert " #" not in raw, f"inline comment in {raw!r}"
        return raw

    def block(indent: int) -> Any:
        return sequence(indent) if lines[pos][1].startswith("- ") else mapping(indent)

    def mapping(indent: int) -> dict[str, Any]:
        nonlocal pos
        result: dict[str, Any] = {}
        while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
            key, colon, rest = lines[pos][1].partition(":")
            assert colon and key and key not in result, f"not a key: {lines[pos][1]!r}"
            pos += 1
            if rest.strip():
                result[key] = scalar(rest.strip())
            else:
                assert pos < len(lines) and lines[pos][0] > indent, f"{key}: empty block"
                result[key] = block(lines[pos][0])
        assert pos == len(lines) or lines[pos][0] < indent, f"bad indentation: {lines[pos][1]!r}"
        return result

    def sequence(indent: int) -> list[Any]:
        nonlocal pos
        items: list[Any] = []
        while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("- "):
            lines[pos] = (indent + 2, lines[pos][1][2:])  # "- key: v" opens a mapping at indent + 2
            items.append(mapping(indent + 2))
        return items

    document = mapping(0)
    assert pos == len(lines), f"unparsed: {lines[pos:]}"
    return document


def server_entries(path: Path) -> dict[str, dict[str, Any]]:
    """The server entries of a file, by name, from where its host looks for them."""
    _, key, _ = HOSTS[path.name]
    found = load(path).get(key)
    if isinstance(found, list):  # Continue: a list of named servers
        return {entry["name"]: entry for entry in found}
    assert isinstance(found, dict) and found, f"{path.name}: no {key!r} object"
    names = FIELD_NAMES.get(path.name, {})
    return {name: {names.get(k, k): v for k, v in entry.items()} for name, entry in found.items()}


def launches_pd_mcp(command: str, args: list[str]) -> list[str] | None:
    """The pd-mcp arguments if `command args` starts pd-mcp, else None."""
    name = Path(command).name.lower().removesuffix(".exe")
    if name == "pd-mcp":
        return list(args)
    if re.fullmatch(r"python(3(\.\d+)?)?|py", name) and args[:2] == ["-m", "pd_mcp"]:
        return list(args[2:])
    return None


def looks_like_a_secret(value: str) -> bool:
    """A long random-looking token: letters and digits mixed, many distinct characters."""
    for token in re.findall(r"[A-Za-z0-9_\-+/=.]{16,}", value):
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", token):  # an environment variable's name
            continue
        if re.search(r"[A-Za-z]", token) and re.search(r"\d", token) and len(set(token)) >= 10:
            return True
    return False


def all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*all_strings(k), *all_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in all_strings(v)]
    return []


# --- the set of files ----------------------------------------------------------------------


def test_every_file_is_known_and_every_host_has_one() -> None:
    names = {p.name for p in config_files()}
    assert names == set(HOSTS), "each file in client_configs/ needs an entry in HOSTS (and the reverse)"
    for must in (
        "Claude Desktop", "Claude Code", "Cursor", "VS Code", "Windsurf",
        "Codex CLI", "Gemini CLI", "Cline", "Goose", "GitHub Copilot CLI",
    ):  # fmt: skip
        assert any(host == must for host, _, _ in HOSTS.values()), must


def test_the_hosts_document_says_where_each_file_goes() -> None:
    text = HOSTS_DOC.read_text(encoding="utf-8")
    for path in config_files():
        assert f"`{path.name}`" in text, f"docs/hosts.md does not mention {path.name}"
    for where in (
        "claude_desktop_config.json",
        ".mcp.json",
        ".cursor/mcp.json",
        ".vscode/mcp.json",
        "mcp_config.json",
        "context_servers",
        ".continue/mcpServers",
        "~/.codex/config.toml",
        "~/.gemini/settings.json",
        "cline_mcp_settings.json",
        "~/.config/goose/config.yaml",
        "~/.copilot/mcp-config.json",
    ):
        assert where in text, where


# --- each file -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
def test_config_starts_pd_mcp_with_both_variables(path: Path) -> None:
    entries = server_entries(path)
    assert len(entries) == 1, f"{path.name}: one server entry expected"
    (name, entry), *_ = entries.items()
    assert re.fullmatch(r"[a-z0-9-]+", name), f"{path.name}: server name {name!r}"
    assert isinstance(entry.get("command"), str), f"{path.name}: no command"
    args = entry.get("args", [])
    assert isinstance(args, list) and all(isinstance(a, str) for a in args)
    pd_args = launches_pd_mcp(entry["command"], args)
    assert pd_args is not None, f"{path.name}: {entry['command']} {args} does not start pd-mcp"

    env = entry.get("env") or {}
    if path.name == SANDBOX_CONFIG:
        assert pd_args == ["serve", "--sandbox"]
        assert not set(env) & set(REQUIRED), "the sandbox needs no credentials"
    else:
        assert pd_args in ([], ["serve"], ["serve", "--transport", "stdio"]), "must serve MCP over stdio"
        assert set(REQUIRED) <= set(env), f"{path.name}: passes {sorted(env)}"


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
def test_config_values_are_placeholders_or_host_references(path: Path) -> None:
    _, _, styles = HOSTS[path.name]
    for entry in server_entries(path).values():
        for variable, value in (entry.get("env") or {}).items():
            assert isinstance(value, str), f"{path.name}: {variable} is not a string"
            if variable not in REQUIRED:
                continue
            if PLACEHOLDER.match(value):
                assert not styles, f"{path.name}: the host can fetch {variable} from elsewhere; use that"
                continue
            matched = [s for s in styles if REFERENCES[s].match(value)]
            assert matched, f"{path.name}: {variable} = {value!r} is neither a placeholder nor a reference"
            named = REFERENCES[matched[0]].match(value).group(1)  # type: ignore[union-attr]
            if matched[0] != "input":
                assert named == variable, f"{path.name}: {variable} is taken from {named}"


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
def test_no_file_holds_anything_like_a_key(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for value in [*all_strings(load(path)), *text.splitlines()]:
        assert not looks_like_a_secret(value), f"{path.name}: {value!r} looks like a real key"
    assert "sandbox-key" not in text  # not even the sandbox's public one


def test_the_secret_detector_would_notice_a_key() -> None:
    assert looks_like_a_secret("pdk-3f9a8b7c6d5e4f3a2b1c")
    assert looks_like_a_secret('"POWERDRILL_PROJECT_API_KEY": "a1B2c3D4e5F6g7H8i9J0"')
    for harmless in (
        "POWERDRILL_PROJECT_API_KEY",
        "${env:POWERDRILL_PROJECT_API_KEY}",
        "<your key>",
        "0.1.0",
    ):
        assert not looks_like_a_secret(harmless), harmless


def test_vscode_asks_for_the_key_in_a_password_prompt() -> None:
    document = load(CONFIGS / "vscode.mcp.json")
    inputs = {item["id"]: item for item in document["inputs"]}
    entry = document["servers"]["powerdrill-status"]
    assert entry["type"] == "stdio"
    for variable in REQUIRED:
        ref = REFERENCES["input"].match(entry["env"][variable])
        assert ref, f"{variable} should come from an input"
        prompt = inputs[ref.group(1)]
        assert prompt["type"] == "promptString" and prompt.get("description")
    key_input = inputs[REFERENCES["input"].match(entry["env"]["POWERDRILL_PROJECT_API_KEY"]).group(1)]  # type: ignore[union-attr]
    assert key_input["password"] is True


def test_host_specific_fields() -> None:
    assert load(CONFIGS / "claude_code.mcp.json")["mcpServers"]["powerdrill-status"]["type"] == "stdio"
    assert load(CONFIGS / "zed.settings.json")["context_servers"]["powerdrill-status"]["source"] == "custom"
    block = load(CONFIGS / "continue.pd-mcp.yaml")
    assert block["schema"] == "v1" and block["name"] and block["version"]
    assert block["mcpServers"][0]["type"] == "stdio"
    goose = load(CONFIGS / "goose.config.yaml")["extensions"]["powerdrill-status"]
    assert goose["type"] == "stdio" and goose["enabled"] == "true" and goose["name"] == "powerdrill-status"
    copilot = load(CONFIGS / "copilot.mcp-config.json")["mcpServers"]["powerdrill-status"]
    assert copilot["type"] == "local" and copilot["tools"] == ["*"]


@pytest.mark.parametrize("name", sorted(TOOL_TIMEOUTS))
def test_host_tool_timeout_leaves_room_for_a_long_wait(name: str) -> None:
    """Where the host has a per-server tool-call limit, the file sets the 600 s that docs/hosts.md assumes."""
    field, per_second = TOOL_TIMEOUTS[name]
    (entry,) = server_entries(CONFIGS / name).values()
    seconds = float(entry[field]) / per_second
    assert seconds == 600, f"{name}: {field} is {seconds} s; docs/hosts.md says 600"
    assert f"| {HOSTS[name][0]} |" in HOSTS_DOC.read_text(encoding="utf-8")


def test_the_yaml_reader_reads_what_continue_would() -> None:
    parsed = parse_simple_yaml("a: 1\nb:\n  - name: x\n    args: []\n    env:\n      K: v\n# c\n")
    assert parsed == {"a": "1", "b": [{"name": "x", "args": [], "env": {"K": "v"}}]}


# --- a new user's first try ------------------------------------------------------------------


@pytest.mark.process
@pytest.mark.skipif(not (ROOT / "pd_mcp" / "sandbox").is_dir(), reason="the sandbox has not landed yet")
async def test_sandbox_config_works_for_a_new_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly the command line of the sandbox config, started like Claude Desktop starts it."""
    from mcp import Client, StdioServerParameters

    (entry,) = server_entries(CONFIGS / SANDBOX_CONFIG).values()
    # The host finds `pd-mcp` on PATH; here that is the environment the tests run in.
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    params = StdioServerParameters(command=entry["command"], args=entry.get("args", []), env=entry.get("env"))
    with anyio.fail_after(60):
        async with Client(params) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert tools == {"get_dataset_status", "wait_for_dataset_sync"}
    assert not result.is_error, result.content
    report = result.structured_content
    assert report is not None
    assert report["verdict"] == "ready" and report["ready"] is True
    assert report["simulated"] is True
    assert "simulated" in result.content[0].text.lower()  # type: ignore[union-attr]


@pytest.mark.process
@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
async def test_every_config_launches_as_written(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command and arguments exactly as the file has them; the values filled in as the host would."""
    from mcp import Client, StdioServerParameters

    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, running_sandbox

    (entry,) = server_entries(path).values()
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    answers = {"POWERDRILL_USER_ID": SANDBOX_USER_ID, "POWERDRILL_PROJECT_API_KEY": SANDBOX_API_KEY}
    with running_sandbox() as sb:
        env = {k: answers.get(k, v) for k, v in (entry.get("env") or {}).items()}
        if "--sandbox" not in entry.get("args", []):
            env["POWERDRILL_API_URL"] = sb.url
        params = StdioServerParameters(command=entry["command"], args=entry.get("args", []), env=env)
        with anyio.fail_after(60):
            async with Client(params) as client:
                result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-ready"})
    assert not result.is_error, result.content
    assert result.structured_content is not None and result.structured_content["verdict"] == "ready"
