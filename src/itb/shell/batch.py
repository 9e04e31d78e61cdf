"""JSON Lines batches: one answer line per input line, in order, spread over the CPU cores.

The input is split into contiguous slices; each slice is answered in its own forked process
(the input is shared copy-on-write, nothing is pickled) and the answers are written back in
the input's order. Small batches stay in one process. Within a process, lines are decoded and
answered a chunk at a time by a function that answers a list of cases at once.
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Callable, Sequence
from itertools import pairwise

import orjson

#: Answers every decoded case of a list, in order (e.g. ``itb.contracts.forecast.answer_many``).
AnswerMany = Callable[[Sequence[object]], list[dict]]

#: Lines decoded and answered together.
CHUNK_LINES = 4096
#: Below this many lines a batch is answered in one process (forking costs more than it saves).
PARALLEL_MIN_LINES = 5000


def answer_lines(lines: list[bytes], answer_many: AnswerMany, first_line: int = 1) -> bytes:
    """Answer each non-blank line; a line that is not JSON gets an error answer of its own.

    Lines are decoded and answered a chunk at a time, so the decoded objects of a large batch
    never all exist at once (they cost far more memory than the text).
    """
    return b"".join(
        _answer_chunk(lines[start : start + CHUNK_LINES], answer_many, first_line + start)
        for start in range(0, len(lines), CHUNK_LINES)
    )


def _answer_chunk(lines: list[bytes], answer_many: AnswerMany, first_line: int) -> bytes:
    dumps = orjson.dumps
    while lines and not lines[-1]:  # the end of the file
        lines = lines[:-1]
    try:  # the common case: every line is JSON
        objs = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        pass
    else:
        answers = _answer_all(objs, answer_many, range(first_line, first_line + len(objs)))
        return b"\n".join(map(dumps, answers)) + b"\n" if answers else b""
    slots: list[bytes | None] = []  # per non-blank line: its answer if already known, else None
    objs = []
    numbers = []
    for number, line in enumerate(lines, first_line):
        try:
            objs.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            if line.strip():
                slots.append(dumps({"id": None, "error": f"line {number}: not valid JSON ({exc})"}))
            continue
        numbers.append(number)
        slots.append(None)
    pending = iter(_answer_all(objs, answer_many, numbers))
    out = [slot if slot is not None else dumps(next(pending)) for slot in slots]
    out.append(b"")
    return b"\n".join(out) if len(out) > 1 else b""


def _answer_all(objs: list, answer_many: AnswerMany, numbers: Sequence[int]) -> list[dict]:
    """``answer_many(objs)``; if it fails, each object alone, so one bad case costs one line."""
    try:
        return answer_many(objs)
    except Exception:
        pass
    out = []
    for number, obj in zip(numbers, objs):
        try:
            out.append(answer_many([obj])[0])
        except Exception as exc:  # never lose a line: an unforeseen failure is answered in place
            out.append({"id": None, "error": f"line {number}: internal error ({type(exc).__name__}: {exc})"})
    return out


def answer_batch(data: bytes, answer_many: AnswerMany, workers: int | None = None) -> bytes:
    """Answers for every line of ``data``, using up to ``workers`` processes (default: all cores).

    The garbage collector is paused meanwhile: a batch builds millions of small objects that
    hold no reference cycles, and collecting them over and over costs more than the answers.
    """
    enabled = gc.isenabled()
    gc.disable()
    _keep_freed_memory()
    try:
        return _answer_batch(data, answer_many, workers)
    finally:
        if enabled:
            gc.enable()


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse rather than hand it back to the system.

    Every chunk allocates and frees the same few megabytes of arrays; returned to the system
    each time, they cost a page fault per 4 KiB on every chunk (a third of the run time).
    Without glibc (another libc, another system) this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20)
        libc.mallopt(_M_MMAP_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):
        pass


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _answer_batch(data: bytes, answer_many: AnswerMany, workers: int | None) -> bytes:
    workers = workers or len(os.sched_getaffinity(0))
    if workers <= 1 or data.count(b"\n") < PARALLEL_MIN_LINES or not hasattr(os, "fork"):
        return answer_lines(data.split(b"\n"), answer_many)
    # Slices cut at line ends by byte offset: a worker splits only its own slice, so no process
    # writes to (and copies) memory that another one shares.
    cuts = [0]
    for k in range(1, workers):
        end = data.find(b"\n", max(cuts[-1], len(data) * k // workers))
        cuts.append(len(data) if end < 0 else end + 1)
    cuts.append(len(data))
    slices = [(start, end) for start, end in pairwise(cuts) if end > start]

    def answer_slice(start: int, end: int) -> bytes:
        return answer_lines(data[start:end].split(b"\n"), answer_many, data.count(b"\n", 0, start) + 1)

    children = []
    for start, end in slices[1:]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: answer its slice, hand the bytes back, leave at once
            os.close(read_fd)
            code = 1
            try:
                with os.fdopen(write_fd, "wb") as sink:
                    sink.write(answer_slice(start, end))
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd))
    chunks = [answer_slice(*slices[0])]
    for pid, read_fd in children:
        with os.fdopen(read_fd, "rb") as pipe:
            chunks.append(pipe.read())
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("a batch worker process failed")
    return b"".join(chunks)
