"""Issuing and archiving rectification notices (整改通知单) of cases.

:func:`issue_notice` draws the notice of a case in its present state
(:mod:`~streetwatch.casework.notice_content`, :mod:`~streetwatch.casework.notice_pdf`) and archives it,
in the caller's transaction:

- the PDF in ``notices`` (its bytes, their sha256, the content's fingerprint),
- a ``notice`` case event (the case's history, ``GET /cases/{id}/events``) with the sha256; the
  case's state and deadlines stay as they are, and the KPIs ignore the event,
- a ``case.notice`` audit entry with the sha256, chained like every transition.

The same case state gives the same bytes: when the case's newest notice already has them, nothing is
written and that notice is returned (``created`` False), so printing a notice again neither clutters
the history nor changes the archive. No outbox event is sent: a notice is handed to the party on
paper, not pushed to the units' systems.

Concurrency: the case row is written first (its ``updated_at``), which takes PostgreSQL's row lock
and SQLite's writer lock, so two requests for one case take turns and the second finds the first's
notice. The page is drawn under that lock (a fraction of a second).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from streetwatch.casework.config import WorkflowConfig
from streetwatch.casework.notice_config import NoticeConfig
from streetwatch.casework.notice_content import NoticeContent, build_notice_content
from streetwatch.casework.notice_pdf import render_notice_pdf
from streetwatch.core.errors import MissingError
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import CaseAction
from streetwatch.store.audit import append_audit
from streetwatch.store.column_types import require_aware
from streetwatch.store.evidence import EvidenceBackend, sha256_hex
from streetwatch.store.models import Case, utcnow
from streetwatch.store.models_notices import Notice
from streetwatch.store.models_workflow import CaseEvent
from streetwatch.store.notice_checks import NOTICE_AUDIT_ACTION


class NoticeNotFoundError(MissingError, LookupError):
    """No such case, or the case has no notice yet."""


@dataclass(frozen=True, slots=True)
class IssuedNotice:
    """The outcome of :func:`issue_notice`.

    Attributes:
        notice: The archived notice (new, or the newest one when it already had these bytes).
        content: What it prints.
        created: Whether this call archived it (False: the case state was unchanged since).
        event_id: The ``notice`` case event that recorded it (None when nothing was written).
    """

    notice: Notice
    content: NoticeContent
    created: bool
    event_id: int | None = None


def render_case_notice(
    session: Session, case: Case, *, taxonomy: Taxonomy, config: WorkflowConfig, notices: NoticeConfig,
    evidence: EvidenceBackend, font_path: Path | None = None,
) -> tuple[NoticeContent, bytes]:
    """The notice of a case in its present state and its PDF bytes, archiving nothing."""
    content, frame = build_notice_content(session, case, taxonomy=taxonomy, config=config, notices=notices,
                                          evidence=evidence)
    return content, render_notice_pdf(content, frame, font_path=font_path)


def latest_notice(session: Session, case_id: int) -> Notice | None:
    """The case's newest archived notice, or None."""
    return session.scalars(select(Notice).where(Notice.case_id == case_id).order_by(Notice.id.desc()).limit(1)).first()


def case_notices(session: Session, case_id: int) -> list[Notice]:
    """Every archived notice of the case, oldest first."""
    return list(session.scalars(select(Notice).where(Notice.case_id == case_id).order_by(Notice.id)))


def cases_with_notices(session: Session, case_ids: list[int]) -> set[int]:
    """Which of these cases have an archived notice."""
    if not case_ids:
        return set()
    return set(session.scalars(select(Notice.case_id).where(Notice.case_id.in_(case_ids)).distinct()))


def issue_notice(
    session: Session, case_id: int, *, actor: str, taxonomy: Taxonomy, config: WorkflowConfig,
    notices: NoticeConfig, evidence: EvidenceBackend, font_path: Path | None = None, now: datetime | None = None,
) -> IssuedNotice:
    """Draw the case's notice and archive it unless its newest notice is already these bytes.

    The caller commits when ``created`` (and may roll back otherwise: nothing was meant to change).

    Raises:
        NoticeNotFoundError: No such case (404).
        NoticeRefusedError: The case is open or closed, or its evidence is missing or damaged (409).
        NoticeFontError: No CJK font is installed.
    """
    now = require_aware(now or utcnow())
    locked = session.execute(update(Case).where(Case.id == case_id).values(updated_at=now),
                             execution_options={"synchronize_session": False})
    if locked.rowcount == 0:  # type: ignore[attr-defined]
        raise NoticeNotFoundError(f"case {case_id} not found")
    case = session.get(Case, case_id, populate_existing=True)
    assert case is not None  # just updated it
    content, pdf = render_case_notice(session, case, taxonomy=taxonomy, config=config, notices=notices,
                                      evidence=evidence, font_path=font_path)
    sha = sha256_hex(pdf)
    newest = latest_notice(session, case_id)
    if newest is not None and newest.sha256 == sha:
        return IssuedNotice(newest, content, created=False)
    fingerprint = content.fingerprint()
    notice = Notice(case_id=case_id, sha256=sha, fingerprint=fingerprint, notice_number=content.notice_number,
                    size_bytes=len(pdf), pdf=pdf, issued_by=actor, created_at=now)
    session.add(notice)
    session.flush()
    facts = {"notice_id": notice.id, "sha256": sha, "fingerprint": fingerprint,
             "notice_number": content.notice_number, "size_bytes": len(pdf), "deadline": content.deadline,
             "evidence_sha256": content.evidence_sha256}
    event = CaseEvent(case_id=case_id, action=CaseAction.NOTICE, from_status=case.status, to_status=case.status,
                      actor=actor, note=None, unit=case.unit, grid_id=case.grid_id, handle_due=case.handle_due,
                      close_due=case.close_due, details=facts, created_at=now)
    session.add(event)
    session.flush()
    append_audit(session, actor=actor, action=NOTICE_AUDIT_ACTION, entity_type="case", entity_id=case_id,
                 details={**facts, "event_id": event.id, "status": case.status}, now=now)
    return IssuedNotice(notice, content, created=True, event_id=event.id)


def notice_pdf(session: Session, case_id: int) -> Notice:
    """The case's newest archived notice, its bytes checked against their recorded sha256.

    Raises:
        NoticeNotFoundError: The case has no notice yet.
        NoticeRefusedError: The archived bytes no longer hash to their sha256 (409).
    """
    from streetwatch.casework.notice_content import NoticeRefusedError

    notice = latest_notice(session, case_id)
    if notice is None:
        raise NoticeNotFoundError(f"case {case_id} has no notice yet: POST /cases/{case_id}/notice issues one")
    actual = sha256_hex(notice.pdf)
    if actual != notice.sha256:
        raise NoticeRefusedError(f"notice {notice.id} of case {case_id} was changed after it was archived: its "
                                 f"bytes hash to {actual}, the record says {notice.sha256}")
    return notice
