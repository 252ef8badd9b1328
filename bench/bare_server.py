"""The floor the SDK sets: a bare `mcp` MCPServer with two trivial tools.

    python bench/bare_server.py                      # stdio (what the cold-start figures use)
    python bench/bare_server.py --http --port 8123   # Streamable HTTP at http://127.0.0.1:8123/mcp
    python bench/bare_server.py --get                # plus a tool doing one keep-alive httpx GET

Tools: `echo(text)` and `add(a, b)`, both trivial. With `--get` it also has
`get_dataset_status(dataset_id)`, which does exactly one GET of the Powerdrill
(or sandbox) v2 status URL with a keep-alive `httpx.AsyncClient` and returns
the body: the "bare SDK server plus one GET" baseline. It reads the same
environment as pd-mcp (`POWERDRILL_API_URL`, `POWERDRILL_USER_ID`,
`POWERDRILL_PROJECT_API_KEY`). Nothing else: no validation, no budget, no
retries, no per-request logging. It is a benchmark baseline, not a product.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mcp.server.mcpserver import MCPServer


def build(with_get: bool) -> MCPServer:
    server = MCPServer(name="bare")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    if with_get:
        import httpx  # at start, the way a plain server using httpx would

        # The SDK logs at INFO through Rich, and httpx logs every request at INFO: a few
        # milliseconds per call that a floor should not carry (pd-mcp silences httpx too).
        logging.getLogger("httpx").setLevel(logging.WARNING)

        base = os.environ.get("POWERDRILL_API_URL", "").rstrip("/")
        user_id = os.environ.get("POWERDRILL_USER_ID", "")
        headers = {"x-pd-api-key": os.environ.get("POWERDRILL_PROJECT_API_KEY", "")}
        holder: list[httpx.AsyncClient] = []

        @server.tool()
        async def get_dataset_status(dataset_id: str) -> str:
            """One GET of the dataset's status; returns the response body."""
            if not holder:  # created on first use, then kept alive
                holder.append(httpx.AsyncClient(timeout=10.0, trust_env=False))
            response = await holder[0].get(
                f"{base}/v2/team/datasets/{dataset_id}/status",
                params={"user_id": user_id},
                headers=headers,
            )
            return response.text

    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="serve Streamable HTTP instead of stdio")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port on 127.0.0.1")
    parser.add_argument("--get", action="store_true", help="add the one-GET tool")
    args = parser.parse_args(argv)
    server = build(args.get)
    if args.http:
        # The SDK's own app, served the way pd-mcp serves it: uvicorn without the per-request
        # access log (which `server.run("streamable-http")` would write at INFO).
        import uvicorn

        app = server.streamable_http_app()  # at /mcp, with host checks for 127.0.0.1
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    else:
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
