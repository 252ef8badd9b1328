"""Data shapes: what Powerdrill answers, and what the tools return.

`DatasetStatus` and `WaitResult` are the tools' `structuredContent` and their
`outputSchema`; their field names are the public interface and never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["ready", "syncing", "partially_failed", "failed", "empty"]


@dataclass(frozen=True, slots=True)
class Counts:
    """The three counts of one status answer, already checked to be non-negative integers."""

    synched: int
    synching: int
    invalid: int

    @property
    def total(self) -> int:
        return self.synched + self.synching + self.invalid

    @property
    def settled(self) -> int:
        """Sources whose sync is over, either way."""
        return self.synched + self.invalid


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """One parsed status response."""

    counts: Counts
    trace_id: str | None
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class DatasetEntry:
    """One dataset of Powerdrill's dataset listing."""

    id: str
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class DatasetPage:
    """One page of the dataset listing and how many datasets matched in all."""

    records: tuple[DatasetEntry, ...]
    total: int


# Schemas are built on first use, not at import: `pd-mcp status` never builds `WaitResult`'s.
_LAZY = ConfigDict(defer_build=True)


class FailedSource(BaseModel):
    """A data source that failed to synchronize."""

    model_config = _LAZY

    id: str = Field(description="Powerdrill's id of the data source")
    name: str = Field(description="the data source's name, usually its file name")


class DatasetStatus(BaseModel):
    """The readiness of one dataset (`get_dataset_status`)."""

    model_config = _LAZY

    dataset_id: str = Field(description="the dataset id, as asked")
    synched_count: int = Field(description="data sources ready for analysis")
    synching_count: int = Field(description="data sources waiting for or being synchronized")
    invalid_count: int = Field(description="data sources that failed to synchronize")
    total_count: int = Field(description="the sum of the three counts")
    verdict: Verdict = Field(description="ready, syncing, partially_failed, failed or empty")
    ready: bool = Field(
        description="true only when every data source is synchronized and there is at least one"
    )
    message: str = Field(
        description="for the assistant: the state, whether a Powerdrill job can start, and the next step"
    )
    user_message: str = Field(
        default="",
        description="one plain sentence the assistant can pass on to the user as it is: "
        "no tool names, no field names",
    )
    failed_sources: list[FailedSource] = Field(
        default_factory=list,
        description="invalid data sources (at most 20); empty when none failed or when their names could "
        "not be fetched (the message then says so)",
    )
    failed_sources_total: int = Field(
        default=0, description="how many data sources failed in all (equals invalid_count)"
    )
    failed_sources_truncated: bool = Field(
        default=False, description="true when failed_sources lists fewer sources than failed_sources_total"
    )
    trace_id: str | None = Field(description="Powerdrill's x-pd-trace-id of the status request")
    api_version: Literal["v1", "v2"] = Field(description="the Powerdrill API version used")
    checked_at: str = Field(description="ISO 8601 UTC time of the check")
    simulated: bool = Field(
        default=False,
        description="true when the data came from the pd-mcp sandbox (simulated, for trying pd-mcp out), not "
        "a real Powerdrill dataset: no real Powerdrill job can run on it, so tell the user pd-mcp is pointed "
        "at the sandbox",
    )


class WaitResult(DatasetStatus):
    """The readiness of one dataset after waiting (`wait_for_dataset_sync`)."""

    timed_out: bool = Field(
        description="the wait ended (at its deadline, or earlier when Powerdrill asked for a pause past "
        "it, or the server restarted) with data sources still synchronizing: do not start a Powerdrill "
        "job; when cut_short_by_restart is true too, the wait does not count as a timed-out wait for the "
        "stop rules"
    )
    cut_short_by_restart: bool = Field(
        default=False,
        description="the wait was cut short by a pd-mcp server restart (timed_out is true too); such a "
        "wait is exempt from both stop rules: it does not count as a timed-out wait, whatever its "
        "finished_during_wait (skip it when counting waits in a row); call again once, and if that one "
        "is cut short too, stop and tell the user",
    )
    waited_seconds: float = Field(description="time spent in the call, in seconds")
    polls: int = Field(description="status requests made")
    finished_during_wait: int = Field(
        default=0,
        description="data sources whose synchronizing ended (synchronized or failed) during this wait; "
        "0 after a timed-out wait means no progress (a wait cut short by a restart is exempt from the "
        "stop rules whatever this says, and one that Powerdrill's pause ended early, as its message says, "
        "does not count as a wait in which none finished)",
    )
