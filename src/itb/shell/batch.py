"""JSON Lines batches: one answer line per input line, in order, spread over the CPU cores.

The input is split into contiguous slices; each slice is answered in its own forked process
(the input is shared copy-on-write, nothing is pickled) and the answers are written back in
the input's order. Small batches stay in one process.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import orjson

#: Below this many lines a batch is answered in one process (forking costs more than it saves).
PARALLEL_MIN_LINES = 5000


def answer_lines(lines: list[bytes], answer: Callable[[object], dict], first_line: int = 1) -> bytes:
    """Answer each non-blank line; a line that is not JSON gets an error answer of its own."""
    out = []
    loads = orjson.loads
    dumps = orjson.dumps
    for number, line in enumerate(lines, first_line):
        try:
            obj = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            out.append(dumps({"id": None, "error": f"line {number}: not valid JSON ({exc})"}))
            continue
        try:
            out.append(dumps(answer(obj)))
        except Exception as exc:  # never lose a line: an unforeseen failure is answered in place
            out.append(dumps({"id": None, "error": f"line {number}: internal error ({type(exc).__name__}: {exc})"}))
    out.append(b"")
    return b"\n".join(out)


def answer_batch(data: bytes, answer: Callable[[object], dict], workers: int | None = None) -> bytes:
    """Answers for every line of ``data``, using up to ``workers`` processes (default: all cores)."""
    lines = data.split(b"\n")
    workers = workers or len(os.sched_getaffinity(0))
    if workers <= 1 or len(lines) < PARALLEL_MIN_LINES or not hasattr(os, "fork"):
        return answer_lines(lines, answer)
    size = -(-len(lines) // workers)
    starts = list(range(0, len(lines), size))
    children = []
    for start in starts[1:]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: answer its slice, hand the bytes back, leave at once
            os.close(read_fd)
            code = 1
            try:
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(answer_lines(lines[start : start + size], answer, start + 1))
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd))
    chunks = [answer_lines(lines[:size], answer)]
    for pid, read_fd in children:
        with os.fdopen(read_fd, "rb") as pipe:
            chunks.append(pipe.read())
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("a batch worker process failed")
    return b"".join(chunks)
