"""Build only the part of the ``itb`` command tree that a command line uses.

Typer turns every command of an app into a Click command up front, reading each function's
signature and evaluating its annotations: most of the work of ``itb --help`` and a good part of
``itb simulate``. :func:`lazy_command` builds the top-level group alone; a command or group
below it is built the first time it is looked up (``itb simulate`` builds ``simulate`` only),
and the group's listing is written from each one's name and help text, as Typer would. (``itb
--help`` itself is answered before Typer is imported: :mod:`itb.cli.top_help`.)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, MutableMapping
from copy import copy

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup
from typer.main import (
    get_command_from_info,
    get_command_name,
    get_group,
    get_group_from_info,
    solve_typer_info_defaults,
)
from typer.models import CommandInfo, TyperInfo


class LazyCommands(MutableMapping[str, _click.Command]):
    """The commands of a Typer app by name, in Typer's order, each built when first looked up."""

    def __init__(self, app: typer.Typer) -> None:
        self._app = app
        self._infos: dict[str, CommandInfo | TyperInfo] = {}
        for info in app.registered_commands:
            self._infos[info.name or get_command_name(info.callback.__name__)] = info  # type: ignore[union-attr]
        for group in app.registered_groups:
            self._infos[solve_typer_info_defaults(group).name] = group  # type: ignore[index]
        self._built: dict[str, _click.Command] = {}

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._built:
            self._built[name] = self._build(self._infos[name])
        return self._built[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self._infos.setdefault(name, TyperInfo())
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._infos[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)

    def _build(self, info: CommandInfo | TyperInfo) -> _click.Command:
        app = self._app
        if isinstance(info, CommandInfo):
            return get_command_from_info(
                info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
            )
        return get_group_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )

    def listing(self) -> dict[str, _click.Command]:
        """Stand-ins with what a group's help lists of each command (built ones as they are)."""
        return {name: self._built.get(name) or _stand_in(name, info) for name, info in self._infos.items()}


def _stand_in(name: str, info: CommandInfo | TyperInfo) -> _click.Command:
    """A parameterless command carrying the name, help, short help and flags Typer would give."""
    if isinstance(info, CommandInfo):
        text = inspect.cleandoc(info.help) if info.help is not None else inspect.getdoc(info.callback)
    else:
        info = solve_typer_info_defaults(info)
        text = info.help
    return TyperCommand(
        name=name, help=text, short_help=info.short_help, hidden=info.hidden, deprecated=info.deprecated
    )


class LazyGroup(TyperGroup):
    """A Typer group whose help lists its commands without building them."""

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            super().format_commands(ctx, formatter)
            return
        self.commands = commands.listing()
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = commands


def lazy_command(app: typer.Typer) -> LazyGroup:
    """``app`` as a Click group whose commands are built on demand (see the module's docstring)."""
    top = copy(app)
    top.registered_commands, top.registered_groups = [], []
    top.info = copy(app.info)
    top.info.cls = LazyGroup
    group = get_group(top)
    assert isinstance(group, LazyGroup)
    group.commands = LazyCommands(app)
    return group
