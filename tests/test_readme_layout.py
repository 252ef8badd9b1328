"""The README's module map names every module of pd_mcp, and none that does not exist.

Why: the map is where a newcomer looks first for where to change something, so
a module added, moved or removed without the map is a wrong turn for them. The
map is the block under "## Development" that starts with `pd_mcp/`; an entry
at the left margin names a module or a package (ending in `/`), and the
package's own modules are named in its description.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pd_mcp"
_ENTRY = re.compile(r"^  (\S+)")  # a top entry: two spaces, then its name
_MODULE = re.compile(r"\b(\w+\.py)\b")


def _map_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n```\npd_mcp/\n") + len("\n```\npd_mcp/\n")
    block = text[start : text.index("\n```", start)]
    # The map of pd_mcp ends at the first line back at the margin (client_configs/, bench/).
    return _until_margin(block.splitlines())


def _until_margin(lines: list[str]) -> list[str]:
    for n, line in enumerate(lines):
        if line and not line.startswith(" "):
            return lines[:n]
    return lines


def named_in_readme() -> set[str]:
    """Paths relative to pd_mcp/ that the map names."""
    named: set[str] = set()
    package = ""
    for line in _map_lines():
        entry = _ENTRY.match(line)
        if entry:
            name = entry.group(1)
            package = name if name.endswith("/") else ""
            if not package:
                named.add(name)
            line = line[entry.end() :]
        if package:
            named.update(package + module for module in _MODULE.findall(line))
    return named


def in_the_tree() -> set[str]:
    return {str(p.relative_to(PACKAGE).as_posix()) for p in PACKAGE.rglob("*.py")}


def test_the_map_is_read() -> None:
    named = named_in_readme()
    assert {"cli.py", "stdio.py", "commandline/check.py", "sandbox/app.py"} <= named


def test_every_module_is_in_the_map() -> None:
    assert sorted(in_the_tree() - named_in_readme()) == []


def test_the_map_names_no_module_that_does_not_exist() -> None:
    assert sorted(named_in_readme() - in_the_tree()) == []
