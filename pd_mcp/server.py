"""The MCP surface of pd_mcp: two read-only tools and one resource template.

Thin on purpose: the arguments are checked against `validation`'s rules before
the SDK sees them (`_check_arguments_first`, so a wrong argument gets a precise
message rather than pydantic's); each handler asks `report` or `waiter` for the
answer and wraps it as a `CallToolResult` whose first text line is the verdict
and whose `structuredContent` is the report model. Every failure becomes an
`isError` result here, in `_failure`, never a protocol error or a traceback.
Configuration is read on the first call, not at start, so a host can list the
tools of a server that has no credentials yet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp_types import CallToolResult, Completion, TextContent, ToolAnnotations
from pydantic import Field

from pd_mcp.capabilities import advertise_honestly
from pd_mcp.messages import (
    DATASET_ID_DESCRIPTION,
    GET_DESCRIPTION,
    INSTRUCTIONS,
    RESOURCE_DESCRIPTION,
    TIMEOUT_DESCRIPTION,
    WAIT_DESCRIPTION,
)
from pd_mcp.models import DatasetStatus, WaitResult
from pd_mcp.runtime import Runtime
from pd_mcp.scrub import scrub as _scrub
from pd_mcp.sdk_internals import lowlevel
from pd_mcp.validation import DATASET_ID_PATTERN, TIMEOUT_DEFAULT, TIMEOUT_MAX, TIMEOUT_MIN

if TYPE_CHECKING:
    from pd_mcp.client import PowerdrillClient

log = logging.getLogger("pd_mcp.server")

# The texts are in pd_mcp.messages, with every other text a model reads.
_GET_DOC = GET_DESCRIPTION
_WAIT_DOC = WAIT_DESCRIPTION


STATUS_TEMPLATE = "powerdrill://datasets/{dataset_id}/status"

_ANNOTATIONS = ToolAnnotations(
    read_only_hint=True, idempotent_hint=True, open_world_hint=True, destructive_hint=False
)

DatasetId = Annotated[
    str,
    Field(
        description=DATASET_ID_DESCRIPTION,
        json_schema_extra={"minLength": 1, "maxLength": 128, "pattern": DATASET_ID_PATTERN},
    ),
]
TimeoutSeconds = Annotated[
    float,
    Field(
        description=TIMEOUT_DESCRIPTION,
        json_schema_extra={"minimum": TIMEOUT_MIN, "maximum": TIMEOUT_MAX},
    ),
]


def _doc(text: str) -> str:
    """A description as the model reads it: paragraphs without the source's line breaks."""
    return "\n\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))


def tool_result(report: DatasetStatus, secret: str) -> CallToolResult:
    """A report as the tools return it: `report.structured` (also what `--json` prints) and its text."""
    from pd_mcp.report import render_text, structured

    return CallToolResult(
        content=[TextContent(type="text", text=_scrub(render_text(report), secret))],
        structured_content=structured(report, secret),
    )


def _failure(exc: BaseException, dataset_id: object, action: str, secret: str) -> CallToolResult:
    from pd_mcp.errors import PdMcpError
    from pd_mcp.report import error_result_text

    if not isinstance(exc, PdMcpError):
        _log_crash(exc, secret)
    text = error_result_text(exc, dataset_id, action)
    return CallToolResult(content=[TextContent(type="text", text=_scrub(text, secret))], is_error=True)


def _log_crash(exc: BaseException, secret: str) -> None:
    """Log a bug's traceback for the maintainers, with the key scrubbed from it."""
    import traceback

    trace = "".join(traceback.format_exception(exc))
    log.error("unexpected failure in a tool call (a bug in pd-mcp):\n%s", _scrub(trace, secret))


async def _guarded(
    runtime: Runtime,
    dataset_id: str,
    action: str,
    work: Callable[[PowerdrillClient], Awaitable[DatasetStatus]],
) -> CallToolResult:
    """Run `work` (counted as running, for the drain) and turn whatever happens into a result."""
    with runtime.drain.track():
        try:
            return tool_result(await work(runtime.client()), runtime.secret())
        except Exception as exc:  # every failure becomes a readable isError result
            return _failure(exc, dataset_id, action, runtime.secret())


def build_server(runtime: Runtime | None = None) -> MCPServer:
    """The pd-mcp MCP server; `runtime` may be replaced in tests."""
    from mcp.server.subscriptions import InMemorySubscriptionBus

    from pd_mcp import __version__

    runtime = runtime or Runtime()
    bus = InMemorySubscriptionBus()

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[dict[str, Any]]:
        async with runtime.live.running():
            yield {}

    mcp: MCPServer = MCPServer(
        name="pd-mcp",
        subscriptions=bus,
        lifespan=lifespan,
        title="Powerdrill dataset readiness",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://github.com/pd-mcp/pd-mcp",
    )

    @mcp.tool(
        name="get_dataset_status",
        title="Check Powerdrill dataset readiness",
        description=_doc(_GET_DOC),
        annotations=_ANNOTATIONS,
    )
    async def get_dataset_status(dataset_id: DatasetId) -> Annotated[CallToolResult, DatasetStatus]:
        """Tool `get_dataset_status` (its description is `_GET_DOC`)."""
        from pd_mcp.report import dataset_status

        return await _guarded(runtime, dataset_id, "check", lambda client: dataset_status(client, dataset_id))

    @mcp.tool(
        name="wait_for_dataset_sync",
        title="Wait for a Powerdrill dataset to finish synchronizing",
        description=_doc(_WAIT_DOC),
        annotations=_ANNOTATIONS,
    )
    async def wait_for_dataset_sync(
        dataset_id: DatasetId, ctx: Context, timeout_seconds: TimeoutSeconds = TIMEOUT_DEFAULT
    ) -> Annotated[CallToolResult, WaitResult]:
        """Tool `wait_for_dataset_sync` (its description is `_WAIT_DOC`)."""
        from pd_mcp.progress_values import strictly_increasing
        from pd_mcp.waiter import wait_for_sync

        async def work(client: PowerdrillClient) -> DatasetStatus:
            return await wait_for_sync(
                client,
                dataset_id,
                timeout_seconds,
                clock=runtime.clock,
                on_progress=strictly_increasing(ctx.report_progress),
                stop=runtime.drain.stopping(),
            )

        return await _guarded(runtime, dataset_id, "wait for", work)

    @mcp.resource(
        STATUS_TEMPLATE,
        name="dataset_status",
        title="Powerdrill dataset readiness",
        description=RESOURCE_DESCRIPTION,
        mime_type="application/json",
    )
    async def dataset_status_resource(dataset_id: str) -> str:
        from pd_mcp.errors import PdMcpError
        from pd_mcp.report import dataset_status, error_result_text

        secret = runtime.secret()
        try:
            report = await dataset_status(runtime.client(), dataset_id)
            return _scrub(report.model_dump_json(indent=2), secret)
        except PdMcpError as exc:
            raise resource_error(exc, _scrub(error_result_text(exc, dataset_id), secret)) from None
        except Exception as exc:
            _log_crash(exc, secret)
            raise ResourceError(error_result_text(exc, dataset_id, "read")) from None

    @mcp.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
        """Dataset ids for the template's `dataset_id` argument; nothing for anything else."""
        if getattr(ref, "uri", None) != STATUS_TEMPLATE or argument.name != "dataset_id":
            return None
        found = await runtime.completer.complete(argument.value or "")
        return Completion(values=found.values, total=found.total, has_more=found.has_more)

    from pd_mcp import subscriptions

    subscriptions.install(mcp, runtime.live, bus)
    _check_arguments_first(mcp, runtime)
    advertise_honestly(lowlevel(mcp))
    return mcp


# JSON-RPC's range for implementation-defined server errors: Powerdrill or the configuration failed.
UPSTREAM_FAILED = -32010


def resource_error(exc: Exception, text: str) -> Exception:
    """The protocol error for a failed resource read: invalid params (-32602) when the dataset is missing,
    the id is wrong or the key may not read it (the 2026-07-28 code for an unknown resource); a server
    error otherwise. Never internal error (-32603), which is for bugs."""
    from mcp.shared.exceptions import MCPError

    from pd_mcp.errors import BadRequest, DatasetNotFound, InvalidArgument, PermissionDenied

    if isinstance(exc, DatasetNotFound | InvalidArgument | PermissionDenied | BadRequest):
        return ResourceNotFoundError(text)
    return MCPError(code=UPSTREAM_FAILED, message=text)


def _check_arguments_first(mcp: MCPServer, runtime: Runtime) -> None:
    """Put the argument rules in front of the SDK's `tools/call` handler.

    The SDK would reject a missing, mistyped or unknown argument with pydantic's
    text (or ignore an unknown one); the rules in `validation` say which argument
    is wrong and what is allowed, and no request is sent.
    """
    from mcp_types import CallToolRequestParams

    from pd_mcp import validation
    from pd_mcp.sdk_internals import Handler, wrap_request_handler

    def wrap(sdk_handler: Handler) -> Handler:
        async def call_tool(ctx: Any, params: CallToolRequestParams) -> Any:
            if params.name in validation.TOOL_ARGUMENTS:
                try:
                    validation.tool_arguments(params.name, params.arguments)
                except Exception as exc:
                    dataset_id = (params.arguments or {}).get("dataset_id")
                    return _failure(exc, dataset_id, "check", runtime.secret())
            return await sdk_handler(ctx, params)

        return call_tool

    wrap_request_handler(mcp, "tools/call", CallToolRequestParams, wrap)
