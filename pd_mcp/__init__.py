"""pd_mcp: an MCP server that tells an AI assistant whether a Powerdrill dataset is ready.

Importing the package is cheap: nothing here imports the MCP SDK or httpx.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Computed on demand from the installed metadata, so the version lives in pyproject.toml only.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pd-mcp")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'pd_mcp' has no attribute {name!r}")
