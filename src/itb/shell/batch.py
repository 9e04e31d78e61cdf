"""JSON Lines batches: one answer line per input line, in order, streamed through worker processes.

The input is read a chunk at a time (whole lines, about :data:`CHUNK_BYTES`; from a regular file,
only where each chunk lies is found here, and each worker reads its own chunks); the chunks are
dealt in turn to forked worker processes (one per CPU core) over pipes, and a writer thread
takes the answers back in the same turn and writes them out, so the output keeps the input's
order. At most :data:`IN_FLIGHT` chunks per worker are under way at once, so memory stays flat
however long the input is. Small batches are answered in this process. Within a process, each
piece is answered by :func:`itb.shell.batch_lines.answer_piece`.
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
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

from itb.shell.batch_lines import AnswerMany, answer_piece

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
