"""The stdio wire's pieces that need no process: line splitting and the no-wait probe."""

from __future__ import annotations

import os

import pytest

from pd_mcp import stdio


def split_all(chunks: list[bytes]) -> tuple[list[bytes], bytes]:
    lines: list[bytes] = []
    pieces: list[bytes] = []
    for chunk in chunks:
        pieces = stdio._split(pieces, chunk, lines.append)
    return lines, b"".join(pieces)


def test_lines_are_split_whatever_the_chunks() -> None:
    text = b'{"a":1}\n\n{"b":2}\n{"c":'
    expected = ([b'{"a":1}\n', b"\n", b'{"b":2}\n'], b'{"c":')
    assert split_all([text]) == expected
    assert split_all([bytes([c]) for c in text]) == expected  # one byte at a time
    assert split_all([text[:5], text[5:9], text[9:]]) == expected


def test_a_long_line_over_many_chunks_is_one_line() -> None:
    line = b"x" * 200_000 + b"\n"
    lines, rest = split_all([line[i : i + 65536] for i in range(0, len(line), 65536)])
    assert lines == [line] and rest == b""


@pytest.mark.skipif(stdio._NOWAIT is None, reason="no RWF_NOWAIT on this system")
def test_a_pipe_is_probed_without_reading_or_writing() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"kept\n")
        assert stdio._nowait_works(read_end, write=False)
        assert stdio._nowait_works(write_end, write=True)
        assert os.read(read_end, 100) == b"kept\n"  # the probe took nothing
    finally:
        os.close(read_end)
        os.close(write_end)
