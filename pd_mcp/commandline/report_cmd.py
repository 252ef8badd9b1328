"""`pd-mcp status` and `pd-mcp wait`: the tools' own code, for a shell or a CI job.

They run exactly what the MCP tools run (`runtime.Runtime` for configuration
and the one client, `report.dataset_status`, `waiter.wait_for_sync`), and
`--json` prints the tool's `structuredContent`, made by the function the tools
use, `report.structured`. Only the words differ: the tools speak to an
assistant, these commands to a person, so the text output is the verdict
sentence, the counts and the next step as a shell command.

Exit codes follow `kubectl wait` in spirit (see `exit_codes`). Whatever
happens, the user sees sentences, never a traceback, and never the API key:
every line goes through `output.Output`, which scrubs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pd_mcp.commandline.output import API_KEY_VAR, API_URL_VAR, USER_ID_VAR, Output, plural, unexpected
from pd_mcp.exit_codes import EXIT_ERROR, EXIT_NOT_READY, EXIT_READY, EXIT_TIMED_OUT

if TYPE_CHECKING:
    from pd_mcp.errors import PdMcpError, UpstreamError
    from pd_mcp.models import DatasetStatus
    from pd_mcp.runtime import Runtime


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


def _report(dataset_id: str, timeout: float | None, as_json: bool, simulated: bool) -> int:
    out = Output.for_command(simulated)
    action = "check" if timeout is None else "wait for"
    what = f"{action} dataset {dataset_id}"
    try:
        import anyio

        from pd_mcp.errors import PdMcpError
        from pd_mcp.report import structured as structured_content
        from pd_mcp.runtime import Runtime

        runtime = Runtime()
        out.secret = runtime.secret()
    except Exception as exc:  # a broken installation: say so in one line
        return _failed(out, as_json, dataset_id, exc, unexpected(out, exc, what))

    try:
        report = anyio.run(_ask, runtime, dataset_id, timeout, out.mark)
    except PdMcpError as exc:
        _explain(out, exc, dataset_id, action)
        return _failed(out, as_json, dataset_id, exc, EXIT_ERROR)
    except Exception as exc:
        return _failed(out, as_json, dataset_id, exc, unexpected(out, exc, what))

    structured = structured_content(report, out.secret)
    if as_json:
        out.out(json.dumps(structured, indent=2, ensure_ascii=False), raw=True)
    else:
        out.out(render_for_person(report))
    return exit_code(structured)


async def _ask(runtime: Runtime, dataset_id: str, seconds: float | None, mark: str) -> DatasetStatus:
    """One status check (`seconds` None) or a wait with progress on stderr; the runtime is closed after."""
    from pd_mcp import validation

    try:
        validation.dataset_id(dataset_id)  # first, as the tools do: no configuration needed to say so
        client = runtime.client()
        if seconds is None:
            from pd_mcp.report import dataset_status

            return await dataset_status(client, dataset_id)
        from pd_mcp.progress_view import progress_view
        from pd_mcp.waiter import wait_for_sync

        validation.timeout_seconds(seconds)
        with progress_view(dataset_id, seconds, mark=mark) as on_progress:
            return await wait_for_sync(
                client, dataset_id, seconds, clock=runtime.clock, on_progress=on_progress
            )
    finally:
        await runtime.aclose()


def _failed(out: Output, as_json: bool, dataset_id: str, exc: BaseException, code: int) -> int:
    """With `--json`, a failure is a JSON object on stdout too (the sentences stay on stderr)."""
    if as_json:
        out.out(json.dumps(error_object(dataset_id, exc, out.scrub), indent=2, ensure_ascii=False), raw=True)
    return code


def error_object(dataset_id: str, exc: BaseException, scrub: Callable[[str], str] = str) -> dict[str, Any]:
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
    from pd_mcp.messages import (
        CLI_NAMES_MISSING,
        SIMULATED_NOTE,
        cli_counts_line,
        cli_next_step,
        cli_wait_line,
        headline,
    )
    from pd_mcp.models import Counts, WaitResult

    counts = Counts(report.synched_count, report.synching_count, report.invalid_count)
    names = [s.name for s in report.failed_sources]
    lines = [headline(report.dataset_id, counts, names)]
    lines.append(
        cli_counts_line(report.synched_count, report.synching_count, report.invalid_count, report.total_count)
    )
    if report.failed_sources:
        shown = ", ".join(f"{s.name} ({s.id})" for s in report.failed_sources)
        more = report.invalid_count - len(report.failed_sources)
        lines.append(f"  failed: {shown}" + (f" and {more} more" if more > 0 else ""))
    elif report.invalid_count:
        lines.append(CLI_NAMES_MISSING)
    timed_out = isinstance(report, WaitResult) and report.timed_out
    if isinstance(report, WaitResult):
        lines.append(cli_wait_line(report.waited_seconds, plural(report.polls, "status check"), timed_out))
    trace = f"trace id {report.trace_id}, " if report.trace_id else ""
    lines.append(f"  {trace}checked at {report.checked_at}, API {report.api_version}")
    lines.append(
        cli_next_step(
            report.verdict, report.dataset_id, timed_out, report.synched_count, report.invalid_count
        )
    )
    if report.simulated:
        lines.append(SIMULATED_NOTE)
    return "\n".join(lines)


def _explain(out: Output, exc: PdMcpError, dataset_id: str, action: str) -> None:
    """A failure for a person: what went wrong, then what to do about it."""
    from pd_mcp import errors

    if isinstance(exc, errors.InvalidArgument):
        out.err(f"pd-mcp: {exc.message}")
        return
    out.err(f"pd-mcp: could not {action} dataset {dataset_id}: {exc.message}")
    advice = _advice(exc)
    hints = [advice] if advice else []
    if isinstance(exc, errors.UpstreamError):
        hints += _upstream_facts(exc)
    for hint in hints:
        out.err(f"  {hint}")


def _advice(exc: PdMcpError) -> str | None:
    """What to do about a failure, by its kind (the first kind that matches), or None."""
    from pd_mcp import errors

    table: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
        (
            errors.ConfigError,
            "Set the variables in the environment you run pd-mcp from; `pd-mcp check` checks them.",
        ),
        (
            errors.AuthenticationError,
            f"Check {API_KEY_VAR} and {USER_ID_VAR}: the key may be wrong or expired. "
            "`pd-mcp check` tests them.",
        ),
        (errors.DatasetNotFound, "Check the dataset id: it must belong to the project of this API key."),
        (
            errors.PermissionDenied,
            "This user or API key has no access to the dataset; check the id and the project.",
        ),
        (
            (errors.NetworkError, errors.RequestTimedOut),
            f"Check your network and {API_URL_VAR}; `pd-mcp check` tests the connection.",
        ),
    )
    for kinds, advice in table:
        if isinstance(exc, kinds):
            return advice
    if isinstance(exc, errors.UpstreamError) and exc.retryable:
        return "This is usually temporary: try again in a minute."
    return None


def _upstream_facts(exc: UpstreamError) -> list[str]:
    """What an upstream error knows that helps: attempts, the trace id, the simulated note."""
    from pd_mcp.messages import SIMULATED_NOTE

    facts: list[str] = []
    if exc.attempts and exc.attempts > 1:
        facts.append(f"Gave up after {exc.attempts} attempts in {exc.elapsed or 0:.1f} s.")
    if exc.trace_id:
        facts.append(f"Powerdrill trace id: {exc.trace_id}.")
    if getattr(exc, "simulated", False):
        facts.append(SIMULATED_NOTE)
    return facts
