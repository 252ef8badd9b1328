"""The readiness verdict: a pure function of the three counts, and its sentences.

The sentences are written for an assistant: a headline saying what the state
means for a Powerdrill analysis job, then the next step to take.
"""

from __future__ import annotations

from collections.abc import Sequence

from pd_mcp.models import Counts, Verdict

MAX_NAMES_IN_MESSAGE = 5


def verdict(counts: Counts) -> Verdict:
    """Classify a dataset; `syncing` wins over everything but `empty`."""
    if counts.total == 0:
        return "empty"
    if counts.synching > 0:
        return "syncing"
    if counts.invalid == 0:
        return "ready"
    if counts.synched == 0:
        return "failed"
    return "partially_failed"


def _names(names: Sequence[str], total_invalid: int) -> str:
    if not names:
        return ""
    shown = [repr(n) for n in names[:MAX_NAMES_IN_MESSAGE]]
    rest = total_invalid - len(shown)
    return " (" + ", ".join(shown) + (f" and {rest} more" if rest > 0 else "") + ")"


def headline(dataset_id: str, counts: Counts, failed_names: Sequence[str] = ()) -> str:
    """One sentence: the state of the dataset (also the progress message during a wait)."""
    s, k, f, t = counts.synched, counts.synching, counts.invalid, counts.total
    ds = f"Dataset {dataset_id}"
    match verdict(counts):
        case "empty":
            return f"{ds} has no data sources, so an analysis job would have nothing to read."
        case "ready":
            every = "its only data source is" if t == 1 else f"all {t} data sources are"
            return f"{ds} is ready: {every} synchronized."
        case "syncing":
            failed = f", {f} failed" if f else ""
            return f"{ds} is still syncing: {s} of {t} data sources ready, {k} still synchronizing{failed}."
        case "failed":
            every = "its only data source" if t == 1 else f"all {t} data sources"
            return f"{ds} cannot be analysed: {every} failed to synchronize{_names(failed_names, f)}."
        case _:
            return (
                f"{ds} is only partly usable: {s} of {t} data sources are synchronized and "
                f"{f} failed{_names(failed_names, f)}."
            )


_NEXT_STEP: dict[Verdict, str] = {
    "empty": "Ask the user to add files to it before starting a job.",
    "ready": "You can start the analysis job now.",
    "syncing": (
        "A job started now would silently leave the unsynchronized sources out; "
        "call wait_for_dataset_sync before starting it."
    ),
    "failed": "Tell the user; these files must be fixed or uploaded again before a job can use them.",
    "partially_failed": (
        "A job would analyse only the synchronized sources; "
        "tell the user which failed and ask whether to go ahead without them."
    ),
}


def message(dataset_id: str, counts: Counts, failed_names: Sequence[str] = ()) -> str:
    """The headline, then the next step for the assistant."""
    return f"{headline(dataset_id, counts, failed_names)} {_NEXT_STEP[verdict(counts)]}"


def timed_out_message(
    dataset_id: str, counts: Counts, waited: float, failed_names: Sequence[str] = ()
) -> str:
    """For a wait that reached its deadline: how far along, and that it may wait again."""
    percent = int(100 * counts.settled / counts.total) if counts.total else 0
    failed = f" ({counts.invalid} failed{_names(failed_names, counts.invalid)})" if counts.invalid else ""
    return (
        f"Dataset {dataset_id} is still syncing after {waited:.0f} s: {counts.settled} of {counts.total} "
        f"data sources done ({percent}%){failed}, {counts.synching} still synchronizing. It is not ready; "
        "call wait_for_dataset_sync again to keep waiting, or tell the user it is still processing."
    )


def restarting_message(
    dataset_id: str, counts: Counts, waited: float, failed_names: Sequence[str] = ()
) -> str:
    """For a wait ended early because the server is restarting: how far along, and to call again."""
    percent = int(100 * counts.settled / counts.total) if counts.total else 0
    failed = f" ({counts.invalid} failed{_names(failed_names, counts.invalid)})" if counts.invalid else ""
    return (
        f"The pd-mcp server is restarting, so this wait ended early after {waited:.0f} s. "
        f"Dataset {dataset_id} was still syncing: {counts.settled} of {counts.total} data sources done "
        f"({percent}%){failed}, "
        f"{counts.synching} still synchronizing. It is not ready; the call can be repeated: call "
        "wait_for_dataset_sync again in a few seconds to keep waiting."
    )
