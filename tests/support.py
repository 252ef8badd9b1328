"""Helpers shared by the test files: one canary key, one way to build a config, one way to read a result.

Why: every test that proves the key never leaks must use the same key, and a
helper written once cannot drift between files. (tests/ is not a package; pytest
puts it on the path, so `from support import ...` works in every test module.)
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pd_mcp.settings import ApiConfig

# The API key the tests configure (in process, in the sandbox, in a child's environment);
# any output containing it is a leak.
CANARY_KEY = "pdk-CANARY-9f8e7d6c"
BASE_URL = "https://pd.test/api"  # where respx answers; no real host
USER_ID = "user-42"
SANDBOX_BASE = "http://sandbox.test"  # an in-process sandbox behind httpx.ASGITransport


def make_config(
    version: str = "v2",
    *,
    base_url: str = BASE_URL,
    user_id: str = USER_ID,
    api_key: str = CANARY_KEY,
    **kw: Any,
) -> ApiConfig:
    """An ApiConfig with the canary key (settings not read from the environment)."""
    from pydantic import SecretStr

    from pd_mcp.settings import ApiConfig

    return ApiConfig(
        base_url=base_url,
        api_version=version,  # type: ignore[arg-type]
        user_id=user_id,
        api_key=SecretStr(api_key),
        **kw,
    )


def sandbox_config(base_url: str = SANDBOX_BASE, version: str = "v2", **kw: Any) -> ApiConfig:
    """An ApiConfig with the sandbox's own credentials (the sandbox accepts only those).

    The default base URL is the in-process sandbox's (an httpx.ASGITransport answers it).
    """
    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID

    return make_config(version, base_url=base_url, user_id=SANDBOX_USER_ID, api_key=SANDBOX_API_KEY, **kw)


async def no_sleep(_seconds: float) -> None:
    """A client's sleep that returns at once: retries and backoff without waiting."""
    return None


def text_of(result: Any) -> str:
    """The text blocks of a tool result, joined by newlines."""
    return "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a server a test starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
