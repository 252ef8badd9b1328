"""The upstream pool's sockets on asyncio's own transports: an httpcore network backend.

Why: on asyncio, httpcore's default backend goes through anyio, so every read and
write of a request opens a cancel scope, asks which event loop is running, and
every reuse of a kept-alive connection polls its socket with a system call. For
pd-mcp's one small GET per tool call that was about a third of the HTTP layer's
CPU (bench/RESULTS.md). httpcore and h11 still speak HTTP, pool and keep alive;
this module only moves bytes, with the same errors and timeouts as httpcore's own
backends (`ConnectTimeout`, `ReadError`, ...), which httpx maps as before.

`use_asyncio_sockets` puts the backend into an `httpx.AsyncHTTPTransport`; it is
the one place pd-mcp reaches past httpx's public API (see its docstring).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

from pd_mcp.httpx_loader import httpx

# Reading pauses while this much is received and not yet read (a large or hostile body is
# read no faster than pd-mcp consumes and counts it), and resumes below a quarter of it.
READ_HIGH_WATER = 256 * 1024
# As anyio's connect_tcp: a second address is tried after this long without an answer.
HAPPY_EYEBALLS_DELAY = 0.25


class _Socket(asyncio.Protocol):
    """Received bytes and the connection's state, for one `_Stream`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.ended = False  # end of stream from the peer, or the connection is lost
        self.error: BaseException | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reading = True
        self._writing = True
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= READ_HIGH_WATER and self._reading and self.transport is not None:
            self._reading = False
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # the transport closes itself: nothing more is sent on a connection the peer ended

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._writing = True
        self._wake()
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self._writing = False

    def resume_writing(self) -> None:
        self._writing = True
        self._wake()

    def take(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of what was received (reading resumes when little is left)."""
        if len(self.received) <= max_bytes:
            data = bytes(self.received)
            self.received.clear()
        else:
            data = bytes(self.received[:max_bytes])
            del self.received[:max_bytes]
        if not self._reading and len(self.received) < READ_HIGH_WATER // 4 and self.transport is not None:
            self._reading = True
            self.transport.resume_reading()
        return data

    async def readable(self, limit: float | None) -> None:
        """Wait until bytes arrive or the stream ends; `ReadTimeout` after `limit` seconds."""
        while not self.received and not self.ended:
            await self._wait(limit, httpcore.ReadTimeout)

    async def drained(self, limit: float | None) -> None:
        """Wait until the transport's send buffer is below its limit; `WriteTimeout` after `limit` seconds."""
        while not self._writing:
            await self._wait(limit, httpcore.WriteTimeout)

    async def _wait(self, limit: float | None, timed_out: type[Exception]) -> None:
        # A timer, not a cancel scope: the cheapest deadline for one future (and what it is for).
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if limit is None else loop.call_later(limit, _expire, waiter, timed_out)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], timed_out: type[Exception]) -> None:
    if not waiter.done():
        waiter.set_exception(timed_out("timed out"))


class _Stream(httpcore.AsyncNetworkStream):
    """One connection as httpcore uses it: read, write, close, start TLS, describe.

    The `timeout` parameters are httpcore's interface (seconds for that one step)."""

    def __init__(self, transport: asyncio.Transport, protocol: _Socket) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        protocol = self._protocol
        if not protocol.received and not protocol.ended:
            await protocol.readable(timeout)
        if protocol.received:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""  # the peer ended the stream: httpcore reads that as a closed connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        protocol = self._protocol
        if protocol.ended or self._transport.is_closing():
            raise httpcore.WriteError(str(protocol.error or "the connection is closed"))
        self._transport.write(buffer)
        await protocol.drained(timeout)

    async def aclose(self) -> None:
        # At once, as anyio's streams do: nothing unsent matters once httpcore drops a connection,
        # and no TLS close_notify is awaited (a silent peer would hold the close for 30 s).
        self._transport.abort()
        await asyncio.shield(self._protocol.lost)  # the socket is closed when this returns

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # the connection was lost during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self._protocol.transport = transport  # flow control now goes through the TLS layer
        return _Stream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle kept-alive connection that is readable was closed or broken
            return self._protocol.ended or bool(self._protocol.received)
        name = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername"}.get(info)
        if name is not None:
            return self._transport.get_extra_info(name)
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connections as asyncio transports (TCP_NODELAY on, as asyncio sets it for TCP)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Socket, host, port, local_addr=local, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("connecting timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        _set_options(transport, socket_options)
        return _Stream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Socket, path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("connecting timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        _set_options(transport, socket_options)
        return _Stream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _set_options(transport: asyncio.Transport, options: Iterable[Any] | None) -> None:
    sock: socket.socket = transport.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)


def use_asyncio_sockets(transport: httpx.AsyncHTTPTransport) -> httpx.AsyncHTTPTransport:
    """Make `transport`'s connection pool open its connections with `AsyncioBackend`.

    Why past the public API: httpx builds its httpcore pool itself and takes no network
    backend (httpcore's pool does, as `network_backend=`). The pool keeps the backend in
    `_network_backend` and asks it for every new connection; setting that attribute keeps
    every other setting httpx gave the pool (limits, TLS context, keep-alive).
    tests/test_upstream_sockets.py fails if either attribute moves.
    """
    pool = transport._pool
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise TypeError(f"httpx's transport no longer keeps an httpcore pool as expected ({type(pool)})")
    pool._network_backend = AsyncioBackend()
    return transport
