"""``itb --help`` written from the command table (no Typer import) is Typer's own page: the
table holds the app's commands, in order, with their help, and the page is the same text at
every terminal width."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer import _click
from typer.main import get_command, get_command_name, solve_typer_info_defaults

from itb.cli import app, top_help


def registered() -> list[tuple[str, str]]:
    """The app's top-level commands and groups in Typer's order, each with the first paragraph of its help."""
    rows = []
    for info in app.registered_commands:
        text = info.help or info.callback.__doc__ or ""  # type: ignore[union-attr]
        rows.append((info.name or get_command_name(info.callback.__name__), text))  # type: ignore[union-attr]
    for group in app.registered_groups:
        solved = solve_typer_info_defaults(group)
        assert not solved.hidden and not solved.deprecated and solved.short_help is None
        rows.append((solved.name, solved.help or ""))  # type: ignore[arg-type]
    return [(name, " ".join(text.partition("\n\n")[0].split())) for name, text in rows]


def test_the_table_lists_the_apps_commands_in_order_with_their_help():
    assert list(top_help.COMMANDS) == registered()
    assert all(not info.hidden and not info.deprecated for info in app.registered_commands)
    assert app.info.help == top_help.HELP


@pytest.mark.parametrize("columns", [20, 52, 60, 67, 73, 79, 80, 81, 200])
def test_the_page_is_typers_own_at_every_width(columns, monkeypatch):
    monkeypatch.setattr(_click.formatting, "FORCED_WIDTH", max(min(columns, 80) - 2, 50))
    with _click.Context(get_command(app), info_name="itb") as ctx:
        assert top_help.page(columns) == ctx.get_help()


@pytest.mark.parametrize("args", [["--help"], []])
def test_itb_help_answers_as_typer_does_without_importing_it(args):
    probe = (
        "import os, sys; from itb.cli import main; sys.argv[0] = 'itb'\n"
        "try:\n    main()\nfinally:\n    'typer' in sys.modules and os._exit(99)"
    )
    env = {**os.environ, "COLUMNS": "64"}
    fast = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, timeout=60)
    typer_way = subprocess.run(
        [sys.executable, "-c", "import sys; from itb.cli.commands import run; sys.argv[0] = 'itb'; run()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (fast.returncode, fast.stdout, fast.stderr) == (typer_way.returncode, typer_way.stdout, typer_way.stderr)
    assert "Commands:" in (fast.stdout or fast.stderr)


def test_any_other_command_line_goes_to_typer(monkeypatch):
    for argv in (["itb", "--json", "--help"], ["itb", "simulate", "--help"], ["itb", "-h"], ["python", "--help"]):
        assert top_help.answer(argv) is False
    monkeypatch.setenv("_ITB_COMPLETE", "bash_source")  # a shell asking for completions
    assert top_help.answer(["itb"]) is False
