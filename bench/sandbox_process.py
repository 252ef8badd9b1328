"""The sandbox in a process of its own, for `bench/run.py`.

Why a separate process: the benchmark's clients (100 MCP sessions, the
direct-GET baseline) would otherwise share one interpreter lock with the
simulated API and slow its answers down, which would be charged to pd-mcp.

Protocol, one JSON line per command on stdin and one JSON line back:
    first line out       {"url": "http://127.0.0.1:PORT"}
    "clear"              forget the request log        → {"ok": true}
    "stats"              → {"requests": N, "max_per_second": M, "statuses": {"200": N}}
    "quit" or EOF        stop the sandbox and exit
The rate limit is off (`rate_limit=0`): the benchmark measures pd-mcp's own budget.

TCP_NODELAY: `pd_mcp.sandbox.runner._bind` creates its listening socket with
protocol 0, and asyncio only disables Nagle's algorithm on sockets whose
protocol is IPPROTO_TCP, so the sandbox's answers go out with Nagle on: the
body segment waits for the client's delayed ACK of the header segment, often
about 40 ms on loopback. That delay belongs to neither pd-mcp nor Powerdrill,
so here the listening socket gets TCP_NODELAY (accepted sockets inherit it on
Linux). `--as-is` leaves the sandbox exactly as it is.
"""

from __future__ import annotations

import json
import socket
import sys
from collections import Counter
from typing import Any


def disable_nagle() -> None:
    """Give the sandbox's listening socket TCP_NODELAY (see the module's docstring)."""
    from pd_mcp.sandbox import runner

    original = runner._bind

    def bind(host: str, port: int) -> Any:
        sock, url = original(host, port)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, url

    runner._bind = bind


def main() -> int:
    from pd_mcp.sandbox import SandboxOptions, running_sandbox

    if "--as-is" not in sys.argv[1:]:
        disable_nagle()

    with running_sandbox(SandboxOptions.from_env(rate_limit=0)) as sb:
        print(json.dumps({"url": sb.url}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "clear":
                sb.sandbox.clear_log()
                reply: dict[str, object] = {"ok": True}
            elif command == "stats":
                requests = sb.sandbox.requests
                reply = {
                    "requests": len(requests),
                    "max_per_second": sb.sandbox.max_requests_in_window(1.0),
                    "statuses": dict(Counter(str(r.status) for r in requests)),
                }
            elif command == "quit":
                break
            else:
                reply = {"error": f"unknown command {command!r}"}
            print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
