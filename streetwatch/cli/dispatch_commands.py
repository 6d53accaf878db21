"""``streetwatch dispatch``: deliver outbox events (webhooks, Open311) and inspect the outbox.

Register in ``streetwatch/cli.py``::

    from streetwatch.cli import dispatch_commands
    app.add_typer(dispatch_commands.dispatch_app, name="dispatch")
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streetwatch.cli.errors import streetwatch_typer
from streetwatch.core.vocab import DeliveryStatus

console = Console(stderr=True)
dispatch_app = streetwatch_typer(
    help="Deliver case events to webhooks and Open311 endpoints (the outbox), and inspect deliveries.",
    no_args_is_help=True,
)
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: $STREETWATCH_DB_URL or "
                                                         "sqlite:///streetwatch.db).")]


def _db_url(db: str | None) -> str:
    from streetwatch.core.settings import get_settings

    return db or get_settings().db_url


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(2)


@dispatch_app.command("run")
def run(
    db: DbOption = None,
    destinations: Annotated[Path | None, typer.Option(
        help="Destinations YAML (default: $STREETWATCH_DISPATCH_DESTINATIONS_PATH); see "
             "pipeline/dispatch/config.py for its format.")] = None,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    max_seconds: Annotated[float | None, typer.Option(help="Exit after about this many seconds.")] = None,
    name: Annotated[str | None, typer.Option(help="Worker name in logs (default: random).")] = None,
) -> None:
    """Run a delivery worker: fan events out to destinations, send, retry with backoff, dead-letter.

    Run as many workers as you like (processes or hosts, SQLite or PostgreSQL): each claims its
    own deliveries. Ctrl-C (or SIGTERM) stops after the batch in flight.

    Backoff and limits come from STREETWATCH_DISPATCH_BACKOFF_BASE_S, _BACKOFF_CAP_S,
    _MAX_ATTEMPTS, _BATCH_SIZE, _POLL_INTERVAL_S, _LEASE_S.

    Example:
      STREETWATCH_WEBHOOK_SECRET=... streetwatch dispatch run --destinations dispatch.yaml
    """
    from pydantic import ValidationError

    from streetwatch.casework.dispatch.config import load_destinations
    from streetwatch.casework.dispatch.worker import DispatchWorker
    from streetwatch.core.settings import get_settings
    from streetwatch.store.db import make_engine, make_session_factory

    try:
        settings = get_settings().dispatch
    except ValidationError as exc:
        raise _fail(f"invalid STREETWATCH_DISPATCH_* settings: {exc}") from None
    path = destinations or settings.destinations_path
    if path is None:
        raise _fail("no destinations: pass --destinations FILE or set STREETWATCH_DISPATCH_DESTINATIONS_PATH")
    targets = load_destinations(path)  # a DispatchConfigError: one line, exit 2 (streetwatch.cli.errors)
    if not targets:
        raise _fail(f"{path} lists no destinations: nothing to deliver to")
    engine = make_engine(_db_url(db))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        worker = DispatchWorker(make_session_factory(engine), targets, settings, name=name)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{worker.name}: delivering to {', '.join(d.name for d in targets)}")
    try:
        stats = worker.run(once=once, max_seconds=max_seconds, stop=stop)
    finally:
        engine.dispose()
    console.print(f"{worker.name}: claimed {stats.claimed}, delivered {stats.delivered}, retried {stats.retried}, "
                  f"dead {stats.dead}, lost claims {stats.lost_claims}")


@dispatch_app.command("status")
def status(
    db: DbOption = None,
    dead: Annotated[int, typer.Option(help="How many dead letters to list (newest first).")] = 20,
) -> None:
    """Deliveries per destination and status, and the newest dead letters."""
    from streetwatch.casework.dispatch.status import dead_letters, delivery_counts, undelivered_events
    from streetwatch.store.db import make_engine, make_session_factory

    engine = make_engine(_db_url(db))
    try:
        with make_session_factory(engine)() as session:
            counts = delivery_counts(session)
            waiting = undelivered_events(session)
            letters = dead_letters(session, limit=dead)
    finally:
        engine.dispose()
    table = Table(title="outbox deliveries")
    table.add_column("destination", justify="left")
    for status in DeliveryStatus:
        table.add_column(status.value, justify="right")
    for destination in sorted({d for d, _ in counts}):
        table.add_row(destination, *(str(counts.get((destination, s), 0)) for s in DeliveryStatus))
    out = Console()
    out.print(table)
    out.print(f"events not yet fanned out to any destination: {waiting}")
    if letters:
        dead_table = Table(title=f"dead letters (newest {len(letters)})")
        for column in ("event id", "type", "case", "destination", "attempts", "last error"):
            dead_table.add_column(column)
        for letter in letters:
            dead_table.add_row(letter.event_id, letter.event_type, str(letter.aggregate_id), letter.destination,
                               str(letter.attempts), (letter.last_error or "")[:120])
        out.print(dead_table)


@dispatch_app.command("requeue")
def requeue(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Event ids (default: every dead letter).")] = None,
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    db: DbOption = None,
) -> None:
    """Put dead letters back in the queue (attempts reset), e.g. after fixing a receiver."""
    from streetwatch.casework.dispatch.status import requeue_dead
    from streetwatch.store.db import make_engine, make_session_factory

    engine = make_engine(_db_url(db))
    try:
        with make_session_factory(engine).begin() as session:
            count = requeue_dead(session, event_ids=event_ids or (), destination=destination)
    finally:
        engine.dispose()
    console.print(f"requeued {count} dead letter(s)")
