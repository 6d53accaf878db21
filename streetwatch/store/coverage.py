"""Patrol passes in the database: written with a video's results, read back per segment or cell.

``insert_passes`` runs inside ``writes.commit_video_results``' transaction; the reads aggregate per
``ref`` (a road segment's id, an H3 cell) what the coverage report needs: the last pass up to a
time, and the passes within a period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.orm import Session

from streetwatch.core.coverage import PatrolPass
from streetwatch.core.vocab import CoverageKind
from streetwatch.store.column_types import as_utc
from streetwatch.store.models_coverage import PatrolPassRow

__all__ = ["PassStats", "PatrolPassRow", "insert_passes", "pass_stats", "passes_of"]


@dataclass(frozen=True, slots=True)
class PassStats:
    """What is known of one segment or cell: its last pass up to the report's end, and the passes in its period."""

    ref: str
    last_patrolled: datetime | None
    passes: int
    first_in_period: datetime | None


def insert_passes(session: Session, video_id: int, passes: Sequence[PatrolPass]) -> int:
    """Store a video's passes (replacing any it had); the caller commits."""
    session.execute(delete(PatrolPassRow).where(PatrolPassRow.video_id == video_id),
                    execution_options={"synchronize_session": False})
    session.add_all(PatrolPassRow(video_id=video_id, kind=p.kind, ref=p.ref,
                                  entered_at=datetime.fromtimestamp(p.entered_t, UTC),
                                  left_at=datetime.fromtimestamp(p.left_t, UTC), covered_m=float(p.covered_m))
                    for p in passes)
    return len(passes)


def pass_stats(session: Session, kind: CoverageKind, since: datetime, until: datetime) -> dict[str, PassStats]:
    """Per ref of ``kind`` with a pass that began by ``until``: its last pass and its passes within [since, until]."""
    in_period = and_(PatrolPassRow.left_at >= since, PatrolPassRow.entered_at <= until)
    rows = session.execute(
        select(PatrolPassRow.ref, func.max(PatrolPassRow.left_at),
               func.sum(case((in_period, 1), else_=0)),
               func.min(case((in_period, PatrolPassRow.entered_at), else_=None)))
        .where(PatrolPassRow.kind == kind, PatrolPassRow.entered_at <= until)
        .group_by(PatrolPassRow.ref)
    ).all()
    return {ref: PassStats(ref, _aware(last), int(count or 0), _aware(first)) for ref, last, count, first in rows}


def passes_of(session: Session, kind: CoverageKind, ref: str, since: datetime, until: datetime,
              limit: int = 1000) -> list[PatrolPassRow]:
    """The passes of one segment or cell within [since, until], newest first."""
    return list(session.scalars(
        select(PatrolPassRow)
        .where(PatrolPassRow.kind == kind, PatrolPassRow.ref == ref, PatrolPassRow.left_at >= since,
               PatrolPassRow.entered_at <= until)
        .order_by(PatrolPassRow.entered_at.desc(), PatrolPassRow.id.desc()).limit(limit)))


def _aware(value: datetime | str | None) -> datetime | None:
    """Aggregates bypass the column type on SQLite (text, naive): read them back as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)
