"""The wait loop against a simulated Powerdrill, in fake time.

Every upstream call goes to respx (never a real host); the mocked status
endpoint answers from the `FakeClock`'s time, so a dataset "finishes at 3 s"
in fake seconds while the test takes milliseconds. The client gets a large
request budget so the real-time rate limiter never sleeps.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import httpx
import pytest
import respx
from support import CANARY_KEY, make_config

from pd_mcp import waiter
from pd_mcp.budget import LocalBudget
from pd_mcp.client import PowerdrillClient
from pd_mcp.clock import FakeClock
from pd_mcp.errors import (
    AuthenticationError,
    BudgetTimedOut,
    DatasetNotFound,
    InvalidArgument,
    PermissionDenied,
    RateLimited,
    RequestTimedOut,
    UpstreamUnavailable,
)
from pd_mcp.messages import progress_message
from pd_mcp.models import Counts
from pd_mcp.report import error_text
from pd_mcp.settings import ApiConfig
from pd_mcp.waiter import wait_for_sync

BASE = "https://powerdrill.test/api"
DS = "dset-wait-1"
STATUS_PATH = f"/v2/team/datasets/{DS}/status"
SOURCES_PATH = f"/v2/team/datasets/{DS}/datasources"

CountsAt = Callable[[float], tuple[int, int, int]]

# The schedule's poll times of a 45 s wait without jitter (derived in test_schedule.py).
NO_JITTER_45 = [0.0, 1.0, 2.0, 3.0, 4.0, 6.4, 10.24, 16.384, 26.2144, 36.2144, 45.0]


def config(api_version: str = "v2") -> ApiConfig:
    return make_config(api_version, base_url=BASE, user_id="user-7")


class NoJitter(random.Random):
    """An rng whose every draw is 1.0: the schedule's intervals without jitter."""

    def random(self) -> float:
        return 1.0


class FixedJitter(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def status_body(synched: int, synching: int, invalid: int, api_version: str = "v2") -> dict[str, object]:
    if api_version == "v1":
        data = {"synchedCount": synched, "synchingCount": synching, "invalidCount": invalid}
    else:
        data = {"synched_count": synched, "synching_count": synching, "invalid_count": invalid}
    return {"code": 0, "data": data}


def error(http: int, code: int, message: str = "nope", **headers: str) -> httpx.Response:
    return httpx.Response(http, json={"code": code, "message": message}, headers=headers)


class Dataset:
    """The status endpoint of one simulated dataset, answering from the fake clock.

    `answer(t)` returns the three counts at fake time `t`, or an `httpx.Response`
    to send as is, or raises an `httpx` transport error.
    """

    def __init__(self, clock: FakeClock, answer: Callable[[float], object], api_version: str = "v2") -> None:
        self.clock = clock
        self.answer = answer
        self.api_version = api_version
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        t = self.clock.now()
        self.times.append(t)
        result = self.answer(t)
        if isinstance(result, httpx.Response):
            return result
        synched, synching, invalid = result  # type: ignore[misc]
        return httpx.Response(
            200,
            json=status_body(synched, synching, invalid, self.api_version),
            headers={"x-pd-trace-id": f"trace-{len(self.times)}"},
        )


def all_at_once(finish: float, total: int = 10) -> CountsAt:
    return lambda t: (total, 0, 0) if t >= finish else (0, total, 0)


def never(synched: int = 1, synching: int = 3) -> CountsAt:
    return lambda t: (synched, synching, 0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[PowerdrillClient]:
    c = PowerdrillClient(config(), limiter=LocalBudget(0.0))
    yield c
    await c.aclose()


def serve(mock: respx.MockRouter, dataset: Dataset, path: str = STATUS_PATH) -> respx.Route:
    return mock.get(path).mock(side_effect=dataset)


# --- happy paths ------------------------------------------------------------------


async def test_an_already_done_dataset_costs_one_request_and_no_sleep(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    ds = Dataset(clock, lambda t: (5, 0, 0))
    route = serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock)
    assert route.call_count == 1
    assert ds.times == [0.0]
    assert clock.sleeps == []
    assert (result.ready, result.timed_out, result.polls, result.waited_seconds) == (True, False, 1, 0.0)
    assert result.verdict == "ready"
    assert result.trace_id == "trace-1"
    request = route.calls.last.request
    assert request.url.params["user_id"] == "user-7"
    assert request.headers["x-pd-api-key"] == CANARY_KEY


@pytest.mark.parametrize("seed", range(8))
async def test_a_dataset_finishing_at_3s_is_reported_within_a_second(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, seed: int
) -> None:
    ds = Dataset(clock, all_at_once(3.0))
    serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=random.Random(seed))
    assert ds.times[0] == 0.0  # the first poll is immediate
    assert result.verdict == "ready" and not result.timed_out
    assert 3.0 <= result.waited_seconds <= 4.0
    assert ds.times[-1] == pytest.approx(result.waited_seconds, abs=1e-3)
    assert result.polls == len(ds.times)


async def test_a_45s_wait_on_a_dataset_that_never_finishes_without_jitter(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    ds = Dataset(clock, never(1, 3))
    route = serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert route.call_count == result.polls == 11
    assert ds.times == pytest.approx(NO_JITTER_45)
    assert result.timed_out is True
    assert abs(result.waited_seconds - 45.0) <= 0.5
    assert (result.synched_count, result.synching_count, result.invalid_count) == (1, 3, 0)
    assert result.verdict == "syncing" and result.ready is False
    assert "1 of 4 data sources synchronized" in result.message and "none finished" in result.message
    assert (
        "wait_for_dataset_sync again" if result.finished_during_wait else "Stop waiting"
    ) in result.message


@pytest.mark.parametrize("seed", range(20))
async def test_a_45s_wait_with_jitter_ends_at_its_deadline_with_at_most_12_requests(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, seed: int
) -> None:
    ds = Dataset(clock, never(2, 2))
    route = serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=random.Random(seed))
    assert route.call_count == result.polls <= 12
    assert result.timed_out and abs(result.waited_seconds - 45.0) <= 0.5
    assert ds.times[-1] == pytest.approx(45.0)
    assert max(b - a for a, b in itertools.pairwise(ds.times)) <= 10.0 + 1e-9  # the cap, last one included
    assert "2 of 4 data sources synchronized" in result.message and "none finished" in result.message


@pytest.mark.parametrize(
    "make_rng",
    [
        pytest.param(lambda: random.Random(1), id="seed1"),
        pytest.param(lambda: FixedJitter(0.5), id="half-jitter"),
        pytest.param(lambda: FixedJitter(0.0), id="most-jitter"),
        pytest.param(lambda: FixedJitter(0.751), id="cap-kept-at-35s"),
    ],
)
async def test_a_45s_wait_makes_at_most_12_requests(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, make_rng: Callable[[], random.Random]
) -> None:
    """The old schedule made 13 with these draws; see test_schedule.py for every jitter (hypothesis)."""
    route = serve(mock, Dataset(clock, never()))
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=make_rng())
    assert result.timed_out
    assert route.call_count == result.polls <= 12


async def test_the_most_jitter_gives_the_exact_poll_times_of_the_schedule(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    ds = Dataset(clock, never())
    serve(mock, ds)
    await wait_for_sync(client, DS, 45, clock=clock, rng=FixedJitter(0.0))
    assert ds.times == pytest.approx(
        [0.0, 1.0, 2.0, 3.0, 4.0, 6.16, 9.4864, 14.609056, 22.4979462, 31.4979462, 40.4979462, 45.0]
    )


@pytest.mark.parametrize(
    ("finish", "make_rng", "seen_at"),
    [
        pytest.param(10.0, NoJitter, 10.24, id="10s-no-jitter"),
        pytest.param(10.25, NoJitter, 16.384, id="just-after-a-poll"),
        pytest.param(60.0, lambda: FixedJitter(0.0), 67.4979462, id="60s-most-jitter"),
    ],
)
async def test_an_all_at_once_finish_is_seen_within_the_documented_bound(
    client: PowerdrillClient,
    clock: FakeClock,
    mock: respx.MockRouter,
    finish: float,
    make_rng: Callable[[], random.Random],
    seen_at: float,
) -> None:
    """Without progress, the delay is at most min(cap, max(floor, 0.6 T)) (see test_schedule.py), not
    the issue's 10%: that target is meant for datasets that report progress (one by one)."""
    serve(mock, Dataset(clock, all_at_once(finish)))
    result = await wait_for_sync(client, DS, 900, clock=clock, rng=make_rng())
    assert result.ready
    assert result.waited_seconds == pytest.approx(seen_at, abs=1e-3)
    assert result.waited_seconds - finish <= min(10.0, max(1.0, 0.6 * finish))


def one_by_one(sources: int, finish: float) -> CountsAt:
    """Sources settling evenly, source n at finish * n / sources (like the sandbox's ds-sync-N)."""

    def counts(t: float) -> tuple[int, int, int]:
        done = min(sources, math.floor(sources * t / finish + 1e-9))
        return done, sources - done, 0

    return counts


@pytest.mark.parametrize("finish", [2.0, 10.0, 60.0, 300.0])
@pytest.mark.parametrize("seed", range(5))
async def test_a_one_by_one_finish_of_the_benchmark_is_seen_within_10_percent(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, finish: float, seed: int
) -> None:
    """Issue 3's detection target, met through the prediction for the benchmark's finish times."""
    ds = Dataset(clock, one_by_one(10, finish))
    serve(mock, ds)
    result = await wait_for_sync(client, DS, 900, clock=clock, rng=random.Random(seed))
    assert result.ready
    assert result.waited_seconds - finish <= max(1.0, 0.1 * finish)
    assert result.polls == len(ds.times)


@pytest.mark.parametrize(
    ("sources", "finish"), [(10, 12.0), (100, 57.0)], ids=["10-over-12s", "100-over-57s"]
)
async def test_a_one_by_one_finish_is_seen_within_10_percent_at_any_finish_time(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, sources: int, finish: float
) -> None:
    serve(mock, Dataset(clock, one_by_one(sources, finish)))
    result = await wait_for_sync(client, DS, 900, clock=clock, rng=NoJitter())
    assert result.ready
    assert result.waited_seconds - finish <= max(1.0, 0.1 * finish)


async def test_a_10_minute_wait_runs_in_fake_time(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    ds = Dataset(clock, never(0, 7))
    route = serve(mock, ds)
    with anyio.fail_after(5):  # a hang guard, not a timing assertion: real time barely moves
        result = await wait_for_sync(client, DS, 600, clock=clock, rng=random.Random(1))
    assert result.timed_out and result.waited_seconds == pytest.approx(600.0)
    assert clock.now() == pytest.approx(600.0)
    assert route.call_count == result.polls
    # 10 polls to 36.2 s at most, then 9 to 10 s apart: 57 to 63 more, the deadline poll included.
    assert 66 <= result.polls <= 73
    gaps = [b - a for a, b in itertools.pairwise(ds.times)]
    assert max(gaps) <= 10.0 + 1e-9  # the last interval included


async def test_progress_is_reported_after_every_successful_poll(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    def counts(t: float) -> tuple[int, int, int]:
        done = min(6, int(t / 2))
        return done, 6 - done, 0

    ds = Dataset(clock, counts)
    serve(mock, ds)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await wait_for_sync(client, DS, 45, clock=clock, on_progress=on_progress, rng=NoJitter())
    assert len(seen) == result.polls == len(ds.times)
    for t, (progress, total, message) in zip(ds.times, seen, strict=True):
        synched, synching, invalid = counts(t)
        assert (progress, total) == (synched + invalid, 6)
        assert message == progress_message(DS, Counts(synched, synching, invalid))
    assert seen[-1][0] == 6 and "is ready" in (seen[-1][2] or "")


# --- transient failures -------------------------------------------------------------


async def test_retry_after_is_honoured_before_the_next_poll(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    def answer(t: float) -> object:
        if t == 0.0:
            return error(429, 201, "slow down", **{"retry-after": "7"})
        return (3, 0, 0) if t >= 9 else (1, 2, 0)

    ds = Dataset(clock, answer)
    serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert ds.times[1] - ds.times[0] >= 7.0
    assert clock.sleeps[0] == pytest.approx(7.0)
    assert result.verdict == "ready" and not result.timed_out
    assert result.polls == len(ds.times)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda: httpx.Response(503, text="busy", headers={"retry-after": "7"}), id="http-503"),
        pytest.param(lambda: error(500, 9999, "internal", **{"retry-after": "7"}), id="code-9999"),
        pytest.param(lambda: error(502, 9999, "gateway", **{"retry-after": "7"}), id="http-502"),
    ],
)
async def test_retry_after_is_honoured_for_any_transient_error(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, failure: Callable[[], httpx.Response]
) -> None:
    """Not only for 429: a 5xx that says when to come back is waited out too (the warm-up would be 1 s)."""

    def answer(t: float) -> object:
        if t == 0.0:
            return failure()
        return (3, 0, 0) if t >= 9 else (1, 2, 0)

    ds = Dataset(clock, answer)
    serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert clock.sleeps[0] == pytest.approx(7.0)
    assert ds.times[:3] == pytest.approx([0.0, 7.0, 8.0])
    assert result.verdict == "ready" and result.polls == len(ds.times)


async def test_a_503_asking_to_come_back_after_the_deadline_ends_the_wait_with_the_latest_counts(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    def answer(t: float) -> object:
        if t >= 20:
            return httpx.Response(503, text="maintenance", headers={"retry-after": "60"})
        return (1, 3, 0)

    ds = Dataset(clock, answer)
    serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert ds.times[-1] == pytest.approx(26.2144)  # the first 503, and nothing after it
    assert result.timed_out and result.synching_count == 3


async def test_retry_after_shorter_than_the_schedule_does_not_speed_polling_up(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    def answer(t: float) -> object:
        if 26 <= t < 27:  # the poll at 26.2144 s
            return error(429, 201, **{"retry-after": "2"})
        return (1, 1, 0)

    ds = Dataset(clock, answer)
    serve(mock, ds)
    await wait_for_sync(client, DS, 60, clock=clock, rng=NoJitter())
    rate_limited = next(i for i, t in enumerate(ds.times) if 26 <= t < 27)
    assert ds.times[rate_limited + 1] - ds.times[rate_limited] == pytest.approx(10.0)


async def test_retry_after_past_the_deadline_ends_the_wait_without_polling_early(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    def answer(t: float) -> object:
        if t >= 20:
            return error(429, 201, **{"retry-after": "60"})
        return (1, 3, 0)

    ds = Dataset(clock, answer)
    serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    first_429 = next(t for t in ds.times if t >= 20)
    assert first_429 == pytest.approx(26.2144)
    assert ds.times[-1] == first_429  # nothing sent after Powerdrill said "come back in 60 s"
    assert result.timed_out and result.synching_count == 3  # the latest counts, not an error
    assert result.waited_seconds < 45.0
    assert "wait_for_dataset_sync again with timeout_seconds of at least 75" in result.message


async def test_retry_after_past_the_deadline_before_any_counts_is_an_error_that_says_when_to_call_again(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    route = serve(mock, Dataset(clock, lambda t: error(429, 201, "slow down", **{"retry-after": "50"})))
    with pytest.raises(RateLimited) as caught:
        await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert route.call_count == 1  # nothing sent after Powerdrill said "come back in 50 s"
    assert caught.value.retry_after == 50
    text = error_text(caught.value, DS, "wait for")
    assert "a 50 s pause" in text and "once more with timeout_seconds of at least 65" in text
    assert "at most once" not in text  # not the generic rate-limit step


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda: error(500, 9999, "internal"), id="code-9999"),
        pytest.param(lambda: httpx.Response(503, text="<html>bad gateway</html>"), id="http-503"),
        pytest.param(lambda: httpx.Response(200, text="not json"), id="malformed"),
    ],
)
async def test_a_server_error_mid_wait_does_not_end_it(
    client: PowerdrillClient,
    clock: FakeClock,
    mock: respx.MockRouter,
    failure: Callable[[], httpx.Response],
) -> None:
    def answer(t: float) -> object:
        if 2 <= t < 10:
            return failure()
        return (4, 0, 0) if t >= 8 else (1, 3, 0)

    ds = Dataset(clock, answer)
    serve(mock, ds)
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert sum(1 for t in ds.times if 2 <= t < 10) >= 3
    assert result.verdict == "ready" and not result.timed_out
    assert result.polls == len(ds.times)


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")],
    ids=["connect-error", "read-timeout", "dropped-connection"],
)
async def test_a_network_failure_mid_wait_does_not_end_it(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, exc: Exception
) -> None:
    def answer(t: float) -> object:
        if 1 <= t < 6:
            raise exc
        return (2, 0, 1) if t >= 6 else (0, 3, 0)

    ds = Dataset(clock, answer)
    serve(mock, ds)
    mock.get(SOURCES_PATH).respond(json={"code": 0, "data": {"records": [{"id": "s3", "name": "bad.csv"}]}})
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert result.verdict == "partially_failed" and not result.timed_out
    assert ds.times == pytest.approx([0, 1, 2, 3, 4, 6.4])  # failed polls count towards the warm-up


async def test_a_request_hanging_at_the_deadline_is_abandoned_after_the_grace(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-request deadline is in real seconds, so the grace is shrunk to keep the test fast."""
    monkeypatch.setattr(waiter, "DEADLINE_GRACE", 0.05)
    calls = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(200, json=status_body(1, 1, 0))
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    mock.get(STATUS_PATH).mock(side_effect=answer)
    with anyio.fail_after(2):
        result = await wait_for_sync(client, DS, 0.1, clock=clock, rng=NoJitter())
    assert calls == 2
    assert result.timed_out and result.synching_count == 1


async def test_when_every_poll_fails_transiently_an_error_comes_back_not_a_verdict(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    route = serve(mock, Dataset(clock, lambda t: error(500, 9999, "down")))
    with pytest.raises(UpstreamUnavailable) as caught:
        await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert route.call_count == 11  # polled on schedule to the deadline
    assert caught.value.attempts == 11
    assert caught.value.elapsed == pytest.approx(45.0)


async def test_when_every_poll_is_rate_limited_the_rate_limit_comes_back(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    route = serve(mock, Dataset(clock, lambda t: error(429, 201, **{"retry-after": "5"})))
    with pytest.raises(RateLimited):
        await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert route.call_count >= 5
    assert all(s >= 5.0 - 1e-9 for s in clock.sleeps)  # never sooner than Powerdrill asked


# --- permanent failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(error(403, 1004, "bad credentials"), AuthenticationError, id="1004-bad-credentials"),
        pytest.param(error(200, 300003, "not found"), DatasetNotFound, id="300003-not-found"),
        pytest.param(error(200, 300002, "no permission"), PermissionDenied, id="300002-no-permission"),
    ],
)
async def test_a_permanent_error_ends_the_wait_after_exactly_one_request(
    client: PowerdrillClient,
    clock: FakeClock,
    mock: respx.MockRouter,
    response: httpx.Response,
    expected: type[Exception],
) -> None:
    route = mock.get(STATUS_PATH).mock(return_value=response)
    with pytest.raises(expected):
        await wait_for_sync(client, DS, 45, clock=clock)
    assert route.call_count == 1
    assert clock.sleeps == [] and clock.now() == 0.0


async def test_a_permanent_error_mid_wait_ends_it_at_once(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    ds = Dataset(clock, lambda t: error(200, 300003) if t >= 3 else (0, 2, 0))
    serve(mock, ds)
    with pytest.raises(DatasetNotFound):
        await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert ds.times == [0.0, 1.0, 2.0, 3.0]


async def test_an_invalid_dataset_id_sends_nothing(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    route = mock.get(url__regex=r".*").respond(json=status_body(1, 0, 0))
    with pytest.raises(InvalidArgument):
        await wait_for_sync(client, "../etc", 45, clock=clock)
    assert route.call_count == 0


# --- names of failed sources -----------------------------------------------------------------


async def test_failed_source_names_are_fetched_when_some_failed(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    serve(mock, Dataset(clock, lambda t: (3, 0, 2) if t >= 2 else (1, 4, 0)))
    records = [
        {"id": "src-4", "name": "broken-export.csv", "type": "FILE", "status": "invalid"},
        {"id": "src-5", "name": "scan.pdf", "type": "FILE", "status": "invalid"},
    ]
    listing = mock.get(SOURCES_PATH).respond(json={"code": 0, "data": {"records": records, "total_items": 2}})
    result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    assert result.verdict == "partially_failed" and not result.timed_out
    assert [(s.id, s.name) for s in result.failed_sources] == [
        ("src-4", "broken-export.csv"),
        ("src-5", "scan.pdf"),
    ]
    assert "broken-export.csv" in result.message and "scan.pdf" in result.message
    assert listing.call_count == 1
    params = listing.calls.last.request.url.params
    assert (params["status"], params["user_id"], params["page_size"]) == ("invalid", "user-7", "20")


async def test_no_listing_request_when_nothing_failed(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    serve(mock, Dataset(clock, lambda t: (4, 0, 0)))
    listing = mock.get(SOURCES_PATH).respond(json={"code": 0, "data": {"records": []}})
    result = await wait_for_sync(client, DS, 45, clock=clock)
    assert result.failed_sources == [] and listing.call_count == 0


async def test_v1_uses_its_paths_and_camel_case_parameters(clock: FakeClock, mock: respx.MockRouter) -> None:
    client = PowerdrillClient(config("v1"), limiter=LocalBudget(0.0))
    try:
        ds = Dataset(clock, lambda t: (0, 0, 1) if t >= 1 else (0, 1, 0), api_version="v1")
        status = mock.get(f"/v1/team/datasets/{DS}/status").mock(side_effect=ds)
        listing = mock.get(f"/v1/team/datasets/{DS}/datasources").respond(
            json={"code": 0, "data": {"records": [{"id": "s1", "name": "only.xlsx"}]}}
        )
        result = await wait_for_sync(client, DS, 45, clock=clock, rng=NoJitter())
    finally:
        await client.aclose()
    assert result.verdict == "failed" and result.api_version == "v1"
    assert "user_id" not in status.calls.last.request.url.params
    params = listing.calls.last.request.url.params
    assert (params["status"], params["pageNumber"], params["pageSize"]) == ("invalid", "1", "20")
    assert [s.name for s in result.failed_sources] == ["only.xlsx"]


@pytest.mark.parametrize(
    "listing_answer",
    [
        pytest.param(error(500, 9999, "listing down"), id="5xx"),
        pytest.param(httpx.Response(200, json={"code": 0, "data": {"no_records": True}}), id="malformed"),
    ],
)
async def test_if_the_listing_fails_the_status_still_comes_back_with_the_reason(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter, listing_answer: httpx.Response
) -> None:
    serve(mock, Dataset(clock, lambda t: (3, 0, 2)))
    listing = mock.get(SOURCES_PATH).mock(return_value=listing_answer)
    result = await wait_for_sync(client, DS, 45, clock=clock)
    assert result.verdict == "partially_failed" and result.invalid_count == 2
    assert result.failed_sources == []
    assert "could not be fetched" in result.message
    assert listing.call_count == 1


async def test_if_the_listing_fails_by_network_the_status_still_comes_back(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    serve(mock, Dataset(clock, lambda t: (0, 0, 3)))
    mock.get(SOURCES_PATH).mock(side_effect=httpx.ConnectError("refused"))
    result = await wait_for_sync(client, DS, 45, clock=clock)
    assert result.verdict == "failed"
    assert "could not be fetched" in result.message and "could not reach Powerdrill" in result.message


async def test_a_timed_out_wait_with_failures_still_lists_the_failed_sources(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    serve(mock, Dataset(clock, lambda t: (1, 2, 1)))
    mock.get(SOURCES_PATH).respond(json={"code": 0, "data": {"records": [{"id": "s9", "name": "scan.pdf"}]}})
    result = await wait_for_sync(client, DS, 10, clock=clock)
    assert result.timed_out and [s.name for s in result.failed_sources] == ["scan.pdf"]


async def test_a_timed_out_wait_names_the_failed_sources_in_its_message(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    serve(mock, Dataset(clock, lambda t: (1, 2, 1)))
    mock.get(SOURCES_PATH).respond(json={"code": 0, "data": {"records": [{"id": "s9", "name": "scan.pdf"}]}})
    result = await wait_for_sync(client, DS, 10, clock=clock)
    assert result.timed_out
    assert "1 failed ('scan.pdf')" in result.message
    assert (
        "wait_for_dataset_sync again" if result.finished_during_wait else "Stop waiting"
    ) in result.message


async def test_a_timed_out_wait_names_some_failed_sources_and_counts_the_rest(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    serve(mock, Dataset(clock, lambda t: (1, 2, 3)))
    mock.get(SOURCES_PATH).respond(
        json={"code": 0, "data": {"records": [{"id": "s8", "name": "a.csv"}, {"id": "s9", "name": "b.pdf"}]}}
    )
    result = await wait_for_sync(client, DS, 10, clock=clock)
    assert result.timed_out
    assert "3 failed" in result.message
    assert "a.csv" in result.message and "b.pdf" in result.message


async def test_a_timed_out_wait_whose_listing_failed_gives_the_count_and_the_reason(
    client: PowerdrillClient, clock: FakeClock, mock: respx.MockRouter
) -> None:
    serve(mock, Dataset(clock, lambda t: (1, 2, 1)))
    mock.get(SOURCES_PATH).mock(return_value=error(500, 9999, "listing down"))
    result = await wait_for_sync(client, DS, 10, clock=clock)
    assert result.timed_out and result.failed_sources == []
    assert "1 failed;" in result.message or "1 failed (" in result.message
    assert "could not be fetched" in result.message


# --- whose time ran out: Powerdrill's or pd-mcp's own budget ----------------------------


class Gate:
    """A request budget that lets the first `admit` requests through and holds every later one."""

    def __init__(self, admit: int) -> None:
        self.admit = admit

    async def acquire(self) -> None:
        if self.admit <= 0:
            await anyio.sleep_forever()
        self.admit -= 1


async def _sixty_waits(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, admit: int
) -> tuple[list[BaseException], int]:
    """60 concurrent 1-s waits on different datasets against a Powerdrill that never answers."""
    monkeypatch.setattr(waiter, "DEADLINE_GRACE", 0.05)  # real seconds past each (fake) deadline

    sent = 0

    async def hang(request: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    mock.get(url__regex=r"/v2/team/datasets/ds-\d+/status").mock(side_effect=hang)
    client = PowerdrillClient(config(), limiter=Gate(admit))
    failures: list[BaseException] = []

    async def one(n: int) -> None:
        try:
            await wait_for_sync(client, f"ds-{n}", 1, clock=FakeClock(), rng=NoJitter())
        except Exception as exc:
            failures.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for n in range(60):
                tg.start_soon(one, n)
    await client.aclose()
    return failures, sent


async def test_waits_that_never_left_the_budget_queue_say_so_not_that_powerdrill_was_silent(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures, sent = await _sixty_waits(mock, monkeypatch, admit=0)
    assert sent == 0 and len(failures) == 60
    for exc in failures:
        assert isinstance(exc, BudgetTimedOut)
        text = error_text(exc, "ds-1", "wait for")
        assert "still waited in pd-mcp's own queue" in text and "Powerdrill is not at fault" in text
        assert "no request was sent" not in text  # it would contradict the attempts it counts
        assert "one dataset at a time" in text and "did not answer" not in text
        assert "longer timeout_seconds" not in text  # the host may end a longer call
        assert "timeout_seconds left out (45 s)" in text  # but the default gives the queue time


async def test_a_sent_request_without_an_answer_blames_powerdrill(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures, sent = await _sixty_waits(mock, monkeypatch, admit=10**6)
    assert sent >= 60 and len(failures) == 60
    assert all(isinstance(exc, RequestTimedOut) for exc in failures)
    assert all("Powerdrill did not answer" in error_text(exc, "ds-1") for exc in failures)
    # A 1 s wait: retried with the same 1 s it would fail again; the step names the default.
    assert all(
        "timeout_seconds left out (45 s), as this wait had only 1 s" in error_text(exc) for exc in failures
    )


async def test_no_more_waits_blame_powerdrill_than_requests_were_sent(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding: 28 of 60 said "Powerdrill did not answer" when 33 requests had been sent in all."""
    failures, sent = await _sixty_waits(mock, monkeypatch, admit=33)
    assert len(failures) == 60 and sent == 33
    blamed = [exc for exc in failures if isinstance(exc, RequestTimedOut)]
    assert len(blamed) <= sent
    assert all(isinstance(exc, BudgetTimedOut | RequestTimedOut) for exc in failures)
