"""`pd-mcp demo`: the main job end to end, with no credentials and no network.

It starts the sandbox Powerdrill API on loopback, launches the real server
(`pd-mcp`, the installed command) as a subprocess over stdio exactly as an MCP
host would, drives it with the `mcp` client and prints what each tool returns.
It exits 0 only when every scenario got the verdict it should.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import anyio

# (dataset, expected verdict) for the status round, in the order shown.
STATUS_ROUND = [
    ("ds-ready", "ready"),
    ("ds-syncing", "syncing"),
    ("ds-partial", "syncing"),
    ("ds-failed", "failed"),
    ("ds-empty", "empty"),
    ("ds-large", "partially_failed"),
]
SYNC_SECONDS = 6.0


def _server_command() -> tuple[str, list[str]]:
    """The installed `pd-mcp` next to this interpreter, else `python -m pd_mcp`."""
    beside = Path(sys.executable).with_name("pd-mcp")
    if beside.exists():
        return str(beside), []
    found = shutil.which("pd-mcp")
    return (found, []) if found else (sys.executable, ["-m", "pd_mcp"])


class _Transcript:
    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.problems: list[str] = []

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def check(self, what: str, got: Any, expected: Any) -> None:
        if got != expected:
            self.problems.append(f"{what}: expected {expected!r}, got {got!r}")

    def progress(self, line: str) -> None:
        if self.tty:
            print(f"\r\033[K    {line}", end="", flush=True)
        else:
            print(f"    {line}", flush=True)

    def end_progress(self) -> None:
        if self.tty:
            print(flush=True)


def _first_line(result: Any) -> str:
    text = result.content[0].text if result.content else ""
    return text.splitlines()[0] if text else ""


def _last_line(result: Any) -> str:
    """An error result's last line: its `user_message: ...` for the user."""
    text = result.content[0].text if result.content else ""
    return text.splitlines()[-1] if text else ""


async def _drive(url: str, out: _Transcript) -> None:
    from mcp import Client, StdioServerParameters

    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID

    command, args = _server_command()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POWERDRILL_", "PD_MCP_"))},
        "POWERDRILL_USER_ID": SANDBOX_USER_ID,
        "POWERDRILL_PROJECT_API_KEY": SANDBOX_API_KEY,
        "POWERDRILL_API_URL": url,
        "PD_MCP_LOG_LEVEL": "WARNING",
    }
    out.say(f"Launching the server over stdio: {' '.join([command, *args])}")
    started = time.perf_counter()
    async with Client(StdioServerParameters(command=command, args=args, env=env), mode="legacy") as client:
        tools = (await client.list_tools()).tools
        info = client.server_info
        out.say(
            f"Connected to {info.name if info else '?'} {info.version if info else ''} "
            f"in {time.perf_counter() - started:.2f} s (protocol {client.protocol_version})."
        )
        out.say("Tools:")
        for tool in tools:
            out.say(f"  - {tool.name}: {tool.title}")
        out.check("tools", sorted(t.name for t in tools), ["get_dataset_status", "wait_for_dataset_sync"])

        out.say()
        out.say("1. get_dataset_status on each scenario")
        for dataset, expected in STATUS_ROUND:
            result = await client.call_tool("get_dataset_status", {"dataset_id": dataset})
            data = result.structured_content or {}
            out.say(
                f"  {dataset:<11} {data.get('verdict', 'error'):<17} "
                f"synched_count={data.get('synched_count')} synching_count={data.get('synching_count')} "
                f"invalid_count={data.get('invalid_count')} total_count={data.get('total_count')}"
            )
            out.say(f"              {_first_line(result)}")
            out.say(f"              for the user: {data.get('user_message')}")
            if data.get("failed_sources_total"):
                out.say(
                    f"              failed_sources: {len(data.get('failed_sources', []))} of "
                    f"failed_sources_total={data.get('failed_sources_total')}, "
                    f"failed_sources_truncated={str(data.get('failed_sources_truncated')).lower()}"
                )
            out.check(dataset, data.get("verdict"), expected)

        out.say()
        out.say("2. An error the assistant can act on (a dataset that does not exist)")
        result = await client.call_tool("get_dataset_status", {"dataset_id": "ds-does-not-exist"})
        out.say(f"  isError={result.is_error}: {_first_line(result)}")
        out.say(f"  for the user: {_last_line(result).removeprefix('user_message: ')}")
        out.check("unknown dataset is an error", result.is_error, True)

        out.say()
        out.say(
            f"3. wait_for_dataset_sync on ds-syncing (finishes about {SYNC_SECONDS:g} s after first asked)"
        )

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            out.progress(f"progress {progress:g}/{total or 0:g}  {message or ''}")

        result = await client.call_tool(
            "wait_for_dataset_sync",
            {"dataset_id": "ds-syncing", "timeout_seconds": 45},
            progress_callback=on_progress,
        )
        out.end_progress()
        data = result.structured_content or {}
        waited, polls = data.get("waited_seconds"), data.get("polls")
        finished = data.get("finished_during_wait")
        out.say(f"  {data.get('verdict')} after {waited} s and {polls} status checks ({finished} finished)")
        out.say(f"  {_first_line(result)}")
        out.say(f"  for the user: {data.get('user_message')}")
        out.check("ds-syncing after waiting", data.get("verdict"), "ready")

        out.say()
        out.say("4. wait_for_dataset_sync on ds-partial: some files fail, and the assistant is told which")
        result = await client.call_tool(
            "wait_for_dataset_sync", {"dataset_id": "ds-partial", "timeout_seconds": 45}
        )
        data = result.structured_content or {}
        names = ", ".join(s["name"] for s in data.get("failed_sources", []))
        out.say(f"  {data.get('verdict')}; failed sources: {names or 'none'}")
        out.say(f"  {_first_line(result)}")
        out.check("ds-partial after waiting", data.get("verdict"), "partially_failed")

        out.say()
        out.say(
            "5. wait_for_dataset_sync on ds-stuck with a 3 s timeout: a timeout is an answer, not an error"
        )
        result = await client.call_tool(
            "wait_for_dataset_sync", {"dataset_id": "ds-stuck", "timeout_seconds": 3}
        )
        data = result.structured_content or {}
        out.say(
            f"  timed_out={data.get('timed_out')} finished_during_wait={data.get('finished_during_wait')} "
            f"isError={result.is_error}: {_first_line(result)}"
        )
        out.say(f"  for the user: {data.get('user_message')}")
        out.check("ds-stuck times out", data.get("timed_out"), True)


def run_demo() -> int:
    from pd_mcp.sandbox import SandboxOptions, running_sandbox

    out = _Transcript()
    started = time.perf_counter()
    options = SandboxOptions.from_env(sync_seconds=SYNC_SECONDS)
    with running_sandbox(options) as sandbox:
        out.say(
            f"pd-mcp demo: simulated Powerdrill API (the sandbox) at {sandbox.url}; no credentials needed."
        )
        try:
            anyio.run(_drive, sandbox.url, out)
        except Exception as exc:  # a demo that cannot finish says why in one line
            out.problems.append(f"the demo could not finish: {type(exc).__name__}: {exc}")
    out.say()
    if out.problems:
        out.say("Demo finished with problems:")
        for problem in out.problems:
            out.say(f"  - {problem}")
        return 1
    out.say(f"Demo finished in {time.perf_counter() - started:.1f} s: every verdict was as expected.")
    return 0
