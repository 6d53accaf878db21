"""``streetwatch notice CASE_ID --out FILE``: issue a case's rectification notice (整改通知单) as a PDF.

Registered in ``streetwatch/cli/main.py`` with ``app.command("notice")(notice_commands.notice)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def notice(
    case_id: Annotated[int, typer.Argument(min=1, max=2147483647, help="The case's id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the PDF.", dir_okay=False)],
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="Evidence folder (default: ./evidence).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who issues it (default: your login name).")] = None,
) -> None:
    """Issue the notice of a filed case and write its PDF.

    The notice prints the case number, the event (Chinese and English), where it is (address text when the
    case has one, coordinates, a small locator map drawn from the zones files: no street map), the evidence
    frame with its box, the legal basis configured for its event code (models/workflow/notices.yaml, or
    STREETWATCH_WORKFLOW_NOTICES_PATH), the deadline from the deadline rules and the issuing unit.

    It is archived with the case: the PDF in the database, its sha256 in the case's events and in the
    audit log (`streetwatch audit verify` checks the chain). The same case state gives the same bytes:
    issuing it again after no change archives nothing and writes the archived notice. Exit code 3 for no
    such case, 4 for a case that is open or closed or whose evidence frame fails its sha256 check.

    Example: streetwatch notice 12 --out notice-12.pdf --db sqlite:///city.db --evidence evidence
    """
    from streetwatch.casework.config import load_workflow_config
    from streetwatch.casework.notice_config import load_notices
    from streetwatch.casework.notices import issue_notice
    from streetwatch.cli.registry_commands import actor
    from streetwatch.core.settings import get_settings
    from streetwatch.core.taxonomy import load_taxonomy
    from streetwatch.store.audit_anchor import anchor_from_settings
    from streetwatch.store.db import make_engine, make_session_factory, upgrade
    from streetwatch.store.evidence_backends import evidence_store_for

    settings = get_settings(db_url=db, evidence_dir=evidence)
    config = load_workflow_config(settings.case_radius_m, settings.zones_paths, settings.workflow)
    notices = load_notices(settings.workflow.notices_path)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine, audit_anchor=anchor_from_settings(settings))() as session:
            issued = issue_notice(session, case_id, actor=actor(by), taxonomy=load_taxonomy(settings.taxonomy_path),
                                  config=config, notices=notices, evidence=evidence_store_for(settings))
            if issued.created:
                session.commit()
            else:
                session.rollback()
            pdf, sha = issued.notice.pdf, issued.notice.sha256
    finally:
        engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)
    what = "issued and archived" if issued.created else "unchanged since the archived notice"
    Console().print(f"notice {issued.content.notice_number} of case {issued.content.case_number} {what}: "
                    f"{out} ({len(pdf)} bytes, sha256 {sha}); deadline {issued.content.deadline} "
                    f"({issued.content.timezone})", highlight=False, soft_wrap=True)
