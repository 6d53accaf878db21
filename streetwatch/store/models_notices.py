"""The archive of rectification notices (整改通知单): each notice PDF issued for a case, by its sha256.

Append-only: a notice is never changed or deleted; a case whose state changed gets a new one, and its
newest is the one in force. Each row is written with a ``notice`` case event (the case's history) and
a ``case.notice`` audit entry that carry its sha256, in the same transaction
(:mod:`streetwatch.casework.notices`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from streetwatch.store.column_types import UtcDateTime
from streetwatch.store.models import Base, utcnow


class Notice(Base):
    """One notice PDF issued for a case."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    # sha256 of the PDF's bytes: what the case event and the audit entry record.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # sha256 of the notice's content (the case state it was made from, see casework.notice_content).
    fingerprint: Mapped[str] = mapped_column(String(64))
    notice_number: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    issued_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
