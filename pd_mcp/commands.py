"""`pd-mcp status`, `wait` and `check`: the tools' own code, for a shell or a CI job.

`status` and `wait` run exactly what the MCP tools run (`runtime.Runtime`
for configuration and the one client, `report.dataset_status`,
`waiter.wait_for_sync`), and `--json` prints the tool's `structuredContent`,
made by the function the tools use, `report.structured`. None of this imports
the MCP SDK, which would cost more than the rest of a command. Only the words differ: the tools
speak to an assistant, these commands to a person, so the text output is the
verdict sentence, the counts and the next step as a shell command.

Exit codes follow `kubectl wait` in spirit: 0 ready, 1 finished with failures
or empty, 2 still syncing (for `wait`: timed out), 3 could not tell. `check`
exits 0 only when Powerdrill accepted the configuration, 1 when something is
wrong with it, 3 when pd-mcp itself failed.

Whatever happens, the user sees sentences, never a traceback, and never the
API key: every line goes through `_Output`, which scrubs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from pd_mcp.exit_codes import EXIT_ERROR, EXIT_NOT_READY, EXIT_READY, EXIT_TIMED_OUT
from pd_mcp.scrub import scrub

if TYPE_CHECKING:
    from pd_mcp.errors import PdMcpError
    from pd_mcp.models import DatasetStatus
    from pd_mcp.settings import Settings

CHECK_PROBE_ID = "pd-mcp-check"  # a dataset id that does not exist: Powerdrill's "not found" proves the key
EXIT_UNUSABLE = 1  # `check`: the configuration, the key or the URL is wrong

_USER_ID = "POWERDRILL_USER_ID"
_API_KEY = "POWERDRILL_PROJECT_API_KEY"
_API_URL = "POWERDRILL_API_URL"


SIMULATED_MARK = "[simulated] "  # starts every line a `--sandbox` command prints, JSON aside


@contextlib.contextmanager
def simulated_powerdrill() -> Iterator[None]:
    """`--sandbox`: the simulated Powerdrill API on loopback, and this process's environment pointing at it.

    The commands then run exactly as against Powerdrill; a `POWERDRILL_API_VERSION`
    already set is kept (the sandbox speaks v1 and v2), everything else is replaced
    for the duration and restored after.
    """
    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, SandboxOptions, running_sandbox

    with running_sandbox(SandboxOptions.from_env()) as sb:
        values = {_API_URL: sb.url, _USER_ID: SANDBOX_USER_ID, _API_KEY: SANDBOX_API_KEY}
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def plural(count: int, noun: str) -> str:
    """`1 status check`, `2 status checks`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _Output:
    """Writes lines to stdout and stderr with the API key scrubbed, and survives a closed pipe.

    With `mark`, every line starts with it (the `--sandbox` commands' `[simulated] `);
    `raw` output (JSON for scripts) is written as it is.
    """

    def __init__(self, secret: str = "", mark: str = "") -> None:
        self.secret = secret
        self.mark = mark
        for stream in (sys.stdout, sys.stderr):
            # A terminal that cannot show a character gets a '?' instead of a UnicodeEncodeError.
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                with contextlib.suppress(ValueError, OSError):
                    reconfigure(errors="replace")
        encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
        self.ok, self.bad = ("✓", "✗") if encoding.startswith("utf") else ("[ok]", "[error]")

    def scrub(self, text: str) -> str:
        return scrub(text, self.secret)

    def _write(self, stream: TextIO, text: str, scrubbed: bool, raw: bool = False) -> None:
        text = text if scrubbed else self.scrub(text)
        if self.mark and not raw:
            text = "\n".join(self.mark + line for line in text.split("\n"))
        try:
            print(text, file=stream, flush=True)
        except BrokenPipeError:  # e.g. `pd-mcp status x | head -1`: the reader has gone
            # Point the stream at devnull, so the flush at exit does not complain either.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())

    def out(self, text: str, *, raw: bool = False) -> None:
        self._write(sys.stdout, text, False, raw)

    def err(self, text: str, *, scrubbed: bool = False) -> None:
        """`scrubbed=True`: the caller has scrubbed `text` already."""
        self._write(sys.stderr, text, scrubbed)


# --- status and wait -----------------------------------------------------------------------


def status(dataset_id: str, *, as_json: bool, simulated: bool = False) -> int:
    """One check; exit 0 ready, 1 failed/partially failed/empty, 2 syncing, 3 error."""
    return _report(dataset_id, None, as_json, simulated)


def wait(dataset_id: str, timeout: float, *, as_json: bool, simulated: bool = False) -> int:
    """Wait with a progress bar (or plain lines); exit 0 ready, 1 failures/empty, 2 timed out, 3 error."""
    return _report(dataset_id, timeout, as_json, simulated)


def exit_code(structured: dict[str, Any]) -> int:
    """The exit code for a tool's structured result (a status or a wait)."""
    if structured.get("ready"):
        return EXIT_READY
    if structured.get("timed_out") or structured.get("verdict") == "syncing":
        return EXIT_TIMED_OUT
    return EXIT_NOT_READY


def _report(dataset_id: str, timeout: float | None, as_json: bool, simulated: bool = False) -> int:
    out = _Output(mark=SIMULATED_MARK if simulated else "")
    action = "check" if timeout is None else "wait for"
    try:
        from pd_mcp.errors import PdMcpError
        from pd_mcp.report import structured as structured_content
        from pd_mcp.runtime import Runtime

        runtime = Runtime()
        out.secret = runtime.secret()
    except Exception as exc:  # a broken installation: say so in one line
        return _failed(out, as_json, dataset_id, exc, _unexpected(out, exc, f"{action} dataset {dataset_id}"))

    async def run() -> DatasetStatus:
        from pd_mcp import validation

        try:
            validation.dataset_id(dataset_id)  # first, as the tools do: no configuration needed to say so
            client = runtime.client()
            if timeout is None:
                from pd_mcp.report import dataset_status

                return await dataset_status(client, dataset_id)
            from pd_mcp.progress_view import progress_view
            from pd_mcp.waiter import wait_for_sync

            validation.timeout_seconds(timeout)
            with progress_view(dataset_id, timeout, mark=out.mark) as on_progress:
                return await wait_for_sync(
                    client, dataset_id, timeout, clock=runtime.clock, on_progress=on_progress
                )
        finally:
            await runtime.aclose()

    try:
        report = anyio.run(run)
    except PdMcpError as exc:
        _explain(out, exc, dataset_id, action)
        return _failed(out, as_json, dataset_id, exc, EXIT_ERROR)
    except Exception as exc:
        return _failed(out, as_json, dataset_id, exc, _unexpected(out, exc, f"{action} dataset {dataset_id}"))

    structured = structured_content(report, out.secret)
    if as_json:
        out.out(json.dumps(structured, indent=2, ensure_ascii=False), raw=True)
    else:
        out.out(render_for_person(report))
    return exit_code(structured)


def _failed(out: _Output, as_json: bool, dataset_id: str, exc: BaseException, code: int) -> int:
    """With `--json`, a failure is a JSON object on stdout too (the sentences stay on stderr)."""
    if as_json:
        out.out(json.dumps(error_object(dataset_id, exc, out.scrub), indent=2, ensure_ascii=False), raw=True)
    return code


def error_object(dataset_id: str, exc: BaseException, scrub: Any = str) -> dict[str, Any]:
    """What `status --json` and `wait --json` print on failure: the error's kind, its text, the facts."""
    from pd_mcp import errors

    if isinstance(exc, errors.PdMcpError):
        error: dict[str, Any] = {
            "type": type(exc).__name__,
            "message": scrub(exc.message),
            "retryable": exc.retryable,
        }
        if isinstance(exc, errors.UpstreamError):
            error["trace_id"] = exc.trace_id
            error["code"] = exc.code
        if getattr(exc, "simulated", False):
            error["simulated"] = True
    else:
        error = {
            "type": "InternalError",
            "message": f"pd-mcp failed unexpectedly ({type(exc).__name__}); this is a bug in pd-mcp.",
            "retryable": False,
        }
    return {"dataset_id": dataset_id, "error": error}


def render_for_person(report: DatasetStatus) -> str:
    """The report for a terminal: the verdict sentence, the facts, and the next step as a command."""
    from pd_mcp.messages import headline
    from pd_mcp.models import Counts, WaitResult
    from pd_mcp.report import SIMULATED_NOTE

    counts = Counts(report.synched_count, report.synching_count, report.invalid_count)
    names = [s.name for s in report.failed_sources]
    lines = [headline(report.dataset_id, counts, names)]
    lines.append(
        f"  data sources: {report.synched_count} synchronized, {report.synching_count} syncing, "
        f"{report.invalid_count} failed, {report.total_count} in total"
    )
    if report.failed_sources:
        shown = ", ".join(f"{s.name} ({s.id})" for s in report.failed_sources)
        more = report.invalid_count - len(report.failed_sources)
        lines.append(f"  failed: {shown}" + (f" and {more} more" if more > 0 else ""))
    elif report.invalid_count:
        lines.append("  failed: (their names could not be fetched)")
    timed_out = isinstance(report, WaitResult) and report.timed_out
    if isinstance(report, WaitResult):
        end = "the deadline came first" if timed_out else "syncing is over"
        lines.append(f"  waited {report.waited_seconds:.1f} s, {plural(report.polls, 'status check')}: {end}")
    trace = f"trace id {report.trace_id}, " if report.trace_id else ""
    lines.append(f"  {trace}checked at {report.checked_at}, API {report.api_version}")
    lines.append(_next_step(report.verdict, report.dataset_id, timed_out))
    if report.simulated:
        lines.append(SIMULATED_NOTE)
    return "\n".join(lines)


def _next_step(verdict: str, dataset_id: str, timed_out: bool) -> str:
    if verdict == "ready":
        return "Ready: an analysis job will see every data source."
    if verdict == "syncing":
        if timed_out:
            return (
                f"Not ready: still syncing at the deadline. Run `pd-mcp wait {dataset_id}` again, "
                "or with a longer --timeout (up to 900 s)."
            )
        return f"Not ready yet: run `pd-mcp wait {dataset_id}` to wait until syncing is over."
    if verdict == "partially_failed":
        return (
            "Partly usable: a job would analyse only the synchronized sources. Fix or upload the failed "
            "files again in Powerdrill, or go ahead without them."
        )
    if verdict == "failed":
        return "Not usable: fix or upload the failed files again in Powerdrill before starting a job."
    return "Not usable: add files to the dataset in Powerdrill first."


def _explain(out: _Output, exc: PdMcpError, dataset_id: str, action: str) -> None:
    """A failure for a person: what went wrong, then what to do about it."""
    from pd_mcp import errors
    from pd_mcp.report import SIMULATED_NOTE

    if isinstance(exc, errors.InvalidArgument):
        out.err(f"pd-mcp: {exc.message}")
        return
    out.err(f"pd-mcp: could not {action} dataset {dataset_id}: {exc.message}")
    hints: list[str] = []
    if isinstance(exc, errors.ConfigError):
        hints.append("Set the variables in the environment you run pd-mcp from; `pd-mcp check` checks them.")
    elif isinstance(exc, errors.AuthenticationError):
        hints.append(
            f"Check {_API_KEY} and {_USER_ID}: the key may be wrong or expired. `pd-mcp check` tests them."
        )
    elif isinstance(exc, errors.DatasetNotFound):
        hints.append("Check the dataset id: it must belong to the project of this API key.")
    elif isinstance(exc, errors.PermissionDenied):
        hints.append("This user or API key has no access to the dataset; check the id and the project.")
    elif isinstance(exc, errors.NetworkError | errors.RequestTimedOut):
        hints.append(f"Check your network and {_API_URL}; `pd-mcp check` tests the connection.")
    elif isinstance(exc, errors.UpstreamError) and exc.retryable:
        hints.append("This is usually temporary: try again in a minute.")
    if isinstance(exc, errors.UpstreamError):
        if exc.attempts and exc.attempts > 1:
            hints.append(f"Gave up after {exc.attempts} attempts in {exc.elapsed or 0:.1f} s.")
        if exc.trace_id:
            hints.append(f"Powerdrill trace id: {exc.trace_id}.")
        if getattr(exc, "simulated", False):
            hints.append(SIMULATED_NOTE)
    for hint in hints:
        out.err(f"  {hint}")


def _unexpected(out: _Output, exc: BaseException, what: str) -> int:
    out.err(
        f"pd-mcp: failed unexpectedly ({type(exc).__name__}) while trying to {what}. "
        "This is a bug in pd-mcp, not a problem with your data; please report it."
    )
    return EXIT_ERROR


# --- check ---------------------------------------------------------------------------------


def check(*, simulated: bool = False) -> int:
    """Say precisely what is wrong with the setup; exit 0 only when Powerdrill accepts it."""
    out = _Output(mark=SIMULATED_MARK if simulated else "")
    try:
        from pd_mcp import settings

        raw = settings.load()
        out.secret = raw.api_key.get_secret_value().strip() if raw.api_key else ""
        return _check(out, raw)
    except Exception as exc:
        return _unexpected(out, exc, "check the configuration")


def _check(out: _Output, raw: Settings) -> int:
    from pydantic import SecretStr

    from pd_mcp.errors import ConfigError
    from pd_mcp.settings import is_placeholder, split_api_url

    problems: list[str] = []
    stand_ins: dict[str, Any] = {}  # valid values for what is already reported, to find the rest

    def good(text: str) -> None:
        out.out(f"{out.ok} {text}")

    def bad(text: str, *, shown: str = "") -> None:
        problems.append(text)
        # `shown` is a placeholder or an unexpanded reference, not a key: it may be printed as is.
        out.err(f"{out.bad} {text if shown else out.scrub(text)}", scrubbed=True)

    for field, name, value, meaning in (
        ("user_id", _USER_ID, (raw.user_id or "").strip(), "your Powerdrill user id"),
        ("api_key", _API_KEY, out.secret, "the project API key from Powerdrill"),
    ):
        if not value:
            bad(f"{name} is not set: it must hold {meaning}.")
        elif is_placeholder(value):
            bad(
                f"{name} is {value!r}, a placeholder or a reference your MCP host did not expand: "
                f"set it to {meaning}.",
                shown=value,
            )
        elif field == "api_key":
            good(f"{name} is set ({len(value)} characters, not shown).")
            continue
        else:
            good(f"{name} is set.")
            continue
        stand_ins[field] = SecretStr("stand-in") if field == "api_key" else "stand-in"

    url_problem = split_api_url(raw.api_url)[2]
    if url_problem:
        bad(url_problem + ".")
        stand_ins["api_url"] = None

    config = None
    try:
        config = raw.resolve()
    except ConfigError:
        # Every problem not reported above (version, request budget, timeout), in settings' own words.
        try:
            raw.model_copy(update=stand_ins).resolve()
        except ConfigError as rest:
            prefix, _, listed = rest.message.partition(": ")
            bad(listed if prefix == "pd-mcp is not configured" and listed else rest.message)
    if problems or config is None:
        if not problems:
            bad("the configuration was refused.")
        out.err(f"pd-mcp is not usable until {'this is' if len(problems) == 1 else 'these are'} fixed.")
        return EXIT_UNUSABLE

    default = "" if (raw.api_url or "").strip() else " (the default)"
    good(f"Powerdrill API {config.api_version} at {config.base_url}{default}.")
    return _probe(out, config, good, bad)


def _probe(out: _Output, config: Any, good: Any, bad: Any) -> int:
    """Ask Powerdrill about a dataset that does not exist; only a real Powerdrill error proves the key."""
    import dataclasses

    from pydantic import SecretStr

    from pd_mcp import errors
    from pd_mcp.client import PowerdrillClient
    from pd_mcp.report import SIMULATED_NOTE

    where = f"{config.base_url}/{config.api_version}/team"

    def ask(cfg: Any) -> BaseException | None:
        """One status request for the probe id; the error it ended with, or None."""

        async def probe() -> None:
            client = PowerdrillClient(cfg)
            try:
                await client.status(CHECK_PROBE_ID, retry=False)
            finally:
                await client.aclose()

        try:
            anyio.run(probe)
        except errors.UpstreamError as exc:
            return exc
        return None

    def accepted(simulated: bool) -> int:
        good(f"Powerdrill at {where} accepted the user id and the API key.")
        if simulated:
            out.out(f"  {SIMULATED_NOTE}")
        out.out("pd-mcp is ready to use.")
        return EXIT_READY

    def refused(text: str, hint: str, exc: errors.UpstreamError | None = None) -> int:
        bad(text)
        out.err(f"  {hint}")
        if exc is not None and exc.trace_id:
            out.err(f"  Powerdrill trace id: {exc.trace_id}.")
        if exc is not None and getattr(exc, "simulated", False):
            out.err(f"  {SIMULATED_NOTE}")
        out.err("pd-mcp is not usable until this is fixed.")
        return EXIT_UNUSABLE

    try:
        failure = ask(config)
        if failure is not None:
            raise failure
    except errors.DatasetNotFound as exc:
        simulated = getattr(exc, "simulated", False)
        if exc.code is not None and exc.status != 404:  # "no such dataset": the credentials passed
            return accepted(simulated)
        if exc.code is not None:
            # HTTP 404 may mean "no such dataset" or "no such endpoint" (a wrong URL). A wrong key
            # tells them apart: the real endpoint refuses it, a missing one answers 404 again.
            bogus = ask(dataclasses.replace(config, api_key=SecretStr("pd-mcp-check-not-a-key")))
            if not isinstance(bogus, errors.DatasetNotFound):
                return accepted(simulated)
            return refused(
                f"{where} answers 'not found' whatever the key: there is no Powerdrill dataset API there.",
                f"Check {_API_URL}: it must be the API base URL (default {_default_url()}), "
                "without /datasets or other path parts.",
                exc,
            )
        return refused(
            f"{where} answered HTTP {exc.status} without a Powerdrill error code: {exc.message}",
            f"{_API_URL} does not seem to point at the Powerdrill API (default {_default_url()}).",
            exc,
        )
    except errors.PermissionDenied as exc:
        if exc.code is not None:
            return accepted(getattr(exc, "simulated", False))
        return refused(
            f"Powerdrill at {where} refused the request (HTTP {exc.status}): {exc.message}",
            f"The API key may be wrong, or {_API_URL} may not be the Powerdrill API.",
            exc,
        )
    except errors.AuthenticationError as exc:
        return refused(
            f"Powerdrill at {where} refused the credentials: {exc.message}",
            f"Check {_API_KEY} (wrong, expired or from another project) and {_USER_ID}.",
            exc,
        )
    except errors.BadRequest as exc:
        return refused(
            f"Powerdrill at {where} rejected the request: {exc.message}",
            f"Check {_USER_ID}.",
            exc,
        )
    except (errors.NetworkError, errors.RequestTimedOut) as exc:
        said = exc.message[:1].upper() + exc.message[1:]
        return refused(
            said if isinstance(exc, errors.NetworkError) else f"No answer from {where}: {said}",
            f"Check {_API_URL}, your network, and any proxy or firewall in between.",
            exc,
        )
    except errors.MalformedResponse as exc:
        return refused(
            f"{where} answered, but not like the Powerdrill API: {exc.message}",
            f"Check {_API_URL} (default {_default_url()}).",
            exc,
        )
    except errors.UpstreamError as exc:
        hint = "This is usually temporary: run `pd-mcp check` again in a minute." if exc.retryable else ""
        return refused(
            f"Powerdrill at {where} could not answer: {exc.message}",
            hint or "Quote the trace id to Powerdrill support if it persists.",
            exc,
        )
    return accepted(False)  # the probe dataset exists: the credentials work all the same


def _default_url() -> str:
    from pd_mcp.settings import DEFAULT_API_URL

    return DEFAULT_API_URL
