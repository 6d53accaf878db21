"""Write events to the outbox in the caller's transaction: :func:`enqueue`.

The workflow calls ``enqueue`` inside the transaction that approves a violation, files or
moves a case. Nothing here commits: the event commits or rolls back with that change, so a
receiver is never told about a change that did not happen, and never misses one that did.
The dispatch worker (:mod:`streetwatch.casework.dispatch.worker`) delivers committed events later.

Idempotency: the event id is ``uuid5(EVENT_NAMESPACE, f"{event_type}|{aggregate_id}|{key}")``
where ``key`` is the caller's ``key`` argument, or else the sha256 of the payload's canonical
JSON (sorted keys, no spaces). Enqueueing the same logical event twice (a retried request, a
job run again) therefore gives the same id and writes one row; receivers also see that id
(``X-Streetwatch-Event-Id``) and can drop a repeat. Two *different* events of one aggregate
need different keys: pass ``key`` (e.g. the case's transition number, ``"dispatch-3"``) or put
something that differs into the payload (the new status and the time of the transition).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any, Final

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from streetwatch.core.errors import BadInputError
from streetwatch.core.privacy import masked
from streetwatch.store.models import Base
from streetwatch.store.models_outbox import OutboxEvent

# Fixed forever: changing it changes every event id.
EVENT_NAMESPACE: Final = uuid.UUID("6f1c2a8e-3b7d-5c4e-9a0f-2d8b7e6c5a41")

# Event types. The workflow's transitions emit case.filed, case.dispatched, case.returned,
# case.handled, case.checked, case.reworked, case.extended, case.closed
# (streetwatch.casework.states.TRANSITIONS); our Open311 endpoint emits case.reported.
CASE_FILED: Final = "case.filed"
CASE_REPORTED: Final = "case.reported"   # a 311 system POSTed a request to our Open311 endpoint

MAX_EVENT_TYPE_LENGTH: Final = 64


class OutboxError(BadInputError, ValueError):
    """An event that cannot be written (bad type, payload not JSON)."""


def _jsonable(value: Any) -> Any:
    # Values a workflow naturally has at hand; anything else is a caller bug, said plainly.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | uuid.UUID | PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_json(payload: dict[str, Any]) -> str:
    """The payload as canonical JSON (sorted keys, compact, UTF-8 kept), datetimes as ISO 8601."""
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutboxError(f"event payload must be JSON (dict of str/number/bool/None/list/dict, datetimes "
                          f"allowed): {exc}") from None


def event_id_for(event_type: str, aggregate_id: int, key: str) -> str:
    """The stable event id of (event type, aggregate, idempotency key)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{event_type}|{aggregate_id}|{key}"))


def enqueue(
    session: Session,
    *,
    event_type: str,
    aggregate_id: int,
    payload: dict[str, Any],
    key: str | None = None,
) -> str:
    """Write one event to the outbox in the session's current transaction (no commit).

    Args:
        session: The caller's session; the event commits or rolls back with its transaction.
        event_type: What happened, dotted, e.g. ``"case.filed"`` (see the ``CASE_*`` constants).
        aggregate_id: The id of the thing it happened to (the case id).
        payload: The event's JSON body for receivers; datetimes, enums, UUIDs and Decimals are
            turned into strings.
        key: The idempotency key; default: the sha256 of the canonical payload. See the module
            docstring.

    Returns:
        The event id (a UUID string). The same arguments always give the same id, and a second
        enqueue of an id already written (committed or earlier in this transaction) writes nothing.

    Raises:
        OutboxError: If ``event_type`` is empty or too long, or ``payload`` is not JSON.
    """
    if not event_type or len(event_type) > MAX_EVENT_TYPE_LENGTH:
        raise OutboxError(f"event_type must be 1-{MAX_EVENT_TYPE_LENGTH} characters, got {event_type!r}")
    if not isinstance(payload, dict):
        raise OutboxError(f"event payload must be a dict, got {type(payload).__name__}")
    body = canonical_json(payload)
    idempotency_key = key if key is not None else "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    event_id = event_id_for(event_type, aggregate_id, idempotency_key)
    values = {
        "event_id": event_id,
        "event_type": event_type,
        "aggregate_id": aggregate_id,
        "idempotency_key": idempotency_key[:255],
        "payload": masked(json.loads(body)),   # plates leave masked (webhooks, Open311)
    }
    insert_ignoring_duplicates(session, OutboxEvent, [values], ["event_id"])
    return event_id


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], unique_columns: Sequence[str]
) -> None:
    """``INSERT … ON CONFLICT (unique_columns) DO NOTHING`` on SQLite and PostgreSQL.

    A concurrent transaction inserting the same key waits for the first and then skips, instead
    of failing the caller's whole transaction with an integrity error.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(model).values(list(rows)).on_conflict_do_nothing(
            index_elements=list(unique_columns)))
    elif dialect == "sqlite":
        session.execute(sqlite.insert(model).values(list(rows)).on_conflict_do_nothing(
            index_elements=list(unique_columns)))
    else:
        raise NotImplementedError(f"the outbox supports SQLite and PostgreSQL, not {dialect}")
