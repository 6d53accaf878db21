"""The table of reviewers' label records on evidence frames (``streetwatch.core.labels`` says what they mean).

Append-only like review decisions: a correction is a new record, never an update; what a frame holds
now is resolved from all of its records. Each record is chained into the audit log when it is written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from streetwatch.core.labels import Box
from streetwatch.core.vocab import LabelKind, LabellingReason, LabellingStatus
from streetwatch.store.column_types import StrEnumType, UtcDateTime
from streetwatch.store.models import Base, utcnow


class ReviewLabel(Base):
    """One reviewer's label on one evidence frame: who, when, which model's output, what it says."""

    __tablename__ = "review_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frame_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    # The observation whose evidence frame was labelled; for confirm / adjust_box / relabel without a
    # target, also the detection the record speaks of.
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"), index=True)
    # confirm / adjust_box / relabel of an object a reviewer drew: the add_missed record that drew it.
    target_label_id: Mapped[int | None] = mapped_column(ForeignKey("review_labels.id", ondelete="CASCADE"))
    kind: Mapped[LabelKind] = mapped_column(StrEnumType(LabelKind, 16))
    # The object's class and box in frame pixels; None for empty_frame.
    class_name: Mapped[str | None] = mapped_column(String(64))
    x1: Mapped[float | None] = mapped_column(Float)
    y1: Mapped[float | None] = mapped_column(Float)
    x2: Mapped[float | None] = mapped_column(Float)
    y2: Mapped[float | None] = mapped_column(Float)
    # The detector whose output was reviewed (the video's model_name).
    model_name: Mapped[str | None] = mapped_column(String(255))
    # The review decision that wrote the record (an approval confirms, a relabel relabels), if any.
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("review_decisions.id", ondelete="SET NULL"))
    reviewer: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)

    @property
    def box(self) -> Box | None:
        """``(x1, y1, x2, y2)``, or None for a record without one."""
        if self.x1 is None or self.y1 is None or self.x2 is None or self.y2 is None:
            return None
        return self.x1, self.y1, self.x2, self.y2


class LabellingItem(Base):
    """One frame the labelling queue asks a reviewer to label (``streetwatch.store.labelling_queue``).

    Apart from the violations: an item is leased, labelled or skipped, and never files a case.
    """

    __tablename__ = "labelling_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The detection whose evidence frame is to be labelled (one item per observation).
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"), unique=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    frame_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    reason: Mapped[LabellingReason] = mapped_column(StrEnumType(LabellingReason, 16))
    # How much the label is expected to teach, 0..1 (higher first in the queue).
    score: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text)  # the reason in words, e.g. "car at confidence 0.31"
    status: Mapped[LabellingStatus] = mapped_column(StrEnumType(LabellingStatus, 16), default=LabellingStatus.PENDING,
                                                    index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(255), index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_by: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
