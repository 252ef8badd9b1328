"""Every text pd-mcp can show, rendered and checked against the rules of `pd_mcp.messages`.

Rules (from the messages module's docstring): at most three sentences; no
fragment said twice; the consequence for a Powerdrill job present; for
errors a bounded retry rule, readiness unknown, no "HTTP 200" beside "error",
never asking for the key in the chat; `user_message` one sentence without tool
or field names. Rendered for every verdict, progress state and error class, in
both API versions.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import re

import pytest

from pd_mcp import errors, messages
from pd_mcp.client import classify
from pd_mcp.errors import InvalidArgument, PdMcpError, UpstreamError
from pd_mcp.models import Counts, FailedSource, StatusAnswer, WaitResult
from pd_mcp.report import build_status, error_result_text, error_text, render_text
from pd_mcp.validation import dataset_id, timeout_seconds
from pd_mcp.verdict import verdict

FIELD_AND_TOOL_NAMES = (
    # English words among the field names (ready, message, polls) may appear as words.
    *(name for name in WaitResult.model_fields if "_" in name),
    "verdict",
    "get_dataset_status",
    "wait_for_dataset_sync",
    "pd-mcp check",
    "POWERDRILL_",
)
JOB = re.compile(r"Powerdrill job")
COUNTS = {
    "ready": Counts(5, 0, 0),
    "ready-one": Counts(1, 0, 0),
    "syncing": Counts(3, 5, 0),
    "syncing-with-failed": Counts(3, 3, 2),
    "failed": Counts(0, 0, 3),
    "failed-one": Counts(0, 0, 1),
    "partially_failed": Counts(4, 0, 2),
    "many-failed": Counts(288, 0, 27),
    "empty": Counts(0, 0, 0),
}
NAMES = ["sales.csv", "q3 report.xlsx", "scan.pdf"]
# Every mix of 0, 1 and 2 synchronized, still synchronizing and failed sources: where grammar breaks.
SMALL = [Counts(s, k, f) for s, k, f in itertools.product((0, 1, 2), repeat=3)]
WHY_NO_NAMES = "Powerdrill answered with an error: server error (HTTP 502), trace id tr-4"
# Number agreement, checked mechanically: a count of 1 with a plural noun, another count with a
# singular one, "all 1", "the 1", "1 file are".
_NOUN = r"(?:data source|source|file|one|dataset|status check)"
NUMBER_ERRORS = (
    re.compile(rf"\b1 (?:[a-z]+ )?{_NOUN}s\b"),
    re.compile(rf"(?<![\d.])(?:[02-9]|\d\d+) (?:[a-z]+ )?{_NOUN}\b(?!s)"),
    re.compile(r"\b(?:all|the|of the|only the|both) 1\b", re.IGNORECASE),
    re.compile(rf"\b1 (?:[a-z]+ )?{_NOUN} are\b"),
    re.compile(r"\b(?:all|none of the) 2\b", re.IGNORECASE),  # "both" / "neither of the 2"
)


def sentences(text: str) -> list[str]:
    """Split on sentence ends; quoted names are not sentences (the sandbox's tag is counted too)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "Q", text)
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def doubled(text: str) -> list[str]:
    """Parenthesised fragments, or runs of four or more words, that occur twice."""
    found = [p for p in set(re.findall(r"\([^()]*\)", text)) if text.count(p) > 1]
    words = re.findall(r"[\w'-]+", text.lower())
    grams = [" ".join(words[i : i + 5]) for i in range(len(words) - 4)]
    found += sorted({g for g in grams if grams.count(g) > 1})
    return found


def number_errors(text: str) -> list[str]:
    return [m.group(0) for rule in NUMBER_ERRORS for m in rule.finditer(text)]


def check_grammar(text: str, counts: Counts) -> None:
    """Singular and plural agree with the counts; one failed source is "it", never "them"."""
    assert not number_errors(text), (number_errors(text), text)
    if counts.invalid == 1:
        assert not re.search(r"\b(?:them|they)\b", text), text


def check_model_text(text: str) -> None:
    assert len(sentences(text)) <= 3, sentences(text)
    assert not doubled(text), doubled(text)
    assert JOB.search(text), f"no consequence for a Powerdrill job: {text}"


def check_user_text(text: str) -> None:
    assert text and len(sentences(text)) == 1, text
    for name in FIELD_AND_TOOL_NAMES:
        assert name not in text, (name, text)
    assert "_" not in text.replace("ds-", ""), text


def _answer(counts: Counts, simulated: bool = False) -> StatusAnswer:
    """Powerdrill's answer with `counts` (the sandbox's when `simulated`)."""
    return StatusAnswer(counts=counts, trace_id="tr-1", simulated=simulated)


def _failed(counts: Counts) -> list[FailedSource]:
    return [FailedSource(id=f"s{i}", name=f"bad-{i}.csv") for i in range(min(20, counts.invalid))]


@pytest.mark.parametrize("api", ["v2", "v1"])
@pytest.mark.parametrize("case", sorted(COUNTS))
def test_every_verdict_report(case: str, api: str) -> None:
    counts = COUNTS[case]
    report = build_status("ds-7", _answer(counts), api, _failed(counts))
    check_model_text(report.message)
    check_user_text(report.user_message)
    assert report.failed_sources_total == counts.invalid
    assert report.failed_sources_truncated == (counts.invalid > 20)
    text = render_text(report)
    assert text.splitlines()[0] == report.message
    if report.failed_sources_truncated:
        assert f"the first 20 of {counts.invalid}" in text


@pytest.mark.parametrize("case", sorted(COUNTS))
def test_verdict_consequences(case: str) -> None:
    counts = COUNTS[case]
    text = messages.verdict_message("ds-7", counts, NAMES[: counts.invalid])
    rule = {
        "ready": "can start now",
        "syncing": "Do not start",
        "failed": "Do not start",
        "empty": "do not start",
        "partially_failed": "only if the user agrees",
    }[verdict(counts)]
    assert rule in text
    if counts.invalid and verdict(counts) != "ready":
        assert "waiting will not" in text.lower()


@pytest.mark.parametrize("case", sorted(COUNTS))
def test_every_progress_message(case: str) -> None:
    text = messages.progress_message("ds-7", COUNTS[case])
    assert len(sentences(text)) == 1 and not doubled(text)
    if COUNTS[case].synching:
        assert "not ready for a job" in text
    if COUNTS[case].invalid and COUNTS[case].synching:
        assert "stay failed" in text or "stays failed" in text  # a source failing mid-wait


@pytest.mark.parametrize("finished", [0, 2])
@pytest.mark.parametrize("case", ["syncing", "syncing-with-failed"])
def test_timed_out_and_restarting_messages(case: str, finished: int) -> None:
    counts = COUNTS[case]
    timed = messages.timed_out_message("ds-7", counts, 45.0, finished, NAMES[: counts.invalid])
    check_model_text(timed)
    if finished:
        assert "call wait_for_dataset_sync again" in timed and "second timed-out wait in a row" in timed
    else:
        assert "none finished" in timed and "Stop waiting" in timed
    check_model_text(messages.restarting_message("ds-7", counts, 3.0))
    check_user_text(messages.user_message("ds-7", counts, timed_out=True))


def _error_classes() -> list[type[PdMcpError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, PdMcpError)]


def test_every_error_class_has_its_own_next_step() -> None:
    missing = [c.__name__ for c in _error_classes() if c.__name__ not in messages.ERROR_NEXT_STEP]
    assert not missing, f"add a next step to messages.ERROR_NEXT_STEP for {missing}"


def _instance(cls: type[PdMcpError], simulated: bool = True) -> PdMcpError:
    """An error of `cls`; an upstream one as the sandbox answers it unless `simulated` is False."""
    if issubclass(cls, InvalidArgument):
        return cls("dataset_id", "dataset_id is not valid (it is empty).")
    if issubclass(cls, UpstreamError):
        exc = cls("Powerdrill answered with an error: server error (HTTP 502).", status=502, trace_id="tr-9")
        exc.simulated = simulated
        if cls.retryable:
            exc.attempts, exc.elapsed, exc.attempt_limit = 4, 3.2, "4 attempts or 20 s"
        return exc
    return cls("pd-mcp is not configured: POWERDRILL_USER_ID is not set.")


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_text(cls: type[PdMcpError]) -> None:
    text = error_text(_instance(cls), "ds-7")
    assert len(sentences(text)) <= 3, sentences(text)
    assert not doubled(text), doubled(text)
    assert "do not start a Powerdrill job yet" in text
    assert not re.search(r"HTTP 200\b", text)
    assert "paste" not in text
    if not issubclass(cls, InvalidArgument):
        assert "unknown" in text
    if cls.retryable:
        assert "at most once" in text
    if issubclass(cls, (errors.ConfigError, errors.AuthenticationError)):
        assert "MCP host's settings" in text and "`pd-mcp check`" in text
        assert "never ask for the key in this chat" in text


def split_error_result(text: str) -> tuple[str, str]:
    """An error result's text: the assistant's part, and the user's sentence on the last line."""
    model, _, last = text.rpartition("\n")
    assert last.startswith("user_message: "), text
    return model, last.removeprefix("user_message: ")


def check_error_user_text(text: str) -> None:
    check_user_text(text)
    assert not re.search(r"\b(?:paste|send|share|type|give)\b[^.;]*\bkey\b", text), text


@pytest.mark.parametrize("simulated", [False, True], ids=["powerdrill", "sandbox"])
@pytest.mark.parametrize("dataset", ["ds-7", None, "a/b"])
@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_result_has_a_user_message(
    cls: type[PdMcpError], dataset: str | None, simulated: bool
) -> None:
    model, user = split_error_result(error_result_text(_instance(cls, simulated), dataset))
    assert model == error_text(_instance(cls, simulated), dataset)
    check_error_user_text(user)
    sandbox = simulated and issubclass(cls, UpstreamError)
    assert ("sandbox" in user) == sandbox and ("sandbox" in model) == sandbox
    # The user's sentence names the dataset only by a valid id.
    by_id = cls not in (errors.DatasetNotFound, InvalidArgument)  # these ask for the id instead
    by_id = by_id or sandbox  # the sandbox's error names the dataset it was asked about
    assert ("dataset ds-7" in user) == (dataset == "ds-7" and by_id)
    assert "a/b" not in user


@pytest.mark.parametrize("argument", ["dataset_id", "timeout_seconds", "arguments", "unexpected"])
def test_every_invalid_argument_result_has_a_user_message(argument: str) -> None:
    _, user = split_error_result(error_result_text(InvalidArgument(argument, f"{argument} is wrong.")))
    check_error_user_text(user)
    if argument == "dataset_id":
        assert "exact id" in user


@pytest.mark.parametrize("value", [42, 4.2, None, ["ds-7"], {"id": "ds-7"}, True])
def test_a_dataset_id_that_is_not_a_string_is_sent_again_as_one_and_blames_no_user(value: object) -> None:
    """The assistant's slip (reader round 5): the step is to send the id as a string, asking the user
    only for an id the conversation has not given; the user's sentence asks nothing of them."""
    with pytest.raises(InvalidArgument) as info:
        dataset_id(value)
    assert info.value.text_key == "dataset_id:type"
    model, user = split_error_result(error_result_text(info.value))
    check_error_user_text(user)
    assert "as a JSON string" in model and 'becomes "42"' in model and not doubled(model)
    assert "if this conversation has not given the id, ask the user for it instead" in model
    assert len(sentences(model)) <= 3
    assert "please" not in user and "you" not in user.lower().split()


def test_a_bug_result_has_a_user_message_and_keeps_to_the_rules() -> None:
    model, user = split_error_result(error_result_text(ZeroDivisionError(), "ds-7", "wait for"))
    assert model == messages.bug_message("ZeroDivisionError", "wait for")
    assert len(sentences(model)) <= 3 and not doubled(model) and "unknown" in model
    check_error_user_text(user)
    assert "bug in pd-mcp" in user


def test_every_error_class_has_its_own_user_message() -> None:
    missing = [c.__name__ for c in _error_classes() if c.__name__ not in messages.ERROR_USER_MESSAGE]
    assert not missing, f"add a sentence to messages.ERROR_USER_MESSAGE for {missing}"


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", "it is empty"), ("   ", "only blank space"), ("x" * 200, "200 characters"), ("a/b", "'/'")],
)
def test_bad_dataset_ids_ask_the_user(value: str, shown: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        dataset_id(value)
    text = error_text(info.value)
    assert shown in text and "Ask the user" in text and "do not guess" in text
    assert len(sentences(text)) <= 3 and not doubled(text)


def test_bad_timeout_text() -> None:
    with pytest.raises(InvalidArgument) as info:
        timeout_seconds(5000)
    text = error_text(info.value)
    assert "between 1 and 900" in text and len(sentences(text)) <= 3 and not doubled(text)


@pytest.mark.parametrize(
    ("status", "code"), [(502, None), (500, 9999), (200, 300002), (200, 300003), (403, 1004), (429, 201)]
)
def test_upstream_answers_render_cleanly(status: int, code: int | None) -> None:
    body = json.dumps({"code": code, "message": "boom"}).encode() if code is not None else b"<html>502</html>"
    with pytest.raises(UpstreamError) as info:
        classify(status, body, {}, "tr-3")
    text = error_text(info.value, "ds-7")
    assert not doubled(text), doubled(text)
    assert "HTTP 200" not in text
    assert len(sentences(text)) <= 3, sentences(text)


def _small_id(counts: Counts) -> str:
    return f"{counts.synched}-{counts.synching}-{counts.invalid}"


@pytest.mark.parametrize("counts", SMALL, ids=_small_id)
def test_counts_of_zero_one_and_two_read_correctly(counts: Counts) -> None:
    names = NAMES[: counts.invalid]
    texts = [
        messages.verdict_message("ds-7", counts, names),
        messages.verdict_message("ds-7", counts, [], WHY_NO_NAMES),
        messages.progress_message("ds-7", counts),
        messages.user_message("ds-7", counts),
    ]
    if counts.synching:
        texts += [messages.timed_out_message("ds-7", counts, 45.0, finished, names) for finished in (0, 1, 2)]
        texts += [
            messages.restarting_message("ds-7", counts, 3.0, names),
            messages.user_message("ds-7", counts, timed_out=True),
        ]
    for text in texts:
        check_grammar(text, counts)
        assert not doubled(text), doubled(text)
        assert len(sentences(text)) <= 3, sentences(text)


@pytest.mark.parametrize("counts", [c for c in SMALL if c.invalid], ids=_small_id)
def test_a_report_without_the_failed_names_says_why_in_three_sentences(counts: Counts) -> None:
    report = build_status("ds-7", _answer(counts), "v2", [], WHY_NO_NAMES)
    check_model_text(report.message)
    assert "could not be fetched" in report.message and "tr-4" in report.message
    # Nothing asks the assistant to name files it was not given.
    assert "which file" not in report.message
    timed = messages.timed_out_message("ds-7", counts, 45.0, 0, [], messages.NAMES_NOT_IN_TIME)
    if counts.synching:
        check_model_text(timed)
        assert "could not be fetched: the wait's deadline came first" in timed


@pytest.mark.parametrize("timed_out", [True, False])
@pytest.mark.parametrize(("polls", "finished"), [(0, 0), (1, 1), (2, 2)])
def test_text_block_lines_agree_in_number(polls: int, finished: int, timed_out: bool) -> None:
    counts = Counts(finished, 1 if timed_out else 0, 0)
    report = build_status("ds-7", _answer(counts), "v2", [])
    result = WaitResult(
        **report.model_dump(),
        timed_out=timed_out,
        waited_seconds=3.0,
        polls=polls,
        finished_during_wait=finished,
    )
    text = render_text(result)
    assert not number_errors(text), (number_errors(text), text)
    assert "syncing" not in text.replace("Verdict: syncing", ""), text  # the vocabulary


def test_a_wait_cut_short_by_a_restart_is_exempt_once_and_the_rules_say_so() -> None:
    """The text's exemption must be one the instructions and the wait's description grant, with a cap."""
    text = messages.restarting_message("ds-7", Counts(1, 2, 0), 0.0)
    check_model_text(text)
    assert "again once" in text and "if that one is also cut short, stop and tell the user" in text
    for rules in (messages.INSTRUCTIONS, messages.WAIT_DESCRIPTION, messages.TIMEOUT_DESCRIPTION):
        assert "exempt" in rules and "once" in rules
    for rules in (messages.INSTRUCTIONS, messages.WAIT_DESCRIPTION):
        assert "cut_short_by_restart" in rules
    assert "cut_short_by_restart" in WaitResult.model_fields


RESTART_NOT_COUNTED = "does not count as a timed-out wait"
RESTART_SKIPPED = "skip it when counting waits in a row"


def test_every_text_about_a_restart_cut_wait_says_it_counts_toward_neither_stop_rule() -> None:
    """The result, the fields, the wait's description and the instructions say the same: exempt from
    both stop rules ('none finished' and 'two timed-out waits in a row'), skipped when counting a row."""
    text = messages.restarting_message("ds-7", Counts(1, 2, 0), 3.0)
    fields = WaitResult.model_fields
    everywhere = {
        "result": text,
        "cut_short_by_restart": fields["cut_short_by_restart"].description or "",
        "instructions": messages.INSTRUCTIONS,
        "wait description": messages.WAIT_DESCRIPTION,
    }
    for where, words in everywhere.items():
        flat = " ".join(words.split())
        assert "exempt from both stop rules" in flat, where
        assert RESTART_NOT_COUNTED in flat and "whatever its finished_during_wait" in flat, where
        assert RESTART_SKIPPED in flat, where
        assert "once" in flat and ("cut short too" in flat or "also cut short" in flat), where
    # The shorter places name the exemption from both rules too.
    assert (
        RESTART_NOT_COUNTED in messages.TIMEOUT_DESCRIPTION
        and "exempt from both" in messages.TIMEOUT_DESCRIPTION
    )
    assert RESTART_NOT_COUNTED in (fields["timed_out"].description or "")
    assert "exempt" in (fields["finished_during_wait"].description or "")
    assert "'none finished'" in text and "'two timed-out waits in a row'" in text
    check_model_text(text)


def test_permission_covers_another_project() -> None:
    assert "another Powerdrill project" in messages.ERROR_NEXT_STEP["PermissionDenied"]


def test_instructions_and_descriptions_carry_the_rules() -> None:
    for text in (messages.INSTRUCTIONS, messages.GET_DESCRIPTION):
        assert "partially_failed" in text and "only" in text
        assert "unknown" in text
    for text in (messages.INSTRUCTIONS, messages.WAIT_DESCRIPTION, messages.TIMEOUT_DESCRIPTION):
        assert "none finished" in text and "two timed-out waits in a row" in text
    assert "cannot run" in messages.INSTRUCTIONS and "ask them for the id" in messages.INSTRUCTIONS
    assert "never ask the user for an API key" in messages.INSTRUCTIONS
    assert "Every result's text ends with a line `user_message: ...`" in messages.INSTRUCTIONS
    # Subscriptions: only when updates actually arrive, and after each one.
    assert "Only if you receive update notifications" in messages.INSTRUCTIONS
    assert "after each update, read the resource" in messages.INSTRUCTIONS
    assert "there is at least one" in WaitResult.model_fields["ready"].description  # type: ignore[operator]
    # `failed` and `empty` are outside the consent path.
    assert "`failed` or `empty`: do not start" in messages.INSTRUCTIONS


def _refusals() -> dict[str, str]:
    """Every refusal text of a subscription, as the JSON-RPC error carries it."""
    from pd_mcp.live import SubscriptionRefused, dataset_of
    from pd_mcp.subscriptions import _refuse

    found: dict[str, str] = {}
    for bad in ("powerdrill://datasets/ds-1/sources", "powerdrill://datasets/a%2Fb/status"):
        with pytest.raises(InvalidArgument) as info:
            dataset_of(bad)
        found[bad] = _refuse(info.value).error.message
    state, step = messages.subscribe_too_many(20, 20)
    found["too many"] = _refuse(SubscriptionRefused(state, step)).error.message
    not_serving = SubscriptionRefused(messages.SUBSCRIBE_NOT_SERVING, messages.SUBSCRIBE_INSTEAD)
    found["not serving"] = _refuse(not_serving).error.message
    found["stateless"] = messages.subscription_refused(
        messages.SUBSCRIBE_STATELESS, messages.SUBSCRIBE_INSTEAD
    )
    return found


@pytest.mark.parametrize("case", sorted(_refusals()))
def test_every_subscription_refusal_says_state_consequence_and_next_step(case: str) -> None:
    text = _refusals()[case]
    check_model_text(text)
    assert len(sentences(text)) == 3, sentences(text)
    assert "No subscription was made" in text and "do not start a Powerdrill job" in text
    assert "wait_for_dataset_sync" in text


@pytest.mark.parametrize("counts", SMALL, ids=_small_id)
def test_command_line_lines_use_the_vocabulary_and_agree_in_number(counts: Counts) -> None:
    from pd_mcp.commandline.report_cmd import render_for_person

    report = build_status("ds-7", _answer(counts), "v2", _failed(counts))
    waited = WaitResult(
        **report.model_dump(),
        timed_out=bool(counts.synching),
        waited_seconds=3.0,
        polls=1,
        finished_during_wait=1,
    )
    for text in (render_for_person(report), render_for_person(waited), messages.cli_waiting("ds-7", 30)):
        assert "syncing" not in text, text
        check_grammar(text.replace("(their names could not be fetched)", ""), counts)


@pytest.mark.parametrize("error", [False, True])
@pytest.mark.parametrize("seconds", [1.0, 29.2, 30.0, 31.0, 60.0, 900.0])
def test_a_pause_past_the_deadline_asks_for_a_wait_that_sits_it_out_never_for_sleeping(
    seconds: float, error: bool
) -> None:
    """A model cannot wait N seconds on its own: the rule is a wait long enough to sit the pause out,
    and beyond the default 45 s only where the host allows calls that long (the parameter's advice)."""
    rule = messages.come_back_rule(seconds, error=error)
    assert len(sentences(rule)) == 1 and "not sooner" not in rule and not doubled(rule)
    longer = math.ceil(seconds) + 15
    if longer <= 45:
        assert f"timeout_seconds left out (45 s) or at least {longer}" in rule
        assert "host allows" not in rule
    elif longer <= 900:
        assert f"timeout_seconds of at least {longer}" in rule
        assert f"only if you know the host allows calls of {longer} s or more" in rule
        assert "if you are not sure, or" in rule  # a host that may not: stop now
    else:
        assert "stop and tell the user" in rule and "timeout_seconds" not in rule
    if error and longer <= 900:  # an error: the retry rule of errors (once), not the waits-in-a-row rule
        assert "once more" in rule and "also ends in an error, stop" in rule and "in a row" not in rule
        assert "follow the result it returns" in rule  # a timed-out result has its own next step
    text = messages.timed_out_message("ds-7", Counts(1, 2, 0), 12.0, 0, come_back=seconds)
    check_model_text(text)
    assert "Powerdrill asked for a" in text and "ended early" in text


@pytest.mark.parametrize("case", sorted(COUNTS))
def test_a_success_text_ends_with_the_user_sentence_as_an_error_text_does(case: str) -> None:
    """A host that shows only the text block still shows the user's sentence (instructions promise it)."""
    report = build_status("ds-7", _answer(COUNTS[case]), "v2", _failed(COUNTS[case]))
    assert render_text(report).splitlines()[-1] == f"user_message: {report.user_message}"


@pytest.mark.parametrize("case", sorted(COUNTS))
def test_the_sandbox_tag_rides_on_the_trace_line_never_as_a_fourth_sentence(case: str) -> None:
    counts = COUNTS[case]
    report = build_status("ds-7", _answer(counts, simulated=True), "v2", [], WHY_NO_NAMES)
    assert report.simulated
    check_model_text(report.message)
    # Reader round 10: where a real job could start, the sandbox's verdict says none can.
    # Rounds 13 and 15: whatever the verdict, the message says pd-mcp is on the sandbox, and where a
    # job could start (now, or once synchronizing ends) that none can; no step acts on Powerdrill.
    could_start = verdict(counts) in ("ready", "partially_failed", "syncing")
    assert ("no real Powerdrill job can run" in report.message) == could_start, report.message
    assert "job can start now" not in report.message and "in Powerdrill" not in report.message
    assert "pd-mcp is pointed at the sandbox" in report.message, report.message
    (checked,) = [line for line in render_text(report).splitlines() if line.startswith("Powerdrill trace id")]
    assert messages.SIMULATED_FACT in checked and len(sentences(checked)) == 2
    real = build_status("ds-7", StatusAnswer(counts=counts, trace_id="tr-1"), "v2", [])
    assert "sandbox" not in render_text(real)


@pytest.mark.parametrize("case", sorted(COUNTS))
def test_the_user_is_told_too_when_the_data_is_the_sandboxs(case: str) -> None:
    """Reader round 9: a sandbox `ready` must not reach the user as their data being ready."""
    counts = COUNTS[case]
    report = build_status("ds-7", _answer(counts, simulated=True), "v2", [], WHY_NO_NAMES)
    check_user_text(report.user_message)
    # Reader rounds 11 and 12: whatever the verdict, nothing the user could do leads to a real analysis.
    assert report.user_message.endswith("so no real analysis can run on it."), report.user_message
    assert "simulated data in pd-mcp's sandbox" in report.user_message
    for promise in ("can be analysed", "go ahead", "has to wait", "may help", "until some are added"):
        assert promise not in report.user_message, report.user_message
    real = build_status("ds-7", StatusAnswer(counts=counts, trace_id="tr-1"), "v2", [])
    assert "sandbox" not in real.user_message
    assert "`simulated: true`" in messages.INSTRUCTIONS and "no real Powerdrill job can run" in (
        messages.INSTRUCTIONS
    )


@pytest.mark.parametrize("cls", [c for c in _error_classes() if issubclass(c, UpstreamError)])
def test_a_sandbox_error_keeps_three_sentences_with_its_tag(cls: type[PdMcpError]) -> None:
    text = error_text(_instance(cls), "ds-7")  # _instance marks it simulated
    assert messages.SIMULATED_FACT in text and len(sentences(text)) <= 3, sentences(text)
    # Reader round 10: the step says the answer is the sandbox's, and so does the user's sentence.
    # Round 16: a dataset the sandbox does not have is not the user's to correct.
    unknown = issubclass(cls, errors.DatasetNotFound | errors.PermissionDenied)
    tail = messages.SANDBOX_UNKNOWN_DATASET_STEP if unknown else messages.SANDBOX_ERROR_STEP
    assert text.endswith(tail) and not doubled(text), text
    assert ("Ask the user" not in text) or not unknown, text
    _, user = split_error_result(error_result_text(_instance(cls), "ds-7"))
    assert user == messages.SANDBOX_ERROR_USER.format(subject="dataset ds-7"), user
    check_error_user_text(user)


@pytest.mark.parametrize(
    ("status", "code", "said", "shown"),
    [
        (500, 9999, "internal error", None),
        (200, 300003, "dataset not found", None),
        (200, 300003, "Dataset Not Found.", None),
        (403, 1004, "bad credentials: the API key is not valid", '"the API key is not valid"'),
        (200, 300003, "resource not found", '"resource not found"'),
        (200, 77777, "odd", '"odd"'),
    ],
)
def test_powerdrills_words_are_quoted_only_when_they_add_to_the_label(
    status: int, code: int, said: str, shown: str | None
) -> None:
    with pytest.raises(UpstreamError) as info:
        classify(status, json.dumps({"code": code, "message": said}).encode(), {}, "tr-3")
    message = info.value.message
    label, _, quote = message.partition(")")
    if shown is None:
        assert '"' not in message, message
    else:
        assert quote.startswith(f": {shown}"), message
        first = re.findall(r"[a-z]+", shown.lower())[0]
        assert not label.lower().split(": ", 1)[1].startswith(first) or first == "the", message


@pytest.mark.parametrize("counts", [Counts(2, 0, 0), Counts(0, 0, 2)], ids=_small_id)
def test_two_sources_are_both_or_neither_never_all_2(counts: Counts) -> None:
    for text in (
        messages.verdict_message("ds-7", counts, NAMES[: counts.invalid]),
        messages.user_message("ds-7", counts),
    ):
        assert not number_errors(text), (number_errors(text), text)
        assert re.search(r"\b(?:both|Neither)\b", text), text


@pytest.mark.parametrize("counts", [Counts(0, 0, 1), Counts(0, 0, 3)], ids=_small_id)
@pytest.mark.parametrize("named", [True, False])
def test_a_failed_dataset_is_checked_again_only_after_the_user_replaced_files(
    counts: Counts, named: bool
) -> None:
    names = NAMES[: counts.invalid] if named else []
    text = messages.verdict_message("ds-7", counts, names, "" if named else WHY_NO_NAMES)
    assert re.search(
        r"check again once the user says the files? (?:was|were) replaced or re-added\.$", text
    ), text
    check_model_text(text)
    check_grammar(text, counts)


@pytest.mark.parametrize("finished", [0, 2])
@pytest.mark.parametrize("seconds", [1.0, 30.0, 60.0])
def test_an_early_end_for_a_pause_counts_toward_the_two_timed_out_waits_not_the_none_finished_rule(
    seconds: float, finished: int
) -> None:
    rule = messages.come_back_rule(seconds, finished=finished)
    assert "counts as a timed-out wait" in rule and "the next one also times out, stop" in rule
    # A pause after a first timed-out wait must not lead to a third wait (the stop rule).
    assert rule.index("unless it was your second timed-out wait in a row") < rule.index("call ")
    # Ended by the pause, not by a lack of progress: the none-finished stop rule is lifted, and said so.
    assert ("not as one in which none finished" in rule) == (finished == 0)
    assert "Powerdrill asks for a pause past" in messages.WAIT_DESCRIPTION
    assert "not as one in which none finished" in messages.WAIT_DESCRIPTION
    assert "pause ended early (its message says so) counts as a timed-out wait but not as one" in (
        messages.INSTRUCTIONS
    )
    assert "Powerdrill asked for a pause past" in (WaitResult.model_fields["timed_out"].description or "")


@pytest.mark.parametrize("tool", ["get_dataset_status", "wait_for_dataset_sync"])
def test_a_missing_dataset_id_asks_to_call_again_and_the_user_only_if_needed(tool: str) -> None:
    from pd_mcp.validation import tool_arguments

    with pytest.raises(InvalidArgument) as info:
        tool_arguments(tool, {})
    model, user = split_error_result(error_result_text(info.value))
    assert "ask the user for it only if you do not have it" in model and len(sentences(model)) <= 3
    check_error_user_text(user)
    assert user.startswith("No dataset id was given") and "That dataset id" not in user


def test_error_next_steps_say_who_checks_later_and_when_calling_again_can_help() -> None:
    for cls in _error_classes():
        step = messages.next_step_for(cls)
        assert "check later" not in step, (cls.__name__, step)
        # "will not help" must say what would not change: only an id, settings or the request.
        if "will not help" in step:
            assert re.search(r"(?:same id|unchanged)[^.;]*will not help|again will not help", step), step
    assert "same id and settings will not help" in messages.next_step_for(errors.PermissionDenied)
    assert "each variable named above" in messages.next_step_for(errors.ConfigError)
    for cls in (errors.RateLimited, errors.RequestTimedOut):
        assert "you can check again when they ask" in messages.next_step_for(cls)


def test_user_sentences_of_an_unknown_error_and_a_full_queue_promise_nothing_the_user_cannot_do() -> None:
    unknown = messages.user_error_message(errors.UpstreamError, "ds-7")
    assert "refused" not in unknown and "unexpected error" in unknown
    queued = messages.user_error_message(errors.BudgetTimedOut, "ds-7")
    assert "fewer" not in queued and "not known yet" in queued
    text = error_text(errors.BudgetTimedOut(messages.BUDGET_QUEUE_TIMED_OUT), "ds-7", "wait for")
    assert "no request was sent" not in text and "that poll was never sent" in text
    assert "PD_MCP_RATE_LIMIT" not in text  # a number's place, not a variable name
    assert "if that call also ends in an error, tell the user" in text  # a rule for a second failure too
    assert "follow the result it returns" in text  # a timed-out result of the retry has its own step


def test_a_redirect_and_an_empty_dataset_say_what_to_do_and_when() -> None:
    redirect = messages.next_step_for(errors.Redirected)
    assert "remove it so pd-mcp uses Powerdrill's default" in redirect
    empty = messages.verdict_message("ds-1", Counts(0, 0, 0), [])
    assert "check again once the user says files were added" in empty


def test_a_refused_uri_that_names_a_valid_id_gets_the_exact_uri_to_use() -> None:
    text = _refusals()["powerdrill://datasets/ds-1/sources"]
    assert "Subscribe to powerdrill://datasets/ds-1/status instead" in text and "ask the user" not in text
    bad = _refusals()["powerdrill://datasets/a%2Fb/status"]  # no usable id: the general step
    assert "{dataset_id}" in bad and "ask the user" in bad


def test_the_wait_line_of_a_restart_cut_wait_names_the_restart() -> None:
    report = build_status("ds-7", _answer(Counts(1, 2, 0)), "v2", [])
    fields = dict(timed_out=True, waited_seconds=3.0, polls=1, finished_during_wait=0)
    cut = render_text(WaitResult(**report.model_dump(), cut_short_by_restart=True, **fields))
    plain = render_text(WaitResult(**report.model_dump(), **fields))
    assert "restart cut the wait short" in cut and "restart" not in plain


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_dataset_id_tells_the_user_no_id_was_given(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        dataset_id(value)
    model, user = split_error_result(error_result_text(info.value))
    assert "Ask the user for the exact dataset id" in model
    check_error_user_text(user)
    assert user.startswith("No dataset id was given") and "That dataset id" not in user


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("get_dataset_status", {}),
        ("wait_for_dataset_sync", {"dataset_id": ""}),
        ("get_dataset_status", {"dataset_id": "   "}),
    ],
)
def test_no_id_the_user_is_asked_only_by_an_assistant_without_one(
    tool: str, arguments: dict[str, str]
) -> None:
    """The user's sentence asks for the id; the model's step says to pass it on only when the
    conversation has not given the id, and otherwise to call again with it and keep the line back."""
    from pd_mcp.validation import tool_arguments

    with pytest.raises(InvalidArgument) as info:
        tool_arguments(tool, arguments)
    model, user = split_error_result(error_result_text(info.value))
    step = messages.INVALID_NEXT_STEP[info.value.text_key]
    assert step in model and len(sentences(model)) <= 3 and not doubled(model)
    assert "only if" in step and "do not guess" in step
    assert "call again with" in step.lower() and "this conversation" in step
    # Both branches say what to do with the user's sentence.
    assert "do not pass on the user_message line" in step or "do not pass the line on" in step
    assert "pass the user_message line on as it is" in step or "pass that line on as it is" in step
    check_error_user_text(user)
    assert "please give the dataset's exact id" in user  # right to pass on only to a user asked for it


def test_no_error_step_suggests_a_longer_wait_than_the_host_allows() -> None:
    """The parameter's advice is to keep 45 s; no next step may invite more without that condition."""
    for cls in _error_classes():
        step = messages.next_step_for(cls)
        assert "longer timeout_seconds" not in step, (cls.__name__, step)
        if "timeout_seconds" in step:
            assert "only if the host allows" in step, (cls.__name__, step)
    with pytest.raises(InvalidArgument) as info:
        timeout_seconds(5000)
    step = messages.INVALID_NEXT_STEP[info.value.text_key]
    assert "without timeout_seconds" in step and "only if the host allows" in step


def test_a_cut_failed_list_says_how_many_names_are_left_out() -> None:
    counts = Counts(288, 0, 27)
    failed = [FailedSource(id=f"s{i}", name=f"bad-{i}.csv") for i in range(20)]
    text = build_status("ds-7", _answer(counts), "v2", failed).message
    # Reader round 13: the sentence's five names and the list's twenty must not read as two counts.
    assert "'bad-4.csv' and 15 more in failed_sources; 7 more not named)" in text
    assert "(failed_sources names the first 20; the other 7 are not named anywhere)" in text
    check_model_text(text)
    every = build_status("ds-7", _answer(Counts(0, 0, 27)), "v2", failed).message
    assert "(failed_sources names the first 20; the other 7 are not named anywhere; they may need" in every
    check_model_text(every)


def test_settings_fixes_say_to_restart_and_check() -> None:
    for name in ("BadRequest", "NetworkError"):
        step = messages.ERROR_NEXT_STEP[name]
        assert "in their MCP host's settings" in step and "restart the host and run `pd-mcp check`" in step
    assert "trace id" in messages.ERROR_NEXT_STEP["BadRequest"]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_pointer_to_pd_mcp_check_says_it_runs_in_a_terminal_with_the_same_variables(
    cls: type[PdMcpError],
) -> None:
    """`pd-mcp check` reads the shell it runs in, never the host's entry: a user who runs it bare is
    told the variables are not set although the host has them."""
    text = error_text(_instance(cls), "ds-7")
    if "pd-mcp check" not in text:
        return
    assert text.count("pd-mcp check") == 1, text
    assert "`pd-mcp check` in a terminal with the same variables set as in that entry" in text, text
    assert "reads the terminal's environment, not the host's settings" in text, text
    assert len(sentences(text)) <= 3 and not doubled(text), text


def test_a_bug_says_retry_once_then_tell_the_user() -> None:
    text = messages.bug_message("KeyError", "check")
    assert "Call again at most once; if it fails again, tell the user pd-mcp has a bug." in text
    assert len(sentences(text)) <= 3


@pytest.mark.parametrize("name", ["UpstreamUnavailable", "MalformedResponse", "BadRequest"])
def test_the_trace_id_for_support_is_asked_for_only_when_the_text_shows_one(name: str) -> None:
    """Reader round 5: 'give them the trace id' with no trace id anywhere in the text."""
    cls = getattr(errors, name)
    assert messages.TRACE_FOR_SUPPORT in messages.next_step_for(cls)
    without = error_text(cls("Powerdrill answered badly."), "ds-1")
    assert "trace id" not in without and "  " not in without and " ." not in without
    shown = error_text(cls("Powerdrill answered badly.", trace_id="tr-42"), "ds-1")
    assert "Powerdrill trace id tr-42" in shown and messages.TRACE_FOR_SUPPORT.strip() in shown


# --- reader round 6 -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [errors.RequestTimedOut, errors.BudgetTimedOut])
@pytest.mark.parametrize("timeout", [1.0, 20.0, 44.5, 45.0, 120.0])
def test_a_short_wait_that_got_no_answer_is_retried_with_the_default_timeout(
    cls: type[PdMcpError], timeout: float
) -> None:
    """A 1 s wait that timed out would be retried with the same 1 s and fail again: its step names
    the default; a wait of the default or longer keeps the class's own step."""
    step = messages.short_wait_step(cls.__name__, timeout, 45.0)
    if timeout >= 45.0:
        assert step is None
        return
    assert (
        step is not None and "timeout_seconds left out (45 s)" in step and f"had only {timeout:g} s" in step
    )
    assert "at most once" in step and len(sentences(step)) == 1 and not doubled(step)
    assert ("one dataset at a time" in step) == (cls is errors.BudgetTimedOut)


def test_only_the_wait_deadline_errors_get_the_short_wait_step() -> None:
    for cls in _error_classes():
        if cls.__name__ not in ("RequestTimedOut", "BudgetTimedOut"):
            assert messages.short_wait_step(cls.__name__, 1.0, 45.0) is None, cls


@pytest.mark.parametrize("key", ["dataset_id:type", "timeout_seconds", "arguments", "unexpected"])
def test_an_argument_slip_of_the_assistant_is_fixed_quietly(key: str) -> None:
    """A call the assistant got wrong is made again without telling the user about the slip."""
    step = messages.INVALID_NEXT_STEP[key]
    assert "do not pass on the user_message line" in step and len(sentences(step)) <= 1, step
    if key in ("arguments", "unexpected"):  # a timeout the assistant chose is kept
        assert "timeout_seconds if you set one" in step


def test_a_pause_longer_than_any_wait_reads_as_a_sentence() -> None:
    rule = messages.come_back_rule(1000.0)
    assert rule.startswith("That pause (1000 s) is longer than any wait, so stop"), rule
    assert messages.come_back_rule(1000.0, error=True).startswith(
        "Powerdrill asked for a 1000 s pause before the next request, longer than any wait, so stop"
    )


def test_the_timeout_and_finished_descriptions_name_the_pause_exception() -> None:
    """Hosts show parameter and field descriptions on their own: both carry the pause's case."""
    finished = WaitResult.model_fields["finished_during_wait"].description or ""
    for text in (messages.TIMEOUT_DESCRIPTION, finished):
        assert "Powerdrill's pause ended early" in text and "none finished" in text, text
        assert "restart" in text


def test_the_simulated_field_says_no_real_job_can_run_and_what_to_tell_the_user() -> None:
    """Reader round 8: a sandbox `ready` says a job can start; the field says on what it cannot."""
    from pd_mcp.models import DatasetStatus

    text = DatasetStatus.model_fields["simulated"].description or ""
    assert "no real Powerdrill job can run on it" in text and "tell the user" in text


def test_the_instructions_let_a_result_hold_its_user_message_back() -> None:
    """Argument slips say not to pass the user_message on; the instructions must allow for that."""
    assert "pass on to the user as it is, unless the result says not to" in messages.INSTRUCTIONS
    held_back = [k for k, step in messages.INVALID_NEXT_STEP.items() if "do not pass" in step]
    assert held_back, "no text holds its user_message back any more: drop the clause"


def test_a_subscriber_told_syncing_ends_its_turn_and_knows_what_comes_next() -> None:
    """Reader round 13: a model cannot wait inside a turn for the next update."""
    tail = messages.INSTRUCTIONS.split("Only if you receive update notifications")[1]
    assert "pass on its user_message and end your turn" in tail
    assert "call get_dataset_status if the user asks before one comes" in tail


def test_the_rules_say_how_to_count_timed_out_waits_in_a_row() -> None:
    """Reader round 14: an error between two waits, and a new request of the user's."""
    rule = (
        "Count timed-out waits in a row since the user's latest request; an error result or a "
        "get_dataset_status check between waits"
    )
    for text in (messages.INSTRUCTIONS, messages.WAIT_DESCRIPTION):
        assert rule in " ".join(text.split()) and "neither counts nor resets the count" in text
