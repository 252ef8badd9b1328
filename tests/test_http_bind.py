"""The HTTP transport's listening socket: connections it accepts send without Nagle's delay.

Why: asyncio turns TCP_NODELAY on only for accepted sockets whose protocol says TCP. The
listener was created with protocol 0, so every answer's body waited behind its headers for
the client's delayed ACK: a Streamable HTTP tool call took 45 ms instead of 5 (bench/ §2).
"""

from __future__ import annotations

import asyncio
import socket

from pd_mcp.http_app import bind_socket


async def test_a_connection_the_http_listener_accepts_has_tcp_nodelay() -> None:
    sock = bind_socket("127.0.0.1", 0)
    sock.listen(8)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accepted(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served: socket.socket = writer.get_extra_info("socket")
        seen.set_result(served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=sock)  # as uvicorn serves a given socket
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert await asyncio.wait_for(seen, 5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
