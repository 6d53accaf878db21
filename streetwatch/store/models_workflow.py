"""Tables of the review and dispatch workflow: case events and the hash-chained audit log.

Both are append-only: rows are inserted, never updated or deleted. ``CaseEvent`` is what the
KPIs are computed from; ``AuditEntry`` is what ``streetwatch audit verify`` checks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from streetwatch.core.vocab import CaseAction, CaseStatus
from streetwatch.store.column_types import StrEnumType, UtcDateTime
from streetwatch.store.models import Base, utcnow


class CaseEvent(Base):
    """One transition of a case (filed, dispatched, returned, handled, ...), with who and when.

    ``unit``, ``grid_id``, ``handle_due`` and ``close_due`` are the case's values right after
    the event, so a KPI can tell whether a handling came before the deadline then in force.
    """

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_action_created_at", "action", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    action: Mapped[CaseAction] = mapped_column(StrEnumType(CaseAction, 16))
    from_status: Mapped[CaseStatus] = mapped_column(StrEnumType(CaseStatus, 16))
    to_status: Mapped[CaseStatus] = mapped_column(StrEnumType(CaseStatus, 16))
    actor: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(255))
    grid_id: Mapped[str | None] = mapped_column(String(64))
    handle_due: Mapped[datetime | None] = mapped_column(UtcDateTime())
    close_due: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The action's own details, e.g. the violation whose approval filed the case, an extension's length.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class AuditEntry(Base):
    """One entry of the audit log, chained to the previous one by sha256.

    ``hash = sha256(prev_hash + canonical JSON of the entry)`` (see ``streetwatch.store.audit``).
    Ids are assigned by the writer as the previous id + 1, so the chain has no gaps and two
    writers that raced for one place collide on the primary key instead of forking the chain.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    # What happened, e.g. "violation.approve", "case.dispatch".
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
