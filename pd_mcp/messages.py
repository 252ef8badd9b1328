"""Every text pd-mcp shows a model or a user, in one place, so they can be reviewed together.

Why one module: the texts are the product (a model decides whether to start a
Powerdrill job from them), so they share one vocabulary and one shape, and the
tests render every one of them and check the rules mechanically.

Vocabulary (used by every text; field names where it matters):

- **synchronized** (`synched_count`): the data source can be read by a job.
- **still synchronizing** (`synching_count`): waiting to be or being
  synchronized; a job started now silently leaves it out.
- **failed** (`invalid_count`): Powerdrill's status endpoint says "failed to be
  synchronized" (its data-source listing says "awaiting processing"); not
  usable, and waiting does not change it.

Shape of every result text (at most three short sentences): the state; what it
means for a Powerdrill job (can start: yes / no / only with the user's consent
for `partially_failed` / unknown after an error); one next step with a rule a
model can follow. Texts for the model may name tools and fields; a
`user_message` is one plain sentence for the user, with no tool or field names
and "files" for data sources.

Retry rule for errors: pd-mcp already retried transient failures; the model
calls again at most once, then tells the user. Configuration is fixed in the
MCP host's settings for pd-mcp, then the host is restarted and `pd-mcp check`
confirms it (run in a terminal with the same variables set: it reads that shell's
environment, not the host's entry); a key is never asked for in the chat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pd_mcp.models import Counts
from pd_mcp.verdict import verdict as verdict_of

MAX_NAMES_IN_MESSAGE = 5

GET_TOOL = "get_dataset_status"
WAIT_TOOL = "wait_for_dataset_sync"

# --- server instructions and tool descriptions --------------------------------------------------

INSTRUCTIONS = """\
pd-mcp only reports whether a Powerdrill dataset's data sources are synchronized; it cannot run \
the analysis itself. A Powerdrill job or session started before every source is synchronized \
silently leaves the others out, so before one:
1. Call get_dataset_status with the dataset id. If the user gives a dataset name instead of an \
id, ask them for the id (do not guess one).
2. Follow the verdict: `ready`: the job can start. `syncing`: do not start; call \
wait_for_dataset_sync. `partially_failed`: start only if the user agrees to leave the failed \
sources out. `failed` or `empty`: do not start; tell the user (failed files may need to be replaced \
or re-added in Powerdrill; an empty dataset needs files).
3. When a wait times out: call it again while sources are still finishing; stop and tell the \
user after a wait in which none finished, or after two timed-out waits in a row. A wait cut short \
by a server restart (`cut_short_by_restart: true`) is exempt from both stop rules: it does not count \
as a timed-out wait, whatever its finished_during_wait (skip it when counting waits in a row); call \
it again once, and if that one is cut short too, stop and tell the user. A wait that Powerdrill's \
pause ended early (its message says so) counts as a timed-out wait but not as one in which none \
finished; follow its message. Count timed-out waits in a row since the user's latest request; an \
error result or a get_dataset_status check between waits neither counts nor resets the count.
4. An error result means readiness is unknown: do not start the job; follow its next step, \
retry at most once, and never ask the user for an API key in the chat.
Words: synchronized (synched_count) = usable; still synchronizing (synching_count) = not yet \
usable; failed (invalid_count) = not usable, and waiting does not change it. After files are \
added or replaced, check again. Every result's text ends with a line `user_message: ...`: one \
plain sentence you can pass on to the user as it is, unless the result says not to. A result \
with `simulated: true` (its text says "simulated sandbox data") comes from pd-mcp's sandbox, not \
from Powerdrill: no real Powerdrill job can run on it, so tell the user pd-mcp is pointed at the \
sandbox.
Only if you receive update notifications for powerdrill://datasets/{dataset_id}/status: after \
each update, read the resource and follow its verdict as in step 2, except that for `syncing` you \
pass on its user_message and end your turn instead of calling wait_for_dataset_sync; follow the next \
update, or call get_dataset_status if the user asks before one comes.\
"""

GET_DESCRIPTION = """\
Check whether a Powerdrill dataset's data sources are synchronized, before creating a \
Powerdrill job or session on it (a job silently leaves unsynchronized sources out) and \
whenever the user asks whether their files are ready. pd-mcp cannot run the analysis itself.

The `verdict` decides: `ready`: the job can start. `syncing`: do not start yet; call \
wait_for_dataset_sync. `partially_failed`: start only with the user's consent to leave the \
failed sources out. `failed`, `empty`: do not start; tell the user. An error result: \
readiness is unknown, do not start.

Returns the counts (synchronized `synched_count`, still synchronizing `synching_count`, \
failed `invalid_count`), the verdict, a `message` with the next step, a `user_message` for \
the user, and the failed sources (`failed_sources`, at most 20; `failed_sources_total` and \
`failed_sources_truncated` say whether the list is cut).
"""

WAIT_DESCRIPTION = """\
Wait until no data source of a Powerdrill dataset is still synchronizing, then report; call \
it when get_dataset_status says `syncing` (for example right after files were uploaded).

It returns as soon as synchronizing is over, with the same verdict rules as \
get_dataset_status, or at timeout_seconds with `timed_out: true` and the latest counts (earlier \
if Powerdrill asks for a pause past the deadline, which counts as a timed-out wait but not as one \
in which none finished, its message saying how to call again; or if the server restarts). \
After a timed-out wait: call again while sources are still finishing \
(`finished_during_wait` > 0); stop and tell the user after a wait in which none finished, or \
after two timed-out waits in a row. A wait cut short by a server restart \
(`cut_short_by_restart: true`) is exempt from both stop rules: it does not count as a timed-out \
wait, whatever its finished_during_wait (skip it when counting waits in a row); call again once, \
and if that one is cut short too, stop and tell the user. Count timed-out waits in a row since the \
user's latest request; an error result or a get_dataset_status check between waits neither counts \
nor resets the count. Do not start a job while `timed_out` is true.

Returns the fields of get_dataset_status plus timed_out, cut_short_by_restart, waited_seconds, \
polls and finished_during_wait; sends progress notifications when given a progress token.
"""

DATASET_ID_DESCRIPTION = (
    "The Powerdrill dataset id, exactly as Powerdrill shows it (for example 'dset-cm5axptyyxxx298'): "
    "1 to 128 letters, digits, '-', '_' or '.'. Not the dataset's name: if the user gave a name, "
    "ask them for the id."
)
TIMEOUT_DESCRIPTION = (
    "How long to wait at most, in seconds (1 to 900, default 45); many hosts end a tool call after "
    "about 60 s even while progress notifications arrive, so leave it at 45 unless you know this host "
    "allows longer calls. "
    "After a timed-out wait, call again while sources are still "
    "finishing (finished_during_wait > 0); stop and tell the user after a wait in which none finished, "
    "or after two timed-out waits in a row; a wait cut short by a server restart is exempt from both (it "
    "does not count as a timed-out wait): call again once; a wait that Powerdrill's pause ended early (its "
    "message says so) counts as a timed-out wait but not as one in which none finished."
)
RESOURCE_DESCRIPTION = "The same report as get_dataset_status, as JSON, for hosts that attach resources."

SIMULATED_NOTE = "(Simulated data from the pd-mcp sandbox, not a real Powerdrill dataset.)"
# The end of an error's next step when the sandbox answered: it is not the user's Powerdrill project.
SANDBOX_ERROR_STEP = (
    "this answer came from pd-mcp's sandbox, so also mention that pd-mcp is pointed at the sandbox."
)
# The whole next step when the sandbox knows no such dataset, or refuses it: asking the user for
# another id cannot help, since the sandbox holds only its own simulated datasets.
SANDBOX_UNKNOWN_DATASET_STEP = (
    "The sandbox holds only its own simulated datasets (such as ds-ready), so calling again will not help: "
    "tell the user pd-mcp is pointed at the sandbox, and that a real dataset id can be checked only once "
    "pd-mcp is set up for Powerdrill."
)
# The end of a still-synchronizing text (a verdict, a timed-out or cut-short wait) on the sandbox's data.
SANDBOX_SYNCING_TAIL = (
    "this is simulated data from pd-mcp's sandbox, on which no real Powerdrill job can run even then, so "
    "also tell the user pd-mcp is pointed at the sandbox."
)
# Folded into a line or a parenthesis that is already there, so it never adds a sentence.
SIMULATED_FACT = "simulated sandbox data, not a real Powerdrill dataset"

# --- verdicts ------------------------------------------------------------------------------------


def _names(names: Sequence[str], total_invalid: int, missing: str = "") -> str:
    """` ('a.csv', 'b.csv' and 3 more)`, or why the names are missing, or nothing."""
    if not names:
        if missing and total_invalid:
            whose = "its name" if total_invalid == 1 else "their names"
            return f" ({whose} could not be fetched: {missing})"
        return ""
    shown = [repr(n) for n in names[:MAX_NAMES_IN_MESSAGE]]
    listed = len(names) - len(shown)  # in failed_sources, not in this sentence
    unnamed = total_invalid - len(names)  # named nowhere (the list is cut)
    more = f" and {listed} more in failed_sources" if listed > 0 else ""
    cut = f"; {unnamed} more not named" if unnamed > 0 else ""
    return " (" + ", ".join(shown) + more + cut + ")"


def _sources(n: int) -> str:
    return "1 data source" if n == 1 else f"{n} data sources"


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


def _failed_ones(n: int) -> str:
    """`the failed one` / `the 3 failed ones`."""
    return "the failed one" if n == 1 else f"the {n} failed ones"


def _it(n: int) -> str:
    return "it" if n == 1 else "them"


def _which_failed(n: int, shown: int) -> str:
    """`which file failed` when the names are in the text, else `that 2 files failed`.

    `shown` is how many names the report lists; when fewer than `n`, says how many it leaves out.
    """
    if not shown:
        return "that one file failed" if n == 1 else f"that {n} files failed"
    if shown >= n:
        return "which file failed" if n == 1 else "which files failed"
    rest = n - shown
    other = "the other one is" if rest == 1 else f"the other {rest} are"
    return f"which files failed (failed_sources names the first {shown}; {other} not named anywhere)"


def _counts_phrase(counts: Counts, failed_names: Sequence[str] = (), missing: str = "") -> str:
    """`3 of 8 data sources synchronized, 4 still synchronizing, 1 failed ('a.csv')`."""
    parts = [f"{counts.synched} of {_sources(counts.total)} synchronized"]
    if counts.synching:
        parts.append(f"{counts.synching} still synchronizing")
    if counts.invalid:
        parts.append(f"{counts.invalid} failed{_names(failed_names, counts.invalid, missing)}")
    return ", ".join(parts)


def headline(dataset_id: str, counts: Counts, failed_names: Sequence[str] = (), missing: str = "") -> str:
    """One sentence: the state of the dataset (the command line's first line).

    `missing` is why the failed sources' names could not be fetched, if they could not.
    """
    s, f, t = counts.synched, counts.invalid, counts.total
    ds = f"Dataset {dataset_id}"
    names = _names(failed_names, f, missing)
    match verdict_of(counts):
        case "empty":
            return f"{ds} has no data sources yet."
        case "ready":
            return f"{ds} is ready: {_every(t, 'data source')} synchronized."
        case "syncing":
            return f"{ds} is still synchronizing: {_counts_phrase(counts, failed_names, missing)}."
        case "failed":
            every = _every(t, "data source").rsplit(" ", 1)[0]
            return f"{ds} cannot be analysed: {every} failed to synchronize{names}."
        case _:
            return f"{ds} is only partly usable: {s} of {_sources(t)} synchronized and {f} failed{names}."


def _every(n: int, noun: str) -> str:
    """`its only file is` / `both files are` / `all 5 files are`."""
    if n == 1:
        return f"its only {noun} is"
    return f"both {noun}s are" if n == 2 else f"all {n} {noun}s are"


def _still_synchronizing(k: int) -> str:
    """`the source still synchronizing` / `the 3 sources still synchronizing`."""
    return "the source still synchronizing" if k == 1 else f"the {k} sources still synchronizing"


def _not_fixed(f: int) -> str:
    return f"; waiting will not fix {_failed_ones(f)}" if f else ""


def _with_note(phrase: str, note: str) -> str:
    """`phrase (note)`, or the note joined into the parenthesis `phrase` already ends with."""
    if phrase.endswith(")"):
        return f"{phrase[:-1]}; {note})"
    return f"{phrase} ({note})"


def _next_step(counts: Counts, shown: int | None = None) -> str:
    """What it means for a job, and the one next step (one or two sentences).

    `shown` is how many failed sources the report names (all of them when None).
    """
    s, k, f, t = counts.synched, counts.synching, counts.invalid, counts.total
    which = _which_failed(f, f if shown is None else shown)
    match verdict_of(counts):
        case "empty":
            return (
                "A Powerdrill job would have nothing to read, so do not start one. "
                "Ask the user to add files to the dataset in Powerdrill, then check again once the user says "
                "files were added."
            )
        case "ready":
            return "A Powerdrill job can start now and will read every data source."
        case "syncing":
            return (
                f"Do not start a Powerdrill job yet: it would silently leave out {_still_synchronizing(k)}"
                f"{_not_fixed(f)}. Call {WAIT_TOOL} next."
            )
        case "failed":
            may = "it may" if t == 1 else "they may"
            were = "the file was" if t == 1 else "the files were"
            tell = _with_note(which, f"{may} need to be replaced or re-added in Powerdrill")
            return (
                "Do not start a Powerdrill job: it would have nothing to read, and waiting will not change "
                f"this. Tell the user {tell}, then check again once the user says {were} replaced or "
                "re-added."
            )
        case _:
            read = "the one synchronized source" if s == 1 else f"the {s} synchronized sources"
            return (
                f"A Powerdrill job would read only {read}, so start one only if the user agrees to leave "
                f"{_failed_ones(f)} out (waiting will not fix {_it(f)}). "
                f"Tell the user {which} and ask."
            )


def verdict_message(
    dataset_id: str,
    counts: Counts,
    failed_names: Sequence[str] = (),
    missing: str = "",
    *,
    simulated: bool = False,
) -> str:
    """The state, what it means for a job, and the next step for the assistant.

    `missing` is why the failed sources' names could not be fetched (the verdict stands without them).
    `simulated`: the sandbox's data, where a step that would act on Powerdrill says it cannot.
    """
    step = _sandbox_step(counts, len(failed_names)) if simulated else None
    step = step or _next_step(counts, len(failed_names))
    return f"{headline(dataset_id, counts, failed_names, missing)} {step}"


def _sandbox_step(counts: Counts, shown: int) -> str | None:
    """For the sandbox's data, the step of a verdict whose real step acts on Powerdrill (start a
    job, replace or add files): none can on simulated data. None for `syncing` (waiting is the same)."""
    sandbox = (
        "but this is simulated data from pd-mcp's sandbox, on which no real Powerdrill job can run: tell the "
        "user"
    )
    match verdict_of(counts):
        case "ready":
            return (
                f"A Powerdrill job could read every data source, {sandbox} pd-mcp is pointed at the sandbox."
            )
        case "failed":
            return (
                "Do not start a Powerdrill job: it would have nothing to read, and waiting will not change "
                "this. This is simulated data from pd-mcp's sandbox, whose files cannot be replaced: tell "
                f"the user {_which_failed(counts.invalid, shown)} and that pd-mcp is pointed at the sandbox."
            )
        case "empty":
            return (
                "A Powerdrill job would have nothing to read, so do not start one. This is simulated data "
                "from pd-mcp's sandbox, to which no files can be added: tell the user pd-mcp is pointed at "
                "the sandbox."
            )
        case "partially_failed":
            s, f = counts.synched, counts.invalid
            read = "the one synchronized source" if s == 1 else f"the {s} synchronized sources"
            which = _which_failed(f, shown)
            return (
                f"A Powerdrill job would read only {read}, {sandbox} {which} and that pd-mcp is pointed at "
                "the sandbox."
            )
        case _:
            return None


def progress_message(dataset_id: str, counts: Counts) -> str:
    """The message of one progress notification during a wait."""
    if counts.synching == 0:
        return headline(dataset_id, counts)
    fixed = ""
    if counts.invalid:
        fixed = " (the failed one stays failed)" if counts.invalid == 1 else " (failed ones stay failed)"
    return f"Dataset {dataset_id}: {_counts_phrase(counts)}{fixed}; not ready for a job yet."


def sandbox_user_message(dataset_id: str, counts: Counts) -> str:
    """The user's sentence for any verdict on the sandbox's data: what it shows, and that no real
    analysis can run on it (so nothing the user could do here leads to one)."""
    s, k, f, t = counts.synched, counts.synching, counts.invalid, counts.total
    match verdict_of(counts):
        case "empty":
            shows = "no files"
        case "ready":
            shows = _every(t, "file") + " synchronized"
        case "syncing":
            shows = f"{s} of {_files(t)} synchronized, {k} still synchronizing" + (
                f", {f} failed" if f else ""
            )
        case "failed":
            shows = (
                "its only file failed to synchronize" if t == 1 else f"all {t} files failed to synchronize"
            )
        case _:
            shows = f"{f} of {_files(t)} failed to synchronize, {s} synchronized"
    return (
        f"Dataset {dataset_id} is simulated data in pd-mcp's sandbox ({shows}), not a real Powerdrill "
        "dataset, so no real analysis can run on it."
    )


# An error's user sentence when the sandbox answered (pd-mcp is not pointed at a Powerdrill project).
SANDBOX_ERROR_USER = (
    "pd-mcp is pointed at its sandbox, which answered with an error for {subject}; the sandbox holds only "
    "simulated data, so no real analysis can run there."
)


def user_message(dataset_id: str, counts: Counts, *, timed_out: bool = False) -> str:
    """One plain sentence for the user: no tool names, no field names."""
    s, k, f, t = counts.synched, counts.synching, counts.invalid, counts.total
    failed = f", and {_files(f)} failed" if f else ""
    match verdict_of(counts):
        case "empty":
            return (
                f"Dataset {dataset_id} has no files yet, so there is nothing to analyse until some are added."
            )
        case "ready":
            return f"Dataset {dataset_id} is ready: {_every(t, 'file')} synchronized and can be analysed."
        case "syncing":
            still = " after this wait" if timed_out else ""
            return (
                f"Dataset {dataset_id} is still synchronizing{still} ({s} of {_files(t)} synchronized so "
                f"far, {k} to go{failed}), so the analysis has to wait."
            )
        case "failed":
            if t == 1:
                return (
                    f"The only file in dataset {dataset_id} could not be synchronized, so the dataset cannot "
                    "be analysed as it is; replacing or re-adding the file in Powerdrill may help."
                )
            none = "Neither of the 2 files" if t == 2 else f"None of the {t} files"
            return (
                f"{none} in dataset {dataset_id} could be synchronized, so the dataset cannot "
                "be analysed as it is; replacing or re-adding them in Powerdrill may help."
            )
        case _:
            other = "the other one" if s == 1 else f"the other {s}"
            return (
                f"{f} of the {t} files in dataset {dataset_id} failed to synchronize, so an analysis "
                f"would use only {other}; say whether to go ahead without {_it(f)}."
            )


def timed_out_message(
    dataset_id: str,
    counts: Counts,
    waited: float,
    finished: int,
    failed_names: Sequence[str] = (),
    missing: str = "",
    come_back: float | None = None,
) -> str:
    """A wait that reached its deadline (or a Retry-After past it, `come_back` seconds): how far
    along, that a job must wait, and the waiting rule."""
    during = f"{finished} finished during this wait" if finished else "none finished during this wait"
    if come_back is not None:
        return (
            f"Dataset {dataset_id} is still synchronizing: after {waited:.0f} s Powerdrill asked for a "
            f"{math.ceil(come_back)} s pause, longer than this wait had left, so it ended early, with "
            f"{during}: {_counts_phrase(counts, failed_names, missing)}. "
            f"Do not start a Powerdrill job yet{_not_fixed(counts.invalid)}. "
            f"{come_back_rule(come_back, finished=finished)}"
        )
    if finished:
        rule = (
            f"Sources are still finishing, so call {WAIT_TOOL} again, unless this was your second "
            "timed-out wait in a row: then stop and tell the user it is still synchronizing."
        )
    else:
        rule = (
            "Stop waiting: tell the user the dataset is still synchronizing, and check again when the "
            "user asks."
        )
    return (
        f"Dataset {dataset_id} is still synchronizing after {waited:.0f} s, with {during}: "
        f"{_counts_phrase(counts, failed_names, missing)}. "
        f"Do not start a Powerdrill job yet{_not_fixed(counts.invalid)}. {rule}"
    )


def come_back_rule(seconds: float, *, error: bool = False, finished: int = 0) -> str:
    """The next step when Powerdrill's Retry-After points past the wait's deadline (one sentence).

    `error` when no counts came before it (the wait failed, so the retry rule of errors applies);
    `finished`: sources that finished during the wait. A model cannot sleep, so the rule is a wait
    long enough to sit the pause out inside the call, asked for beyond the default 45 s only where
    the assistant knows the host allows calls that long.
    """
    wait = math.ceil(seconds)
    longer = wait + 15
    if longer > 900:
        lead = (
            f"Powerdrill asked for a {wait} s pause before the next request,"
            if error
            else f"That pause ({wait} s) is"
        )
        return (
            f"{lead} longer than any wait, so stop and tell the user Powerdrill is busy; check again only "
            "when the user asks."
        )
    if longer <= 45:
        timeout = (
            f"timeout_seconds left out (45 s) or at least {longer}, long enough for pd-mcp to sit out "
            "the pause"
        )
        known, unsure = "", ""
    else:
        timeout = f"timeout_seconds of at least {longer} (pd-mcp sits out the pause within it)"
        known, unsure = (
            f"only if you know the host allows calls of {longer} s or more, ",
            "you are not sure, or ",
        )
    if error:
        return (
            f"Powerdrill asked for a {wait} s pause, longer than this wait had left: {known}call "
            f"{WAIT_TOOL} once more with {timeout}, and follow the result it returns; if {unsure}that call "
            "also ends in an error, stop and tell the user Powerdrill is busy."
        )
    counts_as = "a timed-out wait" if finished else "a timed-out wait but not as one in which none finished"
    return (
        f"This wait counts as {counts_as}: unless it was your second timed-out wait in a row, {known}call "
        f"{WAIT_TOOL} again with {timeout}; if {unsure}the next one also times out, stop and tell the user."
    )


def restarting_message(
    dataset_id: str, counts: Counts, waited: float, failed_names: Sequence[str] = (), missing: str = ""
) -> str:
    """A wait cut short because the server is restarting (the drain); `timed_out` and
    `cut_short_by_restart` are true."""
    return (
        f"This wait was cut short after {waited:.0f} s because the pd-mcp server is restarting; dataset "
        f"{dataset_id} is still synchronizing: {_counts_phrase(counts, failed_names, missing)}. "
        "Do not start a Powerdrill job yet. "
        "This wait is exempt from both stop rules ('none finished', 'two timed-out waits in a row'): it "
        "does not count as a timed-out wait, whatever its finished_during_wait, so skip it when counting "
        f"waits in a row; call {WAIT_TOOL} again once, and if that one is also cut short, stop and tell "
        "the user."
    )


NAMES_NOT_IN_TIME = "the wait's deadline came first"
# A poll whose deadline came while it still queued for pd-mcp's own request budget (not Powerdrill's fault).
BUDGET_QUEUE_TIMED_OUT = (
    "the wait's deadline came while its last poll still waited in pd-mcp's own queue for a request "
    "slot (a per-second limit shared by every call in flight), so that poll was never sent and "
    "Powerdrill is not at fault"
)
NO_ANSWER_BY_DEADLINE = "Powerdrill did not answer before the wait's deadline."

# A wait shorter than the default that got no answer: the retry gives Powerdrill the default time.
# Per class: what to add to the call, and when to give up.
_SHORT_WAIT_RETRY = {
    "RequestTimedOut": (
        "",
        "Powerdrill is slow to answer and that you can check again when they ask in a few minutes",
    ),
    "BudgetTimedOut": (
        ", waiting for one dataset at a time",
        "pd-mcp is busy and that you can check again when they ask",
    ),
}


def short_wait_step(error_class: str, timeout: float, default: float) -> str | None:
    """The next step of a wait of `timeout` s (below `default`) that ran out of time before any
    answer, or None where the class's own step stands (the wait was not short, or not the cause)."""
    retry = _SHORT_WAIT_RETRY.get(error_class)
    if retry is None or timeout >= default:
        return None
    also, gave_up = retry
    return (
        f"Call {WAIT_TOOL} again at most once with timeout_seconds left out ({default:g} s), as this wait "
        f"had only {timeout:g} s{also}, and follow the result it returns; if that call also ends in an "
        f"error, tell the user {gave_up}."
    )


def facts_line(synched: int, synching: int, invalid: int, total: int, verdict: str) -> str:
    """The text block's second line: the verdict word and the counts."""
    return (
        f"Verdict: {verdict}. Data sources: {synched} synchronized, {synching} still synchronizing, "
        f"{invalid} failed, {total} in total."
    )


def failed_line(names: str, shown: int, total: int, truncated: bool) -> str:
    """The text block's line naming the failed sources (`names` is already joined)."""
    cut = f" (the first {shown} of {total})" if truncated else ""
    return f"Failed data sources{cut}: {names}."


def wait_line(waited: float, polls: int, timed_out: bool, finished: int, restarted: bool = False) -> str:
    """The text block's line about a wait: how long, how many checks, how it ended."""
    outcome = "still synchronizing when the wait ended" if timed_out else "synchronizing is over"
    if restarted:
        outcome = "still synchronizing when a pd-mcp server restart cut the wait short"
    checks = "1 status check" if polls == 1 else f"{polls} status checks"
    ended = "1 data source" if finished == 1 else f"{finished} data sources"
    return f"Waited {waited:.1f} s with {checks}: {outcome}; {ended} finished during the wait."


def checked_line(trace_id: str | None, checked_at: str, api_version: str, simulated: bool = False) -> str:
    """The text block's line: the trace id, when, which API version, and whether it was the sandbox."""
    trace = f"Powerdrill trace id: {trace_id}. " if trace_id else ""
    sandbox = f"; {SIMULATED_FACT}" if simulated else ""
    return f"{trace}Checked at {checked_at} (API {api_version}{sandbox})."


# --- the command line's human lines (pd-mcp status / wait / check) --------------------------------

# `pd-mcp check` without a required variable: it reads this shell, not the MCP host's entry.
CHECK_READS_THIS_SHELL = (
    "pd-mcp check reads the environment of this terminal, not your MCP host's settings: set here the "
    "same variables that your host's entry for pd-mcp sets, then run it again."
)


def cli_counts_line(synched: int, synching: int, invalid: int, total: int) -> str:
    return (
        f"  data sources: {synched} synchronized, {synching} still synchronizing, {invalid} failed, "
        f"{total} in total"
    )


CLI_NAMES_MISSING = "  failed: (their names could not be fetched)"


def cli_wait_line(waited: float, checks: str, timed_out: bool) -> str:
    """`checks` is already counted (`3 status checks`)."""
    end = "the deadline came first" if timed_out else "synchronizing is over"
    return f"  waited {waited:.1f} s, {checks}: {end}"


def cli_waiting(dataset_id: str, timeout: float | None) -> str:
    """The first line of `pd-mcp wait`."""
    limit = f" for up to {timeout:g} s" if timeout else ""
    return f"Waiting{limit} for dataset {dataset_id} to finish synchronizing."


def cli_next_step(verdict: str, dataset_id: str, timed_out: bool, synched: int, failed: int) -> str:
    """The last line for a person: what the verdict means for a job, and what to run or do."""
    if verdict == "ready":
        return "Ready: an analysis job will see every data source."
    if verdict == "syncing":
        if timed_out:
            return (
                f"Not ready: still synchronizing at the deadline. Run `pd-mcp wait {dataset_id}` again, "
                "or with a longer --timeout (up to 900 s)."
            )
        return f"Not ready yet: run `pd-mcp wait {dataset_id}` to wait until synchronizing is over."
    if verdict == "partially_failed":
        read = "the one synchronized source" if synched == 1 else f"the {synched} synchronized sources"
        files = "the failed file" if failed == 1 else "the failed files"
        return (
            f"Partly usable: a job would analyse only {read}. Replace or re-add {files} in Powerdrill, "
            f"or go ahead without {_it(failed)}."
        )
    if verdict == "failed":
        files = "the failed file" if failed == 1 else "the failed files"
        return f"Not usable: replace or re-add {files} in Powerdrill before starting a job."
    return "Not usable: add files to the dataset in Powerdrill first."


# --- argument checks (pd_mcp.validation raises InvalidArgument with these) ----------------------


def wrong_type(name: str, wanted: str, got: str) -> str:
    return f"{name} must be {wanted}, not {got}."


def invalid_dataset_id(problem: str, most: int) -> str:
    return (
        f"dataset_id is not valid ({problem}): a Powerdrill dataset id is 1 to {most} characters of "
        "letters, digits, '-', '_' and '.', as Powerdrill shows it."
    )


def id_problem_empty(value: str) -> str:
    return "it is empty" if not value else "it is only blank space"


def id_problem_long(length: int, most: int) -> str:
    return f"it is {length} characters long, more than {most}"


def id_problem_dots(value: str) -> str:
    return f"{value!r} is not a dataset id"


def id_problem_char(bad: str) -> str:
    return f"it contains {bad!r}"


def timeout_out_of_range(low: float, high: float, value: object) -> str:
    return f"timeout_seconds must be between {low:g} and {high:g} seconds, not {value!r}."


def unexpected_arguments(names: str, tool: str, takes: str) -> str:
    return f"unexpected argument {names}: {tool} takes only {takes}."


def argument_required(name: str) -> str:
    return f"{name} is required: the Powerdrill dataset id to check."


# --- errors --------------------------------------------------------------------------------------

ERROR_CONSEQUENCE = "Readiness is now unknown, so do not start a Powerdrill job yet."
INVALID_CONSEQUENCE = "Nothing was checked, so readiness is unknown; do not start a Powerdrill job yet."

# `pd-mcp check` runs in a terminal and reads that shell's environment, never the host's entry.
CHECK_IN_A_TERMINAL = (
    "in a terminal with the same variables set as in that entry, since it reads the terminal's "
    "environment, not the host's settings"
)
_CONFIG_FIX = (
    "in pd-mcp's entry in their MCP host's settings, restart the host and run `pd-mcp check` "
    f"{CHECK_IN_A_TERMINAL}; never ask for the key in this chat"
)

# Said only when the error carries a trace id (the text shows it); dropped otherwise.
TRACE_FOR_SUPPORT = " and give them the trace id for Powerdrill support"

# The one next step for each class of `errors.py`, by class name; a class without its own entry
# uses its nearest base class's. Every class in errors.py has an entry (a test checks).
ERROR_NEXT_STEP: dict[str, str] = {
    "PdMcpError": "Call again at most once; if it fails again, tell the user the check failed.",
    "ConfigError": f"Ask the user to fix each variable named above {_CONFIG_FIX}.",
    "InvalidArgument": "Ask the user for the exact value; do not guess one.",
    "UpstreamError": (
        f"Tell the user what Powerdrill answered{TRACE_FOR_SUPPORT}; calling again with the same id will not "
        "help."
    ),
    "AuthenticationError": (
        "Powerdrill refused the API key or user id: ask the user to correct POWERDRILL_PROJECT_API_KEY "
        f"and POWERDRILL_USER_ID {_CONFIG_FIX}."
    ),
    "PermissionDenied": (
        "This API key cannot read that dataset (it may belong to another Powerdrill project, or the id "
        "may be mistyped): ask the user to confirm the id, or to set the key of the dataset's project "
        f"{_CONFIG_FIX}; calling again with the same id and settings will not help."
    ),
    "DatasetNotFound": (
        "Ask the user for the exact dataset id, not its name (do not guess one); it must belong to the "
        "project of this API key, and calling again with the same id will not help."
    ),
    "BadRequest": (
        "Ask the user to confirm the dataset id, and that POWERDRILL_USER_ID is right in pd-mcp's entry "
        "in their MCP host's settings (after a change: restart the host and run `pd-mcp check` "
        f"{CHECK_IN_A_TERMINAL}; never ask for the key in this chat); if both are right, tell the user"
        f"{TRACE_FOR_SUPPORT}."
    ),
    "RateLimited": (
        "pd-mcp already retried: call again at most once, and if it fails again, tell the user "
        "Powerdrill is busy and that you can check again when they ask in a few minutes."
    ),
    "UpstreamUnavailable": (
        "pd-mcp already retried: call again at most once, and if it fails again, tell the user Powerdrill "
        f"is having trouble{TRACE_FOR_SUPPORT}."
    ),
    "NetworkError": (
        "Call again at most once; if it fails again, tell the user Powerdrill cannot be reached and ask "
        "them to check the network and, if they set one, POWERDRILL_API_URL in pd-mcp's entry in their MCP "
        f"host's settings (after a change: restart the host and run `pd-mcp check` {CHECK_IN_A_TERMINAL})."
    ),
    "RequestTimedOut": (
        "Call again at most once and follow the result it returns; if that call also ends in an error, tell "
        "the user Powerdrill is slow to answer and that you can check again when they ask in a few minutes."
    ),
    "BudgetTimedOut": (
        "Call again at most once, waiting for one dataset at a time (raise timeout_seconds above 45 only "
        "if the host allows longer calls) and follow the result it returns; if that call also ends in an "
        "error, tell the user pd-mcp is busy and that you can check again when they ask."
    ),
    "Redirected": (
        f"Ask the user to correct POWERDRILL_API_URL, or remove it so pd-mcp uses Powerdrill's default "
        f"address, {_CONFIG_FIX}; calling again will not help."
    ),
    "MalformedResponse": (
        "Call again at most once; if it fails again, tell the user Powerdrill's answer could not be read"
        f"{TRACE_FOR_SUPPORT}."
    ),
}

# InvalidArgument's next step depends on the argument.
INVALID_NEXT_STEP: dict[str, str] = {
    "dataset_id": (
        "Ask the user for the exact dataset id as Powerdrill shows it (do not guess or shorten one); "
        "if they gave a dataset name, ask for its id."
    ),
    # No id, or an empty one: the user's sentence asks for the id, so it is passed on only when the
    # assistant does not have the id (say so, or a model that knows it would ask anyway).
    "dataset_id:missing": (
        "Call again with dataset_id if this conversation already gave it (then do not pass on the "
        "user_message line); ask the user for it only if you do not have it (do not guess one), and then "
        "pass that line on as it is."
    ),
    "dataset_id:empty": (
        "Ask the user for the exact dataset id only if this conversation has not given it (do not guess "
        "one), and then pass the user_message line on as it is; if it has, call again with that id and "
        "do not pass the line on."
    ),
    # Not a string (a number, a list, null): the call's form was wrong, not necessarily the id.
    "dataset_id:type": (
        "Call again with dataset_id as a JSON string holding the exact id as Powerdrill shows it (the "
        'number 42 becomes "42") and do not pass on the user_message line; if this conversation has not '
        "given the id, ask the user for it instead (do not guess one)."
    ),
    "timeout_seconds": (
        f"Call {WAIT_TOOL} again without timeout_seconds (45 s), or with at most 900 only if the host "
        "allows calls that long (then do not pass on the user_message line)."
    ),
    "arguments": (
        f"Call again with arguments as an object holding dataset_id and, for {WAIT_TOOL}, timeout_seconds "
        "if you set one (then do not pass on the user_message line)."
    ),
    "unexpected": (
        f"Call again without the unexpected argument, with only dataset_id and, for {WAIT_TOOL}, "
        "timeout_seconds if you set one (then do not pass on the user_message line)."
    ),
}


# One plain sentence for the user per class of `errors.py` (same lookup as the next step): no tool
# names, no field or variable names, never a request for the key. `{subject}` is "dataset ID" or
# "the dataset". An error result carries it as the last line of its text (`USER_LINE`), since an
# isError result has no structured content.
ERROR_USER_MESSAGE: dict[str, str] = {
    "PdMcpError": (
        "Checking {subject} failed just now, so it is not known yet whether it is ready for analysis."
    ),
    "ConfigError": (
        "pd-mcp's setup in this app is incomplete or wrong, so {subject} could not be checked; it needs "
        "fixing in this app's settings for pd-mcp, followed by a restart of the app."
    ),
    "InvalidArgument": (
        "The check was not run because of a mistake in the request, so it is not known yet whether "
        "{subject} is ready for analysis."
    ),
    "UpstreamError": (
        "Powerdrill returned an unexpected error for {subject}, so it is not known whether it is ready "
        "for analysis."
    ),
    "AuthenticationError": (
        "Powerdrill did not accept the API key or user id that pd-mcp is set up with, so {subject} could "
        "not be checked; they need correcting in this app's settings for pd-mcp, followed by a restart."
    ),
    "PermissionDenied": (
        "The Powerdrill API key pd-mcp uses cannot open {subject}, so its readiness is unknown: the "
        "dataset may belong to another Powerdrill project, or its id may be mistyped."
    ),
    "DatasetNotFound": (
        "Powerdrill found no dataset with that id in this project, so nothing could be checked; please "
        "give the dataset's exact id (not its name)."
    ),
    "BadRequest": (
        "Powerdrill rejected the request for {subject}, so its readiness is unknown; the dataset id or "
        "the user id pd-mcp is set up with may be wrong."
    ),
    "RateLimited": (
        "Powerdrill is busy right now, so {subject} could not be checked; it is worth trying again in a "
        "little while."
    ),
    "UpstreamUnavailable": (
        "Powerdrill is having trouble right now, so {subject} could not be checked; it is worth trying "
        "again later."
    ),
    "NetworkError": (
        "Powerdrill could not be reached, so {subject} could not be checked; the network connection or "
        "the Powerdrill address pd-mcp is set up with may need checking."
    ),
    "RequestTimedOut": (
        "Powerdrill took too long to answer, so {subject} could not be checked; it is worth trying again "
        "later."
    ),
    "BudgetTimedOut": (
        "Too many checks were running at once in pd-mcp, so {subject} was not checked in time; it is not "
        "known yet whether it is ready for analysis."
    ),
    "Redirected": (
        "The Powerdrill address pd-mcp is set up with looks wrong, so {subject} could not be checked; it "
        "needs correcting in this app's settings for pd-mcp, followed by a restart of the app."
    ),
    "MalformedResponse": (
        "Powerdrill sent an answer pd-mcp could not read, so {subject} could not be checked; it is worth "
        "trying again later."
    ),
}

# InvalidArgument's sentence for the user depends on the argument; the others use the class's.
# No id (or an empty one): it asks the user for the id, so the model's step passes it on only when
# the assistant does not have the id (INVALID_NEXT_STEP says so).
_NO_ID_GIVEN = (
    "No dataset id was given, so nothing was checked; please give the dataset's exact id as Powerdrill "
    "shows it (not its name)."
)
INVALID_USER_MESSAGE: dict[str, str] = {
    "dataset_id": (
        "That dataset id is not one Powerdrill could have given, so nothing was checked; please give the "
        "dataset's exact id as Powerdrill shows it (not its name)."
    ),
    "dataset_id:missing": _NO_ID_GIVEN,
    # Sent in the wrong form by the assistant: nothing for the user to correct.
    "dataset_id:type": (
        "The dataset could not be checked yet because its id was sent in the wrong form, so it is not known "
        "yet whether it is ready for analysis."
    ),
    # An empty or blank id: for the user, no id was given at all.
    "dataset_id:empty": _NO_ID_GIVEN,
}

BUG_USER_MESSAGE = (
    "pd-mcp hit an internal error, so {subject} could not be checked; this is a bug in pd-mcp, not a "
    "problem with your files."
)


def error_subject(dataset_id: str | None) -> str:
    return f"dataset {dataset_id}" if dataset_id else "the dataset"


def user_error_message(cls: type, dataset_id: str | None, argument: str | None = None) -> str:
    """The user's sentence for an error class; `dataset_id` only when it is a valid id."""
    template = INVALID_USER_MESSAGE.get(argument or "")
    if template is None:
        template = next(
            (ERROR_USER_MESSAGE[k.__name__] for k in cls.__mro__ if k.__name__ in ERROR_USER_MESSAGE),
            ERROR_USER_MESSAGE["PdMcpError"],
        )
    return template.format(subject=error_subject(dataset_id))


def bug_user_message(dataset_id: str | None) -> str:
    return BUG_USER_MESSAGE.format(subject=error_subject(dataset_id))


def user_line(sentence: str) -> str:
    """The last line of an error result's text: the user's sentence, labelled as in reports."""
    return f"user_message: {sentence}"


def next_step_for(cls: type) -> str:
    """The next step of an error class, from its nearest class with an entry."""
    for klass in cls.__mro__:
        if klass.__name__ in ERROR_NEXT_STEP:
            return ERROR_NEXT_STEP[klass.__name__]
    return ERROR_NEXT_STEP["PdMcpError"]


# --- subscription refusals (JSON-RPC errors of resources/subscribe and subscriptions/listen) --------

SUBSCRIPTION_CONSEQUENCE = (
    "No subscription was made, so no update will say when the dataset is ready; do not start a "
    "Powerdrill job until a check says so."
)
SUBSCRIBE_STATELESS = "This server keeps no sessions (stateless HTTP), so it cannot send resource updates."
SUBSCRIBE_NOT_SERVING = "pd-mcp is not serving subscriptions right now (the server is starting or stopping)."
SUBSCRIBE_INSTEAD = f"Call {WAIT_TOOL} instead."
SUBSCRIBE_BAD_URI_STEP = (
    "Subscribe again to powerdrill://datasets/{dataset_id}/status (pd-mcp's only resource) with the "
    f"exact dataset id (ask the user for it; do not guess one), or call {WAIT_TOOL}."
)


def subscribe_instead(dataset_id: str) -> str:
    """The next step for a refused URI that names a valid dataset id: the exact URI to use."""
    return (
        f"Subscribe to powerdrill://datasets/{dataset_id}/status instead (pd-mcp's only resource), or "
        f"call {WAIT_TOOL}."
    )


def subscribe_too_many(following: int, most: int) -> tuple[str, str]:
    """The state and the next step when a session already follows the most datasets allowed."""
    return (
        f"This session already follows {following} datasets, the most pd-mcp allows"
        + ("." if following == most else f" ({most})."),
        f"Call {WAIT_TOOL} for this dataset, or unsubscribe from one the user no longer needs first.",
    )


def not_our_resource(uri: str) -> str:
    return f"{uri!r} is not a resource pd-mcp serves."


def subscription_refused(state: str, next_step: str) -> str:
    """A refused subscription: the state, that no update will come (so no job yet), and the next step."""
    return f"{state.rstrip()} {SUBSCRIPTION_CONSEQUENCE} {next_step}"


def gave_up(attempts: int, elapsed: float, limit: str | None) -> str:
    bound = f", the limit is {limit}" if limit else ""
    return f"gave up after {attempts} attempts in {elapsed:.1f} s{bound}"


def bug_message(kind: str, action: str) -> str:
    """An unexpected failure inside pd-mcp (a bug), never a traceback."""
    return (
        f"pd-mcp failed unexpectedly ({kind}) while trying to {action} the dataset; this is a bug in "
        f"pd-mcp, not a problem with the dataset. {ERROR_CONSEQUENCE} Call again at most once; if it fails "
        "again, tell the user pd-mcp has a bug."
    )


# --- server log lines ------------------------------------------------------------------------------

# The HTTP server could not accept a connection for want of file descriptors (once per interval).
OUT_OF_DESCRIPTORS = (
    "out of file descriptors (%s): new connections wait until some close; raise the limit "
    "(ulimit -n) or lower PD_MCP_HTTP_MAX_CONNECTIONS"
)

# The JSON-RPC error for a request line the SDK cannot read (it would drop it and the host would wait).
INVALID_REQUEST_MESSAGE = (
    "Invalid request: not an MCP JSON-RPC 2.0 request (a string method and, if any, object params)"
)

# JSON-RPC errors (id null) for a stdin line that is no JSON-RPC message: what a client developer
# reads when a message was malformed. Short; each says what was wrong with the line.
WIRE_NOT_JSON = "Parse error: not JSON (pd-mcp reads one JSON-RPC message per line)"
WIRE_CUT_SHORT = "Parse error: not JSON, the line ends inside a value (a message split across lines?)"
WIRE_NOT_UTF8 = "Parse error: not JSON, the line is not UTF-8"
WIRE_BYTE_ORDER_MARK = "Parse error: not JSON, the line starts with a byte-order mark"
WIRE_TOO_DEEP = "Parse error: JSON nested too deeply to read"
WIRE_BATCH = (
    "Invalid request: not a JSON-RPC request object: an array (MCP has no batches; send each "
    "message on its own line)"
)
WIRE_NOT_OBJECT = "Invalid request: not a JSON-RPC request object: {kind}"
WIRE_VERSION = 'Invalid request: not a JSON-RPC request object: no "jsonrpc": "2.0"'
WIRE_NO_METHOD = "Invalid request: not a JSON-RPC request object: no string method"
WIRE_BAD_ID = "Invalid request: the id must be a string or an integer"
WIRE_PARAMS = "Invalid request: params must be an object"

# The log line (WARNING) for such a line: the reason, its length and a short scrubbed excerpt.
WIRE_REFUSED_LOG = "stdin line refused (%s), answered %s with id %s: %d bytes, starting %s"
WIRE_IGNORED_LOG = "stdin line ignored (%s), not answered: %d bytes, starting %s"
WIRE_QUIET_LOG = "%d malformed stdin lines so far; further ones are logged at debug level"
