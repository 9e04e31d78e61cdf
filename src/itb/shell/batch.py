"""JSON Lines batches: one answer line per input line, in order, streamed through worker processes.

The input is read a chunk at a time (whole lines, about :data:`CHUNK_BYTES`; from a regular file,
only where each chunk lies is found here, and each worker reads its own chunks); the chunks are
dealt in turn to forked worker processes (one per CPU core) over pipes, and a writer thread
takes the answers back in the same turn and writes them out, so the output keeps the input's
order. At most :data:`IN_FLIGHT` chunks per worker are under way at once, so memory stays flat
however long the input is. Small batches are answered in this process. Within a process, a
piece is answered whole where the answering function can (``answer_piece_json``), else its lines
are decoded and answered :data:`CHUNK_LINES` at a time by a function that answers a list of
cases at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import os
import queue
import signal
import stat
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, repeat
from typing import BinaryIO

import orjson

#: Answers every decoded case of a list, in order (e.g. ``itb.contracts.forecast.answer_many``).
#: It may carry an ``answer_lines`` attribute: a function answering raw lines directly, None for
#: each line it leaves to decoding and ``answer_many``; or an ``answer_lines_json`` attribute, the
#: same as the rows it answers and their answers' JSON Lines (see ``itb.contracts.forecast``).
AnswerMany = Callable[[Sequence[object]], list[dict]]

#: Lines decoded and answered together.
CHUNK_LINES = 4096
#: Bytes read at a time (cut back to the last whole line): one worker's piece of work.
CHUNK_BYTES = 2 << 20
#: Chunks handed to each worker ahead of the one being written (bounds memory: a few pieces and
#: answers a worker). Deep enough that a worker slowed for a moment (a shared machine) does not
#: hold the other one back: the output waits for the slow one's piece, the other works on.
IN_FLIGHT = 8
#: Below this many lines a batch is answered in one process (forking costs more than it saves).
PARALLEL_MIN_LINES = 5000


class BatchFailed(RuntimeError):
    """The batch could not be finished (a worker process died, the input file shrank): the
    answers written so far are not the whole batch."""


_HEADER = struct.Struct("<qqQ")  # a chunk's first line number, its offset in the file (-1: it follows), its length
_LENGTH = struct.Struct("<Q")  # an answer's length in bytes


def answer_lines(
    lines: list[bytes],
    answer_many: AnswerMany,
    first_line: int = 1,
    plain: bool = False,
    known: list[bytes | None] | None = None,
) -> bytes:
    """Answer each non-blank line; a line that is not JSON gets an error answer of its own.

    Lines are decoded and answered a chunk at a time, so the decoded objects of a large batch
    never all exist at once (they cost far more memory than the text). ``plain``: the caller
    has found that the lines hold only ASCII and no backslash (see ``answer_lines_json``).
    ``known``: each line's answer where the caller has it already, else None.
    """
    return b"".join(
        _answer_chunk(
            lines[start : start + CHUNK_LINES],
            answer_many,
            first_line + start,
            plain,
            None if known is None else known[start : start + CHUNK_LINES],
        )
        for start in range(0, len(lines), CHUNK_LINES)
    )


def answer_piece(piece: bytes, answer_many: AnswerMany, first_line: int) -> bytes:
    """:func:`answer_lines` for the lines of ``piece`` (whole lines of the input), which is
    looked over once here for what the fast path leaves aside, rather than line by line; and
    answered as a whole where ``answer_many`` can (an ``answer_piece_json`` attribute: the rows
    it answers, None for all, and their JSON Lines; or None, to go line by line)."""
    plain = b"\\" not in piece and piece.isascii()
    whole = getattr(answer_many, "answer_piece_json", None)
    found = whole(piece) if plain and whole is not None else None
    if found is not None and found[0] is None:  # every line answered
        return found[1]
    lines = piece.split(b"\n")
    if found is None:
        return answer_lines(lines, answer_many, first_line, plain)
    return answer_lines(lines, answer_many, first_line, plain, _known_rows(len(lines), *found))


def _answer_chunk(
    lines: list[bytes], answer_many: AnswerMany, first_line: int, plain: bool, known: list[bytes | None] | None
) -> bytes:
    while lines and not lines[-1]:  # the end of the file
        lines = lines[:-1]
    if known is None:
        text, known = _known(lines, answer_many, plain)
        if known is None:  # every line answered by the fast path
            return text
    todo = [row for row, found in enumerate(known[: len(lines)]) if found is None]
    try:  # the common case: every line left is JSON
        objs = [orjson.loads(lines[row]) for row in todo]
    except orjson.JSONDecodeError:
        return _answer_each(lines, known, answer_many, first_line)
    answers = _json_lines(_answer_all(objs, answer_many, [first_line + row for row in todo]))
    if len(todo) == len(lines):
        return answers
    known = known[: len(lines)]
    for row, answer in zip(todo, answers.split(b"\n")):
        known[row] = answer
    known.append(b"")
    return b"\n".join(known) if len(known) > 1 else b""  # type: ignore[arg-type]


def _known(lines: list[bytes], answer_many: AnswerMany, plain: bool) -> tuple[bytes, list[bytes | None] | None]:
    """Each line's answer as JSON text where ``answer_many``'s fast path on raw lines gives
    it, else None; or, when that path answered every line, their JSON Lines and None."""
    answer_lines_json = getattr(answer_many, "answer_lines_json", None)  # answers as JSON Lines
    if answer_lines_json is not None:
        rows, text = answer_lines_json(lines, plain=plain)
        if lines and len(rows) == len(lines):
            return text, None
        return b"", _known_rows(len(lines), rows, text)
    answer_lines = getattr(answer_many, "answer_lines", None)  # answers as objects
    found = answer_lines(lines) if answer_lines is not None else [None] * len(lines)
    return b"", [None if answer is None else orjson.dumps(answer) for answer in found]


def _known_rows(n: int, rows: list[int], text: bytes) -> list[bytes | None]:
    """``n`` lines' answers: those of ``rows``, one line each of ``text``; None for the others."""
    known: list[bytes | None] = [None] * n
    for row, answer in zip(rows, text.split(b"\n")):
        known[row] = answer
    return known


def _answer_each(lines: list[bytes], known: list[bytes | None], answer_many: AnswerMany, first_line: int) -> bytes:
    """Like :func:`_answer_chunk`, some lines not JSON: those answered with an error, blank ones skipped."""
    dumps = orjson.dumps
    slots: list[bytes | None] = []  # per line answered: its answer if already known, else None
    objs = []
    numbers: list[int] = []
    for number, line, found in zip(range(first_line, first_line + len(lines)), lines, known):
        if found is not None:
            slots.append(found)
            continue
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


_BETWEEN = b'},{"id":'  # where one answer ends and the next begins, in a list of answers


def _json_lines(answers: list[dict]) -> bytes:
    """Each answer as a line of JSON, as ``orjson.dumps`` writes it alone.

    One ``orjson.dumps`` of the whole list, cut between the answers: far cheaper than a call per
    answer. When every answer starts with its ``id``, each boundary reads ``},{"id":``, and
    inside a JSON string a quote is always escaped; so if that text occurs exactly once per
    boundary, it occurs nowhere else. Otherwise each answer is written alone.
    """
    if not answers:
        return b""
    text = orjson.dumps(answers)
    first_keys = set(map(next, map(iter, answers), repeat(None)))
    if first_keys == {"id"} and text.count(_BETWEEN) == len(answers) - 1:
        return text[1:-1].replace(_BETWEEN, b'}\n{"id":') + b"\n"
    return b"\n".join(map(orjson.dumps, answers)) + b"\n"


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
    """Answers for every line of ``data`` (as :func:`answer_stream` writes them)."""
    sink = io.BytesIO()
    answer_stream(io.BytesIO(data), sink, answer_many, workers)
    return sink.getvalue()


def answer_stream(source: BinaryIO, sink: BinaryIO, answer_many: AnswerMany, workers: int | None = None) -> None:
    """Write to ``sink`` the answer to every line of ``source``, using up to ``workers``
    processes (default: all cores).

    The garbage collector is paused meanwhile: a batch builds millions of small objects that
    hold no reference cycles, and collecting them over and over costs more than the answers.
    """
    enabled = gc.isenabled()
    gc.disable()
    _keep_freed_memory()
    try:
        _answer_stream(source, sink, answer_many, workers or len(os.sched_getaffinity(0)))
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
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    except (OSError, AttributeError):
        pass


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def read_chunks(source: BinaryIO, size: int | None = None) -> Iterator[bytes]:
    """``source`` in pieces of about ``size`` bytes (default :data:`CHUNK_BYTES`), each ending
    at a line end (the last one: where the input ends)."""
    size = size or CHUNK_BYTES
    rest = b""
    while block := source.read(size):
        if rest:
            block = rest + block
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        if cut:
            yield block[:cut]
    if rest:
        yield rest


def _answer_stream(source: BinaryIO, sink: BinaryIO, answer_many: AnswerMany, workers: int) -> None:
    file = _regular_file(source)
    pieces: Iterator[Piece] = read_chunks(source) if file is None else file_pieces(file, even_pieces(file, workers))
    ahead = [piece for piece in (next(pieces, None), next(pieces, None)) if piece is not None]
    small = len(ahead) < 2 and sum(_piece_lines(piece) for piece in ahead) < PARALLEL_MIN_LINES
    pieces = chain(ahead, pieces)
    if workers <= 1 or small or not hasattr(os, "fork"):
        line = 1
        for piece in pieces:
            chunk = piece if isinstance(piece, bytes) else _read_at(file, piece[0], piece[1])
            sink.write(answer_piece(chunk, answer_many, line))
            line += chunk.count(b"\n")
        return
    _answer_parallel(pieces, sink, answer_many, workers, file)


#: A piece of the input: its bytes, or where its bytes lie in the input file (offset, length and
#: how many line ends they hold), for the process that answers them to read.
Piece = bytes | tuple[int, int, int]


def _regular_file(source: BinaryIO) -> int | None:
    """The descriptor of ``source`` when it is a regular file (which workers can read at any
    offset themselves), else None (a pipe, a terminal, bytes in memory)."""
    try:
        fd = source.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd if regular and source.tell() == os.lseek(fd, 0, os.SEEK_CUR) else None


def even_pieces(fd: int, workers: int) -> int:
    """A piece size near :data:`CHUNK_BYTES` that cuts the rest of the regular file ``fd`` into
    a whole number of rounds of ``workers`` pieces, so that the workers, dealt pieces in turn,
    finish together (equal pieces of a size that does not divide the file leave one worker a
    piece more than another: a piece's time of waiting at the end)."""
    rest = os.fstat(fd).st_size - os.lseek(fd, 0, os.SEEK_CUR)
    rounds = max(1, -(-rest // (CHUNK_BYTES * workers)))
    return max(1, -(-rest // (rounds * workers)))


def file_pieces(fd: int, size: int | None = None) -> Iterator[tuple[int, int, int]]:
    """The regular file ``fd``, from its current position, in pieces of about ``size`` bytes
    (default :data:`CHUNK_BYTES`; as many as ``size`` divides into the file), each ending at a
    line end (the last one: where the file ends): their offsets, lengths and line ends. The
    bytes are read here only to find the line ends; the process that answers a piece reads it
    again (from the page cache), instead of being sent it through a pipe."""
    size = size or CHUNK_BYTES
    offset = end = os.lseek(fd, 0, os.SEEK_CUR)
    # Piece k ends at the last line end before ``start + k * size`` (not ``size`` after the
    # previous piece's end): what each piece falls short does not add up into one piece more.
    while block := os.pread(fd, (end := max(end + size, offset + size // 2)) - offset, offset):
        while not (cut := block.rfind(b"\n") + 1):  # a line longer than a piece: read on to its end
            more = os.pread(fd, size, offset + len(block))
            if not more:
                cut = len(block)
                break
            block += more
        yield offset, cut, _line_ends(block, cut)
        offset += cut


def _line_ends(block: bytes, end: int) -> int:
    """How many line ends ``block[:end]`` holds: counted by numpy, three times quicker than
    ``bytes.count`` (this process counts every piece while the workers answer them)."""
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(block, np.uint8, end) == _NEWLINE))


_NEWLINE = ord("\n")


def _read_at(file: int | None, offset: int, length: int) -> bytes:
    """The bytes of a piece of the input file ``file``, which start at ``offset``."""
    if file is None:
        raise BatchFailed("a piece of an input file, but no input file")
    chunk = os.pread(file, length, offset)
    if len(chunk) != length:
        raise BatchFailed("the input file changed while it was being read")
    return chunk


def _piece_lines(piece: Piece) -> int:
    return piece.count(b"\n") if isinstance(piece, bytes) else piece[2]


# -- the workers ---------------------------------------------------------------------------


class _Worker:
    """A forked process answering the chunks sent down one pipe, answers back up another."""

    def __init__(self, answer_many: AnswerMany, others: list[_Worker], file: int | None) -> None:
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # child: answer until the input pipe closes, then leave at once
            code = 1
            try:
                os.close(from_parent)
                os.close(to_parent)
                for other in others:  # their pipes' parent ends, so each worker sees its own EOF
                    other.close()
                _serve(to_child, from_child, answer_many, file)
                code = 0
            finally:
                os._exit(code)
        os.close(to_child)
        os.close(from_child)
        self.requests = os.fdopen(from_parent, "wb")
        self.answers = os.fdopen(to_parent, "rb")

    def send(self, first_line: int, piece: Piece) -> None:
        if isinstance(piece, bytes):
            self.requests.write(_HEADER.pack(first_line, -1, len(piece)))
            self.requests.write(piece)
        else:  # where it lies in the input file: the worker reads it
            self.requests.write(_HEADER.pack(first_line, piece[0], piece[1]))
        self.requests.flush()

    def receive(self) -> bytes:
        header = self.answers.read(_LENGTH.size)
        if len(header) < _LENGTH.size:
            raise BatchFailed("a worker process failed")
        (length,) = _LENGTH.unpack(header)
        answer = self.answers.read(length)
        if len(answer) < length:
            raise BatchFailed("a worker process failed")
        return answer

    def close(self) -> None:
        for pipe in (self.requests, self.answers):
            with contextlib.suppress(OSError):  # a worker that died: its pipe may be broken
                pipe.close()


def _serve(requests_fd: int, answers_fd: int, answer_many: AnswerMany, file: int | None) -> None:
    """Answer each chunk read from ``requests_fd`` (or, where its header says, from the input
    file ``file``), in turn, onto ``answers_fd``.

    A thread reads the chunks as they come and another writes the answers: with a pipe's small
    buffer, the parent would otherwise wait to hand this worker its next chunk (and to take its
    last answer) until it had finished the one in hand, holding the other workers in step."""
    chunks: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
    answers: queue.Queue[bytes | None] = queue.Queue()
    failed: list[BaseException] = []

    def read() -> None:
        try:
            with os.fdopen(requests_fd, "rb") as requests:
                while header := requests.read(_HEADER.size):
                    first_line, offset, length = _HEADER.unpack(header)
                    chunk = requests.read(length) if offset < 0 else _read_at(file, offset, length)
                    chunks.put((first_line, chunk))
        except BaseException as exc:  # handed to the worker's main thread
            failed.append(exc)
        finally:
            chunks.put(None)

    def write() -> None:
        try:
            with os.fdopen(answers_fd, "wb") as sink:
                while (answer := answers.get()) is not None:
                    sink.write(_LENGTH.pack(len(answer)))
                    sink.write(answer)
                    sink.flush()
        except BaseException as exc:  # handed to the worker's main thread
            failed.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    writer = threading.Thread(target=write, daemon=True)
    reader.start()
    writer.start()
    try:
        while not failed and (request := chunks.get()) is not None:
            first_line, chunk = request
            answers.put(answer_piece(chunk, answer_many, first_line))
    finally:
        answers.put(None)
    writer.join()
    if failed:
        raise failed[0]


def _answer_parallel(
    pieces: Iterator[Piece], sink: BinaryIO, answer_many: AnswerMany, workers: int, file: int | None
) -> None:
    """Piece ``k`` to worker ``k % workers``; a writer thread writes the answers in that order."""
    pool: list[_Worker] = []
    for _ in range(workers):
        pool.append(_Worker(answer_many, pool, file))
    turns: queue.Queue[_Worker | None] = queue.Queue()
    room = threading.Semaphore(workers * IN_FLIGHT)
    failed: list[BaseException] = []
    writer = threading.Thread(target=_write_answers, args=(turns, sink, room, failed, pool), daemon=True)
    writer.start()
    try:
        line = 1
        for k, piece in enumerate(pieces):
            room.acquire()
            if failed:
                break
            worker = pool[k % workers]
            worker.send(line, piece)
            turns.put(worker)
            line += _piece_lines(piece)
    except BrokenPipeError:  # a worker died; the writer reports it
        pass
    finally:
        turns.put(None)
        for worker in pool:
            with contextlib.suppress(OSError):
                worker.requests.close()
        writer.join()
        statuses = [os.waitpid(worker.pid, 0)[1] for worker in pool]
        for worker in pool:
            worker.close()
    if failed:
        raise failed[0]
    if any(statuses):
        raise BatchFailed("a worker process failed")


def _write_answers(
    turns: queue.Queue[_Worker | None],
    sink: BinaryIO,
    room: threading.Semaphore,
    failed: list[BaseException],
    pool: list[_Worker],
) -> None:
    try:
        while (worker := turns.get()) is not None:
            sink.write(worker.receive())
            room.release()
    except BaseException as exc:  # handed to the main thread, which raises it
        failed.append(exc)
        for other in pool:  # no one reads their answers now: stop them, so sending fails fast
            with contextlib.suppress(ProcessLookupError):
                os.kill(other.pid, signal.SIGKILL)
        room.release(1 << 20)  # the reader must not wait for room that will never come
