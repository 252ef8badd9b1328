# The sandbox's scenario datasets: which data sources each one holds and what
# status each source has at a given moment. Everything here is a pure function
# of (dataset id, seconds since the dataset was first asked about), so tests can
# check any moment without a server, a clock or sleeping.
"""Scenario datasets of the simulated Powerdrill API.

| dataset id         | sources | behaviour                                                          |
| ------------------ | ------- | ------------------------------------------------------------------ |
| `ds-ready`         | 5       | all synched                                                        |
| `ds-syncing`       | 8       | synching → synched one by one, evenly, done `sync_seconds` after   |
|                    |         | the first request for it (default 6 s)                             |
| `ds-partial`       | 6       | like `ds-syncing`, ends 4 synched + 2 invalid (`broken-export.csv`,|
|                    |         | `scan.pdf`)                                                        |
| `ds-failed`        | 3       | all invalid from the start                                         |
| `ds-empty`         | 0       | no sources                                                         |
| `ds-stuck`         | 4       | 1 synched, 3 synching forever                                      |
| `ds-large`         | 300     | 288 synched, 12 invalid (every 25th), for paging                   |
| `ds-sync-<N>`      | 10      | N in 1..3600: synching → synched evenly, done N s after first asked|
| `ds-syncfail-<N>`  | 10      | like `ds-sync-<N>`, ends 8 synched + 2 invalid                     |
| `ds-forbidden`     | –       | answers code 300002 (no permission), HTTP 200                      |
| `ds-internal-error`| –       | answers code 9999, HTTP 500                                        |
| anything else      | –       | answers code 300003 (resource not found), HTTP 200                 |

Every source has a stable id `src-<dataset id>-<n>` (n from 1), a file name and
a size in bytes. Sources that sync finish in order of n: with k sources and a
finish time T, source n leaves `synching` at T·n/k seconds after first asked.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

SourceStatus = Literal["synching", "synched", "invalid"]
FinalStatus = Literal["synched", "invalid"]

STATUSES: tuple[SourceStatus, ...] = ("synching", "synched", "invalid")
DEFAULT_SYNC_SECONDS = 6.0
MAX_PARAM_SECONDS = 3600
FORBIDDEN_DATASET = "ds-forbidden"
INTERNAL_ERROR_DATASET = "ds-internal-error"

# Float slack when comparing elapsed time with a finish time (T·n/k is rarely exact).
_EPSILON = 1e-9


class Counts(NamedTuple):
    """Number of sources per status at one moment."""

    synched: int
    invalid: int
    synching: int


@dataclass(frozen=True, slots=True)
class Source:
    """One data source: its identity and when (if ever) it reaches its final status."""

    number: int
    id: str
    file_name: str
    size: int
    final_status: FinalStatus
    # Seconds after first asked at which the source leaves `synching`; 0 means
    # it is final from the start, None means it never leaves `synching`.
    done_at: float | None

    def status_at(self, elapsed: float) -> SourceStatus:
        """The source's status `elapsed` seconds after its dataset was first asked about."""
        if self.done_at is None:
            return "synching"
        if elapsed + _EPSILON >= self.done_at:
            return self.final_status
        return "synching"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario dataset: an id, a one-line summary and its sources in listing order."""

    dataset_id: str
    summary: str
    sources: tuple[Source, ...]

    def statuses(self, elapsed: float) -> list[SourceStatus]:
        """Status of each source, in listing order, at `elapsed` seconds."""
        return [source.status_at(elapsed) for source in self.sources]

    def counts(self, elapsed: float) -> Counts:
        """Counts per status at `elapsed` seconds."""
        statuses = self.statuses(elapsed)
        return Counts(
            synched=statuses.count("synched"),
            invalid=statuses.count("invalid"),
            synching=statuses.count("synching"),
        )

    @property
    def finishes_after(self) -> float | None:
        """Seconds after first asked when nothing is synching any more; None if never."""
        times = [source.done_at for source in self.sources]
        if any(t is None for t in times):
            return None
        return max((t for t in times if t is not None), default=0.0)


@dataclass(frozen=True, slots=True)
class ScenarioDescription:
    """One row of the scenario table, for the demo, the README and `pd-mcp sandbox`."""

    dataset_id: str
    sources: int | None
    behaviour: str


# --- building blocks -------------------------------------------------------------------


def _size(dataset_id: str, number: int) -> int:
    # Stable pseudo-random size between ~16 KiB and ~8 MiB, the same on every run.
    digest = zlib.crc32(f"{dataset_id}/{number}".encode())
    return 16_384 + digest % 8_000_000


def _source(
    dataset_id: str, number: int, file_name: str, final: FinalStatus, done_at: float | None
) -> Source:
    return Source(
        number=number,
        id=f"src-{dataset_id}-{number}",
        file_name=file_name,
        size=_size(dataset_id, number),
        final_status=final,
        done_at=done_at,
    )


def _static(dataset_id: str, summary: str, files: list[tuple[str, FinalStatus]]) -> Scenario:
    """Sources that have their final status from the start."""
    sources = tuple(_source(dataset_id, n, name, final, 0.0) for n, (name, final) in enumerate(files, 1))
    return Scenario(dataset_id, summary, sources)


def _syncing(dataset_id: str, summary: str, files: list[tuple[str, FinalStatus]], seconds: float) -> Scenario:
    """Sources that leave `synching` one by one, evenly, the last one at `seconds`."""
    count = len(files)
    sources = tuple(
        _source(dataset_id, n, name, final, seconds * n / count) for n, (name, final) in enumerate(files, 1)
    )
    return Scenario(dataset_id, summary, sources)


_READY_FILES: list[tuple[str, FinalStatus]] = [
    ("sales_2024.csv", "synched"),
    ("customers.xlsx", "synched"),
    ("products.csv", "synched"),
    ("regions.json", "synched"),
    ("annual_report_2023.pdf", "synched"),
]
_SYNCING_FILES: list[tuple[str, FinalStatus]] = [(f"orders_2024_{m:02d}.csv", "synched") for m in range(1, 9)]
_PARTIAL_FILES: list[tuple[str, FinalStatus]] = [
    ("inventory.csv", "synched"),
    ("suppliers.xlsx", "synched"),
    ("broken-export.csv", "invalid"),
    ("shipping_rates.csv", "synched"),
    ("warehouse_notes.txt", "synched"),
    ("scan.pdf", "invalid"),
]
_FAILED_FILES: list[tuple[str, FinalStatus]] = [
    ("corrupted-workbook.xlsx", "invalid"),
    ("empty-sheet.csv", "invalid"),
    ("password-protected.pdf", "invalid"),
]
_LARGE_INVALID_EVERY = 25


def _large_files() -> list[tuple[str, FinalStatus]]:
    files: list[tuple[str, FinalStatus]] = []
    for n in range(1, 301):
        if n % _LARGE_INVALID_EVERY == 0:
            files.append((f"bad-part-{n:03d}.csv", "invalid"))
        else:
            files.append((f"part-{n:03d}.csv", "synched"))
    return files


def _ten_files(with_failures: bool) -> list[tuple[str, FinalStatus]]:
    files: list[tuple[str, FinalStatus]] = [(f"table-{n:02d}.csv", "synched") for n in range(1, 11)]
    if with_failures:
        files[4] = ("table-05-truncated.csv", "invalid")
        files[9] = ("table-10-bad-encoding.csv", "invalid")
    return files


def _stuck() -> Scenario:
    dataset_id = "ds-stuck"
    sources = (
        _source(dataset_id, 1, "archive_2022.csv", "synched", 0.0),
        _source(dataset_id, 2, "clickstream_part1.csv", "synched", None),
        _source(dataset_id, 3, "clickstream_part2.csv", "synched", None),
        _source(dataset_id, 4, "clickstream_part3.csv", "synched", None),
    )
    return Scenario(dataset_id, "1 synched, 3 synching forever", sources)


_PARAMETERISED = re.compile(r"ds-(sync|syncfail)-([1-9][0-9]{0,3})")


# --- lookup ----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def find_scenario(dataset_id: str, sync_seconds: float = DEFAULT_SYNC_SECONDS) -> Scenario | None:
    """The scenario named `dataset_id`, or None when the sandbox does not know it.

    `sync_seconds` is the finish time of `ds-syncing` and `ds-partial`; the
    parameterised ids carry their own finish time. `ds-forbidden` and
    `ds-internal-error` are not scenarios (they are answered with errors).
    """
    if dataset_id == "ds-ready":
        return _static(dataset_id, "all synched", _READY_FILES)
    if dataset_id == "ds-syncing":
        return _syncing(dataset_id, "synching one by one", _SYNCING_FILES, sync_seconds)
    if dataset_id == "ds-partial":
        return _syncing(dataset_id, "synching, ends with 2 invalid", _PARTIAL_FILES, sync_seconds)
    if dataset_id == "ds-failed":
        return _static(dataset_id, "all invalid", _FAILED_FILES)
    if dataset_id == "ds-empty":
        return Scenario(dataset_id, "no sources", ())
    if dataset_id == "ds-stuck":
        return _stuck()
    if dataset_id == "ds-large":
        return _static(dataset_id, "288 synched, 12 invalid", _large_files())
    match = _PARAMETERISED.fullmatch(dataset_id)
    if match:
        seconds = int(match.group(2))
        if seconds > MAX_PARAM_SECONDS:
            return None
        failing = match.group(1) == "syncfail"
        summary = "synching, ends with 2 invalid" if failing else "synching one by one"
        return _syncing(dataset_id, summary, _ten_files(failing), float(seconds))
    return None


@dataclass(frozen=True, slots=True)
class ListedDataset:
    """A dataset as the sandbox's dataset listing shows it."""

    id: str
    name: str
    description: str


# The project's datasets, in the listing's order (newest first, as Powerdrill lists them).
# The parameterised ids are not listed: they exist for any N, but only when asked.
CATALOGUE: tuple[ListedDataset, ...] = (
    ListedDataset(
        "ds-ready", "Sales 2024", "Yearly sales, customers, products and regions; all synchronized"
    ),
    ListedDataset("ds-syncing", "Orders 2024", "Monthly order exports, still synchronizing one by one"),
    ListedDataset(
        "ds-partial", "Inventory and suppliers", "Warehouse files; two of them fail to synchronize"
    ),
    ListedDataset("ds-failed", "Broken uploads", "Three files that all failed to synchronize"),
    ListedDataset("ds-empty", "New project", "A dataset without any files yet"),
    ListedDataset("ds-stuck", "Clickstream archive", "Web clickstream exports that never finish syncing"),
    ListedDataset("ds-large", "Sensor parts", "300 sensor data parts, 12 of them failed"),
    ListedDataset("ds-forbidden", "Finance (restricted)", "Payroll data this key may not read"),
)


def search_catalogue(keyword: str) -> list[ListedDataset]:
    """The listed datasets whose name or description contains `keyword` (ignoring case), in order."""
    needle = keyword.casefold()
    return [d for d in CATALOGUE if needle in d.name.casefold() or needle in d.description.casefold()]


def page_count(items: int, page_size: int) -> int:
    """Number of pages needed for `items` items (0 for none)."""
    return math.ceil(items / page_size)


def describe(sync_seconds: float = DEFAULT_SYNC_SECONDS) -> list[ScenarioDescription]:
    """The scenario table as rows (the same table as this module's docstring)."""
    t = f"{sync_seconds:g}"
    return [
        ScenarioDescription("ds-ready", 5, "all synched: ready"),
        ScenarioDescription("ds-syncing", 8, f"synching → synched one by one, done {t} s after first asked"),
        ScenarioDescription(
            "ds-partial", 6, f"synching for {t} s, ends 4 synched + 2 invalid (broken-export.csv, scan.pdf)"
        ),
        ScenarioDescription("ds-failed", 3, "all invalid from the start"),
        ScenarioDescription("ds-empty", 0, "no data sources"),
        ScenarioDescription("ds-stuck", 4, "1 synched, 3 synching forever"),
        ScenarioDescription("ds-large", 300, "288 synched, 12 invalid; for paging"),
        ScenarioDescription("ds-sync-<N>", 10, "N = 1..3600: synching → synched, done N s after first asked"),
        ScenarioDescription("ds-syncfail-<N>", 10, "like ds-sync-<N>, ends 8 synched + 2 invalid"),
        ScenarioDescription(FORBIDDEN_DATASET, None, "code 300002, no permission (HTTP 200)"),
        ScenarioDescription(INTERNAL_ERROR_DATASET, None, "code 9999, internal error (HTTP 500)"),
        ScenarioDescription("any other id", None, "code 300003, resource not found (HTTP 200)"),
    ]


def scenario_table(sync_seconds: float = DEFAULT_SYNC_SECONDS) -> str:
    """The scenario table as aligned plain text, for printing."""
    rows = [("dataset id", "sources", "behaviour")]
    rows += [
        (row.dataset_id, "–" if row.sources is None else str(row.sources), row.behaviour)
        for row in describe(sync_seconds)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c}" for a, b, c in rows)
