# Public face of the sandbox: a simulated Powerdrill API on loopback, so the
# MCP server can be demonstrated, tested and benchmarked with no credentials
# and no network. Importing this package defines things only; nothing starts.
"""A simulated Powerdrill API (dataset status, data-source and dataset listings, v2 and v1).

    from pd_mcp.sandbox import running_sandbox, SANDBOX_USER_ID, SANDBOX_API_KEY

    with running_sandbox() as sb:
        ...  # point a client at sb.url; read sb.sandbox.requests afterwards

See `pd_mcp.sandbox.scenarios` for the datasets it knows and
`pd_mcp.sandbox.app` for the choices it makes where Powerdrill's documents
leave room.
"""

from __future__ import annotations

from pd_mcp.sandbox.app import (
    ENV_VARS,
    MALFORMED_KINDS,
    SANDBOX_API_KEY,
    SANDBOX_HEADER,
    SANDBOX_USER_ID,
    InjectedDrop,
    LoggedRequest,
    Sandbox,
    SandboxOptions,
)
from pd_mcp.sandbox.runner import (
    RunningSandbox,
    add_arguments,
    banner,
    main,
    options_from_args,
    running_sandbox,
    serve_sandbox,
)
from pd_mcp.sandbox.scenarios import Counts, ScenarioDescription, describe, find_scenario, scenario_table

__all__ = [
    "ENV_VARS",
    "MALFORMED_KINDS",
    "SANDBOX_API_KEY",
    "SANDBOX_HEADER",
    "SANDBOX_USER_ID",
    "Counts",
    "InjectedDrop",
    "LoggedRequest",
    "RunningSandbox",
    "Sandbox",
    "SandboxOptions",
    "ScenarioDescription",
    "add_arguments",
    "banner",
    "describe",
    "find_scenario",
    "main",
    "options_from_args",
    "running_sandbox",
    "scenario_table",
    "serve_sandbox",
]
