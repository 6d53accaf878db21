"""Checks of the notice archive for ``streetwatch audit verify``: every archived notice PDF still hashes to
its recorded sha256, and the audit chain holds the ``case.notice`` entry that recorded that sha256.

A notice row whose bytes were changed fails the first check; one whose bytes and sha256 were both
rewritten fails the second, since the audit entry (itself protected by the chain) keeps the original.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.core.vocab import CaseAction
from streetwatch.store.evidence import sha256_hex
from streetwatch.store.models_notices import Notice
from streetwatch.store.models_workflow import AuditEntry

NOTICE_AUDIT_ACTION: Final = f"case.{CaseAction.NOTICE.value}"  # the audit action of an issued notice
_BATCH: Final = 200


def _notices(session: Session) -> Iterator[Notice]:
    after = 0
    while True:
        batch = list(session.scalars(select(Notice).where(Notice.id > after).order_by(Notice.id).limit(_BATCH)))
        if not batch:
            return
        yield from batch
        after = batch[-1].id
        session.expunge_all()  # a large archive never sits in memory whole


def notice_problems(session: Session) -> tuple[int, list[str]]:
    """(notices checked, what is wrong with them, one line each)."""
    recorded: dict[int, str] = {}
    for details in session.scalars(select(AuditEntry.details).where(AuditEntry.action == NOTICE_AUDIT_ACTION)):
        if isinstance(details, dict) and isinstance(details.get("notice_id"), int):
            recorded[details["notice_id"]] = str(details.get("sha256"))
    checked = 0
    problems: list[str] = []
    for notice in _notices(session):
        checked += 1
        actual = sha256_hex(notice.pdf)
        if actual != notice.sha256:
            problems.append(f"notice {notice.id} of case {notice.case_id}: its PDF hashes to {actual}, the archive "
                            f"records {notice.sha256} (changed after it was issued)")
        audited = recorded.get(notice.id)
        if audited is None:
            problems.append(f"notice {notice.id} of case {notice.case_id}: no {NOTICE_AUDIT_ACTION} entry in the "
                            "audit log records it")
        elif audited != notice.sha256:
            problems.append(f"notice {notice.id} of case {notice.case_id}: the audit log recorded sha256 {audited}, "
                            f"the archive now says {notice.sha256} (the archived notice was replaced)")
    return checked, problems
