"""Everything pd_mcp can fail with, in one hierarchy.

    PdMcpError                    base; `message` is written for the reader of a tool result
    ├── ConfigError               the environment is missing or contradicts itself
    ├── InvalidArgument           a tool argument breaks its rules; no request was sent
    └── UpstreamError             Powerdrill refused, failed or could not be reached
        ├── AuthenticationError   the key or user id was refused (1002, 1003, 1004, HTTP 401)
        ├── PermissionDenied      no access to this dataset (300002, HTTP 403)
        ├── DatasetNotFound       no such dataset in this project (300003, HTTP 404)
        ├── BadRequest            Powerdrill rejected the parameters (100, 300001, 100001, HTTP 400)
        ├── RateLimited           too many requests (201, HTTP 429)             retryable
        ├── UpstreamUnavailable   Powerdrill's own fault (9999, HTTP 5xx)       retryable
        ├── NetworkError          no answer: connection refused, reset, dropped retryable
        ├── RequestTimedOut       no answer within the request timeout         retryable
        └── MalformedResponse     an answer that is not the documented JSON    retryable

The tool layer turns any of these into an `isError` result in one place
(`report.error_text`); nothing else formats errors for the assistant.
"""

from __future__ import annotations


class PdMcpError(Exception):
    """Base class; `retryable` says whether the same request may succeed later."""

    retryable: bool = False
    what_to_do: str = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(PdMcpError):
    """The server's environment is incomplete or inconsistent."""

    what_to_do = (
        "Ask the user to fix the server's configuration in their MCP host settings; "
        "`pd-mcp check` shows what is wrong."
    )


class InvalidArgument(PdMcpError):
    """A tool argument is not allowed; nothing was sent to Powerdrill."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument

    what_to_do = "Correct the argument and call the tool again."


class UpstreamError(PdMcpError):
    """Powerdrill did not give a usable answer."""

    what_to_do = "Tell the user; retrying the same request will not help."

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.trace_id = trace_id
        # Seconds the answer's Retry-After header asked for, if any.
        self.retry_after = retry_after
        # True when the answer came from the pd-mcp sandbox rather than Powerdrill.
        self.simulated = False
        # Filled in by the retry loop when it gives up: how hard it tried.
        self.attempts: int | None = None
        self.elapsed: float | None = None
        self.attempt_limit: str | None = None  # e.g. "4 attempts or 20 s"


class AuthenticationError(UpstreamError):
    what_to_do = (
        "Ask the user to check POWERDRILL_PROJECT_API_KEY and POWERDRILL_USER_ID "
        "(the key may be wrong or expired); retrying will not help."
    )


class PermissionDenied(UpstreamError):
    what_to_do = (
        "The user or API key has no access to this dataset; check the dataset id with the user. "
        "Retrying will not help."
    )


class DatasetNotFound(UpstreamError):
    what_to_do = (
        "Check the dataset id with the user (it must belong to the project of this API key). "
        "Retrying will not help."
    )


class BadRequest(UpstreamError):
    what_to_do = "Check the dataset id and POWERDRILL_USER_ID; retrying the same request will not help."


class RateLimited(UpstreamError):
    retryable = True
    what_to_do = "Wait a little and call again; Powerdrill allows 20 requests per second per team."


class UpstreamUnavailable(UpstreamError):
    retryable = True
    what_to_do = "This is usually temporary: call again in a few seconds. Quote the trace id if it persists."


class NetworkError(UpstreamError):
    retryable = True
    what_to_do = (
        "Powerdrill could not be reached; call again in a few seconds. If it keeps failing, "
        "ask the user to check the network and POWERDRILL_API_URL."
    )


class RequestTimedOut(UpstreamError):
    retryable = True
    what_to_do = "Powerdrill did not answer in time; call again in a few seconds."


class MalformedResponse(UpstreamError):
    retryable = True
    what_to_do = (
        "Powerdrill's answer could not be understood, so no verdict is given; call again. "
        "Quote the trace id if it persists."
    )
