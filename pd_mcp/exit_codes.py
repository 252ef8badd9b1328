"""The exit codes of `pd-mcp`, in one place that no command owns.

They follow `kubectl wait` in spirit, so a script can branch on them:
0 ready, 1 finished with failures or empty, 2 still syncing (for `wait`: timed
out), 3 could not tell (an error, a usage error, a refused configuration).
Ctrl-C ends a command with 130, the shell's convention for SIGINT.
"""

from __future__ import annotations

EXIT_READY = 0
EXIT_NOT_READY = 1  # finished with failures, or empty
EXIT_TIMED_OUT = 2  # still syncing
EXIT_ERROR = 3
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
