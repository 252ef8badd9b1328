"""`--sandbox` for `status`, `wait` and `check`: the simulated Powerdrill API inside this process.

Why through the environment: the commands then run exactly the code they run
against Powerdrill, configuration reading included.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pd_mcp.commandline.output import API_KEY_VAR, API_URL_VAR, USER_ID_VAR


@contextlib.contextmanager
def simulated_powerdrill() -> Iterator[None]:
    """The simulated Powerdrill API on loopback, and this process's environment pointing at it.

    A `POWERDRILL_API_VERSION` already set is kept (the sandbox speaks v1 and
    v2); the URL, user id and key are replaced for the duration and restored after.
    """
    from pd_mcp.sandbox import SANDBOX_API_KEY, SANDBOX_USER_ID, SandboxOptions, running_sandbox

    with running_sandbox(SandboxOptions.from_env()) as sb:
        values = {API_URL_VAR: sb.url, USER_ID_VAR: SANDBOX_USER_ID, API_KEY_VAR: SANDBOX_API_KEY}
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
