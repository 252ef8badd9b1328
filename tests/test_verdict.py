"""The verdict: the one word an assistant acts on, and the sentence it reads to the user."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pd_mcp.messages import headline, timed_out_message
from pd_mcp.messages import verdict_message as message
from pd_mcp.models import Counts
from pd_mcp.verdict import verdict

VERDICTS = {"ready", "syncing", "partially_failed", "failed", "empty"}


def c(synched: int, synching: int, invalid: int) -> Counts:
    return Counts(synched=synched, synching=synching, invalid=invalid)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (c(0, 0, 0), "empty"),
        (c(1, 0, 0), "ready"),
        (c(5, 0, 0), "ready"),
        (c(0, 1, 0), "syncing"),
        (c(4, 1, 0), "syncing"),
        (c(0, 3, 2), "syncing"),  # syncing wins over invalid
        (c(4, 1, 2), "syncing"),  # ... and over a partial failure
        (c(0, 0, 1), "failed"),
        (c(0, 0, 7), "failed"),
        (c(3, 0, 1), "partially_failed"),
        (c(1, 0, 9), "partially_failed"),
    ],
)
def test_verdict_from_counts(counts: Counts, expected: str) -> None:
    assert verdict(counts) == expected


def test_counts_total_is_the_sum() -> None:
    assert c(3, 4, 5).total == 12


@pytest.mark.parametrize(
    ("counts", "next_step"),
    [
        (c(0, 0, 0), "add files"),
        (c(2, 0, 0), "job can start now"),
        (c(1, 2, 0), "wait_for_dataset_sync"),
        (c(0, 0, 2), "replaced or re-added"),
        (c(2, 0, 1), "only if the user agrees"),
    ],
)
def test_message_is_headline_then_next_step(counts: Counts, next_step: str) -> None:
    text = message("ds1", counts)
    assert text.startswith(headline("ds1", counts))
    assert next_step in text[len(headline("ds1", counts)) :]
    assert "ds1" in text


def test_ready_message_says_all_synchronized() -> None:
    assert message("ds1", c(3, 0, 0)).startswith("Dataset ds1 is ready: all 3 data sources are synchronized.")
    assert "its only data source" in message("ds1", c(1, 0, 0))


def test_syncing_message_warns_that_a_job_would_leave_sources_out() -> None:
    text = message("ds1", c(2, 3, 1))
    assert "2 of 6" in text
    assert "3 still synchronizing" in text
    assert "1 failed" in text
    assert "wait_for_dataset_sync" in text
    assert "silently" in text


def test_only_ready_tells_the_assistant_to_start() -> None:
    for counts in (c(0, 0, 0), c(1, 1, 0), c(0, 0, 1), c(1, 0, 1)):
        assert "job can start now" not in message("ds1", counts)


@pytest.mark.parametrize("counts", [c(0, 0, 2), c(3, 0, 2)], ids=["failed", "partially_failed"])
def test_failed_messages_name_the_failed_files(counts: Counts) -> None:
    text = message("ds1", counts, ["sales.csv", "q3.xlsx"])
    assert "sales.csv" in text
    assert "q3.xlsx" in text
    # Named in the headline, before the next step.
    assert "sales.csv" in headline("ds1", counts, ["sales.csv", "q3.xlsx"])


def test_failed_message_without_names_still_reads_well() -> None:
    text = message("ds1", c(0, 0, 2))
    assert text.startswith("Dataset ds1 cannot be analysed: both data sources failed to synchronize.")


def test_many_failed_names_are_summarised() -> None:
    names = [f"file{i}.csv" for i in range(12)]
    text = message("ds1", c(1, 0, 12), names)
    assert "file0.csv" in text
    assert "file11.csv" not in text
    assert "more" in text


def test_partially_failed_message_gives_both_counts() -> None:
    text = message("ds1", c(3, 0, 2), ["bad.csv"])
    assert "3 of 5" in text
    assert "2 failed" in text
    assert "bad.csv" in text


def test_timed_out_message_reports_progress_and_says_to_wait_again() -> None:
    text = timed_out_message("ds1", c(2, 2, 0), 45.2, 1)
    assert "45 s" in text
    assert "2 of 4" in text
    assert "1 finished during this wait" in text
    assert "wait_for_dataset_sync again" in text
    assert "Do not start a Powerdrill job yet" in text


counts_strategy = st.builds(
    Counts,
    synched=st.integers(min_value=0, max_value=10**9),
    synching=st.integers(min_value=0, max_value=10**9),
    invalid=st.integers(min_value=0, max_value=10**9),
)


@given(counts_strategy)
def test_verdict_property_matches_the_interface_rules(counts: Counts) -> None:
    v = verdict(counts)
    assert v in VERDICTS
    s, k, f = counts.synched, counts.synching, counts.invalid
    rules = {
        "empty": s + k + f == 0,
        "syncing": k > 0,
        "ready": s > 0 and k == 0 and f == 0,
        "failed": s == 0 and k == 0 and f > 0,
        "partially_failed": s > 0 and k == 0 and f > 0,
    }
    # Exactly one rule holds, and it is the verdict given.
    assert [name for name, holds in rules.items() if holds] == [v]


@given(counts_strategy, st.lists(st.text(min_size=1, max_size=20), max_size=8))
def test_message_property_starts_with_headline_and_mentions_dataset(counts: Counts, names: list[str]) -> None:
    text = message("ds-7", counts, names)
    assert text.startswith(headline("ds-7", counts, names))
    assert text.startswith("Dataset ds-7 ")
    assert len(text) > len(headline("ds-7", counts, names))
    assert ("wait_for_dataset_sync" in text) == (verdict(counts) == "syncing")
