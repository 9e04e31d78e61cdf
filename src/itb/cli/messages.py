"""What every ``itb`` command says the same way, without the command-line library: the
disclaimer and the one-line error (``itb.cli.common`` adds the shared options)."""

from __future__ import annotations

import sys
from typing import NoReturn

DISCLAIMER = "For education, planning and research. Not a certified medical device."


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2."""
    sys.stderr.write(f"itb: error: {' '.join(message.split())}\n")
    raise SystemExit(2)


__all__ = ["DISCLAIMER", "fail"]
