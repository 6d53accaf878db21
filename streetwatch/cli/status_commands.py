"""``streetwatch status``: the fleet's backlog at a glance (videos, stale claims, review queue, outbox).

Register in ``streetwatch/cli/main.py``::

    app.command("status")(status_commands.status)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the store (SQLAlchemy) loads when the command runs, not with every `streetwatch --help`
    from streetwatch.store.backlog import Backlog

console = Console(stderr=True, soft_wrap=True)


def status(
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: $STREETWATCH_DB_URL or "
                                                         "sqlite:///streetwatch.db).")] = None,
    watch_folder: Annotated[Path | None, typer.Option(
        "--watch-folder", help="A depot folder `streetwatch watch` serves: also count the videos in it not "
                               "handled yet.")] = None,
    state: Annotated[Path | None, typer.Option(
        help="The watcher's state file [WATCH_FOLDER/.streetwatch/watch-state.json].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the fleet's backlog: videos by status, claims of stopped workers, the review queue, the outbox.

    Stale claims are videos whose worker stopped heartbeating (killed, crashed): the next run or
    watcher takes them over once STREETWATCH_CLAIM_STALE_AFTER_S has passed. With --watch-folder,
    also how many videos wait in the depot folder (complete or still arriving).

    Example: streetwatch status --db postgresql+psycopg://sw@db/streetwatch --watch-folder /srv/depot
    """
    from streetwatch.core.settings import get_settings
    from streetwatch.store.backlog import read_backlog
    from streetwatch.store.db import DatabaseError, make_engine, make_session_factory

    settings = get_settings(db_url=db)
    queued = _queued_files(watch_folder, state) if watch_folder is not None else None
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine, audit_anchor=False)() as session:
            backlog = read_backlog(session, stale_after_s=settings.claim_stale_after_s)
    except DatabaseError as exc:
        console.print(f"[bold red]error:[/] database {settings.db_url}: {type(exc).__name__}: "
                      f"{getattr(exc, 'orig', None) or exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    report = backlog_report(backlog, queued, datetime.now(UTC))
    if as_json:
        print(json.dumps(report, indent=1, sort_keys=True))
        return
    table = Table(title=f"streetwatch status: {settings.db_url}", show_header=False)
    for key, value in report.items():
        if isinstance(value, dict):
            for sub, n in value.items():
                table.add_row(f"{key.replace('_', ' ')}: {sub}", str(n))
        else:
            table.add_row(key.replace("_", " "), "-" if value is None else str(value))
    Console().print(table)


def backlog_report(backlog: Backlog, queued_files: int | None, now: datetime) -> dict[str, Any]:
    """The backlog as plain values (ages in seconds, times ISO 8601): the JSON and the table."""
    def age(at: datetime | None) -> float | None:
        return None if at is None else round(max(0.0, (now - at).total_seconds()), 1)

    report: dict[str, Any] = {
        "videos": dict(sorted(backlog.videos.items())),
        "stale_claims": backlog.stale_claims,
        "oldest_processing_age_s": age(backlog.oldest_processing_at),
        "review_queue": backlog.review_pending,
        "review_leased": backlog.review_leased,
        "oldest_pending_review_age_s": age(backlog.oldest_pending_at),
        "outbox_pending": backlog.outbox_pending,
        "outbox_dead": backlog.outbox_dead,
        "oldest_outbox_age_s": age(backlog.oldest_outbox_at),
    }
    if queued_files is not None:
        report["watch_folder_queued"] = queued_files
    return report


def _queued_files(folder: Path, state: Path | None) -> int:
    """Videos under the depot folder that the watcher has not handled as they are now."""
    from streetwatch.pipeline.watch import Stamp, WatchState, WatchStateError, depot_videos

    if not folder.is_dir():
        console.print(f"[bold red]error:[/] depot folder not found: {folder}")
        raise typer.Exit(2)
    try:
        memory = WatchState(state or folder / ".streetwatch" / "watch-state.json")
    except WatchStateError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    return sum(1 for video in depot_videos(folder)
               if (stamp := Stamp.of(video)) is not None and not memory.done_with(video, stamp))
