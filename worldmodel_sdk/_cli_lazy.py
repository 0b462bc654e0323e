"""A typer group whose expensive commands are imported only when they run.

``wmsdk --help`` lists a deferred command by its name and a one-line help kept
here (a test compares it with the command's own); invoking it, or asking for its
own help, imports its module and builds the real command.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["Deferred", "LazyGroup", "load_deferred"]


@dataclass(frozen=True, slots=True)
class Deferred:
    """A command defined as a typer function in another module.

    Attributes:
        module: The module defining it (``worldmodel_sdk.conformance.cli``).
        attribute: The function's name in that module.
        help: The one-line help ``wmsdk --help`` shows.
    """

    module: str
    attribute: str
    help: str


class _Placeholder(TyperCommand):
    """What the group holds for a deferred command until it is needed."""


def load_deferred(name: str, deferred: Deferred) -> Any:
    """Import ``deferred``'s module and build its click command, named ``name``."""
    function = getattr(importlib.import_module(deferred.module), deferred.attribute)
    single = typer.Typer(add_completion=False)
    single.command(name)(function)
    return typer.main.get_command(single)


class LazyGroup(TyperGroup):
    """A `TyperGroup` that also holds the commands of `deferred`, loaded on first use."""

    deferred: ClassVar[dict[str, Deferred]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for name, deferred in self.deferred.items():
            self.commands.setdefault(name, _Placeholder(name=name, help=deferred.help))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``; a deferred one is loaded unless help is listing it."""
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, _Placeholder) and not self._listing:
            command = self.commands[cmd_name] = load_deferred(cmd_name, self.deferred[cmd_name])
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The group's help, listing deferred commands without loading them."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
