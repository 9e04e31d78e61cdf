"""Answering the lines of a JSON Lines batch within one process: one answer line per input line,
in order; a line that is not JSON answered with an error of its own, blank lines skipped.

A piece of the input is answered whole where the answering function can (``answer_piece_json``),
else its lines are decoded and answered :data:`CHUNK_LINES` at a time by a function that answers
a list of cases at once (its fast paths on raw lines first). :mod:`itb.shell.batch` streams the
pieces of a whole input through worker processes that answer them here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat

import orjson

#: Answers every decoded case of a list, in order (e.g. ``itb.contracts.forecast.answer_many``).
#: It may carry an ``answer_lines`` attribute: a function answering raw lines directly, None for
#: each line it leaves to decoding and ``answer_many``; or an ``answer_lines_json`` attribute, the
#: same as the rows it answers and their answers' JSON Lines; and an ``answer_piece_json``
#: attribute, the same for a whole piece of the input (see ``itb.contracts.forecast``).
AnswerMany = Callable[[Sequence[object]], list[dict]]

#: Lines decoded and answered together.
CHUNK_LINES = 4096


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
    known = _fill(known[: len(lines)], todo, answers)
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
    return _fill([None] * n, rows, text)


def _fill(known: list[bytes | None], rows: list[int], text: bytes) -> list[bytes | None]:
    """``known`` with the answers of ``rows`` put in, one line each of ``text``."""
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
        return [_answer_one(obj, answer_many, number) for number, obj in zip(numbers, objs)]


def _answer_one(obj: object, answer_many: AnswerMany, number: int) -> dict:
    try:
        return answer_many([obj])[0]
    except Exception as exc:  # never lose a line: an unforeseen failure is answered in place
        return {"id": None, "error": f"line {number}: internal error ({type(exc).__name__}: {exc})"}
