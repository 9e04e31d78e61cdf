"""``itb ARGS`` run in the test process through the installed command's own entry point.

:func:`itb_here` calls :func:`itb.cli.main` with ``sys.argv`` set, its standard streams those of
Click's test runner (no terminal; ``stdin`` the given text), and gives back what a finished
process would: the exit status, stdout, stderr. The entry point's own handling (one line and exit
status 2 for bad input, never a traceback) is the installed command's; an exception that escapes
it is raised here, so a test that checks for "no traceback" cannot pass by an uncaught error.
Starting the command as a process of its own is left to the tests about that start.
"""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner


def itb_here(
    *args: str, stdin: str | None = None, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """``itb ARGS`` in this process (``env``: variables set for the call, None unset), as a finished process."""
    from itb.cli import main

    with CliRunner().isolation(input=stdin, env=env) as (out, err, _mixed):
        argv, sys.argv = sys.argv, ["itb", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return subprocess.CompletedProcess(["itb", *args], code, stdout, stderr)
