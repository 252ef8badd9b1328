# The simulated Powerdrill API as a Starlette app: the dataset endpoints of
# v2 and v1 (status, data-source listing, dataset listing), with Powerdrill's authentication,
# error envelope, rate limit and trace ids, plus opt-in fault injection and a
# request log. It exists so the MCP server, its tests, the demo and benchmarks
# can run against realistic answers with no credentials and no network.
"""The sandbox state (`Sandbox`), its options (`SandboxOptions`) and its ASGI app.

Choices where Powerdrill's documents leave room (all deliberate):

- Authentication: a missing `x-pd-api-key` is code 1003, a wrong one 1004
  (both HTTP 403). On v2 a missing `user_id` is 1003 ("a header or user id is
  missing") and a `user_id` other than the configured one is 1004.
- Order of checks: authentication, then the rate limit, then the paging
  parameters, then the dataset. Only requests that pass authentication count
  against the rate limit, and only admitted requests fill the window.
- Faults (error, drop, malformed) apply only to requests to the four per-dataset endpoints
  that passed authentication and the rate limit, so auth and 429 answers stay
  deterministic. Added latency applies to every request, 404s included.
  A malformed body replaces only a successful answer (code 0); for other
  answers the draw is made but has no effect.
- v2 `total_items` counts every source that matches the filter (not just the
  page); v1 `total` is the number of pages, as the v1 document says.
- The dataset listing (`/v2/team/datasets`, `/v1/team/datasets`) lists
  `scenarios.CATALOGUE`, filtered by `search` (v1 `name`) as a case-insensitive
  part of the name or description; it is authenticated and rate-limited like
  the rest, never faulted, and starts no dataset's clock.
- A dataset's clock starts with the first request for it that passes
  authentication, the rate limit and parameter checks ("first asked about").
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import os
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pd_mcp.httpx_loader import httpx
from pd_mcp.sandbox import scenarios
from pd_mcp.sandbox.scenarios import STATUSES, Scenario, SourceStatus

SANDBOX_USER_ID = "sandbox-user"
SANDBOX_API_KEY = "sandbox-key"
SANDBOX_HEADER = "x-pd-mcp-sandbox"
TRACE_HEADER = "x-pd-trace-id"
API_KEY_HEADER = "x-pd-api-key"
EXTERNAL_TRACE_HEADER = "x-pd-external-trace-id"

DEFAULT_RATE_LIMIT = 20
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
DEFAULT_LOG_LIMIT = 10_000

# Malformed bodies, used in this order, round and round.
MALFORMED_KINDS: tuple[str, ...] = (
    "truncated",  # valid JSON cut in half
    "html",  # an HTML page (text/html) where JSON was expected
    "array",  # a JSON array instead of the envelope object
    "strings",  # counts as strings ("5")
    "missing_field",  # a count (status) or `records` (listing) left out
    "negative",  # negative counts
    "null_data",  # "data": null with code 0
    "no_code",  # the envelope without `code`
)
# HTTP statuses of injected errors, used in this order, round and round. 502 has no body.
ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)

ENV_VARS: dict[str, str] = {
    "latency_ms": "PD_SANDBOX_LATENCY_MS",
    "error_rate": "PD_SANDBOX_ERROR_RATE",
    "drop_rate": "PD_SANDBOX_DROP_RATE",
    "malformed_rate": "PD_SANDBOX_MALFORMED_RATE",
    "seed": "PD_SANDBOX_SEED",
    "rate_limit": "PD_SANDBOX_RATE_LIMIT",
    "sync_seconds": "PD_SANDBOX_SYNC_SECONDS",
}

Version = Literal["v1", "v2"]
Leaf = Literal["status", "datasources"]

_RECORD_KEY = "pd_sandbox.record"


class InjectedDrop(httpx.RemoteProtocolError):
    """Raised by the app to drop a connection mid-response (the drop fault).

    Under a real server the connection is closed after part of the body, so a
    client sees a protocol error. It subclasses httpx's `RemoteProtocolError`
    so that under `httpx.ASGITransport`, which re-raises app exceptions as they
    are, a client sees the same transport error it would see over a socket.
    """

    def __init__(self) -> None:
        super().__init__("sandbox: connection dropped mid-response (injected fault)")


# --- options ---------------------------------------------------------------------------


def _check_number(label: str, value: float, low: float, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{label} must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ValueError(f"{label} must be {bounds}, got {value!r}")


@dataclass
class SandboxOptions:
    """Every knob of the sandbox; all faults default to off."""

    user_id: str = SANDBOX_USER_ID
    api_key: str = field(default=SANDBOX_API_KEY, repr=False)
    sync_seconds: float = scenarios.DEFAULT_SYNC_SECONDS  # finish time of ds-syncing and ds-partial
    rate_limit: int = DEFAULT_RATE_LIMIT  # requests per second per API key; 0 disables
    latency_ms: float = 0.0  # added to every response
    error_rate: float = 0.0  # share of HTTP 500/502/503 answers
    drop_rate: float = 0.0  # share of connections dropped mid-response
    malformed_rate: float = 0.0  # share of malformed successful answers
    seed: int = 0  # seed of the random draws of faults
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    log_limit: int = DEFAULT_LOG_LIMIT  # most recent requests kept in the request log

    def __post_init__(self) -> None:
        if not self.user_id or not self.api_key:
            raise ValueError("user_id and api_key must not be empty")
        _check_number("sync_seconds", self.sync_seconds, 0.001)
        _check_number("latency_ms", self.latency_ms, 0)
        for name in ("error_rate", "drop_rate", "malformed_rate"):
            _check_number(name, getattr(self, name), 0, 1)
        for name in ("rate_limit", "seed", "log_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if self.rate_limit < 0:
            raise ValueError(f"rate_limit must be 0 (off) or more, got {self.rate_limit}")
        if self.log_limit < 1:
            raise ValueError(f"log_limit must be at least 1, got {self.log_limit}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> SandboxOptions:
        """Options from the `PD_SANDBOX_*` variables (of `environ`, default `os.environ`).

        Keyword overrides win over the environment; an empty variable counts as
        unset. A value that is not a number raises ValueError naming the variable.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown sandbox option(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, variable in ENV_VARS.items():
            raw = env.get(variable, "").strip()
            if not raw or name in overrides:
                continue
            integer = name in ("seed", "rate_limit")
            try:
                value = int(raw) if integer else float(raw)
            except ValueError:
                raise ValueError(
                    f"{variable} must be {'an integer' if integer else 'a number'}, got {raw!r}"
                ) from None
            try:
                one: dict[str, Any] = {name: value}
                cls(**one)  # checks this value's range, so the error can name the variable
            except ValueError as exc:
                raise ValueError(f"{variable}: {exc}") from None
            values[name] = value
        values.update(overrides)
        return cls(**values)

    def summary(self) -> str:
        """One line with the knobs, for printing (no secrets: the key is left out)."""
        limit = f"{self.rate_limit}/s" if self.rate_limit else "off"
        return (
            f"sync {self.sync_seconds:g} s, rate limit {limit}, latency {self.latency_ms:g} ms, "
            f"error rate {self.error_rate:g}, drop rate {self.drop_rate:g}, "
            f"malformed rate {self.malformed_rate:g}, seed {self.seed}"
        )


# --- request log -----------------------------------------------------------------------


@dataclass(slots=True)
class LoggedRequest:
    """One request as the sandbox saw it. Never holds the API key's value."""

    time: float  # the sandbox clock (monotonic by default) at arrival
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    api_key_present: bool
    external_trace_id: str | None
    trace_id: str  # the x-pd-trace-id sent back
    dataset_id: str | None = None  # set for the four per-dataset endpoints
    status: int | None = None  # HTTP status sent (None until the response starts)
    code: int | None = None  # body code sent, when there was one
    fault: str | None = None  # e.g. "drop", "error-502", "malformed-html"

    def param(self, name: str) -> str | None:
        """The last value of query parameter `name`, or None."""
        found = [value for key, value in self.query if key == name]
        return found[-1] if found else None


# --- answers ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, {"code": code, "message": message}, headers or {})


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _json_response(answer: _Answer) -> Response:
    return Response(_dumps(answer.body), answer.status, answer.headers, media_type="application/json")


class _DropResponse(Response):
    """Announces the full body, sends half of it, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
        )
        raise InjectedDrop()


_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server is not responding.</p></body></html>"
)


def _count_fields(version: Version) -> tuple[str, str, str]:
    if version == "v2":
        return ("synched_count", "invalid_count", "synching_count")
    return ("synchedCount", "invalidCount", "synchingCount")


def _page_fields(version: Version) -> tuple[str, str, str]:
    if version == "v2":
        return ("total_items", "page_number", "page_size")
    return ("total", "pageNumber", "pageSize")


def malformed_body(kind: str, version: Version, leaf: Leaf, envelope: Mapping[str, Any]) -> tuple[bytes, str]:
    """The bytes and content type of a successful `envelope` spoiled in the way `kind` names."""
    whole = _spoiled_whole(kind, envelope)
    if whole is not None:
        return whole
    spoil = _SPOILERS.get(kind)
    if spoil is None:
        raise ValueError(f"unknown malformed kind {kind!r}")
    data: dict[str, Any] = copy.deepcopy(dict(envelope["data"]))
    spoil(data, _count_fields(version) if leaf == "status" else _page_fields(version), leaf)
    return _dumps({"code": 0, "data": data}), "application/json"


def _spoiled_whole(kind: str, envelope: Mapping[str, Any]) -> tuple[bytes, str] | None:
    """The kinds that spoil the body as a whole (not the fields of its data), or None."""
    json_type = "application/json"
    if kind == "truncated":
        raw = _dumps(envelope)
        return raw[: max(1, len(raw) // 2)], json_type
    if kind == "html":
        return _HTML_PAGE, "text/html; charset=utf-8"
    if kind == "array":
        return _dumps([envelope]), json_type
    if kind == "null_data":
        return _dumps({"code": 0, "data": None}), json_type
    if kind == "no_code":
        return _dumps({"data": envelope["data"]}), json_type
    return None


def _numbers_as_strings(data: dict[str, Any], numbers: tuple[str, ...], leaf: Leaf) -> None:
    for name in numbers:
        data[name] = str(data[name])


def _field_missing(data: dict[str, Any], numbers: tuple[str, ...], leaf: Leaf) -> None:
    data.pop(numbers[2] if leaf == "status" else "records")


def _numbers_negative(data: dict[str, Any], numbers: tuple[str, ...], leaf: Leaf) -> None:
    for name in numbers:
        data[name] = -(int(data[name]) + 1)
    for record in data.get("records", []):
        if "size" in record:
            record["size"] = -1


# The kinds that spoil fields of the data, each changing the copy it is given.
_SPOILERS: dict[str, Callable[[dict[str, Any], tuple[str, ...], Leaf], None]] = {
    "strings": _numbers_as_strings,
    "missing_field": _field_missing,
    "negative": _numbers_negative,
}


# --- the sandbox -----------------------------------------------------------------------


class Sandbox:
    """The simulated API's state (dataset clocks, rate windows, request log) and its app."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        self._clock = self.options.clock
        self._lock = threading.Lock()
        self._rng = random.Random(self.options.seed)
        self._first_asked: dict[str, float] = {}
        self._windows: dict[str, deque[float]] = {}
        self._log: deque[LoggedRequest] = deque(maxlen=self.options.log_limit)
        self._per_dataset: Counter[str] = Counter()
        self._malformed_turn = 0
        self._error_turn = 0
        self.app: Starlette = self._build_app()

    # --- what tests read ---------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, oldest first (at most `log_limit` entries)."""
        with self._lock:
            return list(self._log)

    @property
    def dataset_requests(self) -> dict[str, int]:
        """Requests to the dataset endpoints per dataset id, whatever their outcome."""
        with self._lock:
            return dict(self._per_dataset)

    def max_requests_in_window(self, window: float = 1.0, *, dataset_id: str | None = None) -> int:
        """The most logged requests (of one dataset, if given) inside any `window`-second span."""
        times = sorted(r.time for r in self.requests if dataset_id is None or r.dataset_id == dataset_id)
        best = start = 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def first_asked(self, dataset_id: str) -> float | None:
        """Clock time of the first request that started `dataset_id`'s clock, or None."""
        with self._lock:
            return self._first_asked.get(dataset_id)

    def clear_log(self) -> None:
        """Forget logged requests and per-dataset counts (dataset clocks keep running)."""
        with self._lock:
            self._log.clear()
            self._per_dataset.clear()

    # --- the app -----------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        def endpoint(version: Version, leaf: Leaf, param: str) -> Callable[[Request], Any]:
            async def handle(request: Request) -> Response:
                return self._respond(request, version, leaf, request.path_params[param])

            handle.__name__ = f"{version}_{leaf}"
            return handle

        def listing(version: Version) -> Callable[[Request], Any]:
            async def handle(request: Request) -> Response:
                return self._respond_listing(request, version)

            handle.__name__ = f"{version}_datasets"
            return handle

        routes = [
            Route("/v2/team/datasets", listing("v2"), methods=["GET"]),
            Route("/v1/team/datasets", listing("v1"), methods=["GET"]),
            Route("/v2/team/datasets/{id}/status", endpoint("v2", "status", "id"), methods=["GET"]),
            Route("/v2/team/datasets/{id}/datasources", endpoint("v2", "datasources", "id"), methods=["GET"]),
            Route(
                "/v1/team/datasets/{datasetId}/status",
                endpoint("v1", "status", "datasetId"),
                methods=["GET"],
            ),
            Route(
                "/v1/team/datasets/{datasetId}/datasources",
                endpoint("v1", "datasources", "datasetId"),
                methods=["GET"],
            ),
        ]
        app = Starlette(
            routes=routes,
            middleware=[Middleware(_Envelope, sandbox=self)],
            exception_handlers={HTTPException: self._http_error},
        )
        app.router.redirect_slashes = False  # Powerdrill does not redirect; a trailing slash is a 404
        return app

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        """Unknown routes and methods, in Powerdrill's error envelope."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            answer = _error(404, 300003, f"resource not found: no endpoint {request.url.path}")
        elif status == 405:
            code = 100 if request.url.path.startswith("/v1/") else 300001
            answer = _error(405, code, "method not allowed: this endpoint only accepts GET", {"allow": "GET"})
        else:
            answer = _error(status, 9999, "internal error")
        self._note(request, code=answer.body["code"])
        return _json_response(answer)

    def _note(self, request: Request, **changes: Any) -> None:
        record = request.scope.get(_RECORD_KEY)
        if isinstance(record, LoggedRequest):
            for name, value in changes.items():
                setattr(record, name, value)

    def _respond(self, request: Request, version: Version, leaf: Leaf, dataset_id: str) -> Response:
        """Decide the answer, then let the fault knobs spoil it."""
        with self._lock:
            self._per_dataset[dataset_id] += 1
            self._note(request, dataset_id=dataset_id)
            answer = self._gate(request, version)
            if answer is not None:  # auth failure or 429: never faulted
                self._note(request, code=answer.body["code"])
                return _json_response(answer)
            answer = self._answer(request, version, leaf, dataset_id)
            # Three draws on every faultable request keep the random stream aligned with the
            # request sequence whatever the rates; a drop wins over an error over a malformed body.
            drop, error, malformed = (self._rng.random() for _ in range(3))
            opts = self.options
            if drop < opts.drop_rate:
                self._note(request, fault="drop", code=None)
                return _DropResponse(_dumps(answer.body), answer.status, media_type="application/json")
            if error < opts.error_rate:
                status = ERROR_STATUSES[self._error_turn % len(ERROR_STATUSES)]
                self._error_turn += 1
                self._note(request, fault=f"error-{status}")
                if status == 502:  # a gateway's empty answer
                    self._note(request, code=None)
                    return Response(b"", status, media_type="application/json")
                self._note(request, code=9999)
                return _json_response(_error(status, 9999, "internal error (sandbox: injected fault)"))
            if malformed < opts.malformed_rate and answer.status == 200 and answer.body.get("code") == 0:
                kind = MALFORMED_KINDS[self._malformed_turn % len(MALFORMED_KINDS)]
                self._malformed_turn += 1
                body, media_type = malformed_body(kind, version, leaf, answer.body)
                self._note(request, fault=f"malformed-{kind}", code=None)
                return Response(body, 200, media_type=media_type)
            self._note(request, code=answer.body["code"])
            return _json_response(answer)

    def _respond_listing(self, request: Request, version: Version) -> Response:
        """The dataset listing: authentication, the rate limit, paging and the keyword filter."""
        with self._lock:
            answer = self._gate(request, version)
            if answer is None:
                answer = _dataset_listing(request, version)
            self._note(request, code=answer.body["code"])
            return _json_response(answer)

    def _gate(self, request: Request, version: Version) -> _Answer | None:
        """Authentication and the rate limit; None when the request may go on."""
        key = request.headers.get(API_KEY_HEADER, "")
        if not key:
            return _error(403, 1003, "insufficient authentication: the x-pd-api-key header is missing")
        if not hmac.compare_digest(key.encode(), self.options.api_key.encode()):
            return _error(403, 1004, "bad credentials: the API key is not valid")
        if version == "v2":
            user_id = request.query_params.get("user_id", "")
            if not user_id:
                return _error(403, 1003, "insufficient authentication: the user_id parameter is missing")
            if user_id != self.options.user_id:
                return _error(403, 1004, "bad credentials: the user_id does not belong to this API key")
        retry_after = self._admit(hashlib.sha256(key.encode()).hexdigest())
        if retry_after is not None:
            limit = self.options.rate_limit
            return _error(
                429,
                201,
                f"request frequency limit: at most {limit} requests per second",
                {"retry-after": str(retry_after)},
            )
        return None

    def _admit(self, key_digest: str) -> int | None:
        """Sliding one-second window per key: None if admitted, else Retry-After seconds."""
        limit = self.options.rate_limit
        if limit <= 0:
            return None
        now = self._clock()
        window = self._windows.setdefault(key_digest, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return max(1, math.ceil(window[0] + 1.0 - now))
        window.append(now)
        return None

    def _answer(self, request: Request, version: Version, leaf: Leaf, dataset_id: str) -> _Answer:
        """The true answer for an authenticated, admitted request."""
        paging: tuple[int, int, list[SourceStatus] | None] | None = None
        if leaf == "datasources":
            parsed = _paging(request, version)
            if isinstance(parsed, _Answer):
                return parsed
            paging = parsed
        if dataset_id == scenarios.FORBIDDEN_DATASET:
            return _error(200, 300002, "no permission for this resource")
        if dataset_id == scenarios.INTERNAL_ERROR_DATASET:
            return _error(500, 9999, "internal error")
        scenario = scenarios.find_scenario(dataset_id, float(self.options.sync_seconds))
        if scenario is None:
            return _error(200, 300003, "resource not found")
        now = self._clock()
        elapsed = now - self._first_asked.setdefault(dataset_id, now)
        if paging is None:
            counts = scenario.counts(elapsed)
            names = _count_fields(version)
            data = dict(zip(names, (counts.synched, counts.invalid, counts.synching), strict=True))
        else:
            data = _listing(scenario, elapsed, version, *paging)
        return _Answer(200, {"code": 0, "data": data})


def _dataset_listing(request: Request, version: Version) -> _Answer:
    """One page of the project's datasets, filtered by `search` (v2) or `name` (v1)."""
    paging = _paging(request, version)
    if isinstance(paging, _Answer):
        return paging
    number, size, _ = paging
    keyword = request.query_params.get("search" if version == "v2" else "name", "")
    if len(keyword) > 128:
        code = 300001 if version == "v2" else 100
        return _error(400, code, "invalid parameters: the search keyword is longer than 128 characters")
    found = scenarios.search_catalogue(keyword.strip())
    records = [
        {"id": d.id, "name": d.name, "description": d.description}
        for d in found[(number - 1) * size : number * size]
    ]
    if version == "v2":
        data = {"page_number": number, "page_size": size, "total_items": len(found), "records": records}
    else:
        data = {
            "pageNumber": number,
            "pageSize": size,
            "total": scenarios.page_count(len(found), size),
            "records": records,
        }
    return _Answer(200, {"code": 0, "data": data})


def _paging(request: Request, version: Version) -> tuple[int, int, list[SourceStatus] | None] | _Answer:
    """Page number, page size and status filter of a listing, or the 400 answer."""
    bad_code = 300001 if version == "v2" else 100
    _, number_name, size_name = _page_fields(version)
    query = request.query_params
    values: list[int] = []
    for name, default in ((number_name, 1), (size_name, DEFAULT_PAGE_SIZE)):
        raw = query.get(name)
        if raw is None or raw == "":
            values.append(default)
            continue
        try:
            values.append(int(raw.strip()))
        except ValueError:
            return _error(400, bad_code, f"invalid parameters: {name} must be an integer")
    number, size = values
    if number < 1:
        return _error(400, bad_code, f"invalid parameters: {number_name} must be 1 or more")
    if not 1 <= size <= MAX_PAGE_SIZE:
        return _error(400, bad_code, f"invalid parameters: {size_name} must be between 1 and {MAX_PAGE_SIZE}")
    wanted: list[SourceStatus] | None = None
    raw_status = query.get("status")
    if raw_status:
        wanted = []
        for part in raw_status.split(","):
            match = next((s for s in STATUSES if s == part.strip()), None)
            if match is None:
                allowed = ", ".join(STATUSES)
                return _error(400, bad_code, f"invalid parameters: status must be one of {allowed}")
            wanted.append(match)
    return number, size, wanted


def _listing(
    scenario: Scenario,
    elapsed: float,
    version: Version,
    number: int,
    size: int,
    wanted: list[SourceStatus] | None,
) -> dict[str, Any]:
    """One page of the data-source listing, in the field names of `version`."""
    rows = [
        (source, status)
        for source, status in zip(scenario.sources, scenario.statuses(elapsed), strict=True)
        if wanted is None or status in wanted
    ]
    page = rows[(number - 1) * size : number * size]
    if version == "v2":
        records = [
            {
                "id": s.id,
                "dataset_id": scenario.dataset_id,
                "name": s.file_name,
                "type": "FILE",
                "status": status,
                "size": s.size,
            }
            for s, status in page
        ]
        return {"total_items": len(rows), "page_number": number, "page_size": size, "records": records}
    records = [
        {
            "id": s.id,
            "datasetId": scenario.dataset_id,
            "name": s.file_name,
            "fileName": s.file_name,
            "type": "FILE",
            "status": status,
        }
        for s, status in page
    ]
    return {
        "total": scenarios.page_count(len(rows), size),
        "pageNumber": number,
        "pageSize": size,
        "records": records,
    }


class _Envelope:
    """Pure ASGI middleware: logs each request, adds latency, stamps the two headers."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        trace_id = f"sbx-{uuid.uuid4().hex}"
        record = _arrival(scope, trace_id, sandbox.options, sandbox._clock())
        with sandbox._lock:
            sandbox._log.append(record)
        scope[_RECORD_KEY] = record

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (TRACE_HEADER.encode(), SANDBOX_HEADER.encode())
                ]
                headers += [(TRACE_HEADER.encode(), trace_id.encode()), (SANDBOX_HEADER.encode(), b"true")]
                message = {**message, "headers": headers}
                record.status = message["status"]
            await send(message)

        if sandbox.options.latency_ms > 0:
            await anyio.sleep(sandbox.options.latency_ms / 1000)
        await self.app(scope, receive, stamped)


def _arrival(scope: Scope, trace_id: str, options: SandboxOptions, now: float) -> LoggedRequest:
    """The log entry of an arriving request: the key's presence only, never its value."""
    key = ""
    external: str | None = None
    for name, value in scope.get("headers", []):
        if name == API_KEY_HEADER.encode():
            key = value.decode("latin-1")
        elif name == EXTERNAL_TRACE_HEADER.encode():
            external = value.decode("latin-1")
    secrets = {s for s in (key, options.api_key) if s}
    query = tuple(
        (k, "<redacted>" if v in secrets or "key" in k.lower() else v)
        for k, v in Request(scope).query_params.multi_items()
    )
    return LoggedRequest(
        time=now,
        method=scope.get("method", ""),
        path=scope.get("path", ""),
        query=query,
        api_key_present=bool(key),
        external_trace_id=external,
        trace_id=trace_id,
    )
