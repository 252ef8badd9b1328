"""From client answers to the reports the tools, the resource and the command line return.

This is the one place that turns counts into a `DatasetStatus`, a report into
its text block and its structured content, and an error into the text of an
`isError` result. It sits below the MCP layer (no `mcp` import), so the
command line shapes its `--json` exactly as the tools do without loading the SDK.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pd_mcp.errors import DatasetNotFound, InvalidArgument, PdMcpError, PermissionDenied, UpstreamError
from pd_mcp.messages import (
    ERROR_CONSEQUENCE,
    INVALID_CONSEQUENCE,
    INVALID_NEXT_STEP,
    SANDBOX_ERROR_STEP,
    SANDBOX_ERROR_USER,
    SANDBOX_SYNCING_TAIL,
    SANDBOX_UNKNOWN_DATASET_STEP,
    SIMULATED_FACT,
    TRACE_FOR_SUPPORT,
    bug_message,
    bug_user_message,
    checked_line,
    error_subject,
    facts_line,
    failed_line,
    gave_up,
    sandbox_user_message,
    user_error_message,
    user_line,
    user_message,
    verdict_message,
    wait_line,
)
from pd_mcp.models import Counts, DatasetStatus, FailedSource, StatusAnswer, WaitResult
from pd_mcp.scrub import MIN_LENGTH, scrub_tree
from pd_mcp.validation import DATASET_ID_PATTERN
from pd_mcp.verdict import verdict

if TYPE_CHECKING:
    from pd_mcp.client import PowerdrillClient


def structured(report: DatasetStatus, secret: str) -> dict[str, Any]:
    """The report as the tools' `structuredContent` (and the command line's `--json`), key scrubbed."""
    content: dict[str, Any] = report.model_dump(mode="json")
    if len(secret) >= MIN_LENGTH:
        content = scrub_tree(content, secret)
    return content


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def fetch_failed_sources(
    client: PowerdrillClient, dataset_id: str, counts: Counts, *, retry: bool = True
) -> tuple[list[FailedSource], str]:
    """The failed sources' names when there are any, or an empty list and why they are missing."""
    if counts.invalid == 0:
        return [], ""
    try:
        return await client.failed_sources(dataset_id, retry=retry), ""
    except UpstreamError as exc:
        trace = f", trace id {exc.trace_id}" if exc.trace_id else ""
        return [], exc.message.rstrip(".") + trace


def build_status(
    dataset_id: str,
    answer: StatusAnswer,
    api_version: str,
    failed: list[FailedSource],
    missing: str = "",
    checked_at: str | None = None,
    text: str | None = None,
    user_text: str | None = None,
) -> DatasetStatus:
    """The report for one answer; `text` and `user_text` replace the verdict's.

    `missing` is why the failed sources' names could not be fetched; the verdict's text says so.
    """
    counts = answer.counts
    names = [s.name for s in failed]
    text = text or verdict_message(dataset_id, counts, names, missing, simulated=answer.simulated)
    v = verdict(counts)
    if answer.simulated and v == "syncing":  # its step is to wait, which the sandbox shows as well
        text = f"{text.removesuffix('.')}; {SANDBOX_SYNCING_TAIL}"
    return DatasetStatus(
        dataset_id=dataset_id,
        synched_count=counts.synched,
        synching_count=counts.synching,
        invalid_count=counts.invalid,
        total_count=counts.total,
        verdict=v,
        ready=v == "ready",
        message=text,
        user_message=_user_sentence(dataset_id, answer, user_text),
        failed_sources=failed,
        failed_sources_total=counts.invalid,
        failed_sources_truncated=len(failed) < counts.invalid,
        trace_id=answer.trace_id,
        api_version=api_version,  # type: ignore[arg-type]
        checked_at=checked_at or now_iso(),
        simulated=answer.simulated,
    )


def _user_sentence(dataset_id: str, answer: StatusAnswer, user_text: str | None) -> str:
    """The report's user_message: the verdict's (or `user_text`); on the sandbox's data, one that says
    no real analysis can run on it, whatever the verdict."""
    if answer.simulated:
        return sandbox_user_message(dataset_id, answer.counts)
    return user_text or user_message(dataset_id, answer.counts)


async def dataset_status(client: PowerdrillClient, dataset_id: str) -> DatasetStatus:
    """One status check, with the failed sources' names when some failed."""
    answer = await client.status(dataset_id)
    checked_at = now_iso()
    failed, missing = await fetch_failed_sources(client, dataset_id, answer.counts)
    return build_status(dataset_id, answer, client.api_version, failed, missing, checked_at)


def render_text(report: DatasetStatus) -> str:
    """The text block: the verdict sentence first, then the facts an assistant may quote, and last
    the user's sentence (as an error result's text ends too)."""
    r = report
    lines = [
        r.message,
        facts_line(r.synched_count, r.synching_count, r.invalid_count, r.total_count, r.verdict),
    ]
    if r.failed_sources:
        names = ", ".join(f"{s.name} ({s.id})" for s in r.failed_sources)
        lines.append(
            failed_line(names, len(r.failed_sources), r.failed_sources_total, r.failed_sources_truncated)
        )
    if isinstance(r, WaitResult):
        lines.append(
            wait_line(r.waited_seconds, r.polls, r.timed_out, r.finished_during_wait, r.cut_short_by_restart)
        )
    lines.append(checked_line(r.trace_id, r.checked_at, r.api_version, r.simulated))
    lines.append(user_line(r.user_message))
    return "\n".join(lines)


def error_text(exc: PdMcpError, dataset_id: object = None, action: str = "check") -> str:
    """What went wrong (how hard pd-mcp tried, the trace id), that readiness is unknown, what to do."""
    if isinstance(exc, InvalidArgument):
        step = INVALID_NEXT_STEP.get(exc.text_key) or INVALID_NEXT_STEP.get(exc.argument, exc.what_to_do)
        return f"{exc.message} {INVALID_CONSEQUENCE} {step}"
    subject = f"dataset {dataset_id}" if isinstance(dataset_id, str) and dataset_id else "the dataset"
    facts: list[str] = []
    if isinstance(exc, UpstreamError):
        if exc.retryable and exc.attempts and exc.attempts > 1:
            facts.append(gave_up(exc.attempts, exc.elapsed or 0, exc.attempt_limit))
        if exc.trace_id:
            facts.append(f"Powerdrill trace id {exc.trace_id}")
        if exc.simulated:
            facts.append(SIMULATED_FACT)
    said = exc.message.rstrip().rstrip(".")
    extra = f" ({'; '.join(facts)})" if facts else ""
    step = exc.what_to_do
    if not (isinstance(exc, UpstreamError) and exc.trace_id):
        step = step.replace(TRACE_FOR_SUPPORT, "")  # no trace id to give
    if isinstance(exc, DatasetNotFound | PermissionDenied) and exc.simulated:
        step = SANDBOX_UNKNOWN_DATASET_STEP
    elif isinstance(exc, UpstreamError) and exc.simulated:
        step = f"{step.removesuffix('.')}; {SANDBOX_ERROR_STEP}"
    parts = [f"Could not {action} {subject}: {said}{extra}.", ERROR_CONSEQUENCE, step]
    return " ".join(parts)


def _valid_id(dataset_id: object) -> str | None:
    """`dataset_id` if it is a valid id (fit to show the user), else None."""
    if (
        isinstance(dataset_id, str)
        and re.fullmatch(DATASET_ID_PATTERN, dataset_id)
        and dataset_id not in {".", ".."}
    ):
        return dataset_id
    return None


def error_result_text(exc: BaseException, dataset_id: object = None, action: str = "check") -> str:
    """The text of an `isError` result: the assistant's text, then the user's sentence on its own line."""
    if isinstance(exc, PdMcpError):
        argument = exc.text_key if isinstance(exc, InvalidArgument) else None
        text = error_text(exc, dataset_id, action)
        user = user_error_message(type(exc), _valid_id(dataset_id), argument)
        if isinstance(exc, UpstreamError) and exc.simulated:
            user = SANDBOX_ERROR_USER.format(subject=error_subject(_valid_id(dataset_id)))
    else:
        text = bug_message(type(exc).__name__, action)
        user = bug_user_message(_valid_id(dataset_id))
    return f"{text}\n{user_line(user)}"
