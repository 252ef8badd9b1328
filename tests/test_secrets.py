"""The API key never leaks: a canary key is followed down every path that produces text.

Paths: DEBUG logs (caplog in-process, and the stderr of a server subprocess run with
PD_MCP_LOG_LEVEL=DEBUG), error texts and tool results (text and structured), the str, repr
and formatted traceback of every error the client raises, the repr of the configuration and
runtime objects, the command line's output (`pd-mcp status`, `wait`, `check`), and crashes
(an unexpected exception whose message holds the key).

The upstreams: the sandbox configured to accept the canary (answers and faults), an
unreachable loopback port, and a hostile "echo" upstream that puts the key it was sent into
everything it answers: error messages, the `x-pd-trace-id` header, counts, source names and
an HTML page. No real Powerdrill host is ever contacted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import mcp
import pytest
import uvicorn
from pydantic import SecretStr
from support import CANARY_KEY, make_config, no_sleep, text_of

from pd_mcp import errors, settings
from pd_mcp.budget import LocalBudget
from pd_mcp.client import PowerdrillClient
from pd_mcp.sandbox import SandboxOptions, running_sandbox
from pd_mcp.server import Runtime, build_server
from pd_mcp.settings import ApiConfig

USER_ID = "user-canary-test"
PD_MCP = str(Path(sys.executable).parent / "pd-mcp")
SUBPROCESS_LIMIT = 60.0

# --- a hostile upstream that echoes the key it receives ----------------------------------------

# dataset id -> (HTTP status, body template, content type); "{key}" is replaced by the key sent.
ECHO_ANSWERS: dict[str, tuple[int, str, str]] = {
    "echo-auth": (403, '{"code": 1004, "message": "API key {key} is not valid"}', "application/json"),
    "echo-perm": (200, '{"code": 300002, "message": "key {key} has no access"}', "application/json"),
    "echo-missing": (200, '{"code": 300003, "message": "nothing for key {key}"}', "application/json"),
    "echo-bad": (400, '{"code": 300001, "message": "bad parameters with key {key}"}', "application/json"),
    "echo-unknown-code": (200, '{"code": 777, "message": "odd answer for {key}"}', "application/json"),
    "echo-limit": (429, '{"code": 201, "message": "slow down, {key}"}', "application/json"),
    "echo-5xx": (500, '{"code": 9999, "message": "internal error for {key}"}', "application/json"),
    "echo-html": (200, "<html><body>Hello {key}</body></html>", "text/html"),
    "echo-counts": (
        200,
        '{"code": 0, "data": {"synched_count": "{key}", "synching_count": 0, "invalid_count": 0}}',
        "application/json",
    ),
    "echo-ok": (
        200,
        '{"code": 0, "data": {"synched_count": 1, "synching_count": 0, "invalid_count": 1}}',
        "application/json",
    ),
}
ECHO_LISTING = (
    '{"code": 0, "data": {"total_items": 1, "page_number": 1, "page_size": 20, '
    '"records": [{"id": "src-{key}", "name": "file-{key}.csv", "status": "invalid"}]}}'
)
ERROR_ECHOES = [d for d in ECHO_ANSWERS if d != "echo-ok"]


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Plain ASGI: answers per dataset id, with the key it was sent in the body and trace header.

    Ids starting `hdr-` echo the key in `x-pd-trace-id` too (`hdr-echo-ok`, ...); others send a
    clean trace id, so a leak through the header can be told apart from one through the body.
    """
    assert scope["type"] == "http"
    headers = dict(scope["headers"])
    key = headers.get(b"x-pd-api-key", b"").decode("latin-1")
    parts = unquote(scope["path"]).split("/")
    dataset_id = parts[-2] if len(parts) >= 2 else ""
    header_echo = dataset_id.startswith("hdr-")
    dataset_id = dataset_id.removeprefix("hdr-")
    status, body, content_type = ECHO_ANSWERS.get(dataset_id, ECHO_ANSWERS["echo-auth"])
    if parts[-1] == "datasources":
        status, body, content_type = 200, ECHO_LISTING, "application/json"
    trace = f"trace-{key}" if header_echo else "trace-clean-0001"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"x-pd-trace-id", trace.encode("latin-1")),
                (b"retry-after", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.replace("{key}", key).encode()})


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 and a free port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the echo upstream did not start"
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(5)
        sock.close()


@contextlib.contextmanager
def unreachable_url() -> Iterator[str]:
    """A loopback port that refuses connections: bound, never listening, held for the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def config(base_url: str = "http://echo.test", **kw: Any) -> ApiConfig:
    return make_config(base_url=base_url, user_id=USER_ID, **kw)


def quick_client(cfg: ApiConfig, transport: httpx.AsyncBaseTransport | None = None) -> PowerdrillClient:
    return PowerdrillClient(cfg, transport=transport, sleep=no_sleep, limiter=LocalBudget(0.0))


def quick_runtime(cfg: ApiConfig, transport: httpx.AsyncBaseTransport | None = None) -> Runtime:
    runtime = Runtime(config=cfg, transport=transport)
    runtime._client = quick_client(cfg, transport)  # Runtime has no switch for sleep and limiter
    return runtime


def leaks(text: str) -> bool:
    return CANARY_KEY in text


# --- objects -------------------------------------------------------------------------------


def test_reprs_of_configuration_runtime_and_client_hide_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERDRILL_USER_ID", USER_ID)
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", CANARY_KEY)
    monkeypatch.setenv("PD_MCP_HTTP_TOKEN", CANARY_KEY + "-token")
    loaded = settings.load()
    resolved = loaded.resolve()
    runtime = Runtime(config=resolved)
    client = runtime.client()
    for obj in (loaded, resolved, runtime, client, resolved.api_key, loaded.api_key):
        for shown in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            assert not leaks(shown), shown
    assert not leaks(loaded.model_dump_json()) and not leaks(repr(loaded.model_dump()))
    assert not leaks(repr(vars(client)))
    assert resolved.api_key.get_secret_value() == CANARY_KEY  # held, as a secret type, end to end
    assert isinstance(loaded.api_key, SecretStr) and isinstance(resolved.api_key, SecretStr)


def test_configuration_errors_do_not_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", CANARY_KEY)
    monkeypatch.setenv("POWERDRILL_API_URL", "ftp://nowhere")
    monkeypatch.setenv("POWERDRILL_API_VERSION", "v3")
    monkeypatch.setenv("PD_MCP_RATE_LIMIT", "-1")
    with pytest.raises(errors.ConfigError) as caught:
        settings.load().resolve()
    for shown in (str(caught.value), repr(caught.value), "".join(traceback.format_exception(caught.value))):
        assert not leaks(shown), shown


# --- every error the client raises ---------------------------------------------------------


def exception_texts(exc: BaseException) -> list[str]:
    """Everything a log line, a traceback or a caller could print about `exc` and its causes."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), repr(seen.args), repr(vars(seen))]
        seen = seen.__cause__ or seen.__context__
    return texts


EXPECTED_CLASS = {
    "echo-auth": errors.AuthenticationError,
    "echo-perm": errors.PermissionDenied,
    "echo-missing": errors.DatasetNotFound,
    "echo-bad": errors.BadRequest,
    "echo-unknown-code": errors.UpstreamError,
    "echo-limit": errors.RateLimited,
    "echo-5xx": errors.UpstreamUnavailable,
    "echo-html": errors.MalformedResponse,
    "echo-counts": errors.MalformedResponse,
}


@pytest.mark.parametrize("dataset_id", ERROR_ECHOES)
async def test_errors_from_an_echoing_upstream_do_not_carry_the_key(dataset_id: str) -> None:
    client = quick_client(config(), httpx.ASGITransport(app=echo_app))
    try:
        with pytest.raises(errors.UpstreamError) as caught:
            await client.status(dataset_id)
    finally:
        await client.aclose()
    assert type(caught.value) is EXPECTED_CLASS[dataset_id]
    for shown in exception_texts(caught.value):
        assert not leaks(shown), shown


class Raising(httpx.AsyncBaseTransport):
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["x-pd-api-key"] == CANARY_KEY  # the key really was on the request
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("connection refused"), errors.NetworkError),
        (httpx.RemoteProtocolError("peer closed connection"), errors.NetworkError),
        (httpx.ReadTimeout("timed out"), errors.RequestTimedOut),
        (httpx.ConnectTimeout("timed out"), errors.RequestTimedOut),
    ],
)
async def test_network_errors_do_not_carry_the_key(exc: Exception, expected: type[Exception]) -> None:
    client = quick_client(config(), Raising(exc))
    try:
        with pytest.raises(expected) as caught:
            await client.status("ds-1")
    finally:
        await client.aclose()
    for shown in exception_texts(caught.value):
        assert not leaks(shown), shown


async def test_errors_on_a_refused_connection_and_bad_arguments_do_not_carry_the_key() -> None:
    with unreachable_url() as url:
        client = quick_client(config(url))
        try:
            with pytest.raises(errors.NetworkError) as refused:
                await client.status("ds-1")
            with pytest.raises(errors.InvalidArgument) as invalid:
                await client.status(CANARY_KEY + "/..")
        finally:
            await client.aclose()
    for exc in (refused.value, invalid.value):
        for shown in exception_texts(exc):
            assert not leaks(shown), shown


# --- the MCP tools, and their logs at DEBUG -----------------------------------------------


async def call_all(runtime: Runtime, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    results = []
    try:
        async with mcp.Client(build_server(runtime), mode="legacy") as client:
            for name, arguments in calls:
                results.append(await client.call_tool(name, arguments))
            try:  # the resource: the same report, or an MCP error whose message must be clean too
                results.append(await client.read_resource("powerdrill://datasets/echo-auth/status"))
            except Exception as exc:
                assert not leaks(str(exc)) and not leaks(repr(exc)), repr(exc)
    finally:
        await runtime.aclose()
    return results


def assert_results_clean(results: list[Any]) -> None:
    for result in results:
        dumped = result.model_dump_json()
        assert not leaks(dumped), dumped
        if hasattr(result, "content"):
            assert "Traceback" not in text_of(result)


def formatted_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would print it: message, arguments and exception text."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


async def test_tool_results_and_debug_logs_from_the_sandbox_hide_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sandbox accepts the canary as its key: answers, faults and waits, all at DEBUG."""
    caplog.set_level(logging.DEBUG)
    options = SandboxOptions(
        api_key=CANARY_KEY, user_id=USER_ID, rate_limit=0, seed=3, error_rate=0.2, drop_rate=0.2
    )
    with running_sandbox(options) as sb:
        calls = [
            ("get_dataset_status", {"dataset_id": d}) for d in ("ds-ready", "ds-partial", "ds-large")
        ] * 3
        calls += [
            ("get_dataset_status", {"dataset_id": d}) for d in ("ds-forbidden", "nope", "ds-internal-error")
        ]
        calls += [("wait_for_dataset_sync", {"dataset_id": "ds-sync-1", "timeout_seconds": 3})]
        results = await call_all(quick_runtime(config(sb.url)), calls)
    assert sum(1 for r in results[:9] if not r.is_error) >= 6  # real answers came back
    assert_results_clean(results)
    log = formatted_log(caplog)
    assert "upstream GET" in log and "DEBUG" in log  # the log really was at DEBUG
    assert not leaks(log), log


async def test_tool_results_and_debug_logs_from_an_echoing_upstream_hide_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Error messages, counts, source names and HTML that echo the key; the trace id does not."""
    caplog.set_level(logging.DEBUG)
    calls = [("get_dataset_status", {"dataset_id": d}) for d in ECHO_ANSWERS]
    calls += [
        ("wait_for_dataset_sync", {"dataset_id": d, "timeout_seconds": 1}) for d in ("echo-ok", "echo-auth")
    ]
    results = await call_all(quick_runtime(config(), httpx.ASGITransport(app=echo_app)), calls)
    assert_results_clean(results)
    ok = results[list(ECHO_ANSWERS).index("echo-ok")]
    assert not ok.is_error and ok.structured_content["failed_sources"], (
        ok
    )  # the echoed names arrived, scrubbed
    assert "[redacted]" in json.dumps(ok.structured_content)
    assert not leaks(formatted_log(caplog)), formatted_log(caplog)


async def test_a_trace_id_that_echoes_the_key_stays_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    calls = [
        ("get_dataset_status", {"dataset_id": d}) for d in ("hdr-echo-ok", "hdr-echo-5xx", "hdr-echo-auth")
    ]
    results = await call_all(quick_runtime(config(), httpx.ASGITransport(app=echo_app)), calls)
    assert_results_clean(results)  # the results are scrubbed...
    assert not leaks(formatted_log(caplog)), formatted_log(caplog)  # ...the log is not


# --- crashes ---------------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


async def crash(*_args: Any, **_kwargs: Any) -> Any:
    raise Boom(f"unexpected state while using key {CANARY_KEY}")


def boom_render(*_args: Any, **_kwargs: Any) -> str:
    raise Boom(f"cannot render with key {CANARY_KEY}")


CRASH_POINTS = {
    # inside the guarded part of the tool (pd_mcp.server._guarded → _failure)
    "report.dataset_status": ("pd_mcp.report.dataset_status", crash, "get_dataset_status"),
    "waiter.wait_for_sync": ("pd_mcp.waiter.wait_for_sync", crash, "wait_for_dataset_sync"),
    # after the guarded part: the success path that renders the report (pd_mcp.server._success)
    "report.render_text": ("pd_mcp.report.render_text", boom_render, "get_dataset_status"),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
async def test_a_crash_whose_message_holds_the_key_gives_a_clean_error_result(
    point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, replacement, tool = CRASH_POINTS[point]
    monkeypatch.setattr(target, replacement)
    with running_sandbox(SandboxOptions(api_key=CANARY_KEY, user_id=USER_ID, rate_limit=0)) as sb:
        result = (await call_all(quick_runtime(config(sb.url)), [(tool, {"dataset_id": "ds-ready"})]))[0]
    assert result.is_error, result
    text = text_of(result)
    assert not leaks(text) and not leaks(result.model_dump_json()), text
    assert "Traceback" not in text


@pytest.mark.parametrize("point", CRASH_POINTS)
async def test_a_crash_whose_message_holds_the_key_is_logged_without_it(
    point: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target, replacement, tool = CRASH_POINTS[point]
    monkeypatch.setattr(target, replacement)
    with running_sandbox(SandboxOptions(api_key=CANARY_KEY, user_id=USER_ID, rate_limit=0)) as sb:
        await call_all(quick_runtime(config(sb.url)), [(tool, {"dataset_id": "ds-ready"})])
    log = formatted_log(caplog)
    assert "Boom" in log  # the crash was logged (it should be, without the key)
    assert not leaks(log), log


# --- subprocesses: the server at DEBUG, and the command line ---------------------------------


def rpc(id_: int | None, method: str, params: dict[str, Any] | None = None) -> str:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        message["id"] = id_
    if params is not None:
        message["params"] = params
    return json.dumps(message) + "\n"


def session_input(calls: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [
        rpc(
            0,
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        ),
        rpc(None, "notifications/initialized"),
    ]
    lines += [
        rpc(n, "tools/call", {"name": name, "arguments": args}) for n, (name, args) in enumerate(calls, 1)
    ]
    lines.append(rpc(len(calls) + 1, "resources/read", {"uri": "powerdrill://datasets/echo-auth/status"}))
    return "".join(lines)


def environment(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_", "PD_SANDBOX_"))}
    env.update(
        POWERDRILL_USER_ID=USER_ID,
        POWERDRILL_PROJECT_API_KEY=CANARY_KEY,
        POWERDRILL_API_URL=url,
        PD_MCP_LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PD_MCP, *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def finish(process: subprocess.Popen[str], stdin: str | None = None) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(stdin, timeout=SUBPROCESS_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"{process.args} did not finish within {SUBPROCESS_LIMIT:g} s:\n{err[-2000:]}")
    return process.returncode, out, err


def run_concurrently(
    jobs: dict[str, tuple[list[str], dict[str, str], str | None]],
) -> dict[str, tuple[int, str, str]]:
    """Start every job, feed and drain each in its own thread, and wait for all of them."""
    started = {name: (start(args, env, stdin), stdin) for name, (args, env, stdin) in jobs.items()}
    with ThreadPoolExecutor(max_workers=len(started)) as pool:
        futures = {name: pool.submit(finish, process, stdin) for name, (process, stdin) in started.items()}
        return {name: future.result() for name, future in futures.items()}


SERVER_CALLS_ECHO = [("get_dataset_status", {"dataset_id": d}) for d in ECHO_ANSWERS] + [
    ("wait_for_dataset_sync", {"dataset_id": "echo-auth", "timeout_seconds": 1})
]
SERVER_CALLS_SANDBOX = [
    ("get_dataset_status", {"dataset_id": d})
    for d in ("ds-ready", "ds-partial", "ds-failed", "ds-forbidden", "nope")
] + [("wait_for_dataset_sync", {"dataset_id": "ds-sync-1", "timeout_seconds": 3})]
SERVER_CALLS_TRACE_ECHO = [
    ("get_dataset_status", {"dataset_id": d}) for d in ("hdr-echo-ok", "hdr-echo-auth")
]
SERVER_CALLS_CRASH = [("get_dataset_status", {"dataset_id": "echo-ok"})]
CRASHING_SITECUSTOMIZE = (
    "import os\n"
    "import pd_mcp.report\n"
    "async def _crash(*a, **k):\n"
    "    raise RuntimeError('crashed holding ' + os.environ['POWERDRILL_PROJECT_API_KEY'])\n"
    "pd_mcp.report.dataset_status = _crash\n"
)

SERVER_RUNS = ("server-sandbox", "server-echo", "server-trace-echo", "server-crash")
CLI_UNREACHABLE = {
    "status-json": ["status", "ds-1", "--json"],
    "wait": ["wait", "ds-1", "--timeout", "1"],
    "check": ["check"],
}
CLI_ECHO = {
    "status-auth": ["status", "echo-auth"],
    "status-json-5xx": ["status", "echo-5xx", "--json"],
    "wait-perm": ["wait", "echo-perm", "--timeout", "1"],
    "check": ["check"],
    "status-json-ok": ["status", "echo-ok", "--json"],
}


def responses(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """Every subprocess of this module, started at once and run to the end (they mostly wait)."""
    site = tmp_path_factory.mktemp("crashing-site")
    (site / "sitecustomize.py").write_text(CRASHING_SITECUSTOMIZE)
    options = SandboxOptions(
        api_key=CANARY_KEY, user_id=USER_ID, rate_limit=0, seed=5, error_rate=0.2, drop_rate=0.2
    )
    with running_sandbox(options) as sb, serving(echo_app) as echo, unreachable_url() as nowhere:
        jobs: dict[str, tuple[list[str], dict[str, str], str | None]] = {
            "server-sandbox": ([], environment(sb.url), session_input(SERVER_CALLS_SANDBOX)),
            "server-echo": ([], environment(echo), session_input(SERVER_CALLS_ECHO)),
            "server-trace-echo": ([], environment(echo), session_input(SERVER_CALLS_TRACE_ECHO)),
            "server-crash": (
                [],
                environment(echo, PYTHONPATH=str(site)),
                session_input(SERVER_CALLS_CRASH),
            ),
        }
        jobs |= {f"cli-unreachable-{k}": (v, environment(nowhere), None) for k, v in CLI_UNREACHABLE.items()}
        jobs |= {f"cli-echo-{k}": (v, environment(echo), None) for k, v in CLI_ECHO.items()}
        return run_concurrently(jobs)


@pytest.mark.parametrize(
    "name",
    [
        "server-sandbox",
        "server-echo",
        "server-trace-echo",
        "server-crash",
    ],
)
@pytest.mark.process
def test_a_server_at_debug_level_keeps_the_key_out_of_stdout_and_stderr(
    name: str, runs: dict[str, tuple[int, str, str]]
) -> None:
    """The real server, PD_MCP_LOG_LEVEL=DEBUG, JSON-RPC on stdin, then stdin closed.

    Upstreams: the sandbox (answers and faults), the echoing upstream (key in messages, counts,
    names, HTML), the same echoing the key in x-pd-trace-id, and a tool that crashes with the
    key in its message (a sitecustomize on PYTHONPATH replaces `pd_mcp.report.dataset_status`).
    """
    code, out, err = runs[name]
    assert code == 0, err[-2000:]
    answered = [r for r in responses(out) if "id" in r]
    assert len(answered) >= 2, out
    assert all("result" in r or "error" in r for r in answered)
    assert "upstream GET" in err or name == "server-crash", err[-500:]  # the log really was on
    assert "DEBUG" in err, err[-500:]
    if name == "server-crash":
        assert "crashed holding" in err  # the sitecustomize really made the tool crash
    assert not leaks(out), out
    assert not leaks(err), err


@pytest.mark.process
@pytest.mark.parametrize("name", list(CLI_UNREACHABLE))
def test_the_command_line_against_an_unreachable_api_never_prints_the_key(
    name: str, runs: dict[str, tuple[int, str, str]]
) -> None:
    code, out, err = runs[f"cli-unreachable-{name}"]
    assert code in (1, 3), (code, err)
    assert "reach" in err, err  # it said what went wrong
    assert "Traceback" not in err, err
    assert not leaks(out), out
    assert not leaks(err), err


@pytest.mark.process
@pytest.mark.parametrize("name", list(CLI_ECHO))
def test_the_command_line_against_an_echoing_upstream_never_prints_the_key(
    name: str, runs: dict[str, tuple[int, str, str]]
) -> None:
    code, out, err = runs[f"cli-echo-{name}"]
    assert "Traceback" not in err, err
    assert err.strip() or out.strip()
    if name.endswith("-ok"):
        assert code == 1 and "[redacted]" in out, (code, out, err)  # the echoed names, scrubbed
    assert not leaks(out), out
    assert not leaks(err), err
