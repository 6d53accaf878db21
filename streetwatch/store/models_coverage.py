"""The patrol coverage table: which road segments and grid cells each processed video drove, and when.

Rows are written with the video's results, in the same transaction (``writes.commit_video_results``),
so a video either has all its passes or none; they go when the video's row goes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from streetwatch.core.vocab import CoverageKind
from streetwatch.store.column_types import StrEnumType, UtcDateTime
from streetwatch.store.models import Base


class PatrolPassRow(Base):
    """One drive along a road segment (``kind`` road, ``ref`` its id) or through an H3 cell (``ref`` its index)."""

    __tablename__ = "patrol_passes"
    __table_args__ = (Index("ix_patrol_passes_kind_ref_left_at", "kind", "ref", "left_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    kind: Mapped[CoverageKind] = mapped_column(StrEnumType(CoverageKind, 8))
    ref: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    left_at: Mapped[datetime] = mapped_column(UtcDateTime())
    covered_m: Mapped[float] = mapped_column(Float)
