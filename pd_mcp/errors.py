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
        ├── BudgetTimedOut        not Powerdrill's fault: the deadline came    retryable
        │                         while the request waited in pd-mcp's own budget, never sent
        ├── MalformedResponse     an answer that is not the documented JSON    retryable
        └── Redirected            an HTTP 3xx: never followed, the URL is wrong

The tool layer turns any of these into an `isError` result in one place
(`report.error_text`), with the texts of `pd_mcp.messages`; nothing else formats errors.
"""

from __future__ import annotations

from pd_mcp.messages import next_step_for


class PdMcpError(Exception):
    """Base class; `retryable` says whether the same request may succeed later."""

    retryable: bool = False
    # A next step that replaces the class's, when the failure knows better (e.g. when to call again).
    next_step: str | None = None

    @property
    def what_to_do(self) -> str:
        """The one next step for the assistant (its text is in `pd_mcp.messages`)."""
        return self.next_step or next_step_for(type(self))

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(PdMcpError):
    """The server's environment is incomplete or inconsistent."""


class InvalidArgument(PdMcpError):
    """A tool argument is not allowed; nothing was sent to Powerdrill."""

    def __init__(
        self,
        argument: str,
        message: str,
        *,
        missing: bool = False,
        empty: bool = False,
        wrong_type: bool = False,
    ) -> None:
        super().__init__(message)
        self.argument = argument
        # True when the argument was not given at all (its texts differ from a wrong value's).
        self.missing = missing
        # True when it was given but empty or blank (for the user, no value was given).
        self.empty = empty
        # True when it is not of the JSON type the schema asks for (the assistant's slip, not the user's).
        self.wrong_type = wrong_type

    @property
    def text_key(self) -> str:
        """The key of this error's texts in `pd_mcp.messages` (`dataset_id:missing` when not given,
        `dataset_id:empty` when empty or blank, `dataset_id:type` when not a string)."""
        if self.missing:
            return f"{self.argument}:missing"
        if self.wrong_type:
            return f"{self.argument}:type"
        return f"{self.argument}:empty" if self.empty else self.argument


class UpstreamError(PdMcpError):
    """Powerdrill did not give a usable answer."""

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
    """The key or user id was refused."""


class PermissionDenied(UpstreamError):
    """This key has no access to the dataset."""


class DatasetNotFound(UpstreamError):
    """No such dataset in this key's project."""


class BadRequest(UpstreamError):
    """Powerdrill rejected the parameters."""


class RateLimited(UpstreamError):
    retryable = True


class UpstreamUnavailable(UpstreamError):
    retryable = True


class NetworkError(UpstreamError):
    retryable = True


class RequestTimedOut(UpstreamError):
    retryable = True


class BudgetTimedOut(UpstreamError):
    """No request was sent: the deadline came while it waited for pd-mcp's own request budget."""

    retryable = True


class MalformedResponse(UpstreamError):
    retryable = True


class Redirected(UpstreamError):
    """Powerdrill's address answered with a redirect, which is never followed (the key would go along)."""
