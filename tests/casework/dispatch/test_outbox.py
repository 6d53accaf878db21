"""enqueue: one row per logical event, in the caller's transaction; the migration up and down."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.dispatch.outbox import EVENT_NAMESPACE, OutboxError, canonical_json, enqueue, event_id_for
from streetwatch.store.db import alembic_config, make_engine
from streetwatch.store.models_outbox import OutboxEvent

PAYLOAD = {"case_id": 3, "status": "filed", "lat": 39.9}


def count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


@pytest.mark.parametrize(
    ("first", "second", "same_id"),
    [
        ({}, {}, True),                                                     # a retry: same everything
        ({}, {"payload": {**PAYLOAD, "status": "dispatched"}}, False),      # another transition
        ({}, {"payload": dict(reversed(list(PAYLOAD.items())))}, True),     # key order does not matter
        ({}, {"aggregate_id": 4}, False),
        ({}, {"event_type": "case.closed"}, False),
        ({"key": "case-event-9"}, {"key": "case-event-9", "payload": {"other": 1}}, True),  # the key decides
        ({"key": "case-event-9"}, {"key": "case-event-10"}, False),
    ],
)
def test_same_logical_event_is_one_row(
    db_session_factory: sessionmaker[Session], first: dict[str, Any], second: dict[str, Any], same_id: bool
) -> None:
    base: dict[str, Any] = {"event_type": "case.filed", "aggregate_id": 3, "payload": PAYLOAD}
    ids = []
    for change in (first, second):
        with db_session_factory.begin() as session:  # separate committed transactions
            ids.append(enqueue(session, **{**base, **change}))
    assert (ids[0] == ids[1]) is same_id
    assert count(db_session_factory) == (1 if same_id else 2)
    assert all(uuid.UUID(i).version == 5 for i in ids)


def test_twice_in_one_transaction_is_one_row(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory.begin() as session:
        first = enqueue(session, event_type="case.filed", aggregate_id=1, payload=PAYLOAD)
        second = enqueue(session, event_type="case.filed", aggregate_id=1, payload=PAYLOAD)
    assert first == second and count(db_session_factory) == 1


def test_event_rolls_back_with_the_callers_transaction(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory() as session:
        enqueue(session, event_type="case.filed", aggregate_id=1, payload=PAYLOAD)
        session.rollback()
    assert count(db_session_factory) == 0


def test_id_is_documented_uuid5_and_payload_is_stored_as_json(db_session_factory: sessionmaker[Session]) -> None:
    at = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    with db_session_factory.begin() as session:
        event_id = enqueue(session, event_type="case.filed", aggregate_id=5, payload={"at": at, "n": Decimal("1.5")},
                           key="k1")
    assert event_id == str(uuid.uuid5(EVENT_NAMESPACE, "case.filed|5|k1")) == event_id_for("case.filed", 5, "k1")
    with db_session_factory() as session:
        row = session.scalars(select(OutboxEvent)).one()
    assert row.payload == {"at": "2026-12-01T08:30:00+00:00", "n": "1.5"}
    assert (row.event_type, row.aggregate_id, row.idempotency_key) == ("case.filed", 5, "k1")


@pytest.mark.parametrize(
    ("event_type", "payload", "message"),
    [
        ("", {}, "event_type must be 1-64 characters"),
        ("x" * 65, {}, "event_type must be 1-64 characters"),
        ("case.filed", {"blob": object()}, "payload must be JSON"),
        ("case.filed", {"nan": float("nan")}, "payload must be JSON"),
        ("case.filed", ["not", "a", "dict"], "payload must be a dict"),
    ],
)
def test_bad_events_are_refused(db_session_factory: sessionmaker[Session], event_type: str, payload: Any,
                                message: str) -> None:
    with db_session_factory() as session, pytest.raises(OutboxError, match=message):
        enqueue(session, event_type=event_type, aggregate_id=1, payload=payload)


def test_canonical_json_is_stable() -> None:
    assert canonical_json({"b": 1, "a": "街"}) == '{"a":"街","b":1}'


def test_migration_downgrades_and_upgrades(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0004")
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert not tables & {"outbox_events", "outbox_deliveries", "open311_requests"}
        command.upgrade(cfg, "head")
        inspector = inspect(engine)
        assert {"outbox_events", "outbox_deliveries", "open311_requests"} <= set(inspector.get_table_names())
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("outbox_deliveries")}
        assert ("event_id", "destination") in uniques
    finally:
        engine.dispose()
