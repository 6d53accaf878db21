"""The dispatch worker: deliver committed outbox events to every configured destination.

One loop, safe to run in several processes or threads at once (on SQLite and PostgreSQL):

1. **Fan out**: for each destination, add a ``pending`` delivery row for each event of its types
   that has none yet (``INSERT … ON CONFLICT DO NOTHING`` on ``(event_id, destination)``, so two
   workers fanning out at once write one row).
2. **Claim** a batch with one conditional ``UPDATE``: rows that are pending, due, and not held by a
   live claim get this worker's random token and a lease (``claimed_until``). On PostgreSQL a
   competing ``UPDATE`` waits for the row lock and then re-checks the condition, so it skips rows
   the first worker took; SQLite runs one writer at a time. No ``SELECT … FOR UPDATE``.
3. **Send** each claimed delivery (outside any transaction) and record the outcome, again only
   ``WHERE claim_token = <ours>``: delivered; or retry at ``now + backoff_delay(attempts)``
   (capped exponential backoff with full jitter); or ``dead`` after ``max_attempts`` or at once
   when the receiver refused the request itself (most 4xx).

Delivery is at least once: a worker that dies after sending but before recording leaves a lease
that lapses, and another worker sends again. Receivers drop repeats by the stable event id.
Order between events is not guaranteed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import ColumnElement, and_, exists, false, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.dispatch.config import DispatchSettings, Open311Destination, WebhookDestination
from streetwatch.casework.dispatch.open311_client import post_service_request
from streetwatch.casework.dispatch.outbox import canonical_json, insert_ignoring_duplicates
from streetwatch.casework.dispatch.webhook import DeliveryError, SendResult, send_webhook
from streetwatch.core.vocab import DeliveryStatus
from streetwatch.store.models import utcnow
from streetwatch.store.models_outbox import OutboxDelivery, OutboxEvent

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, and when to give up."""

    base_s: float
    cap_s: float
    max_attempts: int

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.cap_s):
            raise ValueError(f"expected 0 < base_s <= cap_s, got base_s={self.base_s}, cap_s={self.cap_s}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    @classmethod
    def from_settings(cls, settings: DispatchSettings) -> RetryPolicy:
        return cls(settings.backoff_base_s, settings.backoff_cap_s, settings.max_attempts)

    def ceiling_s(self, attempts: int) -> float:
        """The longest wait after ``attempts`` failed attempts: ``min(cap, base * 2**(attempts-1))``."""
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        # Stop doubling once past the cap: 2**attempts would overflow a float for large counts.
        exponent = min(attempts - 1, 64)
        return min(self.cap_s, self.base_s * 2.0**exponent)

    def delay_s(self, attempts: int, rng: random.Random) -> float:
        """The wait before the next attempt: uniform in ``[0, ceiling_s(attempts)]`` (full jitter).

        Full jitter spreads the retries of many deliveries that failed together (a receiver down
        for a minute) instead of bringing them back in waves.
        """
        return rng.uniform(0.0, self.ceiling_s(attempts))


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker holds, with its event."""

    delivery_id: int
    destination: str
    attempts: int
    event_id: str
    event_type: str
    aggregate_id: int
    payload: dict[str, Any]
    created_at: datetime


@dataclass(slots=True)
class WorkerStats:
    """What a worker did (counts since it started)."""

    fanned_out: int = 0
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost_claims: int = 0           # outcomes not recorded because the lease had lapsed


Sender = Callable[[httpx.Client, ClaimedDelivery], SendResult]


def webhook_body(delivery: ClaimedDelivery) -> bytes:
    """The JSON body of a webhook: id, type, aggregate id, time written, payload."""
    return canonical_json({
        "id": delivery.event_id,
        "type": delivery.event_type,
        "aggregate_id": delivery.aggregate_id,
        "created_at": delivery.created_at,
        "payload": delivery.payload,
    }).encode()


def make_sender(destination: WebhookDestination | Open311Destination) -> Sender:
    """The function that sends one delivery to ``destination`` (secrets resolved now)."""
    if isinstance(destination, WebhookDestination):
        url, secret = destination.url, destination.resolved_secret()
        return lambda client, d: send_webhook(client, url, secret, d.event_id, webhook_body(d))
    endpoint, api_key = destination.endpoint, destination.resolved_api_key()
    jurisdiction, attribute = destination.jurisdiction_id, destination.event_id_attribute
    media = destination.media_base_url
    return lambda client, d: post_service_request(client, endpoint, d.payload, api_key=api_key,
                                                  jurisdiction_id=jurisdiction, event_id=d.event_id,
                                                  event_id_attribute=attribute, media_base_url=media)


def _event_filter(destination: WebhookDestination | Open311Destination) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for pattern in destination.events:
        if pattern == "*":
            clauses.append(OutboxEvent.event_type.is_not(None))
        elif pattern.endswith(".*"):
            clauses.append(OutboxEvent.event_type.startswith(pattern[:-1], autoescape=True))
        else:
            clauses.append(OutboxEvent.event_type == pattern)
    condition = or_(*clauses) if clauses else false()
    if destination.since is not None:
        condition = and_(condition, OutboxEvent.created_at >= destination.since)
    return condition


class DispatchWorker:
    """Delivers outbox events; see the module docstring for the loop. One instance per thread."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        destinations: Sequence[WebhookDestination | Open311Destination],
        settings: DispatchSettings,
        *,
        name: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        slowest = max((d.timeout_s for d in destinations), default=0.0)
        if settings.lease_s <= settings.batch_size * slowest:
            raise ValueError(f"lease_s ({settings.lease_s}) must exceed batch_size × slowest timeout "
                             f"({settings.batch_size} × {slowest} s), or a claim could lapse mid-batch")
        self.session_factory = session_factory
        self.destinations = {d.name: d for d in destinations}
        self.senders = {d.name: make_sender(d) for d in destinations}
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.rng = rng or random.Random()
        self.clock = clock
        self.stats = WorkerStats()

    # -- 1. fan out -------------------------------------------------------------------------
    def fan_out(self) -> int:
        """Create the missing pending deliveries of every destination; returns how many."""
        created = 0
        for name, destination in self.destinations.items():
            missing = (
                select(OutboxEvent.event_id)
                .where(_event_filter(destination))
                .where(~exists().where(OutboxDelivery.event_id == OutboxEvent.event_id,
                                       OutboxDelivery.destination == name))
                .order_by(OutboxEvent.seq)
                .limit(FAN_OUT_BATCH)
            )
            # Read, end the transaction, then write: SQLite cannot turn a read into a write
            # transaction once another connection has written.
            with self.session_factory() as session:
                event_ids = list(session.scalars(missing))
            if not event_ids:
                continue
            now = self.clock()
            rows = [{"event_id": e, "destination": name, "status": DeliveryStatus.PENDING, "attempts": 0,
                     "next_attempt_at": now, "created_at": now, "updated_at": now} for e in event_ids]
            with self.session_factory.begin() as session:
                insert_ignoring_duplicates(session, OutboxDelivery, rows, ["event_id", "destination"])
            created += len(rows)
        self.stats.fanned_out += created
        return created

    # -- 2. claim ---------------------------------------------------------------------------
    def claim(self) -> tuple[str, list[ClaimedDelivery]]:
        """Claim up to ``batch_size`` due deliveries of known destinations with one conditional UPDATE.

        Returns:
            The claim token (needed to record outcomes) and the claimed deliveries.
        """
        now = self.clock()
        token = str(uuid.uuid4())
        claimable = and_(
            OutboxDelivery.status == DeliveryStatus.PENDING,
            OutboxDelivery.next_attempt_at <= now,
            or_(OutboxDelivery.claimed_until.is_(None), OutboxDelivery.claimed_until < now),
            OutboxDelivery.destination.in_(list(self.destinations)),
        )
        due = (select(OutboxDelivery.id).where(claimable)
               .order_by(OutboxDelivery.next_attempt_at, OutboxDelivery.id).limit(self.settings.batch_size))
        with self.session_factory.begin() as session:
            # The condition is repeated outside the subquery: PostgreSQL re-checks it on rows
            # another worker changed while this UPDATE waited for their locks.
            session.execute(
                update(OutboxDelivery)
                .where(OutboxDelivery.id.in_(due.scalar_subquery()), claimable)
                .values(claim_token=token, claimed_until=now + timedelta(seconds=self.settings.lease_s))
                .execution_options(synchronize_session=False)
            )
        with self.session_factory() as session:
            rows = session.execute(
                select(OutboxDelivery, OutboxEvent)
                .join(OutboxEvent, OutboxEvent.event_id == OutboxDelivery.event_id)
                .where(OutboxDelivery.claim_token == token)
                .order_by(OutboxDelivery.id)
            ).all()
        claimed = [ClaimedDelivery(d.id, d.destination, d.attempts, e.event_id, e.event_type, e.aggregate_id,
                                   e.payload, e.created_at) for d, e in rows]
        self.stats.claimed += len(claimed)
        return token, claimed

    # -- 3. send and record -----------------------------------------------------------------
    def _record(self, delivery: ClaimedDelivery, token: str, values: dict[str, Any]) -> bool:
        with self.session_factory.begin() as session:
            result = session.execute(
                update(OutboxDelivery)
                .where(OutboxDelivery.id == delivery.delivery_id, OutboxDelivery.claim_token == token)
                .values(claim_token=None, claimed_until=None, updated_at=self.clock(), **values)
                .execution_options(synchronize_session=False)
            )
        if getattr(result, "rowcount", 0) != 1:
            self.stats.lost_claims += 1
            log.warning("%s: claim on delivery %s lapsed before its outcome was recorded",
                        self.name, delivery.delivery_id)
            return False
        return True

    def deliver(self, client: httpx.Client, delivery: ClaimedDelivery, token: str) -> str:
        """Send one claimed delivery and record the outcome; returns the new status."""
        attempts = delivery.attempts + 1
        try:
            result = self.senders[delivery.destination](client, delivery)
        except DeliveryError as exc:
            error = str(exc)[:MAX_ERROR_CHARS]
            if exc.permanent or attempts >= self.policy.max_attempts:
                if self._record(delivery, token, {"status": DeliveryStatus.DEAD, "attempts": attempts,
                                                  "last_error": error}):
                    self.stats.dead += 1
                log.error("%s: event %s to %s is a dead letter after %d attempt(s): %s", self.name,
                          delivery.event_id, delivery.destination, attempts, error)
                return DeliveryStatus.DEAD
            wait = timedelta(seconds=self.policy.delay_s(attempts, self.rng))
            if self._record(delivery, token, {"attempts": attempts, "last_error": error,
                                              "next_attempt_at": self.clock() + wait}):
                self.stats.retried += 1
            return DeliveryStatus.PENDING
        if self._record(delivery, token, {"status": DeliveryStatus.DELIVERED, "attempts": attempts,
                                          "delivered_at": self.clock(), "remote_ref": result.remote_ref}):
            self.stats.delivered += 1
        return DeliveryStatus.DELIVERED

    def run_batch(self, clients: dict[str, httpx.Client]) -> int:
        """Fan out, claim one batch and deliver it; returns how many deliveries were claimed."""
        self.fan_out()
        token, claimed = self.claim()
        for delivery in claimed:
            self.deliver(clients[delivery.destination], delivery, token)
        return len(claimed)

    def run(self, *, once: bool = False, max_seconds: float | None = None,
            stop: threading.Event | None = None) -> WorkerStats:
        """Deliver until stopped.

        Args:
            once: Stop as soon as nothing is due (retries scheduled later stay pending).
            max_seconds: Stop after about this long (a batch in flight is finished first).
            stop: Set it (from another thread or a signal handler) to stop after the current batch.

        Returns:
            The worker's counts.
        """
        stop = stop or threading.Event()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        clients = {name: httpx.Client(timeout=httpx.Timeout(d.timeout_s), follow_redirects=False)
                   for name, d in self.destinations.items()}
        try:
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self.run_batch(clients) == 0:
                    if once:
                        break
                    wait = self.settings.poll_interval_s
                    if deadline is not None:
                        wait = max(0.0, min(wait, deadline - time.monotonic()))
                    stop.wait(wait)
        finally:
            for client in clients.values():
                client.close()
        return self.stats
