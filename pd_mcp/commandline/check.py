"""`pd-mcp check`: say precisely what is wrong with the setup; exit 0 only when Powerdrill accepts it.

First the configuration, every problem at once, in settings' own words. Then
one probe: a status request for a dataset that does not exist. Only a real
Powerdrill error proves the credentials, so what the probe ended with is
judged by a table, one row per kind of error, each with its line and its hint.
Exit 0 when accepted, 1 when something is wrong with the configuration, the
key or the URL, 3 when pd-mcp itself failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pd_mcp import errors
from pd_mcp.commandline.output import API_KEY_VAR, API_URL_VAR, USER_ID_VAR, Output, unexpected
from pd_mcp.exit_codes import EXIT_READY

if TYPE_CHECKING:
    from pd_mcp.settings import ApiConfig, Settings

CHECK_PROBE_ID = "pd-mcp-check"  # a dataset id that does not exist: Powerdrill's "not found" proves the key
EXIT_UNUSABLE = 1  # the configuration, the key or the URL is wrong
_NOT_A_KEY = "pd-mcp-check-not-a-key"


def check(*, simulated: bool = False) -> int:
    """Check the configuration, then ask Powerdrill; the exit code says which of the two failed."""
    out = Output.for_command(simulated)
    try:
        from pd_mcp import settings

        raw = settings.load()
        out.secret = raw.api_key.get_secret_value().strip() if raw.api_key else ""
        return _check(_Lines(out), raw)
    except Exception as exc:
        return unexpected(out, exc, "check the configuration")


class _Lines:
    """The check's lines: a tick for what is right, a cross for each problem (which it counts)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.problems: list[str] = []
        self.unset = False  # a required variable is missing from this shell's environment

    def good(self, text: str) -> None:
        self.out.out(f"{self.out.ok} {text}")

    def bad(self, text: str, *, shown: str = "") -> None:
        self.problems.append(text)
        # `shown` is a placeholder or an unexpanded reference, not a key: it may be printed as is.
        self.out.err(f"{self.out.bad} {text if shown else self.out.scrub(text)}", scrubbed=True)

    def not_usable(self) -> int:
        this = "this is" if len(self.problems) <= 1 else "these are"
        self.out.err(f"pd-mcp is not usable until {this} fixed.")
        if self.unset:
            from pd_mcp.messages import CHECK_READS_THIS_SHELL

            self.out.err(CHECK_READS_THIS_SHELL)
        return EXIT_UNUSABLE


def _check(lines: _Lines, raw: Settings) -> int:
    from pd_mcp.settings import split_api_url

    stand_ins = _credentials(lines, raw)  # valid values for what is already reported, to find the rest
    url_problem = split_api_url(raw.api_url)[2]
    if url_problem:
        lines.bad(url_problem + ".")
        stand_ins["api_url"] = None
    config = _resolved(lines, raw, stand_ins)
    if lines.problems or config is None:
        if not lines.problems:
            lines.bad("the configuration was refused.")
        return lines.not_usable()
    default = "" if (raw.api_url or "").strip() else " (the default)"
    lines.good(f"Powerdrill API {config.api_version} at {config.base_url}{default}.")
    return _probe(lines, config)


def _credentials(lines: _Lines, raw: Settings) -> dict[str, Any]:
    """A line for the user id and one for the key; stand-ins for the ones that are wrong."""
    from pydantic import SecretStr

    from pd_mcp.settings import is_placeholder

    stand_ins: dict[str, Any] = {}
    for field, name, value, meaning in (
        ("user_id", USER_ID_VAR, (raw.user_id or "").strip(), "your Powerdrill user id"),
        ("api_key", API_KEY_VAR, lines.out.secret, "the project API key from Powerdrill"),
    ):
        if not value:
            lines.bad(f"{name} is not set: it must hold {meaning}.")
            lines.unset = True
        elif is_placeholder(value):
            lines.bad(
                f"{name} is {value!r}, a placeholder or a reference your MCP host did not expand: "
                f"set it to {meaning}.",
                shown=value,
            )
        else:
            shown = f" ({len(value)} characters, not shown)" if field == "api_key" else ""
            lines.good(f"{name} is set{shown}.")
            continue
        stand_ins[field] = SecretStr("stand-in") if field == "api_key" else "stand-in"
    return stand_ins


def _resolved(lines: _Lines, raw: Settings, stand_ins: dict[str, Any]) -> ApiConfig | None:
    """The configuration, or None after a line for every problem not reported yet."""
    try:
        return raw.resolve()
    except errors.ConfigError:
        pass
    # Every problem not reported above (version, request budget, timeout), in settings' own words.
    try:
        raw.model_copy(update=stand_ins).resolve()
    except errors.ConfigError as rest:
        prefix, _, listed = rest.message.partition(": ")
        lines.bad(listed if prefix == "pd-mcp is not configured" and listed else rest.message)
    return None


# --- the probe -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Finding:
    """What the probe's answer means: accepted, or refused with the line and the hint to print."""

    accepted: bool
    line: str = ""
    hint: str = ""


_ACCEPTED = _Finding(True)


@dataclasses.dataclass(frozen=True)
class _Probe:
    """Where the probe asked, and a second question a 404 needs (a key that cannot be valid)."""

    where: str
    refuses_any_key: Callable[[], bool]


def _probe(lines: _Lines, config: ApiConfig) -> int:
    """Ask Powerdrill about a dataset that does not exist and judge the answer by `_JUDGES`."""
    from pydantic import SecretStr

    where = f"{config.base_url}/{config.api_version}/team"
    failure = _ask(config)
    if failure is None:
        return _accepted(
            lines, where, simulated=False
        )  # the probe dataset exists: the key works all the same

    def not_found_whatever_the_key() -> bool:
        bogus = _ask(dataclasses.replace(config, api_key=SecretStr(_NOT_A_KEY)))
        return isinstance(bogus, errors.DatasetNotFound)

    probe = _Probe(where, not_found_whatever_the_key)
    finding = next(judge(failure, probe) for kind, judge in _JUDGES if isinstance(failure, kind))
    if finding.accepted:
        return _accepted(lines, where, simulated=failure.simulated)
    return _refused(lines, finding, failure)


def _ask(config: ApiConfig) -> errors.UpstreamError | None:
    """One status request for the probe id, never retried; the error it ended with, or None."""
    import anyio

    from pd_mcp.client import PowerdrillClient

    async def probe() -> None:
        client = PowerdrillClient(config)
        try:
            await client.status(CHECK_PROBE_ID, retry=False)
        finally:
            await client.aclose()

    try:
        anyio.run(probe)
    except errors.UpstreamError as exc:
        return exc
    return None


def _accepted(lines: _Lines, where: str, *, simulated: bool) -> int:
    from pd_mcp.messages import SIMULATED_NOTE

    lines.good(f"Powerdrill at {where} accepted the user id and the API key.")
    if simulated:
        lines.out.out(f"  {SIMULATED_NOTE}")
    lines.out.out("pd-mcp is ready to use.")
    return EXIT_READY


def _refused(lines: _Lines, finding: _Finding, exc: errors.UpstreamError) -> int:
    from pd_mcp.messages import SIMULATED_NOTE

    lines.bad(finding.line)
    lines.out.err(f"  {finding.hint}")
    if exc.trace_id:
        lines.out.err(f"  Powerdrill trace id: {exc.trace_id}.")
    if exc.simulated:
        lines.out.err(f"  {SIMULATED_NOTE}")
    return lines.not_usable()


def _default_url() -> str:
    from pd_mcp.settings import DEFAULT_API_URL

    return DEFAULT_API_URL


# --- the judges: one per kind of error the probe can end with ---------------------------------


def _not_found(exc: errors.DatasetNotFound, probe: _Probe) -> _Finding:
    if exc.code is None:
        return _Finding(
            False,
            f"{probe.where} answered HTTP {exc.status} without a Powerdrill error code: {exc.message}",
            f"{API_URL_VAR} does not seem to point at the Powerdrill API (default {_default_url()}).",
        )
    # "No such dataset": the credentials passed. But HTTP 404 may also mean "no such endpoint" (a
    # wrong URL). A wrong key tells them apart: the real endpoint refuses it, a missing one answers 404.
    if exc.status != 404 or not probe.refuses_any_key():
        return _ACCEPTED
    return _Finding(
        False,
        f"{probe.where} answers 'not found' whatever the key: there is no Powerdrill dataset API there.",
        f"Check {API_URL_VAR}: it must be the API base URL (default {_default_url()}), "
        "without /datasets or other path parts.",
    )


def _denied(exc: errors.PermissionDenied, probe: _Probe) -> _Finding:
    if exc.code is not None:  # Powerdrill's own "no access to this dataset": the credentials passed
        return _ACCEPTED
    return _Finding(
        False,
        f"Powerdrill at {probe.where} refused the request (HTTP {exc.status}): {exc.message}",
        f"The API key may be wrong, or {API_URL_VAR} may not be the Powerdrill API.",
    )


def _credentials_refused(exc: errors.AuthenticationError, probe: _Probe) -> _Finding:
    return _Finding(
        False,
        f"Powerdrill at {probe.where} refused the credentials: {exc.message}",
        f"Check {API_KEY_VAR} (wrong, expired or from another project) and {USER_ID_VAR}.",
    )


def _bad_request(exc: errors.BadRequest, probe: _Probe) -> _Finding:
    return _Finding(
        False, f"Powerdrill at {probe.where} rejected the request: {exc.message}", f"Check {USER_ID_VAR}."
    )


def _no_answer(exc: errors.NetworkError | errors.RequestTimedOut, probe: _Probe) -> _Finding:
    said = exc.message[:1].upper() + exc.message[1:]
    return _Finding(
        False,
        said if isinstance(exc, errors.NetworkError) else f"No answer from {probe.where}: {said}",
        f"Check {API_URL_VAR}, your network, and any proxy or firewall in between.",
    )


def _not_powerdrill(exc: errors.MalformedResponse, probe: _Probe) -> _Finding:
    return _Finding(
        False,
        f"{probe.where} answered, but not like the Powerdrill API: {exc.message}",
        f"Check {API_URL_VAR} (default {_default_url()}).",
    )


def _could_not_answer(exc: errors.UpstreamError, probe: _Probe) -> _Finding:
    hint = "This is usually temporary: run `pd-mcp check` again in a minute." if exc.retryable else ""
    return _Finding(
        False,
        f"Powerdrill at {probe.where} could not answer: {exc.message}",
        hint or "Quote the trace id to Powerdrill support if it persists.",
    )


# The first row whose kind matches judges the answer; the last row matches every upstream error.
_Kinds = type[errors.UpstreamError] | tuple[type[errors.UpstreamError], ...]
_JUDGES: tuple[tuple[_Kinds, Callable[[Any, _Probe], _Finding]], ...] = (
    (errors.DatasetNotFound, _not_found),
    (errors.PermissionDenied, _denied),
    (errors.AuthenticationError, _credentials_refused),
    (errors.BadRequest, _bad_request),
    ((errors.NetworkError, errors.RequestTimedOut), _no_answer),
    (errors.MalformedResponse, _not_powerdrill),
    (errors.UpstreamError, _could_not_answer),
)
