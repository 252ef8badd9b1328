"""Checks on tool arguments, done before any request is sent.

Kept apart from the client so the rules are one short, fast, pure module that
the tools, the command line and the property tests all share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from pd_mcp import messages as m
from pd_mcp.errors import InvalidArgument

DATASET_ID_MAX = 128
DATASET_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
_DATASET_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

TIMEOUT_MIN = 1.0
TIMEOUT_MAX = 900.0
TIMEOUT_DEFAULT = 45.0


def dataset_id(value: object) -> str:
    """Return `value` if it is a valid dataset id, else raise `InvalidArgument`."""
    if not isinstance(value, str):
        raise InvalidArgument(
            "dataset_id", m.wrong_type("dataset_id", "a string", type(value).__name__), wrong_type=True
        )
    if _DATASET_ID.fullmatch(value) and value not in (".", ".."):
        return value
    if not value.strip():
        raise InvalidArgument(
            "dataset_id", m.invalid_dataset_id(m.id_problem_empty(value), DATASET_ID_MAX), empty=True
        )
    if len(value) > DATASET_ID_MAX:
        problem = m.id_problem_long(len(value), DATASET_ID_MAX)
    elif value in (".", ".."):
        problem = m.id_problem_dots(value)
    else:
        bad = next(c for c in value if not (c.isascii() and (c.isalnum() or c in "._-")))
        problem = m.id_problem_char(bad)
    raise InvalidArgument("dataset_id", m.invalid_dataset_id(problem, DATASET_ID_MAX))


def timeout_seconds(value: object) -> float:
    """Return `value` as seconds if it is within 1 to 900, else raise `InvalidArgument`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(
            "timeout_seconds", m.wrong_type("timeout_seconds", "a number of seconds", type(value).__name__)
        )
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if math.isnan(seconds) or not TIMEOUT_MIN <= seconds <= TIMEOUT_MAX:
        raise InvalidArgument("timeout_seconds", m.timeout_out_of_range(TIMEOUT_MIN, TIMEOUT_MAX, value))
    return seconds


# Each tool's arguments and their rules; `dataset_id` is required by both.
TOOL_ARGUMENTS: dict[str, dict[str, Callable[[object], object]]] = {
    "get_dataset_status": {"dataset_id": dataset_id},
    "wait_for_dataset_sync": {"dataset_id": dataset_id, "timeout_seconds": timeout_seconds},
}
REQUIRED = ("dataset_id",)


def tool_arguments(tool: str, arguments: object) -> None:
    """Check a call's arguments against the tool's rules; raise `InvalidArgument` naming the first problem."""
    rules = TOOL_ARGUMENTS[tool]
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidArgument(
            "arguments", m.wrong_type("the arguments", "an object", type(arguments).__name__)
        )
    unknown = sorted(str(name) for name in arguments if name not in rules)
    if unknown:
        raise InvalidArgument(
            "unexpected", m.unexpected_arguments(", ".join(map(repr, unknown)), tool, " and ".join(rules))
        )
    for name in REQUIRED:
        if name not in arguments:
            raise InvalidArgument(name, m.argument_required(name), missing=True)
    for name, check in rules.items():
        if name in arguments:
            check(arguments[name])
