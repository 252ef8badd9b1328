"""From client answers to the reports the tools, the resource and the command line return.

This is the one place that turns counts into a `DatasetStatus`, a report into
its text block and its structured content, and an error into the text of an
`isError` result. It sits below the MCP layer (no `mcp` import), so the
command line shapes its `--json` exactly as the tools do without loading the SDK.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pd_mcp.errors import InvalidArgument, PdMcpError, UpstreamError
from pd_mcp.messages import (
    ERROR_CONSEQUENCE,
    INVALID_CONSEQUENCE,
    INVALID_NEXT_STEP,
    SIMULATED_NOTE,
    gave_up,
    names_unavailable,
    user_message,
    verdict_message,
)
from pd_mcp.models import Counts, DatasetStatus, FailedSource, StatusAnswer, WaitResult
from pd_mcp.scrub import MIN_LENGTH, scrub_tree
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
    """The failed sources' names when there are any, or an empty list and the reason they are missing."""
    if counts.invalid == 0:
        return [], ""
    try:
        return await client.failed_sources(dataset_id, retry=retry), ""
    except UpstreamError as exc:
        trace = f", trace id {exc.trace_id}" if exc.trace_id else ""
        return [], names_unavailable(exc.message.rstrip(".") + trace)


def build_status(
    dataset_id: str,
    answer: StatusAnswer,
    api_version: str,
    failed: list[FailedSource],
    note: str = "",
    checked_at: str | None = None,
    text: str | None = None,
    user_text: str | None = None,
) -> DatasetStatus:
    """The report for one answer; `text` and `user_text` replace the verdict's, `note` is appended."""
    counts = answer.counts
    text = text or verdict_message(dataset_id, counts, [s.name for s in failed])
    notes = " ".join(n for n in (text, note, SIMULATED_NOTE if answer.simulated else "") if n)
    v = verdict(counts)
    return DatasetStatus(
        dataset_id=dataset_id,
        synched_count=counts.synched,
        synching_count=counts.synching,
        invalid_count=counts.invalid,
        total_count=counts.total,
        verdict=v,
        ready=v == "ready",
        message=notes,
        user_message=user_text or user_message(dataset_id, counts),
        failed_sources=failed,
        failed_sources_total=counts.invalid,
        failed_sources_truncated=len(failed) < counts.invalid,
        trace_id=answer.trace_id,
        api_version=api_version,  # type: ignore[arg-type]
        checked_at=checked_at or now_iso(),
        simulated=answer.simulated,
    )


async def dataset_status(client: PowerdrillClient, dataset_id: str) -> DatasetStatus:
    """One status check, with the failed sources' names when some failed."""
    answer = await client.status(dataset_id)
    checked_at = now_iso()
    failed, note = await fetch_failed_sources(client, dataset_id, answer.counts)
    return build_status(dataset_id, answer, client.api_version, failed, note, checked_at)


def render_text(report: DatasetStatus) -> str:
    """The text block: the verdict sentence first, then the facts an assistant may quote."""
    lines = [
        report.message,
        f"Verdict: {report.verdict}. Data sources: {report.synched_count} synchronized, "
        f"{report.synching_count} syncing, {report.invalid_count} failed, {report.total_count} in total.",
    ]
    if report.failed_sources:
        names = ", ".join(f"{s.name} ({s.id})" for s in report.failed_sources)
        cut = (
            f" (the first {len(report.failed_sources)} of {report.failed_sources_total})"
            if report.failed_sources_truncated
            else ""
        )
        lines.append(f"Failed data sources{cut}: {names}.")
    if isinstance(report, WaitResult):
        outcome = "still syncing at the deadline" if report.timed_out else "syncing is over"
        lines.append(
            f"Waited {report.waited_seconds:.1f} s with {report.polls} status checks: {outcome}; "
            f"{report.finished_during_wait} data sources finished during the wait."
        )
    trace = f"Powerdrill trace id: {report.trace_id}. " if report.trace_id else ""
    lines.append(f"{trace}Checked at {report.checked_at} (API {report.api_version}).")
    return "\n".join(lines)


def error_text(exc: PdMcpError, dataset_id: object = None, action: str = "check") -> str:
    """What went wrong (how hard pd-mcp tried, the trace id), that readiness is unknown, what to do."""
    if isinstance(exc, InvalidArgument):
        step = INVALID_NEXT_STEP.get(exc.argument, exc.what_to_do)
        return f"{exc.message} {INVALID_CONSEQUENCE} {step}"
    subject = f"dataset {dataset_id}" if isinstance(dataset_id, str) and dataset_id else "the dataset"
    facts: list[str] = []
    if isinstance(exc, UpstreamError):
        if exc.retryable and exc.attempts and exc.attempts > 1:
            facts.append(gave_up(exc.attempts, exc.elapsed or 0, exc.attempt_limit))
        if exc.trace_id:
            facts.append(f"Powerdrill trace id {exc.trace_id}")
    said = exc.message.rstrip().rstrip(".")
    extra = f" ({'; '.join(facts)})" if facts else ""
    parts = [f"Could not {action} {subject}: {said}{extra}.", ERROR_CONSEQUENCE, exc.what_to_do]
    if isinstance(exc, UpstreamError) and exc.simulated:
        parts.append(SIMULATED_NOTE)
    return " ".join(parts)
