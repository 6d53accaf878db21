"""``streetwatch audit``: check that no review decision or case transition was changed afterwards,
that none of the newest was cut off, that every evidence file still hashes to its name, and that every
archived rectification notice still hashes to the sha256 the audit log recorded.

Register with ``app.add_typer(audit_app, name="audit")`` in ``streetwatch/cli.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streetwatch.cli.errors import streetwatch_typer

audit_app = streetwatch_typer(
    help="The audit log: every review decision and case transition, each entry chained to the previous "
         "one by sha256 and its head anchored outside the database, so that changing, deleting or cutting "
         "off entries afterwards is detected; and the evidence files, each checked against its sha256.",
    no_args_is_help=True,
)

out = Console()
err = Console(stderr=True)
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]


@audit_app.callback()
def _group() -> None:
    """Keeps ``verify`` a subcommand (typer would otherwise run a lone command directly)."""


EvidenceOption = Annotated[Path | None, typer.Option(
    "--evidence", help="Evidence folder, or s3://bucket/prefix (default: ./evidence).")]


@audit_app.command()
def verify(
    db: DbOption = None,
    evidence: EvidenceOption = None,
    check_evidence: Annotated[bool, typer.Option(
        "--check-evidence/--no-check-evidence",
        help="Also hash every evidence file and check it against its name and the database's record.")] = True,
) -> None:
    """Check the audit chain, its anchored head, and every evidence file.

    The chain is recomputed from its first entry; the first entry that does not fit is named
    (changed, removed, reordered). The head must reach the entry the anchor file recorded when
    it was written (``audit_anchor_path``, default beside a SQLite database), so cutting off the
    newest entries is caught too. Every evidence file is hashed and compared with its name, and
    every recorded image must have its file: tampered or missing ones are listed. Every archived
    rectification notice must hash to the sha256 its case.notice audit entry recorded.

    Exit code 0 when all is intact (it prints the head hash: keep it somewhere outside the
    database too); 1 when an entry, the anchor or an evidence file fails; 2 when the database
    cannot be read.

    Example: streetwatch audit verify --db postgresql://streetwatch@db/streetwatch --evidence /srv/evidence
    """
    from streetwatch.core.settings import get_settings
    from streetwatch.store.audit import verify_audit_chain
    from streetwatch.store.audit_anchor import anchor_from_settings
    from streetwatch.store.db import DatabaseError, make_engine, make_session_factory
    from streetwatch.store.evidence import EvidenceProblem
    from streetwatch.store.evidence_backends import evidence_store_for
    from streetwatch.store.evidence_checks import recorded_evidence
    from streetwatch.store.notice_checks import notice_problems

    settings = get_settings(db_url=db, evidence_dir=evidence)
    anchor = anchor_from_settings(settings)
    engine = make_engine(settings.db_url)
    problems: list[EvidenceProblem] = []
    try:
        with make_session_factory(engine)() as session:
            report = verify_audit_chain(session, anchor)
            notices_checked, notice_faults = notice_problems(session)
            if check_evidence:
                problems = evidence_store_for(settings).scan(recorded_evidence(session))
    except DatabaseError as exc:
        err.print(f"[bold red]error:[/] cannot read the audit log at {engine.url!r}: {exc.__class__.__name__}: "
                  f"{getattr(exc, 'orig', None) or exc}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if report.ok:
        head = "empty log" if report.head_id is None else f"head entry {report.head_id}, sha256 {report.head_hash}"
        out.print(f"audit log intact: {report.entries} entries checked; {head}", highlight=False)
    else:
        good = "none" if report.head_id is None else f"1..{report.head_id}"
        where = f"at entry {report.first_bad_id}" if report.first_bad_id is not None else "at its anchor"
        err.print(f"[bold red]audit log broken {where}:[/] {report.problem}. Entries intact before it: {good}.",
                  highlight=False)
    if report.anchor is not None and report.ok:
        out.print(f"anchor: {report.anchor}", highlight=False)
    elif anchor is None:
        out.print("anchor: none configured (set STREETWATCH_AUDIT_ANCHOR_PATH): truncation of the newest entries "
                  "is not checked", highlight=False)
    if check_evidence:
        if problems:
            for problem in problems:
                err.print(f"[bold red]evidence {problem.fault}:[/] {problem.describe()}", highlight=False)
            err.print(f"[bold red]{len(problems)} evidence file(s) tampered with, damaged or missing[/] "
                      f"under {settings.evidence_dir}", highlight=False)
        else:
            out.print(f"evidence intact: every file under {settings.evidence_dir} hashes to its name, and every "
                      "recorded image has its file", highlight=False)
    for fault in notice_faults:
        err.print(f"[bold red]notice:[/] {fault}", highlight=False)
    if notices_checked and not notice_faults:
        out.print(f"notices intact: {notices_checked} archived notice(s) hash to the sha256 the audit log recorded",
                  highlight=False)
    if not report.ok or problems or notice_faults:
        raise typer.Exit(1)


@audit_app.command()
def anchor(db: DbOption = None) -> None:
    """Write the anchor at the chain's current head, after checking the chain.

    For an audit log that predates anchors, or after an anchor was lost: check the head it
    prints against a copy kept elsewhere before trusting it. Refuses a chain that does not verify.

    Example: streetwatch audit anchor --db sqlite:///city.db
    """
    from streetwatch.core.settings import get_settings
    from streetwatch.store.audit import verify_audit_chain
    from streetwatch.store.audit_anchor import anchor_from_settings
    from streetwatch.store.db import make_engine, make_session_factory

    settings = get_settings(db_url=db)
    where = anchor_from_settings(settings)
    if where is None:
        err.print("[bold red]error:[/] no anchor location: set STREETWATCH_AUDIT_ANCHOR_PATH (a PostgreSQL "
                  "database has no file to put it beside)")
        raise typer.Exit(2)
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine)() as session:
            report = verify_audit_chain(session)
    finally:
        engine.dispose()
    if not report.ok:
        err.print(f"[bold red]error:[/] the chain does not verify (entry {report.first_bad_id}: {report.problem}); "
                  "no anchor written")
        raise typer.Exit(1)
    if report.head_id is None or report.head_hash is None:
        out.print("the audit log is empty: nothing to anchor yet")
        return
    where.reset(report.head_id, report.head_hash)
    out.print(f"anchored entry {report.head_id}, sha256 {report.head_hash}, at {where.path}", highlight=False)
