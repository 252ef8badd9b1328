"""httpx, imported without its own command-line tool: `from pd_mcp.httpx_loader import httpx`.

Why: `import httpx` also imports `httpx._main`, httpx's command-line client,
whenever click, rich and pygments are installed, and with pd-mcp they are
(rich is a dependency, click comes with uvicorn). That costs about 40 ms, a
tenth of a `pd-mcp status`, for a tool pd-mcp never runs. So the first import
of httpx in a process makes `httpx._main` unimportable for that one statement;
httpx then defines its stub `httpx.main` instead, and everything else is the
same. The block is lifted at once, so a later `import httpx._main` works.
When something else imported httpx first (the MCP SDK does, in the server),
this changes nothing. Should a future httpx need `_main` to import at all, the
import is simply done again the ordinary way.
"""

from __future__ import annotations

import sys

_CLI = "httpx._main"


def _import_without_cli() -> None:
    if "httpx" in sys.modules or _CLI in sys.modules:
        return
    sys.modules[_CLI] = None  # type: ignore[assignment]  # `from ._main import main` raises ImportError
    try:
        import httpx  # noqa: F401
    except ImportError:
        pass  # imported again below, without the block
    finally:
        if sys.modules.get(_CLI, _CLI) is None:
            del sys.modules[_CLI]


_import_without_cli()

import httpx  # noqa: E402

__all__ = ["httpx"]
