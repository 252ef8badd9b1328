"""The commands a person or a script runs: `pd-mcp status`, `wait` and `check`, one module per concern.

`output` writes every line (scrubbed, marked when simulated), `report_cmd` is
`status` and `wait`, `check` is the configuration check as a table of probes,
`simulated` runs the in-process sandbox behind `--sandbox`, and `options` is the
parsed command line as one typed value. None of them imports the MCP SDK: it
would cost more than the rest of a command. This file imports nothing, so a
command loads only the modules it uses.
"""
