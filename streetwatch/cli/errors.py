"""One place where the CLI turns streetwatch's errors into a message and an exit code.

Every ``typer.Typer`` of ours is built with ``cls=StreetwatchGroup``: a command that raises a
:class:`~streetwatch.core.errors.StreetwatchError` ends with a one-line ``error: ...`` on stderr
and the error's own ``exit_code``, instead of a traceback. Other exceptions (our bugs) still
show their traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from streetwatch.core.errors import StreetwatchError

_console = Console(stderr=True, soft_wrap=True)


def one_line(message: str) -> str:
    """``message`` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(message.split())


def report_error(error: StreetwatchError) -> typer.Exit:
    """Print ``error`` as one line on stderr; return the ``typer.Exit`` carrying its exit code."""
    # The message is text, not markup: "pip install 'streetwatch[ray]'" keeps its brackets.
    _console.print(f"[bold red]error:[/] {escape(one_line(str(error)) or type(error).__name__)}", markup=True,
                   highlight=False)
    return typer.Exit(error.exit_code)


class StreetwatchGroup(TyperGroup):
    """A command group whose commands (and sub-groups') report a ``StreetwatchError`` in one line."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context (typer ships its own click)
        try:
            return super().invoke(ctx)
        except StreetwatchError as error:
            raise report_error(error) from None


def streetwatch_typer(**kwargs: Any) -> typer.Typer:
    """A ``typer.Typer`` whose commands report streetwatch's errors (see the module docstring)."""
    return typer.Typer(cls=StreetwatchGroup, **kwargs)


def local_evidence_folder(evidence_dir: object, command: str) -> Path:
    """The evidence folder for a command that works on files (purge, backup, restore, privacy measure).

    Raises:
        typer.BadParameter: The evidence is in object storage (``s3://...``), which the command cannot do.
    """
    if not isinstance(evidence_dir, Path):
        raise typer.BadParameter(f"{command} works on a local evidence folder, not {evidence_dir}: for evidence in "
                                 "object storage, use the bucket's own lifecycle rules and versioned backups "
                                 "(docs/storage.md)", param_hint="--evidence")
    return evidence_dir
