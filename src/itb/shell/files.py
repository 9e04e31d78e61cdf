"""Reading the user's input files (or standard input) with errors a user can act on."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import BinaryIO


class InputError(Exception):
    """The input could not be read or is not JSON; the message is for the user."""


def read_source(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        with open(name, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None


def open_source(name: str) -> AbstractContextManager[BinaryIO]:
    """The input to read as a stream (standard input for '-', left open when done)."""
    if name == "-":
        return nullcontext(sys.stdin.buffer)
    try:
        return open(name, "rb")
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None


def read_json(name: str) -> object:
    import orjson  # here: loading it costs a tenth of `itb simulate`'s start, which reads no file of the user's

    data = read_source(name)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{name}: not valid JSON ({exc})") from None
