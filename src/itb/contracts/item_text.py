"""Lists of small flat records, read straight from the JSON text orjson writes of them.

Most of a forecast batch's line is lists of records such as ``{"start":"07:30","rate_mcg_per_day":
604.6}``; decoding each record into an object costs more than its share of the forecast. Here the
texts of many such lists, joined, are read as one array of bytes with numpy, for one known
:class:`Layout` (the records' keys, in order, and the kind of each value: a time of day
``"HH:MM"`` or a plain number). Every byte is checked to be where orjson puts it; anything else
(spaces, another key order, an exponent, a sign, a time that does not exist) is refused as a
whole (None), for the caller to decode the usual way.

A number is read as a JSON parser reads it: up to 15 digits (any such integer is exact as a
double) over a power of ten up to 10^15 (exact too), so one correctly rounded division, the
classic exact case of decimal-to-binary conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress

import numpy as np

TIME = "time"
NUMBER = "number"
#: Numbers read here: up to 15 digits and a point.
NUMBER_DIGITS = 15
NUMBER_WIDTH = NUMBER_DIGITS + 1
#: After the joined texts, so that 8 bytes can be read from any offset a check may look at:
#: a record's checks may run past its end by no more than its layout's fixed bytes.
PAD = bytes(128)
_ALL = (1 << 64) - 1

_TIME_MASK = int.from_bytes(b"\xff\0\0\xff\0\0\xff\0", "little")  # '"', HH, ':', MM, '"', then any byte
_TIME_MARKS = int.from_bytes(b'"\0\0:\0\0"\0', "little")
_TIME_DIGITS = ((8, 2), (16, 9), (32, 5), (40, 9))  # each digit's bit offset in that word, its highest
_TIME_WEIGHTS = (600, 60, 10, 1)
_POW10 = 10.0 ** np.arange(NUMBER_WIDTH)


def _word_checks(text: bytes) -> list[tuple[int, int, int]]:
    """``text`` as (offset, mask, value) of 8-byte little-endian words: the bytes at each offset,
    masked, equal the value (the last word overlaps the one before it)."""
    if len(text) < 8:
        mask = (1 << (8 * len(text))) - 1
        return [(0, mask, int.from_bytes(text, "little"))]
    offsets = [*range(0, len(text) - 7, 8)]
    if offsets[-1] != len(text) - 8:
        offsets.append(len(text) - 8)
    return [(at, _ALL, int.from_bytes(text[at : at + 8], "little")) for at in offsets]


@dataclass(frozen=True)
class Layout:
    """A record as orjson writes it: ``{"key":value,...}``, its keys in this order, each value
    of its kind (:data:`TIME` or :data:`NUMBER`)."""

    fields: tuple[tuple[str, str], ...]
    markers: list[tuple[int, list[tuple[int, int, int]]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        markers = []
        for i, (key, kind) in enumerate(self.fields):
            text = (b"{" if i == 0 else b",") + b'"' + key.encode() + b'":'
            if kind not in (TIME, NUMBER) or not key.isidentifier():
                raise ValueError(f"not a layout this reader takes: {key!r} ({kind})")
            markers.append((len(text), _word_checks(text)))
        fixed = sum(width for width, _ in markers) + 7 * sum(kind == TIME for _, kind in self.fields)
        if fixed + NUMBER_WIDTH + 8 > len(PAD):
            raise ValueError(f"a layout too long for this reader: {self.fields}")
        object.__setattr__(self, "markers", markers)


def read_items(texts: Sequence[bytes], layout: Layout) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """How many records each of ``texts`` (JSON lists of records of ``layout``) holds, and each
    field of all the records, flat, one array per field (times of day in minutes); None unless
    every text is such a list as orjson writes it."""
    n = len(texts)
    empty = np.fromiter(map(len, texts), dtype=np.int64, count=n) == 2
    if n and not empty.any():
        return _read(b"".join([*texts, PAD]), n, layout)
    if b"".join(compress(texts, empty)) != b"[]" * int(empty.sum()):
        return None
    count = np.zeros(n, dtype=np.int64)
    if empty.all():  # no texts, or only empty lists
        return count, [np.zeros(0) for _ in layout.fields]
    filled = ~empty
    found = _read(b"".join([*compress(texts, filled), PAD]), int(filled.sum()), layout)
    if found is None:
        return None
    count[filled] = found[0]
    return count, found[1]


def _read(text: bytes, n: int, layout: Layout) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """:func:`read_items` of ``n`` lists, none empty, whose texts joined (then :data:`PAD`)
    are ``text``.

    The records' ends (``}``) are found; each record's start follows from the bytes after the
    previous end (``,``: the same list; ``][``: the next one); then each field is checked from
    where the one before it ended: its key (as 8-byte words) and its value."""
    u = np.frombuffer(text, dtype=np.uint8, count=len(text) - len(PAD))
    closes = np.flatnonzero(u == ord("}"))
    m = len(closes)
    if not m or closes[-1] != len(u) - 2 or u[0] != ord("[") or u[-1] != ord("]"):
        return None
    after = u[closes[:-1] + 1]
    same = after == ord(",")
    ends = closes[:-1][~same]
    if not (same | (after == ord("]"))).all() or len(ends) != n - 1 or not (u[ends + 2] == ord("[")).all():
        return None
    at = np.empty_like(closes)  # where each record, then each of its fields, starts
    at[0] = 1
    at[1:] = closes[:-1] + 2 + ~same
    if not (at < closes).all():
        return None
    words = np.ndarray((len(text) - 7,), dtype="<u8", buffer=text, strides=(1,))  # 8 bytes at each offset
    commas = None
    columns = []
    shift = 0  # each field starts ``shift`` bytes after ``at`` (moved on at each number's end)
    for i, ((_, kind), (width, checks)) in enumerate(zip(layout.fields, layout.markers)):
        for offset, mask, value in checks:
            word = words[at + (shift + offset)]
            if not ((word if mask == _ALL else word & mask) == value).all():
                return None
        shift += width
        if kind == TIME:
            minutes = _times(words[at + shift])
            if minutes is None:
                return None
            columns.append(minutes)
            shift += 7
            continue
        at = at + shift
        shift = 0
        if i == len(layout.fields) - 1:
            end = closes
        else:
            commas = np.flatnonzero(u == ord(",")) if commas is None else commas
            k = np.searchsorted(commas, at)
            if (k >= len(commas)).any():
                return None
            end = commas[k]
        numbers = _numbers(words, at, end - at)
        if numbers is None:
            return None
        columns.append(numbers)
        at = end
    if not (at + shift == closes).all():
        return None
    count = np.diff(np.flatnonzero(np.append(~same, True)), prepend=-1)
    return count, columns


def _times(words: np.ndarray) -> np.ndarray | None:
    """The minutes after midnight of ``"HH:MM"`` at the start of each word; None unless each
    is such a time that exists."""
    if not ((words & _TIME_MASK) == _TIME_MARKS).all():
        return None
    minute = np.zeros(len(words), dtype=np.int64)
    for (shift, top), weight in zip(_TIME_DIGITS, _TIME_WEIGHTS):
        digit = ((words >> shift) & 0xFF).astype(np.uint8) - np.uint8(ord("0"))  # below "0" wraps
        if not (digit <= top).all():
            return None
        minute += digit.astype(np.int64) * weight
    return minute.astype(np.float64) if (minute < 1440).all() else None


def _numbers(words: np.ndarray, starts: np.ndarray, length: np.ndarray) -> np.ndarray | None:
    """The numbers of ``length`` bytes at ``starts`` (``words``: 8 bytes at each offset), or
    None unless each is digits with at most one point between them, as JSON writes a number (no
    leading zero), of up to 15 digits. Read a column at a time across all the numbers (Horner's
    rule on the digits), then one exact division each."""
    if not len(length) or length.min() < 1 or length.max() > NUMBER_WIDTH:
        return None
    width = int(length.max())
    rows = np.stack([words[starts + at] for at in range(0, width, 8)], axis=1).view(np.uint8)
    chars = np.ascontiguousarray(rows[:, :width].T)  # a column of bytes at a time, contiguous
    mantissa = np.zeros(len(starts), dtype=np.float64)
    decimals = np.zeros(len(starts), dtype=np.int64)
    seen_point = np.zeros(len(starts), dtype=bool)
    for column, byte in enumerate(chars):
        inside = column < length
        value = byte - np.uint8(ord("0"))  # below "0" wraps past 255
        digit = (value <= 9) & inside
        point = (byte == ord(".")) & inside
        if not (digit | point | ~inside).all() or (point & seen_point).any():
            return None
        mantissa = np.where(digit, mantissa * 10 + value, mantissa)
        decimals += digit & seen_point
        seen_point |= point
    first = chars[0]
    leading_zero = (first == ord("0")) & (length > 1) & (chars[min(1, width - 1)] != ord("."))
    if (first == ord(".")).any() or leading_zero.any() or (seen_point & (decimals == 0)).any():
        return None  # ".5", "05", "5."
    if (length - seen_point > NUMBER_DIGITS).any():
        return None
    return mantissa / _POW10[decimals]
