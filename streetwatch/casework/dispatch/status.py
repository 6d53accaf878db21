"""What the outbox holds: delivery counts, dead letters, and putting dead letters back in the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from streetwatch.core.vocab import DeliveryStatus
from streetwatch.store.models import utcnow
from streetwatch.store.models_outbox import OutboxDelivery, OutboxEvent


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery that gave up."""

    delivery_id: int
    event_id: str
    event_type: str
    aggregate_id: int
    destination: str
    attempts: int
    last_error: str | None
    updated_at: datetime


def delivery_counts(session: Session) -> dict[tuple[str, str], int]:
    """Deliveries per (destination, status)."""
    rows = session.execute(
        select(OutboxDelivery.destination, OutboxDelivery.status, func.count())
        .group_by(OutboxDelivery.destination, OutboxDelivery.status)
    ).all()
    return {(destination, status): count for destination, status, count in rows}


def undelivered_events(session: Session) -> int:
    """Events with no delivery row at all (no worker has fanned them out yet, or no destination wants them)."""
    has_delivery = select(OutboxDelivery.id).where(OutboxDelivery.event_id == OutboxEvent.event_id).exists()
    return int(session.scalar(select(func.count()).select_from(OutboxEvent).where(~has_delivery)) or 0)


def dead_letters(session: Session, *, limit: int = 50) -> list[DeadLetter]:
    """The newest dead letters first."""
    rows = session.execute(
        select(OutboxDelivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.event_id == OutboxDelivery.event_id)
        .where(OutboxDelivery.status == DeliveryStatus.DEAD)
        .order_by(OutboxDelivery.updated_at.desc(), OutboxDelivery.id.desc())
        .limit(limit)
    ).all()
    return [DeadLetter(d.id, d.event_id, e.event_type, e.aggregate_id, d.destination, d.attempts, d.last_error,
                       d.updated_at) for d, e in rows]


def requeue_dead(
    session: Session, *, event_ids: Sequence[str] = (), destination: str | None = None,
    now: datetime | None = None,
) -> int:
    """Put dead letters back to pending with a fresh attempt count (in the caller's transaction).

    Args:
        session: The caller commits.
        event_ids: Only these events (default: every dead letter).
        destination: Only this destination (default: all).
        now: When they become due.

    Returns:
        How many deliveries were requeued.
    """
    statement = update(OutboxDelivery).where(OutboxDelivery.status == DeliveryStatus.DEAD)
    if event_ids:
        statement = statement.where(OutboxDelivery.event_id.in_(list(event_ids)))
    if destination is not None:
        statement = statement.where(OutboxDelivery.destination == destination)
    when = now or utcnow()
    result = session.execute(statement.values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=when,
                                              updated_at=when).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
