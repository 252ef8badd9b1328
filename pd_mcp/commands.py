"""`pd-mcp status`, `wait` and `check`: the tools' own code, for a shell or a CI job.

They use the same client, report and waiter as the MCP tools, so `--json`
prints exactly a tool's `structuredContent`. Exit codes follow `kubectl wait`
in spirit: 0 ready, 1 finished with failures or empty, 2 still syncing (timed
out), 3 could not tell.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import anyio

from pd_mcp.cli import EXIT_ERROR, EXIT_NOT_READY, EXIT_READY, EXIT_TIMED_OUT

if TYPE_CHECKING:
    from pd_mcp.models import DatasetStatus

CHECK_PROBE_ID = "pd-mcp-check"


def _exit_code(report: DatasetStatus) -> int:
    if report.ready:
        return EXIT_READY
    if report.verdict == "syncing":
        return EXIT_TIMED_OUT
    return EXIT_NOT_READY


def _emit(report: DatasetStatus, as_json: bool) -> None:
    from pd_mcp.report import render_text

    print(report.model_dump_json(indent=2) if as_json else render_text(report), flush=True)


def _fail(exc: BaseException, dataset_id: str, action: str) -> int:
    from pd_mcp.report import error_text

    print(f"pd-mcp: {error_text(exc, dataset_id, action)}", file=sys.stderr)  # type: ignore[arg-type]
    return EXIT_ERROR


def status(dataset_id: str, *, as_json: bool) -> int:
    """One check; exit 0 ready, 1 failed/partially failed/empty, 2 syncing, 3 error."""
    from pd_mcp.errors import PdMcpError
    from pd_mcp.report import dataset_status
    from pd_mcp.server import Runtime

    async def run() -> DatasetStatus:
        runtime = Runtime()
        try:
            return await dataset_status(runtime.client(), dataset_id)
        finally:
            await runtime.aclose()

    try:
        report = anyio.run(run)
    except PdMcpError as exc:
        return _fail(exc, dataset_id, "check")
    _emit(report, as_json)
    return _exit_code(report)


def wait(dataset_id: str, timeout: float, *, as_json: bool) -> int:
    """Wait with a progress bar (or plain lines); exit 0 ready, 1 failures/empty, 2 timed out, 3 error."""
    from pd_mcp.errors import PdMcpError
    from pd_mcp.progress_view import progress_view
    from pd_mcp.server import Runtime
    from pd_mcp.waiter import wait_for_sync

    async def run() -> DatasetStatus:
        runtime = Runtime()
        try:
            client = runtime.client()
            with progress_view(dataset_id) as on_progress:
                return await wait_for_sync(client, dataset_id, timeout, on_progress=on_progress)
        finally:
            await runtime.aclose()

    try:
        report = anyio.run(run)
    except PdMcpError as exc:
        return _fail(exc, dataset_id, "wait for")
    _emit(report, as_json)
    if getattr(report, "timed_out", False):
        return EXIT_TIMED_OUT
    return _exit_code(report)


def check() -> int:
    """Say precisely what is wrong with the setup; exit 0 only when Powerdrill accepts it."""
    from pd_mcp import settings
    from pd_mcp.client import PowerdrillClient
    from pd_mcp.errors import (
        AuthenticationError,
        ConfigError,
        DatasetNotFound,
        PermissionDenied,
        UpstreamError,
    )

    try:
        config = settings.load().resolve()
    except ConfigError as exc:
        print(f"✗ configuration: {exc.message}", file=sys.stderr)
        return 1
    print(
        f"✓ configuration: user id set, API key set (hidden), API {config.api_version} at {config.base_url}"
    )

    async def probe() -> None:
        client = PowerdrillClient(config)
        try:
            await client.status(CHECK_PROBE_ID)
        finally:
            await client.aclose()

    where = f"{config.base_url}/{config.api_version}/team"
    try:
        anyio.run(probe)
    except (DatasetNotFound, PermissionDenied):
        pass  # the probe id does not exist: Powerdrill accepted the credentials to tell us so
    except AuthenticationError as exc:
        print(f"✗ credentials: Powerdrill at {where} refused them: {exc.message}", file=sys.stderr)
        print("  Check POWERDRILL_PROJECT_API_KEY and POWERDRILL_USER_ID.", file=sys.stderr)
        return 1
    except UpstreamError as exc:
        trace = f" (trace id {exc.trace_id})" if exc.trace_id else ""
        print(f"✗ connection: could not use {where}: {exc.message}{trace}", file=sys.stderr)
        print("  Check POWERDRILL_API_URL and your network.", file=sys.stderr)
        return 1
    print(f"✓ Powerdrill at {where} accepted the credentials. pd-mcp is ready to use.")
    return 0
