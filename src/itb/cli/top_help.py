"""``itb --help`` (and ``itb`` alone) without importing the command-line library.

Importing Typer alone costs several times a bare Python start, more than the help page is
worth: the top-level page is written here from the command table below (each command's name
and the first paragraph of its help, as data), laid out as Typer (Click) lays it out, at the
same terminal width. ``tests/cli/test_top_help.py`` checks that the table holds the app's
commands, in order, with their help, and that the page is Typer's own, character for character,
at several widths. Every other command line goes to Typer.
"""

from __future__ import annotations

import os
import sys

PROG = "itb"
USAGE = "[OPTIONS] COMMAND [ARGS]..."
HELP = (
    "Open software for intrathecal baclofen pump therapy. "
    "For education, planning and research. Not a certified medical device."
)
OPTIONS = (
    ("--json", "Print JSON, for the commands that do (also accepted after the command)."),
    ("--help", "Show this message and exit."),
)
#: The commands in the order they are registered, each with the first paragraph of its help.
COMMANDS = (
    ("forecast", "When does the reservoir reach the low-reservoir alarm, and empty? (shared/spec/forecast.md)"),
    ("simulate", "Run one implanted pump through months or years on a virtual clock (shared/spec/simulate.md)."),
    ("serve", "Run the clinic's web service (REST API; OpenAPI at /openapi.json)."),
    ("demo", "Fill an empty database with a synthetic clinic (~40 patients) and print the demo logins."),
    ("import", "Import an existing clinic: its vendor-programmed pumps as they stood after their last session."),
    ("export", "Export every implanted pump's current state in the import's columns (importable again)."),
    ("session", "Record what the vendor's programmer did to a vendor-programmed pump."),
    ("worklist", "Who must be seen before their pump runs low, and why (most urgent first)."),
    ("pump", "A virtual implanted pump that answers telemetry."),
    ("programmer", "The clinician programmer: talk to a pump over telemetry."),
    ("users", "Clinic users."),
    ("clinic", "The clinic itself: its settings."),
    (
        "audit",
        "The audit log: chained under the audit key, verified from signed checkpoints (a group of one command "
        "today, so that ``itb audit verify`` stays ``itb audit verify``).",
    ),
    ("notify", "Reminders and escalation: the outbox of messages to families and staff (email, webhook)."),
)


def answer(argv: list[str]) -> bool:
    """Print the top-level help if ``argv`` (``sys.argv``) asks for it and nothing else; True if it did.

    ``itb --help``: on standard output, exit status 0; ``itb`` alone: on standard error (status 2,
    the caller's). Only under the program name ``itb`` (the page names the program as it was run),
    and not when a shell asks for completions (``_ITB_COMPLETE``: Typer answers those)."""
    if not plain(argv) or argv[1:] not in (["--help"], []):
        return False
    out = sys.stdout if argv[1:] else sys.stderr
    out.write(page(terminal_width()) + "\n")
    out.flush()
    return True


def plain(argv: list[str]) -> bool:
    """Run as ``itb`` (the page names the program as it was run), and no shell asking for completions."""
    return os.path.basename(argv[0]) == PROG and "_ITB_COMPLETE" not in os.environ


def terminal_width() -> int:
    """The columns ``shutil.get_terminal_size`` gives (``$COLUMNS``, the terminal, else 80),
    without importing shutil (and the compression modules it brings)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def page(columns: int) -> str:
    """The help page at a terminal ``columns`` wide, as Click's ``HelpFormatter`` writes it."""
    width = max(min(columns, 80) - 2, 50)
    lines = [_wrap(USAGE, width, f"Usage: {PROG} ", " " * len(f"Usage: {PROG} ")), ""]
    lines += [_wrap(HELP, width, "  ", "  "), "", "Options:"]
    lines += _definitions(OPTIONS, width)
    limit = width - 6 - max(len(name) for name, _ in COMMANDS)
    lines += ["", "Commands:"]
    lines += _definitions([(name, short_help(text, limit)) for name, text in COMMANDS], width)
    return "\n".join(lines)


def _definitions(rows: list[tuple[str, str]] | tuple[tuple[str, str], ...], width: int) -> list[str]:
    """Click's ``write_dl`` at an indent of 2: names in a column, texts wrapped beside them."""
    first_col = min(max(len(name) for name, _ in rows), 30) + 2
    out = []
    for name, text in rows:
        wrapped = _wrap(text, max(width - first_col - 2, 10), "", "").splitlines() or [""]
        if len(name) <= first_col - 2:
            out.append(f"  {name}{' ' * (first_col - len(name))}{wrapped[0]}")
        else:
            out += [f"  {name}", f"{' ' * (first_col + 2)}{wrapped[0]}"]
        out += [f"{' ' * (first_col + 2)}{line}" for line in wrapped[1:]]
    return out


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    """Click's ``wrap_text`` for one paragraph (a word longer than a line is cut, as Click cuts it)."""
    import textwrap

    class Wrapper(textwrap.TextWrapper):
        def _handle_long_word(self, chunks: list[str], line: list[str], length: int, width: int) -> None:
            space = max(width - length, 1)
            line.append(chunks[-1][:space])
            chunks[-1] = chunks[-1][space:]

    wrapper = Wrapper(width, initial_indent=first, subsequent_indent=rest, replace_whitespace=False)
    return wrapper.fill(text.expandtabs())


def short_help(text: str, limit: int) -> str:
    """Click's ``make_default_short_help``: the first sentence if it fits in ``limit``, else as many
    words as fit, then ``...``."""
    words = text.split()
    total = 0
    for i, word in enumerate(words):
        total += len(word) + (i > 0)
        if total > limit:
            break
        if word.endswith("."):
            return " ".join(words[: i + 1])
        if total == limit and i != len(words) - 1:
            break
    else:
        return " ".join(words)
    total += 3
    while i > 0:
        total -= len(words[i]) + (i > 0)
        if total <= limit:
            break
        i -= 1
    return " ".join(words[:i]) + "..."
