"""The `pd-mcp` command: serve MCP (the default), and the same checks for people and scripts.

Only argparse and the standard library are imported up front; each command
imports what it needs, so `pd-mcp` over stdio loads no sandbox, no terminal
UI and no HTTP server code. A bad command-line value ends with one line that
names it, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pd_mcp.exit_codes import EXIT_ERROR, EXIT_INTERRUPTED

if TYPE_CHECKING:
    from pd_mcp.commandline.options import Options

# `pd-mcp` with these arguments (and `--sandbox` after `serve` or at the end) serves stdio at once,
# without building the parser. Every other stdio form is parsed first; all reach `stdio.fast_main`.
_STDIO_FORMS: tuple[list[str], ...] = (
    [],
    ["serve"],
    ["serve", "--transport", "stdio"],
    ["serve", "--transport=stdio"],
)


def _stdio_form(argv: list[str]) -> bool | None:
    """For a common stdio form, whether it asks for `--sandbox`; None for anything else (parsed)."""
    if argv in _STDIO_FORMS:
        return False
    if argv[:1] != ["serve"]:
        return None
    if argv[1:2] == ["--sandbox"]:
        rest = [argv[0], *argv[2:]]
    elif argv[-1:] == ["--sandbox"]:
        rest = argv[:-1]
    else:
        return None
    return True if rest in _STDIO_FORMS else None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 65535, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, not {value}")
    return value


def _seconds(text: str) -> float:
    from pd_mcp import validation
    from pd_mcp.errors import InvalidArgument

    try:
        return validation.timeout_seconds(float(text))
    except (ValueError, InvalidArgument):
        raise argparse.ArgumentTypeError(f"must be a number of seconds from 1 to 900, not {text!r}") from None


def build_parser(sandbox_flags: bool = True) -> argparse.ArgumentParser:
    """The whole command line; `sandbox_flags=False` skips importing the sandbox for its flags."""
    parser = _Parser(
        prog="pd-mcp",
        description="MCP server that tells an AI assistant whether a Powerdrill dataset is ready. "
        "With no command it serves MCP over stdio, which is what MCP hosts launch.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = commands.add_parser(
        "serve",
        help="serve MCP over stdio (default) or Streamable HTTP",
        description="Serve MCP over stdio (the default) or Streamable HTTP. Over HTTP, MCP is at "
        "http://HOST:PORT/mcp; GET /healthz (alive) and GET /readyz (accepts calls; 503 while draining "
        "after SIGTERM) need no token, pass no Host/Origin check and never call Powerdrill.",
    )
    serve.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (default), or http: Streamable HTTP at http://HOST:PORT/mcp",
    )
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="HTTP port (default 8000)")
    serve.add_argument("--stateless", action="store_true", help="HTTP: keep no session state (for replicas)")
    serve.add_argument(
        "--sandbox", action="store_true", help="answer from the built-in simulated Powerdrill API"
    )

    commands.add_parser("demo", help="run the whole product against the sandbox and print what it says")

    sandbox = commands.add_parser("sandbox", help="run the simulated Powerdrill API on 127.0.0.1")
    sandbox.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    if sandbox_flags:
        from pd_mcp.sandbox import add_arguments

        add_arguments(sandbox)

    status = commands.add_parser("status", help="check one dataset once")
    status.add_argument("dataset_id")
    status.add_argument("--json", action="store_true", help="print the tool's structured result as JSON")
    _sandbox_flag(status)

    wait = commands.add_parser("wait", help="wait until a dataset has finished synchronizing")
    wait.add_argument("dataset_id")
    wait.add_argument("--timeout", type=_seconds, default=300.0, help="seconds, 1 to 900 (default 300)")
    wait.add_argument("--json", action="store_true", help="print the tool's structured result as JSON")
    _sandbox_flag(wait)

    check = commands.add_parser("check", help="check the configuration and that Powerdrill accepts it")
    _sandbox_flag(check)
    return parser


def _sandbox_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--sandbox",
        action="store_true",
        help="ask a simulated Powerdrill API started inside this process (no credentials needed); "
        "every line says it is simulated",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 ("could not tell"), never 1 or 2, which mean verdicts for status and wait."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


class _VersionAction(argparse.Action):
    """`--version`, reading the package metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from pd_mcp import __version__

        print(f"pd-mcp {__version__}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    sandbox = _stdio_form(argv)
    if sandbox is not None:
        return _serve_stdio(sandbox)
    # Serving must not import the sandbox: its flags are only added when it is asked for.
    args = build_parser(sandbox_flags="sandbox" in argv).parse_args(argv)
    from pd_mcp.commandline.options import Options

    options = Options.from_namespace(args)
    if options.command == "serve":
        return _serve(options)
    try:
        return _run(options)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(options: Options) -> int:
    """Every command but `serve`."""
    if options.command == "demo":
        from pd_mcp.demo import run_demo

        return run_demo()
    _logging("WARNING")
    if options.command == "sandbox":
        from pd_mcp.sandbox import main as sandbox_main

        return sandbox_main(options.port, options.sandbox_options)
    from pd_mcp.commandline.simulated import simulated_powerdrill

    with simulated_powerdrill() if options.sandbox else contextlib.nullcontext():
        if options.command == "status":
            from pd_mcp.commandline.report_cmd import status

            return status(options.dataset_id, as_json=options.as_json, simulated=options.sandbox)
        if options.command == "wait":
            from pd_mcp.commandline.report_cmd import wait

            return wait(
                options.dataset_id, options.timeout, as_json=options.as_json, simulated=options.sandbox
            )
        from pd_mcp.commandline.check import check

        return check(simulated=options.sandbox)


def _logging(default: str) -> None:
    from pd_mcp.logs import configure_logging

    configure_logging(default)


def _serve_stdio(sandbox: bool) -> int:
    from pd_mcp.stdio import fast_main

    return fast_main(sandbox=sandbox)


def _serve(options: Options) -> int:
    if options.serves_stdio:
        return _serve_stdio(options.sandbox)
    _logging("INFO")
    from pd_mcp.http_app import refuse_unsafe_bind

    problem = refuse_unsafe_bind(options.host)
    if problem:
        print(f"pd-mcp: {problem}", file=sys.stderr)
        return EXIT_ERROR
    import anyio

    from pd_mcp.errors import ConfigError
    from pd_mcp.http_app import BindError
    from pd_mcp.http_run import exit_status
    from pd_mcp.serving import serve

    try:
        with contextlib.suppress(KeyboardInterrupt):
            signum = anyio.run(serve, options)
            return exit_status(signum) if signum else 0
    except (BindError, ConfigError) as exc:
        print(f"pd-mcp: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0
