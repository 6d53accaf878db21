"""Which evidence a case or the whole database relies on, and recording a failed check in the audit log.

The files themselves are checked by :class:`streetwatch.store.evidence.EvidenceStore`; this module
adds what needs the database: the images a case's violations show, every recorded image (for
``streetwatch audit verify``), and one audit entry per fault found while serving or dispatching.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.core.vocab import EvidenceFault, ViolationStatus
from streetwatch.store.audit import append_audit, take_writer_lock
from streetwatch.store.evidence import EvidenceProblem
from streetwatch.store.models import Evidence, Observation, Violation
from streetwatch.store.models_workflow import AuditEntry

# Audit actions of failed evidence checks: "evidence.missing", "evidence.mismatch".
EVIDENCE_ACTIONS: Final = {fault: f"evidence.{fault.value}" for fault in EvidenceFault}
_RECORDED_BATCH: Final = 5000


def case_evidence(session: Session, case_id: int) -> list[str]:
    """The sha256 of every image (frame and crop) of the case's violations that are not rejected, sorted."""
    rows = session.execute(
        select(Observation.frame_sha256, Observation.crop_sha256)
        .join(Violation, Violation.observation_id == Observation.id)
        .where(Violation.case_id == case_id, Violation.status != ViolationStatus.REJECTED)
    ).all()
    return sorted({sha for row in rows for sha in row if sha})


def recorded_evidence(session: Session) -> Iterator[str]:
    """The sha256 of every evidence row whose file is kept (not purged by the retention policy), in batches
    (a large store never sits in memory twice)."""
    after = ""
    while True:
        batch = list(session.scalars(select(Evidence.sha256)
                                     .where(Evidence.sha256 > after, Evidence.purged_at.is_(None))
                                     .order_by(Evidence.sha256).limit(_RECORDED_BATCH)))
        if not batch:
            return
        yield from batch
        after = batch[-1]


def record_evidence_problem(session: Session, problem: EvidenceProblem, *, actor: str, seen_by: str) -> bool:
    """Append an audit entry for a failed evidence check, once per fault (in the caller's transaction).

    The same fault seen again (the same file missing again, or hashing to the same wrong value)
    is not logged twice, so a client that keeps asking for a damaged image cannot flood the log.

    Args:
        session: The caller's session; the caller commits.
        problem: What is wrong with which file.
        actor: Who ran into it (a username, or "system").
        seen_by: Where it was found, e.g. ``"GET /evidence"`` or ``"dispatch of case 12"``.

    Returns:
        True when an entry was appended, False when this fault was logged before.
    """
    action = EVIDENCE_ACTIONS[problem.fault]
    take_writer_lock(session)  # before the read: on SQLite the transaction must start with a write
    earlier = session.scalars(select(AuditEntry.details).where(AuditEntry.action == action,
                                                               AuditEntry.entity_type == "evidence",
                                                               AuditEntry.entity_id == problem.sha256))
    if any(details.get("actual_sha256") == problem.actual_sha256 for details in earlier):
        return False
    append_audit(session, actor=actor, action=action, entity_type="evidence", entity_id=problem.sha256,
                 details={"fault": problem.fault, "actual_sha256": problem.actual_sha256, "path": str(problem.path),
                          "seen_by": seen_by, "message": problem.describe()})
    return True
