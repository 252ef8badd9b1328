"""The Powerdrill HTTP client: dataset status and the names of failed data sources.

One connection pool (httpx's `AsyncHTTPTransport`) per process, created on first use (importing this
module opens nothing), reused with keep-alive. Every attempt goes through a
process-wide request budget first, carries a fresh `x-pd-external-trace-id`,
and logs one line to stderr. The budget's slot is checked again where the
request's first byte is written (`_SendGate`): Powerdrill counts arrivals, and a
request that took long to get a connection would otherwise arrive in the same
second as the ones booked after it. Any answer that is not the documented JSON with
sane counts becomes an `UpstreamError`, never a verdict.

Two bounds hold for every answer, whoever asked for it (tools, resource, the
command line, `check`): one deadline of `PD_MCP_REQUEST_TIMEOUT` covers
connecting, the headers and the whole body (httpx's own timeouts bound each
socket read only, so a server that drips one byte at a time would never time
out), and the body is read as a stream of decoded bytes and stopped at
`MAX_BODY_BYTES`, so a compressed bomb cannot inflate in memory.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import ssl
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import anyio

from pd_mcp import __version__
from pd_mcp.budget import Budget, close_budget, make_budget, rebook
from pd_mcp.coalesce import Coalescer, Flight
from pd_mcp.errors import (
    AuthenticationError,
    BadRequest,
    DatasetNotFound,
    MalformedResponse,
    NetworkError,
    PermissionDenied,
    RateLimited,
    Redirected,
    RequestTimedOut,
    UpstreamError,
    UpstreamUnavailable,
)
from pd_mcp.httpx_loader import httpx
from pd_mcp.models import Counts, DatasetEntry, DatasetPage, FailedSource, StatusAnswer
from pd_mcp.settings import ApiConfig
from pd_mcp.upstream_sockets import use_asyncio_sockets
from pd_mcp.validation import dataset_id as check_dataset_id

if TYPE_CHECKING:
    from tenacity import RetryCallState

log = logging.getLogger("pd_mcp.upstream")

SANDBOX_HEADER = "x-pd-mcp-sandbox"
MAX_FAILED_SOURCES = 20
MAX_PAGE_SIZE = 100  # the largest page the listings accept
MAX_RETRY_AFTER = 60.0
POOL_SIZE = 20  # upstream connections at most, all kept alive between calls
# From a granted slot to the request's first byte, at most this long (seconds), or the slot is
# given up and the next one taken. The budget's 10% margin is 0.1 s in a one-second window.
SEND_LATE = 0.02
# The largest answer read, after decompression: Powerdrill's status and listing answers are a
# few kilobytes, so anything near this is not an answer worth a verdict.
MAX_BODY_BYTES = 4 * 1024 * 1024

# Sent with every request (what httpx.AsyncClient would add, with pd-mcp's own values).
_HEADERS = {
    "accept": "application/json",
    "accept-encoding": "gzip",
    "connection": "keep-alive",
    "user-agent": f"pd-mcp/{__version__}",
}

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")
Parser = Callable[[dict[str, Any], str | None], T]

# Envelope code -> (error class, meaning). Codes decide; _STATUSES (by HTTP status) is the fallback.
_CODES: dict[int, tuple[type[UpstreamError], str]] = {
    100: (BadRequest, "bad request"),
    300001: (BadRequest, "invalid parameters"),
    100001: (BadRequest, "invalid operation"),
    300002: (PermissionDenied, "no permission for this dataset"),
    300003: (DatasetNotFound, "dataset not found"),
    201: (RateLimited, "rate limit reached (20 requests per second per team)"),
    1002: (AuthenticationError, "expired credentials"),
    1003: (AuthenticationError, "insufficient authentication: a header or the user id is missing"),
    1004: (AuthenticationError, "bad credentials: the API key was refused"),
    9999: (UpstreamUnavailable, "internal error at Powerdrill"),
}
_STATUSES: dict[int, tuple[type[UpstreamError], str]] = {
    400: (BadRequest, "invalid parameters"),
    401: (AuthenticationError, "the API key was refused"),
    402: (UpstreamError, "the request was valid but failed"),
    403: (PermissionDenied, "no permission or bad credentials"),
    404: (DatasetNotFound, "not found"),
    409: (UpstreamError, "conflict"),
    429: (RateLimited, "too many requests"),
}


class PowerdrillClient:
    """Talks to one Powerdrill API (v2 or v1) with one configuration."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        limiter: Budget | None = None,
    ) -> None:
        self.config = config
        self._transport = transport
        self._sleep = sleep
        self._http: httpx.AsyncBaseTransport | None = None
        timeout = config.request_timeout
        self._timeouts = httpx.Timeout(timeout, connect=min(5.0, timeout)).as_dict()
        self._limiter = limiter or make_budget(config)  # this process's own, or the fleet's in Redis
        self._reads: Coalescer[StatusAnswer] = Coalescer()

    @property
    def api_version(self) -> str:
        return self.config.api_version

    def _pool(self) -> httpx.AsyncBaseTransport:
        """The connection pool, created on first use (or the transport given, for tests).

        Requests go straight to the transport: pd-mcp uses none of what `httpx.AsyncClient`
        adds around it (auth, cookies, redirects, event hooks), and skipping those layers
        takes about a tenth of the CPU of a warm tool call.
        """
        if self._http is None:
            self._http = self._transport or use_asyncio_sockets(
                httpx.AsyncHTTPTransport(
                    verify=_tls_context(self.config.base_url),
                    # Keep-alive limit = pool size: httpcore drops a returned connection when the pool
                    # holds more than the keep-alive limit, so a lower one opens a connection per call.
                    limits=httpx.Limits(
                        max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE, keepalive_expiry=30
                    ),
                    trust_env=False,
                )
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await close_budget(self._limiter)

    # --- the two calls -------------------------------------------------------------

    async def status(
        self, dataset_id: str, *, retry: bool = True, joined: Callable[[Flight], None] | None = None
    ) -> StatusAnswer:
        """The three counts of `dataset_id`, with the response's trace id.

        Callers asking for the same dataset while its read is in flight share that read;
        `joined` receives the read's `Flight`, which tells whether its request was sent yet.
        """
        dataset_id = check_dataset_id(dataset_id)
        key = (dataset_id, retry)
        return await self._reads.run(key, lambda flight: self._status(dataset_id, retry, flight), joined)

    async def _status(self, dataset_id: str, retry: bool, flight: Flight | None = None) -> StatusAnswer:
        params = {"user_id": self.config.user_id} if self.api_version == "v2" else {}
        version = self.api_version
        counts, trace_id, simulated = await self._get(
            self._path(dataset_id, "status"),
            params,
            lambda data, trace: parse_counts(data, version, trace),
            retry,
            flight,
        )
        return StatusAnswer(counts=counts, trace_id=trace_id, simulated=simulated)

    async def failed_sources(
        self, dataset_id: str, *, limit: int = MAX_FAILED_SOURCES, retry: bool = True
    ) -> list[FailedSource]:
        """Up to `limit` data sources of `dataset_id` whose status is invalid."""
        dataset_id = check_dataset_id(dataset_id)
        if self.api_version == "v2":
            params = {
                "user_id": self.config.user_id,
                "status": "invalid",
                "page_number": 1,
                "page_size": limit,
            }
        else:
            params = {"status": "invalid", "pageNumber": 1, "pageSize": limit}
        sources, _, _ = await self._get(self._path(dataset_id, "datasources"), params, parse_sources, retry)
        return sources[:limit]

    async def list_datasets(self, search: str = "", *, page_size: int = MAX_PAGE_SIZE) -> DatasetPage:
        """The first page of the project's datasets whose name or description contains `search`."""
        page_size = max(1, min(MAX_PAGE_SIZE, page_size))
        params: dict[str, Any]
        if self.api_version == "v2":
            params = {"user_id": self.config.user_id, "page_number": 1, "page_size": page_size}
            if search:
                params["search"] = search[:128]
        else:
            params = {"pageNumber": 1, "pageSize": page_size}
            if search:
                params["name"] = search[:128]
        version = self.api_version
        page, _, _ = await self._get(
            f"/{version}/team/datasets",
            params,
            lambda data, trace: parse_datasets(data, version, page_size, trace),
            False,
        )
        return page

    # --- transport ----------------------------------------------------------------

    def _path(self, dataset_id: str, leaf: str) -> str:
        return f"/{self.api_version}/team/datasets/{quote(dataset_id, safe='')}/{leaf}"

    async def _get(
        self,
        path: str,
        params: Mapping[str, Any],
        parse: Parser[T],
        retry: bool,
        flight: Flight | None = None,
    ) -> tuple[T, str | None, bool]:
        """GET and parse, retrying transient failures when `retry` (bounded in attempts and time)."""
        started = time.monotonic()
        try:  # the common case needs no retry machinery
            return await self._attempt(path, params, parse, 1, flight)
        except UpstreamError as exc:
            if not retry or not exc.retryable:
                exc.attempts, exc.elapsed = 1, time.monotonic() - started
                raise
            first = exc
        # Tenacity takes over from that first failure, which it replays as its own attempt 1
        # (imported only now: a call that succeeds at once, the usual case, never loads it).
        from tenacity import AsyncRetrying, retry_if_exception

        attempt = 1
        cfg = self.config

        def stop(state: RetryCallState) -> bool:
            elapsed = time.monotonic() - started
            wait = getattr(state.outcome.exception() if state.outcome else None, "retry_after", None)
            return state.attempt_number >= cfg.max_attempts or elapsed + (wait or 0) >= cfg.max_retry_seconds

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                return retry_after
            # Full jitter: uniform between 0 and an exponential ceiling (0.5 s, 1 s, 2 s, ... 4 s).
            return random.uniform(0, min(4.0, 0.5 * 2 ** (state.attempt_number - 1)))

        sleep: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(e, UpstreamError) and e.retryable),
            stop=stop,
            wait=wait,
            reraise=True,
            **sleep,
        )
        try:
            async for try_ in retrying:
                with try_:
                    attempt = try_.retry_state.attempt_number
                    if attempt == 1:
                        raise first
                    result = await self._attempt(path, params, parse, attempt, flight)
            return result
        except UpstreamError as exc:
            exc.attempts = attempt
            exc.elapsed = time.monotonic() - started
            exc.attempt_limit = f"{cfg.max_attempts} attempts or {cfg.max_retry_seconds:g} s"
            raise

    async def _attempt(
        self, path: str, params: Mapping[str, Any], parse: Parser[T], attempt: int, flight: Flight | None
    ) -> tuple[T, str | None, bool]:
        """One request: budget, send, log, classify, parse."""
        gate = _SendGate(self._limiter, flight)
        await gate.open()
        external = f"pd-mcp-{uuid.uuid4().hex}"
        headers = {
            "x-pd-api-key": self.config.api_key.get_secret_value(),
            "x-pd-external-trace-id": external,
        }
        url = self.config.base_url + path
        started = time.perf_counter()
        status: int | None = None
        trace_id: str | None = None
        outcome = "cancelled"
        try:
            try:
                with anyio.fail_after(self.config.request_timeout):
                    response, content = await self._fetch(url, params, headers, gate)
            except (httpx.TimeoutException, TimeoutError) as exc:
                outcome = "timeout"
                raise RequestTimedOut(
                    f"Powerdrill did not answer within {self.config.request_timeout:g} s."
                ) from exc
            except httpx.TransportError as exc:
                outcome = "network-error"
                raise NetworkError(
                    f"could not reach Powerdrill at {self.config.base_url} ({type(exc).__name__})."
                ) from exc
            status = response.status_code
            # An upstream that echoes the key must not get it into a message, even cut short.
            key = headers["x-pd-api-key"]
            if content is None:
                outcome = "too-large"
                raise MalformedResponse(
                    f"Powerdrill's answer was larger than {MAX_BODY_BYTES // (1024 * 1024)} MB, "
                    "far beyond any status answer, and was not read.",
                    status=status,
                )
            content = content.replace(key.encode(), b"[redacted]") if key else content
            trace_id = _clean_header((response.headers.get("x-pd-trace-id") or "").replace(key, "[redacted]"))
            simulated = response.headers.get(SANDBOX_HEADER) == "true"
            try:
                parsed = parse(classify(status, content, response.headers, trace_id), trace_id)
            except UpstreamError as exc:
                outcome = type(exc).__name__
                exc.simulated = simulated
                raise
            outcome = "ok"
            return parsed, trace_id, simulated
        finally:
            # A successful request is routine (its trace id is in the result): DEBUG, so a
            # serving process at the default INFO does no logging work per tool call.
            log.log(
                logging.DEBUG if outcome == "ok" else logging.INFO,
                "upstream GET %s status=%s outcome=%s ms=%.1f trace_id=%s external_trace_id=%s attempt=%d",
                path,
                status if status is not None else "-",
                outcome,
                (time.perf_counter() - started) * 1000,
                trace_id or "-",
                external,
                attempt,
            )

    async def _fetch(
        self, url: str, params: Mapping[str, Any], headers: Mapping[str, str], gate: _SendGate
    ) -> tuple[httpx.Response, bytes | None]:
        """Send and read the decoded body, stopping at MAX_BODY_BYTES (then the body is None).

        Decoding is done here, not by httpx, because its decoder inflates a whole network chunk
        at once: 64 kB of a gzip bomb become 64 MB before anything can count them.
        """
        request = httpx.Request(
            "GET",
            url,
            params=params,
            headers={**_HEADERS, **headers},
            extensions={"timeout": self._timeouts, "trace": gate.trace},
        )
        response = await self._pool().handle_async_request(request)
        try:
            if response.is_stream_consumed:  # a transport that answered from memory (test doubles)
                return response, response.content if len(response.content) <= MAX_BODY_BYTES else None
            body = _BoundedBody(response.headers.get("content-encoding", ""))
            async for raw in response.aiter_raw():
                if not body.feed(raw):
                    return response, None
            return response, body.finish()
        finally:
            await response.aclose()


class _SendGate:
    """Holds one request to the budget's slot, checked when its headers are about to be written.

    httpcore awaits the `trace` extension at each step of a request; at
    `send_request_headers.started` the connection is ready and the next write is the
    request. A test double that answers from memory never calls it: the slot taken in
    `open` is then all there is.
    """

    __slots__ = ("_budget", "_flight", "_granted")

    def __init__(self, budget: Budget, flight: Flight | None) -> None:
        self._budget, self._flight = budget, flight
        self._granted = 0.0

    async def open(self) -> None:
        await self._budget.acquire()
        self._took_slot()

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if not event.endswith("send_request_headers.started"):
            return
        late = time.monotonic() - self._granted
        if late > SEND_LATE:
            # Nothing yields between this and the write but the write itself, so one new slot does.
            log.debug("request budget: %.0f ms from slot to request; taking the next slot", late * 1000)
            if self._flight is not None:
                self._flight.sent = False  # back in pd-mcp's queue: a deadline now is ours, not Powerdrill's
            await rebook(self._budget)
            self._took_slot()

    def _took_slot(self) -> None:
        self._granted = time.monotonic()
        if self._flight is not None:
            self._flight.sent = True


def _tls_context(base_url: str) -> ssl.SSLContext | bool:
    """httpx's default (certifi's CA bundle) for https; for plain http, a context that trusts nothing.

    Every request goes to `base_url` and redirects are never followed, so a plain-http
    upstream (the sandbox, a local proxy) never starts TLS: loading the CA bundle would only
    cost a command's start tens of milliseconds. Were TLS ever used, that context fails closed.
    """
    if urlsplit(base_url).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


class _BoundedBody:
    """Decoded bytes of a response body, gzip or deflate inflated in steps, never past the cap."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._inflate = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # gzip or zlib header
        else:  # only gzip is asked for (accept-encoding); anything else cannot be read safely
            raise MalformedResponse(f"Powerdrill's answer came in an unexpected encoding ({encoding[:20]}).")
        self._chunks: list[bytes] = []
        self._size = 0

    def feed(self, raw: bytes) -> bool:
        """Take raw bytes; False once the decoded body is over MAX_BODY_BYTES."""
        if self._inflate is None:
            return self._keep(raw)
        data = raw
        while data:
            try:
                out = self._inflate.decompress(data, MAX_BODY_BYTES + 1 - self._size)
            except zlib.error as exc:
                raise MalformedResponse("Powerdrill's answer could not be decompressed.") from exc
            if not self._keep(out):
                return False
            data = self._inflate.unconsumed_tail
        return True

    def _keep(self, chunk: bytes) -> bool:
        self._size += len(chunk)
        if self._size > MAX_BODY_BYTES:
            return False
        self._chunks.append(chunk)
        return True

    def finish(self) -> bytes:
        return b"".join(self._chunks)


# --- pure parsing: bytes in, data or a typed error out ---------------------------------


def classify(status: int, content: bytes, headers: Mapping[str, str], trace_id: str | None) -> dict[str, Any]:
    """Return the envelope's `data` object, or raise the error the answer stands for."""
    try:
        envelope = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        envelope = None
    code = envelope.get("code") if isinstance(envelope, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        code = None
    # Powerdrill's API documentation and the status endpoints say `message`; some of its examples say `msg`.
    said = _said((envelope.get("message") or envelope.get("msg")) if isinstance(envelope, dict) else None)
    retry_after = parse_retry_after(headers.get("retry-after"))

    if 300 <= status < 400:
        # Never followed (the key would go with it), and not a passing fault: the URL is wrong.
        where = urlsplit(headers.get("location") or "").hostname
        to = f" to {_printable(where)}" if where else ""
        raise Redirected(
            f"Powerdrill answered with a redirect (HTTP {status}{to}), which pd-mcp does not follow so "
            "that the API key goes nowhere else: POWERDRILL_API_URL is probably not the API's address.",
            status=status,
            trace_id=trace_id,
        )
    if code not in (None, 0) or status >= 400:
        known = _error_kind(code, status)
        if known is None and code is None and status < 400:
            raise MalformedResponse(
                "Powerdrill's answer had no usable 'code'.", status=status, trace_id=trace_id
            )
        cls, meaning = known or (UpstreamError, "unexpected error")
        # "HTTP 200" next to "error" reads as a contradiction: a 200 answer shows only its code.
        http = f"HTTP {status}" if status != 200 else ""
        detail = ", ".join(p for p in (http, f"code {code}" if code is not None else "") if p)
        said = _unless_repeated(said, meaning)
        text = f"Powerdrill answered with an error: {meaning} ({detail}){said}."
        raise cls(text, status=status, code=code, trace_id=trace_id, retry_after=retry_after)

    if code is None:
        raise MalformedResponse(
            f"Powerdrill's answer was not the documented JSON envelope (HTTP {status}).",
            status=status,
            trace_id=trace_id,
        )
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        raise MalformedResponse("Powerdrill's answer had no 'data' object.", status=status, trace_id=trace_id)
    return data


def _error_kind(code: int | None, status: int) -> tuple[type[UpstreamError], str] | None:
    """The error class and its meaning for a Powerdrill code, else for the HTTP status, else None."""
    known = _CODES.get(code) if code is not None else None
    known = known or _STATUSES.get(status)
    if known is None and status >= 500:
        return UpstreamUnavailable, "server error"
    return known


_COUNT_FIELDS = {
    "v2": ("synched_count", "synching_count", "invalid_count"),
    "v1": ("synchedCount", "synchingCount", "invalidCount"),
}


# No dataset holds a trillion sources; a larger count is a broken answer (and a
# 4,300-digit one could not even be turned into text).
MAX_COUNT = 10**12


def parse_counts(data: Mapping[str, Any], api_version: str, trace_id: str | None) -> Counts:
    """The three counts, each a non-negative integer, or `MalformedResponse`."""
    values = []
    for name in _COUNT_FIELDS[api_version]:
        value = data.get(name)
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            shown = "missing" if name not in data else f"{type(value).__name__} {str(value)[:40]!r}"
            raise MalformedResponse(
                f"Powerdrill's status answer has an unusable {name} ({shown}), so no verdict can be given.",
                trace_id=trace_id,
            )
        values.append(value)
    return Counts(synched=values[0], synching=values[1], invalid=values[2])


def parse_sources(data: Mapping[str, Any], trace_id: str | None) -> list[FailedSource]:
    """The records of a data-source listing, as `{id, name}`."""
    records = data.get("records")
    if not isinstance(records, list):
        raise MalformedResponse("Powerdrill's data-source listing had no 'records' list.", trace_id=trace_id)
    sources = []
    for record in records:
        if not isinstance(record, dict):
            continue
        ident, name = record.get("id"), record.get("name") or record.get("fileName")
        if isinstance(ident, str) and isinstance(name, str):
            sources.append(FailedSource(id=_printable(ident)[:200], name=_printable(name)[:200]))
    return sources


def parse_datasets(
    data: Mapping[str, Any], api_version: str, page_size: int, trace_id: str | None
) -> DatasetPage:
    """A page of the dataset listing; v1's `total` counts pages, so the total is then an estimate."""
    records = data.get("records")
    if not isinstance(records, list):
        raise MalformedResponse("Powerdrill's dataset listing had no 'records' list.", trace_id=trace_id)
    entries = []
    for record in records:
        if not isinstance(record, dict):
            continue
        ident, name, about = record.get("id"), record.get("name"), record.get("description")
        if isinstance(ident, str) and ident:
            entries.append(
                DatasetEntry(
                    id=_printable(ident)[:200],
                    name=_printable(name)[:200] if isinstance(name, str) else "",
                    description=_printable(about)[:200] if isinstance(about, str) else "",
                )
            )
    raw_total = data.get("total_items" if api_version == "v2" else "total")
    total = raw_total if isinstance(raw_total, int) and not isinstance(raw_total, bool) else len(entries)
    if api_version == "v1":  # a number of pages: at least one more dataset per page beyond the first
        total = len(entries) if total <= 1 else (total - 1) * page_size + 1
    return DatasetPage(records=tuple(entries), total=max(total, len(entries)))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or HTTP date), capped at a minute."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _unless_repeated(said: str, label: str) -> str:
    """`said` without what repeats `label`: nothing when all its words are in the label, and
    without a leading `bad credentials:` the label starts with too."""
    if not said:
        return ""
    quoted = said[len(': "') : -1]
    if set(_words(quoted)) <= set(_words(label)):
        return ""
    head, colon, rest = quoted.partition(":")
    if colon and rest.strip() and _words(label)[: len(_words(head))] == _words(head):
        return f': "{rest.strip()}"'
    return said


def _said(message: object) -> str:
    if not isinstance(message, str) or not message.strip():
        return ""
    return f': "{_printable(message.strip())[:200]}"'


def _clean_header(value: str | None) -> str | None:
    if not value:
        return None
    return _printable(value)[:200]
