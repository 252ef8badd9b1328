"""Section "memory": what a hostile upstream body and 1,000 idle HTTP sessions cost pd-mcp in memory.

Why: an upstream answer is read only up to pd_mcp.client's cap (4 MiB of decoded
bytes, gzip inflated in steps), and the HTTP server caps its open sessions; both
bounds are about memory, so this section weighs them from outside, in fresh
processes, against an upstream on 127.0.0.1 that answers every request with a
body far over the cap:

- a gzip bomb (about 1 MB on the wire, 1,000 MB inflated) and a 400 MB plain
  body: one `get_dataset_status` call over stdio (retries included), the
  child's own peak RSS (VmHWM at the answer) beside the same call answered normally by the
  sandbox; the growth must stay under 50 MiB (issue 12);
- 1,000 idle Streamable HTTP sessions (bench/sessions_bench.py): the server's
  resident and peak memory after opening them, beside one session, with the
  default session cap and (not on --quick) with all 1,000 kept.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Any

import sessions_bench
from common import BenchError, Context, Result, Target, median, table
from rpc import expect_success, legacy_script
from spawn import Variant, mib, run_once

from pd_mcp.http_limits import MAX_SESSIONS

TITLE = "7. Memory under hostile input"

BOMB_MB = 1000  # inflated size of the gzip bomb
PLAIN_MB = 400  # size of the huge plain body
GROWTH_LIMIT_MIB = 50.0  # issue 12: peak RSS growth of a worst-case body
MIB = 1024 * 1024
# The bomb takes seconds to deflate; kept for later runs while the temporary folder lasts.
BOMB_FILE = Path(tempfile.gettempdir()) / f"pd-mcp-bench-gzip-bomb-{BOMB_MB}.gz"


def run(ctx: Context) -> Result:
    body_text, targets = bodies(ctx)
    return Result(body_text + "\n\n" + sessions(ctx), targets)


# --- a worst-case upstream body -------------------------------------------------------------


def gzip_bomb() -> bytes:
    """BOMB_MB of zeros, gzip-encoded (about 1 MB)."""
    if BOMB_FILE.is_file() and BOMB_FILE.stat().st_size > 1000:
        return BOMB_FILE.read_bytes()
    pack = zlib.compressobj(9, zlib.DEFLATED, 31, 9, zlib.Z_RLE)  # RLE: fast on zeros, as small
    zero = bytes(MIB)
    bomb = b"".join(pack.compress(zero) for _ in range(BOMB_MB)) + pack.flush()
    partial = BOMB_FILE.with_suffix(f".{os.getpid()}")
    partial.write_bytes(bomb)
    partial.replace(BOMB_FILE)
    return bomb


class HostileUpstream:
    """A loopback HTTP server; the first path segment picks the answer: `/gzip/...` or `/plain/...`."""

    def __init__(self, bomb: bytes) -> None:
        self.bomb = bomb
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/{kind}"

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                if head.split(b" ", 2)[1].startswith(b"/gzip/"):
                    self._send(conn, len(self.bomb), b"content-encoding: gzip\r\n")
                    conn.sendall(self.bomb)
                else:
                    self._send(conn, PLAIN_MB * MIB, b"")
                    zero = bytes(MIB)
                    for _ in range(PLAIN_MB):
                        conn.sendall(zero)
            except OSError:
                pass  # the client stopped reading at its cap and closed: what is measured

    @staticmethod
    def _send(conn: socket.socket, length: int, extra: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + extra
            + b"content-length: "
            + str(length).encode()
            + b"\r\nconnection: close\r\n\r\n"
        )


def expect_too_large(answer: dict[str, Any]) -> None:
    """The call ends in an error result (a malformed answer), never a verdict."""
    result = answer.get("result") or {}
    if not result.get("isError") or (result.get("structuredContent") or {}).get("verdict"):
        raise BenchError(f"an answer over the cap did not end in an error: {str(answer)[:400]}")


def bodies(ctx: Context) -> tuple[str, list[Target]]:
    cmd = ctx.cmd
    upstream = HostileUpstream(gzip_bomb())
    try:
        script = legacy_script("get_dataset_status")
        vs = [
            Variant("B-ok", "normal answer (the sandbox)", cmd.pd, cmd.pd_env, script, expect_success),
            Variant(
                "B-gzip",
                f"gzip bomb, {len(upstream.bomb) / MIB:.1f} MiB → {BOMB_MB:,} MiB",
                cmd.pd,
                {**cmd.pd_env, "POWERDRILL_API_URL": upstream.url("gzip")},
                script,
                expect_too_large,
            ),
            Variant(
                "B-plain",
                f"plain body, {PLAIN_MB} MiB",
                cmd.pd,
                {**cmd.pd_env, "POWERDRILL_API_URL": upstream.url("plain")},
                script,
                expect_too_large,
            ),
        ]
        for _ in range(1 if ctx.quick else 3):
            for v in vs:
                v.rss_kib.append(run_once(ctx.procs, v)[1])
    finally:
        upstream.close()
    return body_report(vs)


def body_report(vs: list[Variant]) -> tuple[str, list[Target]]:
    base = median(vs[0].rss_kib) / 1024
    rows: list[list[object]] = [[vs[0].label, "ready", mib(vs[0], base * 1024), "", "1.00×"]]
    targets: list[Target] = []
    for v in vs[1:]:
        peak = median(v.rss_kib) / 1024
        growth = "unknown" if v.floored or vs[0].floored else f"{peak - base:+.1f}"
        rows.append([v.label, "error result", mib(v, peak * 1024), growth, f"{peak / base:.2f}×"])
        targets.append(
            (
                f"worst-case upstream body ({v.label.split(',')[0]}): peak RSS growth",
                f"{growth} MiB" + (" (at the bench's own peak)" if growth == "unknown" else ""),
                f"≤ {GROWTH_LIMIT_MIB:g} MiB",
                growth != "unknown" and peak - base <= GROWTH_LIMIT_MIB,
            )
        )
    note = (
        f"One `pd-mcp` over stdio per run (medians of {len(vs[0].rss_kib)}): initialize, tools/list, one "
        "get_dataset_status call, its retries included; peak RSS: the child's own (VmHWM at the answer). "
        "The hostile upstream is a loopback server in the bench process; growth is against the same call "
        "answered normally by the sandbox."
    )
    header = ["upstream answer", "call ended", "peak RSS MiB", "growth MiB", "× normal"]
    return table(header, rows) + "\n\n" + note, targets


# --- idle HTTP sessions ---------------------------------------------------------------------


def sessions(ctx: Context) -> str:
    caps: list[tuple[str, str | None]] = [(f"default cap ({MAX_SESSIONS})", None)]
    if not ctx.quick:  # about 40 s each on a 2-core machine
        caps.append((f"all {sessions_bench.SESSIONS:,} kept", str(sessions_bench.SESSIONS)))
    rows = []
    for label, cap in caps:
        m = sessions_bench.measure(cap, pd_mcp=ctx.cmd.pd, env=ctx.cmd.env)
        rows.append(
            [
                label,
                f"{m.base:.1f}",
                f"{m.after:.1f}",
                f"{m.peak:.1f}",
                f"{m.peak - m.base_peak:+.1f}",
                f"{m.after / m.base:.2f}×",
            ]
        )
    header = [
        "sessions kept",
        "RSS, 1 session (MiB)",
        f"RSS after {sessions_bench.SESSIONS:,} idle (MiB)",
        "peak RSS (MiB)",
        "peak growth (MiB)",
        "RSS × 1 session",
    ]
    note = (
        f"bench/sessions_bench.py: `pd-mcp serve --transport http --sandbox`, one session, then "
        f"{sessions_bench.SESSIONS:,} more that stay idle (initialize, never closed), one after another; "
        "resident (VmRSS) and peak (VmHWM) memory of the server from /proc."
    )
    return table(header, rows) + "\n\n" + note
