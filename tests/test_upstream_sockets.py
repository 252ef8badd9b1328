"""The upstream pool's asyncio network backend: the fence into httpx, and the socket's behaviour.

`upstream_sockets.use_asyncio_sockets` sets a private attribute of httpx's pool; the
first tests fail loudly if httpx or httpcore move it. The others drive real
loopback servers (started in the test's own loop, stopped by it): keep-alive
reuse, a kept-alive connection the server closed, timeouts, refusal, a large body
read under back-pressure, and TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpcore
import httpx
import pytest
from support import make_config

from pd_mcp import upstream_sockets
from pd_mcp.client import PowerdrillClient
from pd_mcp.upstream_sockets import AsyncioBackend, use_asyncio_sockets

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@contextlib.asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A loopback server on a free port running `handler` per connection; its base URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(run, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()


async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every request on the connection with OK (keep-alive)."""
    while True:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()


def transport() -> httpx.AsyncHTTPTransport:
    return use_asyncio_sockets(httpx.AsyncHTTPTransport(trust_env=False))


async def get(pool: httpx.AsyncHTTPTransport, url: str, **timeouts: float) -> tuple[int, bytes]:
    extensions = {"timeout": httpx.Timeout(5.0, **timeouts).as_dict()}
    response = await pool.handle_async_request(httpx.Request("GET", url, extensions=extensions))
    try:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response.status_code, body


# --- the fence ----------------------------------------------------------------------------


def test_the_client_pool_uses_the_asyncio_backend() -> None:
    """What `use_asyncio_sockets` relies on: httpx keeps an httpcore pool in `_pool`, the pool its
    backend in `_network_backend`. If this fails, httpx or httpcore changed: see the module."""
    pool = PowerdrillClient(make_config())._pool()
    assert isinstance(pool, httpx.AsyncHTTPTransport)
    assert isinstance(pool._pool, httpcore.AsyncConnectionPool)
    assert isinstance(pool._pool._network_backend, AsyncioBackend)


def test_a_transport_without_an_httpcore_pool_is_refused_loudly() -> None:
    odd = httpx.AsyncHTTPTransport()
    odd._pool = object()  # type: ignore[assignment]
    with pytest.raises(TypeError, match="httpcore pool"):
        use_asyncio_sockets(odd)


async def test_requests_reach_httpcore_through_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool asks the backend for its connections (and reuses one for sequential requests)."""
    connects = 0
    original = AsyncioBackend.connect_tcp

    async def counted(self: AsyncioBackend, *args: object, **kwargs: object) -> httpcore.AsyncNetworkStream:
        nonlocal connects
        connects += 1
        return await original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AsyncioBackend, "connect_tcp", counted)
    async with serving(answer_each) as url:
        pool = transport()
        for _ in range(3):
            assert await get(pool, url + "/x") == (200, b"ok")
        await pool.aclose()
    assert connects == 1


# --- the socket's behaviour ---------------------------------------------------------------


async def test_a_kept_alive_connection_the_server_closed_is_replaced() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()  # then close, as a server whose idle timeout ran out

    async with serving(once) as url:
        pool = transport()
        assert await get(pool, url) == (200, b"ok")
        await asyncio.sleep(0.05)  # the close arrives while the connection is idle in the pool
        assert await get(pool, url) == (200, b"ok")
        await pool.aclose()


async def test_a_silent_server_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(10)

    async with serving(silent) as url:
        pool = transport()
        with pytest.raises(httpx.ReadTimeout):
            await get(pool, url, read=0.1)
        await pool.aclose()


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serving(answer_each) as url:
        pass  # stopped: nothing listens on the port any more
    pool = transport()
    with pytest.raises(httpx.ConnectError):
        await get(pool, url)
    await pool.aclose()


async def test_a_server_that_ends_mid_answer_is_an_error_not_a_short_body() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")
        await writer.drain()

    async with serving(cut) as url:
        pool = transport()
        with pytest.raises(httpx.RemoteProtocolError):
            await get(pool, url)
        await pool.aclose()


async def test_a_large_body_arrives_whole_through_paused_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading pauses above the high-water mark and resumes as the body is consumed."""
    monkeypatch.setattr(upstream_sockets, "READ_HIGH_WATER", 4096)
    size = 3 * 1024 * 1024

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()

    async with serving(large) as url:
        pool = transport()
        status, body = await get(pool, url)
        await pool.aclose()
    assert status == 200 and len(body) == size


async def test_cancelling_a_request_leaves_the_pool_usable() -> None:
    async def slow_then_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.3)
        writer.write(OK)
        await writer.drain()
        await answer_each(reader, writer)

    async with serving(slow_then_ok) as url:
        pool = transport()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await get(pool, url)
        assert await get(pool, url) == (200, b"ok")
        await pool.aclose()


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for 127.0.0.1."""
    pytest.importorskip("cryptography")
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    here = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(here, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_tls_is_started_and_verified(tmp_path: Path) -> None:
    server_tls, client_tls = _self_signed(tmp_path)
    async with serving(answer_each, tls=server_tls) as url:
        pool = use_asyncio_sockets(httpx.AsyncHTTPTransport(verify=client_tls, trust_env=False))
        for _ in range(2):
            assert await get(pool, url) == (200, b"ok")
        await pool.aclose()
        untrusting = use_asyncio_sockets(httpx.AsyncHTTPTransport(trust_env=False))  # certifi's roots
        with pytest.raises(httpx.ConnectError):
            await get(untrusting, url)
        await untrusting.aclose()
