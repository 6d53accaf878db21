"""``streetwatch audit``: check that no review decision or case transition was changed afterwards.

Register with ``app.add_typer(audit_app, name="audit")`` in ``streetwatch/cli.py``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from streetwatch.cli.errors import streetwatch_typer

audit_app = streetwatch_typer(
    help="The audit log: every review decision and case transition, each entry chained to the previous "
         "one by sha256, so that changing or deleting an entry afterwards is detected.",
    no_args_is_help=True,
)

out = Console()
err = Console(stderr=True)
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]


@audit_app.callback()
def _group() -> None:
    """Keeps ``verify`` a subcommand (typer would otherwise run a lone command directly)."""


@audit_app.command()
def verify(db: DbOption = None) -> None:
    """Recompute the audit chain from its first entry and report the first entry that does not fit.

    Exit code 0 when the chain is intact (it prints the head hash: keep it somewhere outside the
    database, since deleting the newest entries cannot be told from the chain alone); 1 when an
    entry was changed, removed or reordered, naming the first bad entry; 2 when the database
    cannot be read.

    Example: streetwatch audit verify --db postgresql://streetwatch@db/streetwatch
    """
    from streetwatch.core.settings import get_settings
    from streetwatch.store.audit import verify_audit_chain
    from streetwatch.store.db import DatabaseError, make_engine, make_session_factory

    url = get_settings(db_url=db).db_url
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            report = verify_audit_chain(session)
    except DatabaseError as exc:
        err.print(f"[bold red]error:[/] cannot read the audit log at {engine.url!r}: {exc.__class__.__name__}: "
                  f"{getattr(exc, 'orig', None) or exc}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if report.ok:
        head = "empty log" if report.head_id is None else f"head entry {report.head_id}, sha256 {report.head_hash}"
        out.print(f"audit log intact: {report.entries} entries checked; {head}", highlight=False)
        return
    good = "none" if report.head_id is None else f"1..{report.head_id}"
    err.print(f"[bold red]audit log broken at entry {report.first_bad_id}:[/] {report.problem}. "
              f"Entries intact before it: {good}.", highlight=False)
    raise typer.Exit(1)
