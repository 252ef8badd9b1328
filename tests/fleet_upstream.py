"""A loopback fake of Powerdrill's v2 status endpoint that records when each request arrives.

Run as its own process (`python fleet_upstream.py PORT LOG LATENCY_MS`), so the
arrival times are taken on a clock no test load shares: one line per request,
`<monotonic seconds> <path>`, appended to LOG; one `connection` line per TCP
connection accepted. `ds-ready` is fully synchronized; any other dataset is
still syncing (one request per status check, no listing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid


async def main(port: int, log_path: str, latency: float) -> None:
    # Arrival times are the measurement: let a loaded machine delay the replicas, not this clock.
    with contextlib.suppress(OSError):
        os.nice(-10)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        log.write(f"{time.monotonic():.6f} connection\n")
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
                log.write(f"{time.monotonic():.6f} {path}\n")
                if latency:
                    await asyncio.sleep(latency)
                dataset = path.rsplit("/", 2)[-2] if path.endswith("/status") else ""
                counts = (5, 0, 0) if dataset == "ds-ready" else (5, 5, 0)
                data = dict(zip(("synched_count", "synching_count", "invalid_count"), counts, strict=True))
                body = json.dumps({"code": 0, "data": data}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"x-pd-trace-id: fake-{uuid.uuid4().hex}\r\n".encode()
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) / 1000))
