"""MCP over stdio: fast to answer the handshake, and no answer lost when stdin closes.

Why not the SDK's `stdio_server()` alone: it can only start reading once the
SDK has been imported (about a second), and at end of input it answers every
request still running with "Connection closed". Here a reader thread owns
stdin from the first millisecond: it queues every line for the SDK and, with a
recording from `handshake`, answers `initialize`/`tools/list` (and the
2026-07-28 `server/discover`) at once. When the SDK is ready it gets every
message in order; its answers to requests that were already answered are
compared with the recording and dropped, so the host sees each response once.
At end of input the session ends only after every open request is answered.

Like the SDK, this points fd 0 at the null device and fd 1 at stderr while
serving, so nothing but JSON-RPC reaches the real stdout.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import queue
import select
import stat
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from pd_mcp.handshake import EarlyAnswers
    from pd_mcp.refusals import Refusal

# The longest a tool call can legitimately run: the longest wait plus its grace.
DRAIN_LIMIT = 910.0
# How long an exit waits for a first recording of the handshake to be written.
RECORD_GRACE = 3.0
# When to import the tool-call modules: after the SDK has answered the handshake.
WARM_UP_AFTER = 0.5
_EOF = object()
# The longest write that is atomic on a pipe (4096 bytes on Linux, 512 on macOS).
_ATOMIC = getattr(select, "PIPE_BUF", 512)
# Linux's flag for a read or write that fails with EAGAIN instead of waiting (pipes, sockets),
# whatever the file's own blocking mode, which is shared with the host and left alone.
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None) if hasattr(os, "preadv") else None
_CHUNK = 65536


class _HandOver:
    """The reader thread's last item when the event loop takes stdin over: the line begun."""

    __slots__ = ("rest",)

    def __init__(self, rest: bytes) -> None:
        self.rest = rest


def _nowait_works(fd: int, write: bool) -> bool:
    """Whether `fd` honours `_NOWAIT` (a pipe or socket on Linux; probed with zero bytes)."""
    if _NOWAIT is None:
        return False
    try:
        if write:
            os.pwritev(fd, [b""], -1, _NOWAIT)
        else:
            os.preadv(fd, [bytearray(0)], -1, _NOWAIT)
    except OSError:  # EOPNOTSUPP: this kernel or this kind of file does not
        return False
    return True


def _split(pieces: list[bytes], chunk: bytes, emit: Any) -> list[bytes]:
    """Pass each line that `chunk` completes to `emit`; return the pieces of the line begun."""
    start = 0
    while (end := chunk.find(b"\n", start)) >= 0:
        if pieces:
            pieces.append(chunk[start : end + 1])
            emit(b"".join(pieces))
            pieces = []
        else:
            emit(chunk[start : end + 1])
        start = end + 1
    if start < len(chunk):
        pieces.append(chunk[start:] if start else chunk)
    return pieces


class Wire:
    """The process's stdin and stdout, claimed for JSON-RPC, with an optional early answerer.

    A reader thread reads stdin from the start (the event loop does not exist yet). Once the
    SDK serves (`hand_over`), a pipe or socket stdin is read on the event loop instead, so a
    request no longer hops from a thread to the loop; the thread's last item says where it
    stopped. Other kinds of stdin (a file, a terminal) and other systems keep the thread.
    """

    def __init__(self, early: EarlyAnswers | None = None) -> None:
        self.early = early
        self.answered: dict[Any, dict[str, Any]] = {}  # id -> the response sent early
        self.lines: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Reentrant: SIGTERM's handler runs on the event loop's thread, which may hold it for a
        # write of one whole line (see `send`); the handler then exits between two lines.
        self._lock = threading.RLock()
        self._waiter: tuple[Any, Any] | None = None  # (loop, event) of a `next_line` waiting
        self._waiter_lock = threading.Lock()
        self._in = os.dup(0)
        self._out = os.dup(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)  # stray prints now land on stderr
        self._reader = threading.Thread(target=self._read, name="pd-mcp-stdin", daemon=True)
        self._kind = self._out_kind()
        # The reader thread's wake-up for `hand_over` (-1: stdin stays with the thread).
        self._wake = os.pipe() if self._can_hand_over() else (-1, -1)
        self._pieces: list[bytes] = []  # the line begun, once the loop reads stdin
        self._ready: collections.deque[Any] = collections.deque()  # lines the loop read
        self._on_loop: Any = None  # the future a `next_line` on the loop waits on
        self._buffer = bytearray(_CHUNK)

    def start(self) -> Wire:
        self._reader.start()
        return self

    def _out_kind(self) -> str:
        """What stdout is: "pipe" (not waiting when full), "polled" (a pipe without that),
        "file", or "other" (see `send`)."""
        try:
            mode = os.fstat(self._out).st_mode
        except OSError:
            mode = 0
        if stat.S_ISFIFO(mode):
            if _nowait_works(self._out, write=True):
                return "pipe"
            return "polled" if hasattr(select, "poll") else "other"  # no poll on Windows
        return "file" if stat.S_ISREG(mode) else "other"

    def _can_hand_over(self) -> bool:
        try:
            mode = os.fstat(self._in).st_mode
        except OSError:
            return False
        pipe = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        return pipe and hasattr(select, "poll") and _nowait_works(self._in, write=False)

    def write(self, data: bytes) -> None:
        """Write all of `data`; a closed stdout (the host went away) ends the process at once, quietly."""
        with self._lock:
            view = memoryview(data)
            try:
                while view:
                    written = os.write(self._out, view)
                    view = view[written:]
            except OSError:  # EPIPE and the like: nobody can read an answer any more
                os._exit(0)

    async def send(self, data: bytes) -> None:
        """Write `data` without blocking the event loop.

        A line of at most PIPE_BUF bytes to a pipe with room for it (or to a file) is written
        here, on the loop's thread, in one system call: such a write is atomic and does not wait.
        Anything else (a longer line, a full pipe, a terminal or socket) is written from a worker
        thread.
        """
        if len(data) <= _ATOMIC:
            with self._lock:  # the room is looked at and taken under one lock
                if self._write_now(data):
                    return
        import anyio

        await anyio.to_thread.run_sync(self.write, data)

    def _write_now(self, data: bytes) -> bool:
        """Write `data` (at most PIPE_BUF bytes) if stdout takes it now without waiting."""
        if self._kind == "pipe":
            assert _NOWAIT is not None
            try:
                written = os.pwritev(self._out, [data], -1, _NOWAIT)
            except BlockingIOError:  # full: all or nothing, as for any atomic pipe write
                return False
            except OSError:  # EPIPE and the like, as in `write`
                os._exit(0)
            if written < len(data):  # never for a pipe's atomic write; finished here if it were
                self.write(data[written:])
            return True
        if self._kind == "file" or (self._kind == "polled" and self._room()):
            self.write(data)
            return True
        return False

    def _room(self) -> bool:
        """A pipe stdout can take PIPE_BUF bytes now (asked with poll, where `_NOWAIT` is missing)."""
        poller = select.poll()
        poller.register(self._out, select.POLLOUT)
        try:
            return any(events & select.POLLOUT for _, events in poller.poll(0))
        except OSError:
            return False

    def hand_over(self) -> None:
        """Let the event loop read stdin from now on, where that is possible (see the class)."""
        if self._wake[1] >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"!")

    async def next_line(self) -> Any:
        """The next line from stdin (or `_EOF`), handed to the event loop without a worker thread."""
        import asyncio

        if self._on_loop is not None:
            return await self._loop_line()
        while True:
            try:
                item = self.lines.get_nowait()
            except queue.Empty:
                pass
            else:
                if isinstance(item, _HandOver):
                    self._close_wake()
                    self._read_on_loop(item.rest)
                    return await self._loop_line()
                if item is _EOF:
                    self._close_wake()
                return item
            event = asyncio.Event()
            with self._waiter_lock:
                self._waiter = (asyncio.get_running_loop(), event)
            try:
                if self.lines.empty():  # a line queued before the waiter was set is seen here
                    await event.wait()
            finally:
                with self._waiter_lock:
                    self._waiter = None

    def _close_wake(self) -> None:
        """The thread has stopped (its last item was read): its wake-up pipe is not needed."""
        for fd in self._wake:
            if fd >= 0:
                os.close(fd)
        self._wake = (-1, -1)

    def _read_on_loop(self, rest: bytes) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        self._pieces = [rest] if rest else []
        self._on_loop = loop.create_future()
        loop.add_reader(self._in, self._readable)

    def _readable(self) -> None:
        """stdin is readable (on the loop): queue the lines it completes, or the end of input."""
        import asyncio

        assert _NOWAIT is not None
        try:
            size = os.preadv(self._in, [self._buffer], -1, _NOWAIT)
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if size:
            self._pieces = _split(self._pieces, bytes(self._buffer[:size]), self._queue_on_loop)
        else:
            asyncio.get_running_loop().remove_reader(self._in)
            os.close(self._in)
            self._queue_on_loop(b"".join(self._pieces))
            self._pieces = []
            self._ready.append(_EOF)
        if self._ready and not self._on_loop.done():
            self._on_loop.set_result(None)

    def _queue_on_loop(self, line: bytes) -> None:
        if line.strip():
            self._ready.append(line)

    async def _loop_line(self) -> Any:
        while not self._ready:
            if self._on_loop.done():
                self._on_loop = self._on_loop.get_loop().create_future()
            await self._on_loop
        return self._ready.popleft()

    def _put(self, item: Any) -> None:
        """Queue a line (from the reader thread) and wake a waiting `next_line`."""
        self.lines.put(item)
        with self._waiter_lock:
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, event = waiter
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                loop.call_soon_threadsafe(event.set)

    def exit_on_signal(self) -> None:
        """SIGTERM exits 0 and SIGINT 130 (as `pd-mcp wait` after Ctrl-C), at once and quietly,
        never in the middle of a JSON-RPC line."""
        import signal

        def stop(signum: int, frame: object) -> None:
            self._lock.acquire(timeout=1.0)
            os._exit(130 if signum == signal.SIGINT else 0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _read(self) -> None:
        """The reader thread: queue every line, answering what it can early, until the end of
        input or until `hand_over` (then its last item says what it had read of a line)."""
        pieces: list[bytes] = []
        last: Any = _EOF
        try:
            while (chunk := self._next_chunk()) is not None:
                if not chunk:
                    self._from_thread(b"".join(pieces))
                    break
                pieces = _split(pieces, chunk, self._from_thread)
            else:
                last = _HandOver(b"".join(pieces))
        except (OSError, ValueError):
            pass
        finally:
            if last is _EOF:
                with contextlib.suppress(OSError):
                    os.close(self._in)
            self._put(last)

    def _next_chunk(self) -> bytes | None:
        """The next bytes of stdin (b"" at its end), or None once `hand_over` was asked."""
        if self._wake[0] >= 0:
            poller = select.poll()
            poller.register(self._in, select.POLLIN)
            poller.register(self._wake[0], select.POLLIN)
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if self._wake[0] in ready:
                    return None
                if self._in in ready:
                    break
        return os.read(self._in, _CHUNK)

    def _from_thread(self, line: bytes) -> None:
        if not line.strip():
            return
        if self.early is not None and self.early.enabled:
            try:
                self._maybe_answer(line)
            except OSError:
                raise
            except Exception:  # RecursionError on deep nesting, anything else: the SDK answers
                self.early.enabled = False
        self._put(line)

    def _maybe_answer(self, line: bytes) -> None:
        assert self.early is not None
        try:  # decoded first: json.loads(bytes) skips a byte-order mark, which the SDK's parser refuses
            message = json.loads(line.decode("utf-8"))
        except ValueError:  # where Python's parser and the SDK's differ, the SDK alone answers
            self.early.enabled = False
            return
        response = self.early.answer(message)
        if response is not None:
            # Recorded before the line is queued, so the SDK's own answer is always recognized.
            self.answered[response["id"]] = response
            self.write(json.dumps(response, separators=(",", ":")).encode() + b"\n")

    def stop_answering(self) -> None:
        if self.early is not None:
            self.early.enabled = False


# Requests that by design never complete: not work to finish at the end of input.
_LISTENING = frozenset({"subscriptions/listen"})


def _key(request_id: Any) -> Any:
    """A request id as the SDK correlates it: "8" and 8 are one request."""
    from mcp.shared.dispatcher import as_request_id, coerce_request_id

    value = as_request_id(request_id)
    return coerce_request_id(value) if value is not None else request_id


class _OpenRequests:
    """Ids of requests handed to the SDK and not answered yet (keyed as the SDK keys them)."""

    def __init__(self) -> None:
        import anyio

        self._open: set[Any] = set()
        self._event = anyio.Event()
        self._event.set()

    def opened(self, request_id: Any) -> None:
        import anyio

        if not self._open:
            self._event = anyio.Event()
        self._open.add(_key(request_id))

    def closed(self, request_id: Any) -> None:
        self._open.discard(_key(request_id))
        if not self._open:
            self._event.set()

    async def drained(self) -> None:
        await self._event.wait()

    def __len__(self) -> int:
        return len(self._open)


async def run_stdio(mcp: MCPServer, wire: Wire, *, record: bool = False) -> None:
    """Serve `mcp` on `wire` until stdin ends and every open request is answered.

    With `record`, the handshake answers are recorded in the background for the next start.
    """
    import math

    import anyio

    from pd_mcp.sdk_internals import run_on_streams

    open_requests = _OpenRequests()
    serving = anyio.CancelScope()
    in_send, in_receive = anyio.create_memory_object_stream[Any](math.inf)
    out_send, out_receive = anyio.create_memory_object_stream[Any](math.inf)

    async def pump_in() -> None:
        await _pump_in(wire, in_send, out_send, open_requests)
        # Every real request is answered; what is left only listens, and ends with the input.
        serving.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump_in)
        tg.start_soon(_pump_out, wire, out_receive, open_requests)
        wire.stop_answering()
        wire.hand_over()
        tg.start_soon(_warm_up)
        recorded = anyio.Event()
        if record:
            tg.start_soon(_record, mcp, recorded)
        else:
            recorded.set()
        async with out_send, in_receive:
            with serving:
                await run_on_streams(mcp, in_receive, out_send)
        with anyio.move_on_after(RECORD_GRACE):  # a recording happens once per build; let it finish
            await recorded.wait()
        tg.cancel_scope.cancel()


async def _pump_in(wire: Wire, in_send: Any, out_send: Any, open_requests: _OpenRequests) -> None:
    """Hand stdin's messages to the SDK, noting open requests; at its end wait for their answers."""
    import anyio
    from mcp.shared.message import SessionMessage
    from mcp_types import JSONRPCNotification, JSONRPCRequest, jsonrpc_message_adapter

    from pd_mcp import refusals

    refuser = _Refuser(wire.answered)
    async with in_send:
        while True:
            line = await wire.next_line()
            if line is _EOF:
                break
            try:
                message = jsonrpc_message_adapter.validate_json(line, by_name=False)
            except Exception:  # the SDK would drop it, and a host waiting for an answer would hang
                await refuser.refuse(line, refusals.of_unreadable(line), out_send)
                continue
            if isinstance(message, JSONRPCNotification) and refusals.carries_id(line):
                await refuser.refuse(line, refusals.bad_id(), out_send)  # `"id": null` and the like
                continue
            if isinstance(message, JSONRPCRequest) and message.method not in _LISTENING:
                open_requests.opened(message.id)
            elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
                open_requests.closed((message.params or {}).get("requestId"))
            await in_send.send(SessionMessage(message))
        if len(open_requests):
            _log().info("stdin closed with %d request(s) in flight; answering them first", len(open_requests))
            with anyio.move_on_after(DRAIN_LIMIT):
                await open_requests.drained()


async def _pump_out(wire: Wire, out_receive: Any, open_requests: _OpenRequests) -> None:
    """Write the SDK's messages to stdout, except its answers to requests answered early."""
    from mcp_types import JSONRPCError, JSONRPCResponse

    async with out_receive:
        async for item in out_receive:
            message = item.message
            data = message.model_dump_json(by_alias=True, exclude_unset=True)
            response = isinstance(message, JSONRPCResponse | JSONRPCError)
            if response and _answered_early(wire, message.id, data):
                open_requests.closed(message.id)
                continue
            await wire.send(data.encode() + b"\n")
            if response:
                open_requests.closed(message.id)  # once written: then the end of input may end us


def _answered_early(wire: Wire, request_id: Any, data: str) -> bool:
    """Whether the request was answered from the recording; a differing answer drops the recording."""
    sent = wire.answered.pop(request_id, None)
    if sent is None:
        return False
    if json.loads(data) != sent:
        _log().warning(
            "an early handshake answer differed from the server's; recording anew SENT=%s GOT=%s",
            json.dumps(sent)[:600],
            data[:600],
        )
        _forget_recording()
    return True


def _log() -> logging.Logger:
    return logging.getLogger("pd_mcp.stdio")


class _Refuser:
    """Answers the lines the SDK cannot take (see `refusals`), logging each without its content."""

    LOUD = 20  # lines logged at WARNING; after that at debug level, so a flood cannot fill the log

    def __init__(self, answered: dict[Any, Any]) -> None:
        self._answered = answered  # an id answered early has had its answer: none is added
        self._count = 0

    async def refuse(self, line: bytes, refusal: Refusal | None, out_send: Any) -> None:
        """Send `refusal` for `line` (None: a line never answered) and log one line about it."""
        from mcp.shared.message import SessionMessage
        from mcp_types import ErrorData, JSONRPCError

        from pd_mcp import messages, refusals

        self._count += 1
        level = logging.WARNING if self._count <= self.LOUD else logging.DEBUG
        start = refusals.excerpt(line, os.environ.get("POWERDRILL_PROJECT_API_KEY", "").strip())
        if refusal is None or (refusal.id is not None and refusal.id in self._answered):
            why = "a malformed response" if refusal is None else f"{refusal.reason}, its id answered already"
            _log().log(level, messages.WIRE_IGNORED_LOG, why, len(line), start)
        else:
            ident, code = json.dumps(refusal.id), refusal.code
            _log().log(level, messages.WIRE_REFUSED_LOG, refusal.reason, code, ident, len(line), start)
            error = ErrorData(code=code, message=refusal.message)
            await out_send.send(SessionMessage(JSONRPCError(jsonrpc="2.0", id=refusal.id, error=error)))
        if self._count == self.LOUD:
            _log().warning(messages.WIRE_QUIET_LOG, self._count)


async def _warm_up() -> None:
    """Import what the first tool call needs once the handshake is over, so that call is not slower."""
    import anyio

    await anyio.sleep(WARM_UP_AFTER)

    def load() -> None:
        import pd_mcp.report
        import pd_mcp.settings
        import pd_mcp.waiter  # noqa: F401

    await anyio.to_thread.run_sync(load)


def _forget_recording() -> None:
    """Drop a recording the server disagreed with; the next start records a new one."""
    from pd_mcp import handshake

    path = handshake.cache_file()
    if path is not None:
        path.unlink(missing_ok=True)


async def _record(mcp: MCPServer, done: Any) -> None:
    """Record the handshake from this server for the next start (when no valid recording exists)."""
    from pd_mcp import handshake
    from pd_mcp.sdk_internals import lowlevel

    try:
        handshake.save(await handshake.generate(lowlevel(mcp)))
    except Exception as exc:  # a start-up optimisation must never break serving
        logging.getLogger("pd_mcp.stdio").debug("could not record the handshake: %r", exc)
    finally:
        done.set()


def fast_main(*, sandbox: bool = False) -> int:
    """Every stdio start: claim the wire first, answer the handshake, then load the SDK.

    `sandbox`: the tools answer from the simulated API, started in this process.
    """
    from pd_mcp import handshake

    enabled = os.environ.get("PD_MCP_PRELOAD", "1").strip() != "0"
    manifest = handshake.load() if enabled else None
    wire = Wire(handshake.EarlyAnswers(manifest) if manifest else None).start()
    wire.exit_on_signal()

    from pd_mcp.logs import configure_logging

    configure_logging("INFO")
    import anyio

    from pd_mcp.serving import assembled

    async def main() -> None:
        async with assembled(sandbox=sandbox) as (_, mcp):
            await run_stdio(mcp, wire, record=enabled and manifest is None)

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
    sys.stderr.flush()
    return 0
