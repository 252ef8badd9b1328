"""The parsed command line as one typed, frozen value, built once from argparse's namespace.

Why: every command and the server read their settings from here instead of an
untyped `argparse.Namespace`, so mypy sees each use and a typo in a flag's name
fails where the value is built, not deep inside a command.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Literal, cast

if TYPE_CHECKING:
    from pd_mcp.sandbox import SandboxOptions

Command = Literal["serve", "demo", "sandbox", "status", "wait", "check"]
Transport = Literal["stdio", "http"]


@dataclasses.dataclass(frozen=True)
class Options:
    """What `pd-mcp` was asked to do; fields a command has no flag for keep their defaults."""

    command: Command = "serve"
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000  # `serve --port`, or `sandbox --port`
    stateless: bool = False
    sandbox: bool = False  # `--sandbox`: answer from the simulated API started in this process
    dataset_id: str = ""
    timeout: float = 300.0
    as_json: bool = False  # `--json`
    sandbox_options: SandboxOptions | None = None  # `pd-mcp sandbox`'s own flags

    @property
    def serves_stdio(self) -> bool:
        return self.command == "serve" and self.transport == "stdio"

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> Options:
        """The options argparse parsed (bare `pd-mcp` is `serve`)."""
        given = dict(vars(args))
        given["command"] = cast(Command, given.get("command") or "serve")
        if "json" in given:
            given["as_json"] = given.pop("json")
        if given["command"] == "sandbox":
            from pd_mcp.sandbox import options_from_args

            given["sandbox_options"] = options_from_args(args)
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in given.items() if name in names})
