"""Every upstream answer is bounded in time and in memory, and a redirect is never followed.

A hostile or broken upstream (or anything between us and Powerdrill) must not
hang a call, fill the memory, or send the key elsewhere. The slow and large
answers come from a real server on loopback, because the point is what the
real socket and decoder do; the memory bound is measured in a fresh process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
import respx
from support import make_config

from pd_mcp.client import MAX_BODY_BYTES, PowerdrillClient
from pd_mcp.errors import MalformedResponse, RequestTimedOut, UpstreamError

STATUS = "/v2/team/datasets/ds-1/status"


def _drip_server(stop: threading.Event) -> Iterator[str]:
    """A loopback server that sends its headers, then one body byte every 0.1 s, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)

    def serve() -> None:
        conns: list[socket.socket] = []
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                pass
            else:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
                conns.append(conn)
            for c in list(conns):
                try:
                    c.sendall(b" ")
                except OSError:
                    conns.remove(c)
            time.sleep(0.1)
        for c in conns:
            c.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    stop.set()
    thread.join(5)


@pytest.fixture
def drip_url() -> Iterator[str]:
    yield from _drip_server(threading.Event())


async def test_an_answer_that_drips_one_byte_at_a_time_ends_at_the_request_timeout(drip_url: str) -> None:
    client = PowerdrillClient(make_config(base_url=drip_url, request_timeout=0.4))
    try:
        with anyio.fail_after(10):  # without the deadline the call never returns
            with pytest.raises(RequestTimedOut) as caught:
                await client.status("ds-1", retry=False)
    finally:
        await client.aclose()
    assert "did not answer within 0.4 s" in caught.value.message


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_a_permanent_error_naming_the_status_and_host(
    api: respx.MockRouter, client: PowerdrillClient, status: int
) -> None:
    route = api.get(STATUS).mock(
        return_value=httpx.Response(status, headers={"location": "https://elsewhere.example/steal"})
    )
    with pytest.raises(UpstreamError) as caught:
        await client.status("ds-1")
    assert route.call_count == 1  # not retried, and never followed
    assert not caught.value.retryable
    assert f"HTTP {status}" in caught.value.message and "elsewhere.example" in caught.value.message
    assert "usually temporary" not in caught.value.message


async def test_a_body_over_the_cap_is_a_malformed_answer_never_a_verdict(
    api: respx.MockRouter, client: PowerdrillClient
) -> None:
    envelope = json.dumps({"code": 0, "data": {"synched_count": 1, "synching_count": 0, "invalid_count": 0}})
    padded = envelope.encode() + b" " * (MAX_BODY_BYTES + 1)  # valid JSON, but far too large
    api.get(STATUS).mock(return_value=httpx.Response(200, content=padded))
    with pytest.raises(MalformedResponse) as caught:
        await client.status("ds-1", retry=False)
    assert "larger than" in caught.value.message


# Run in a fresh interpreter: serve a gzip bomb or a huge plain body on loopback, ask for the
# status, print the peak RSS growth in MB and what the call ended with.
_MEMORY_PROBE = textwrap.dedent(
    """
    import asyncio, resource, socket, sys, threading, zlib
    from pydantic import SecretStr
    from pd_mcp.client import PowerdrillClient
    from pd_mcp.errors import UpstreamError
    from pd_mcp.settings import ApiConfig

    kind, megabytes = sys.argv[1], int(sys.argv[2])
    zero = bytes(1024 * 1024)
    if kind == "gzip":
        pack = zlib.compressobj(9, zlib.DEFLATED, 31)
        body = b"".join(pack.compress(zero) for _ in range(megabytes)) + pack.flush()
        head = b"content-encoding: gzip\\r\\n"
    else:
        body, head = None, b""
    length = len(body) if body is not None else megabytes * len(zero)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        conn.recv(65536)
        try:
            conn.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n" + head
                         + b"content-length: " + str(length).encode() + b"\\r\\n\\r\\n")
            if body is not None:
                conn.sendall(body)
            else:
                for _ in range(megabytes):
                    conn.sendall(zero)
        except OSError:
            pass
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    config = ApiConfig(base_url=url, api_version="v2", user_id="u", api_key=SecretStr("k" * 16),
                       request_timeout=30.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def main():
        client = PowerdrillClient(config)
        try:
            await client.status("ds-1", retry=False)
            return "verdict"
        except UpstreamError as exc:
            return type(exc).__name__
        finally:
            await client.aclose()

    outcome = asyncio.run(main())
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(outcome, round(grown, 1))
    """
)


@pytest.mark.process
@pytest.mark.parametrize(("kind", "megabytes"), [("gzip", 1000), ("plain", 400)])
def test_a_gzip_bomb_or_a_huge_body_stops_at_the_cap_with_little_memory(kind: str, megabytes: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, kind, str(megabytes)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome, grown = done.stdout.split()
    assert outcome == "MalformedResponse", done.stdout + done.stderr
    assert float(grown) < 50, f"peak RSS grew by {grown} MB"
