"""The transactional outbox: events written with the change that caused them, delivered later.

``OutboxEvent`` is written by :func:`streetwatch.casework.dispatch.outbox.enqueue` in the caller's own
transaction (a case filed, dispatched, closed ...), so an event exists if and only if its change
committed. ``OutboxDelivery`` is one event on its way to one configured destination (a signed
webhook, an external Open311 endpoint); the dispatch worker creates these rows, claims them with
a conditional update, sends, and records the outcome (delivered, retry later, or dead letter).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from streetwatch.core.vocab import DeliveryStatus
from streetwatch.store.column_types import StrEnumType, UtcDateTime
from streetwatch.store.models import Base, utcnow


class OutboxEvent(Base):
    """One domain event, immutable once written. ``event_id`` is stable (see ``enqueue``)."""

    __tablename__ = "outbox_events"

    # Insertion order, for fan-out in the order events happened.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    aggregate_id: Mapped[int] = mapped_column(Integer, index=True)
    # What made the id: receivers never need it, but it explains why two enqueues were one event.
    idempotency_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class OutboxDelivery(Base):
    """One event's delivery to one destination, with its retry state."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "destination"),
        # The worker's "what is due" query.
        Index("ix_outbox_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.event_id", ondelete="CASCADE"))
    destination: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(StrEnumType(DeliveryStatus, 16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # A worker's claim: a random token and when it lapses (another worker may then take over).
    claim_token: Mapped[str | None] = mapped_column(String(36), index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the receiver called it (an Open311 service_request_id or token), when it said.
    remote_ref: Mapped[str | None] = mapped_column(String(255))
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Open311Request(Base):
    """A service request a 311 system POSTed to our Open311 endpoint; it started ``case_id``.

    Only what describes the problem is kept (text, photo URL, address, attributes); the
    reporter's contact fields (email, name, phone) are not stored.
    """

    __tablename__ = "open311_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    service_code: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(String(2048))
    address_string: Mapped[str | None] = mapped_column(String(512))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    jurisdiction_id: Mapped[str | None] = mapped_column(String(64))
    # The user (usually a machine's API key owner) that posted it.
    submitted_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
