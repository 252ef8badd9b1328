"""The command line parsed once into one typed, frozen `Options`, and which argument lists serve stdio.

Why: every command reads its flags from `Options`, so a flag argparse parses
but `Options` drops would be a flag that silently does nothing; and every
stdio form must reach the one stdio entry (`stdio.fast_main`), whether the
quick check in `cli` recognises it or the parser does.
"""

from __future__ import annotations

import dataclasses

import pytest

from pd_mcp.cli import _stdio_form, build_parser
from pd_mcp.commandline.options import Options


def parsed(*argv: str) -> Options:
    return Options.from_namespace(build_parser(sandbox_flags="sandbox" in argv).parse_args(list(argv)))


def test_every_flag_of_status_and_wait_reaches_the_options() -> None:
    assert parsed("wait", "ds-1", "--timeout", "5", "--json", "--sandbox") == Options(
        command="wait", dataset_id="ds-1", timeout=5.0, as_json=True, sandbox=True
    )
    assert parsed("status", "ds-2") == Options(command="status", dataset_id="ds-2")


def test_serve_over_http_keeps_its_address_and_mode() -> None:
    options = parsed("serve", "--transport", "http", "--host", "0.0.0.0", "--port", "9001", "--stateless")
    assert (options.transport, options.host, options.port, options.stateless) == (
        "http",
        "0.0.0.0",
        9001,
        True,
    )
    assert not options.serves_stdio


def test_the_sandbox_command_carries_its_own_flags() -> None:
    options = parsed("sandbox", "--port", "0", "--latency-ms", "25")
    assert options.command == "sandbox" and options.port == 0
    assert options.sandbox_options is not None and options.sandbox_options.latency_ms == 25


def test_options_cannot_change_after_parsing() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed("check").sandbox = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("argv", "sandbox"),
    [
        ([], False),
        (["serve"], False),
        (["serve", "--transport=stdio"], False),
        (["serve", "--sandbox"], True),
        (["serve", "--sandbox", "--transport", "stdio"], True),
        (["serve", "--transport", "stdio", "--sandbox"], True),
    ],
)
def test_the_common_stdio_forms_skip_the_parser(argv: list[str], sandbox: bool) -> None:
    assert _stdio_form(argv) is sandbox


@pytest.mark.parametrize(
    "argv",
    [
        ["--sandbox"],  # not a flag of bare pd-mcp: the parser says so
        ["serve", "--transport", "--sandbox", "stdio"],  # --transport needs a value: the parser says so
        ["serve", "--transport", "http", "--sandbox"],
        ["serve", "--stateless", "--sandbox"],
        ["status", "ds-1"],
    ],
)
def test_every_other_argument_list_goes_through_the_parser(argv: list[str]) -> None:
    assert _stdio_form(argv) is None


def test_a_stdio_form_only_the_parser_recognises_still_serves_stdio() -> None:
    options = parsed("serve", "--stateless", "--sandbox")
    assert options.serves_stdio and options.sandbox
