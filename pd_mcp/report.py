"""From client answers to the reports the tools, the resource and the command line return.

This is the one place that turns counts into a `DatasetStatus`, a report into
its text block and its structured content, and an error into the text of an
`isError` result. It sits below the MCP layer (no `mcp` import), so the
command line shapes its `--json` exactly as the tools do without loading the SDK.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pd_mcp.errors import InvalidArgument, PdMcpError, UpstreamError
from pd_mcp.models import Counts, DatasetStatus, FailedSource, StatusAnswer, WaitResult
from pd_mcp.verdict import message, verdict

if TYPE_CHECKING:
    from pd_mcp.client import PowerdrillClient

SIMULATED_NOTE = "(Simulated data from the pd-mcp sandbox, not a real Powerdrill dataset.)"


def scrub(text: str, secret: str) -> str:
    """`text` with the API key replaced (a key shorter than 4 characters is not searched for)."""
    return text.replace(secret, "[redacted]") if len(secret) >= 4 else text


def structured(report: DatasetStatus, secret: str) -> dict[str, Any]:
    """The report as the tools' `structuredContent` (and the command line's `--json`), key scrubbed."""
    content: dict[str, Any] = report.model_dump(mode="json")
    if len(secret) >= 4 and secret in report.message + str(content):
        content = json.loads(scrub(json.dumps(content), secret))
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
        trace = f" (trace id {exc.trace_id})" if exc.trace_id else ""
        return [], f"The names of the failed sources could not be fetched: {exc.message}{trace}"


def build_status(
    dataset_id: str,
    answer: StatusAnswer,
    api_version: str,
    failed: list[FailedSource],
    note: str = "",
    checked_at: str | None = None,
    text: str | None = None,
) -> DatasetStatus:
    """The report for one answer; `text` replaces the verdict message, `note` is appended."""
    counts = answer.counts
    text = text or message(dataset_id, counts, [s.name for s in failed])
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
        failed_sources=failed,
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
        lines.append(f"Failed data sources: {names}.")
    if isinstance(report, WaitResult):
        outcome = "still syncing at the deadline" if report.timed_out else "syncing is over"
        lines.append(f"Waited {report.waited_seconds:.1f} s with {report.polls} status checks: {outcome}.")
    trace = f"Powerdrill trace id: {report.trace_id}. " if report.trace_id else ""
    lines.append(f"{trace}Checked at {report.checked_at} (API {report.api_version}).")
    return "\n".join(lines)


def error_text(exc: PdMcpError, dataset_id: object = None, action: str = "check") -> str:
    """What went wrong, whether retrying helps, what to do, and the trace id."""
    if isinstance(exc, InvalidArgument):
        return f"{exc.message} {exc.what_to_do}"
    subject = f"dataset {dataset_id}" if isinstance(dataset_id, str) and dataset_id else "the dataset"
    parts = [f"Could not {action} {subject}: {exc.message}"]
    if isinstance(exc, UpstreamError):
        if exc.retryable and exc.attempts and exc.attempts > 1:
            bound = f" (the limit is {exc.attempt_limit})" if exc.attempt_limit else ""
            parts.append(f"Gave up after {exc.attempts} attempts in {exc.elapsed or 0:.1f} s{bound}.")
        parts.append(exc.what_to_do)
        if exc.trace_id:
            parts.append(f"Powerdrill trace id: {exc.trace_id}.")
        if exc.simulated:
            parts.append(SIMULATED_NOTE)
    else:
        parts.append(exc.what_to_do)
    return " ".join(p for p in parts if p)
