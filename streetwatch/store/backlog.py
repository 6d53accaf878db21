"""The fleet's backlog, read from the database: what ``streetwatch status`` prints and ``/metrics`` gauges.

One read of small aggregates (counts and oldest times, by status): videos by processing status and
the claims that went stale (a worker that stopped), the review queue (pending violations, leased or
not) and the dispatch outbox (deliveries pending or dead). Cheap enough to run on every scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from streetwatch.core.vocab import DeliveryStatus, VideoStatus, ViolationStatus
from streetwatch.store.column_types import as_utc
from streetwatch.store.models import Video, Violation, utcnow
from streetwatch.store.models_outbox import OutboxDelivery


@dataclass(frozen=True, slots=True)
class Backlog:
    """Where the fleet stands.

    Attributes:
        videos: Videos by status (``processing``, ``done``, ``failed``), every status present.
        stale_claims: ``processing`` videos whose heartbeat is older than the staleness window: their
            worker stopped, and the next run takes them over.
        oldest_processing_at: When the oldest video still ``processing`` was registered.
        review_pending: Violations waiting for a reviewer (``pending``).
        review_leased: Of those, the ones a reviewer holds a live lease on.
        oldest_pending_at: When the oldest pending violation was filed.
        outbox_pending: Dispatch deliveries not delivered yet (``pending``).
        outbox_dead: Deliveries given up on (dead letters).
        oldest_outbox_at: When the oldest pending delivery was queued.
    """

    videos: dict[str, int] = field(default_factory=dict)
    stale_claims: int = 0
    oldest_processing_at: datetime | None = None
    review_pending: int = 0
    review_leased: int = 0
    oldest_pending_at: datetime | None = None
    outbox_pending: int = 0
    outbox_dead: int = 0
    oldest_outbox_at: datetime | None = None


def read_backlog(session: Session, *, stale_after_s: float, now: datetime | None = None) -> Backlog:
    """The backlog as the database has it now.

    Args:
        session: A session on the database.
        stale_after_s: The claim staleness window (``claim_stale_after_s``).
        now: The time to judge staleness and leases against (aware UTC; default now).
    """
    now = now or utcnow()
    videos = {status.value: 0 for status in VideoStatus}
    for status, count in session.execute(select(Video.status, func.count()).group_by(Video.status)):
        videos[str(status)] = int(count)
    processing = Video.status == VideoStatus.PROCESSING
    stale = session.execute(select(func.count()).where(
        processing, (Video.heartbeat_at.is_(None)) | (Video.heartbeat_at < now - timedelta(seconds=stale_after_s)))
    ).scalar_one()
    oldest_processing = session.execute(select(func.min(Video.created_at)).where(processing)).scalar_one()
    pending = Violation.status == ViolationStatus.PENDING
    review_pending, oldest_pending = session.execute(
        select(func.count(), func.min(Violation.created_at)).where(pending)).one()
    leased = session.execute(select(func.count()).where(
        pending, Violation.lease_owner.is_not(None), Violation.lease_expires_at > now)).scalar_one()
    outbox_pending, oldest_outbox = session.execute(
        select(func.count(), func.min(OutboxDelivery.created_at))
        .where(OutboxDelivery.status == DeliveryStatus.PENDING)).one()
    dead = session.execute(select(func.count()).where(OutboxDelivery.status == DeliveryStatus.DEAD)).scalar_one()
    return Backlog(videos=videos, stale_claims=int(stale), oldest_processing_at=_utc(oldest_processing),
                   review_pending=int(review_pending), review_leased=int(leased),
                   oldest_pending_at=_utc(oldest_pending), outbox_pending=int(outbox_pending),
                   outbox_dead=int(dead), oldest_outbox_at=_utc(oldest_outbox))


def _utc(value: datetime | None) -> datetime | None:
    # min() over a UtcDateTime column comes back naive on SQLite (the type's processing is not applied)
    return None if value is None else as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))
