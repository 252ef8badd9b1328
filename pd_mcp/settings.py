"""Configuration from the environment, and its resolution into what the client needs.

Reading never fails: a server without credentials must still start and list its
tools. `Settings.resolve()` is where problems surface, as one `ConfigError` that
names every missing or contradictory variable, so each tool call can report it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from pd_mcp.errors import ConfigError

DEFAULT_API_URL = "https://ai.data.cloud/api"
ApiVersion = Literal["v1", "v2"]


@dataclass(frozen=True)
class ApiConfig:
    """A usable upstream configuration: everything a request needs."""

    base_url: str
    api_version: ApiVersion
    user_id: str
    api_key: SecretStr
    rate_limit: float = 20.0
    request_timeout: float = 10.0
    max_attempts: int = 4
    max_retry_seconds: float = 20.0
    redis_url: str | None = None  # one budget shared by every replica (see `budget`)

    def __repr__(self) -> str:  # the key is a SecretStr already; keep the repr short too
        return f"ApiConfig(base_url={self.base_url!r}, api_version={self.api_version!r}, user_id=…)"


# Field -> the environment variable it is read from (names are matched case-insensitively).
ENVIRONMENT = {
    "user_id": "POWERDRILL_USER_ID",
    "api_key": "POWERDRILL_PROJECT_API_KEY",
    "api_url": "POWERDRILL_API_URL",
    "api_version": "POWERDRILL_API_VERSION",
    "http_token": "PD_MCP_HTTP_TOKEN",
    "allowed_hosts": "PD_MCP_ALLOWED_HOSTS",
    # Additions to the interface: the client-side request budget and per-request timeout.
    "rate_limit": "PD_MCP_RATE_LIMIT",
    "request_timeout": "PD_MCP_REQUEST_TIMEOUT",
    # HTTP serving limits (see `http_limits`).
    "drain_seconds": "PD_MCP_DRAIN_SECONDS",
    "http_max_sessions": "PD_MCP_HTTP_MAX_SESSIONS",
    "http_session_idle": "PD_MCP_HTTP_SESSION_IDLE",
    "http_max_connections": "PD_MCP_HTTP_MAX_CONNECTIONS",
    "redis_url": "PD_MCP_REDIS_URL",
    "subscription_lifetime": "PD_MCP_SUBSCRIPTION_LIFETIME",
}


def _environment() -> dict[str, str]:
    """The variables of `ENVIRONMENT` that are set, by field name; names match in any case."""
    lowered = {name.lower(): value for name, value in os.environ.items()}
    return {field: lowered[name.lower()] for field, name in ENVIRONMENT.items() if name.lower() in lowered}


class Settings(BaseModel):
    """Raw environment values, read when constructed (given values win); see `resolve()` for the checks.

    A plain model, not pydantic-settings: every field is text, so reading needs no
    parsing, and the command line starts faster without that library.
    """

    model_config = ConfigDict(extra="ignore")

    user_id: str | None = None
    api_key: SecretStr | None = None
    api_url: str | None = None
    api_version: str | None = None
    http_token: SecretStr | None = None
    allowed_hosts: str | None = None
    rate_limit: str | None = None
    request_timeout: str | None = None
    drain_seconds: str | None = None
    http_max_sessions: str | None = None
    http_session_idle: str | None = None
    http_max_connections: str | None = None
    redis_url: SecretStr | None = None
    subscription_lifetime: str | None = None

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_environment(), **values})

    def lifetime(self, default: float) -> float:
        """Seconds a subscription's poller goes on without a change; `ConfigError` when unusable."""
        problems: list[str] = []
        value = _positive_number(
            "PD_MCP_SUBSCRIPTION_LIFETIME", self.subscription_lifetime, default, problems
        )
        if problems:
            raise ConfigError(problems[0])
        return value

    def resolve(self) -> ApiConfig:
        """Check every value; raise one `ConfigError` listing all problems."""
        problems: list[str] = []
        user_id = (self.user_id or "").strip()
        key = self.api_key.get_secret_value().strip() if self.api_key else ""
        if not user_id:
            problems.append("POWERDRILL_USER_ID is not set (your Powerdrill user id)")
        elif is_placeholder(user_id):
            problems.append(
                f"POWERDRILL_USER_ID is a placeholder the host did not fill in ({user_id[:60]!r})"
            )
        if not key:
            problems.append("POWERDRILL_PROJECT_API_KEY is not set (the project API key from Powerdrill)")
        elif is_placeholder(key):
            problems.append("POWERDRILL_PROJECT_API_KEY is a placeholder the host did not fill in")
        base_url, version, url_problem = split_api_url(self.api_url)
        if url_problem:
            problems.append(url_problem)
        explicit = (self.api_version or "").strip().lower() or None
        if explicit is not None and explicit not in ("v1", "v2"):
            problems.append(f"POWERDRILL_API_VERSION must be v2 or v1, not {self.api_version!r}")
        elif explicit and version and explicit != version:
            problems.append(
                f"POWERDRILL_API_VERSION is {explicit} but POWERDRILL_API_URL ends in /{version}/team; "
                "make them agree or drop one"
            )
        rate = _positive_number("PD_MCP_RATE_LIMIT", self.rate_limit, 20.0, problems)
        timeout = _positive_number("PD_MCP_REQUEST_TIMEOUT", self.request_timeout, 10.0, problems)
        redis_url = _redis_url(self.redis_url, problems)
        if problems:
            raise ConfigError("pd-mcp is not configured: " + "; ".join(problems) + ".")
        chosen: ApiVersion = "v1" if (explicit or version) == "v1" else "v2"
        return ApiConfig(
            base_url=base_url,
            api_version=chosen,
            user_id=user_id,
            api_key=SecretStr(key),
            rate_limit=rate,
            request_timeout=timeout,
            redis_url=redis_url,
        )


def split_api_url(raw: str | None) -> tuple[str, ApiVersion | None, str | None]:
    """Return (base URL, version implied by a `/vN/team` suffix, problem or None)."""
    url = (raw or "").strip() or DEFAULT_API_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url, None, f"POWERDRILL_API_URL must be an http(s) URL such as {DEFAULT_API_URL}, not {url!r}"
    if parts.query or parts.fragment or parts.username or parts.password:
        return url, None, "POWERDRILL_API_URL must not contain a query, fragment or credentials"
    path = parts.path.rstrip("/")
    version: ApiVersion | None = None
    for candidate in ("v1", "v2"):
        suffix = f"/{candidate}/team"
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            version = candidate
            break
    base = f"{parts.scheme}://{parts.netloc}{path}"
    return base, version, None


# Values copied from an example configuration, or a host reference the host did not expand.
_PLACEHOLDER = re.compile(r"^(<.*>|‹.*›|\$\{.*\}|your[ _-].*|x{4,}|\.\.\.|…)$", re.IGNORECASE | re.DOTALL)


def is_placeholder(value: str) -> bool:
    """A `${VAR}`/`${env:VAR}`/`${{ secrets.X }}` reference or a `<your …>` text left as it was."""
    return len(value) <= 80 and _PLACEHOLDER.match(value) is not None


def _positive_number(name: str, raw: str | None, default: float, problems: list[str]) -> float:
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        problems.append(f"{name} must be a positive number, not {raw!r}")
        return default
    return value


def _redis_url(raw: SecretStr | None, problems: list[str]) -> str | None:
    """`PD_MCP_REDIS_URL` (it may hold a password, hence never shown), when usable."""
    url = raw.get_secret_value().strip() if raw else ""
    if not url:
        return None
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        problems.append("PD_MCP_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return None
    import importlib.util

    if importlib.util.find_spec("redis") is None:
        problems.append(
            "PD_MCP_REDIS_URL is set but the Redis client library is not installed: install pd-mcp with "
            'its redis extra (pip install "pd-mcp[redis]")'
        )
        return None
    return url


def load() -> Settings:
    """Read the environment now (not at import time)."""
    return Settings()
