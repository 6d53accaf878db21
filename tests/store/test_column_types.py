"""The shared column types: aware UTC datetimes and vocabulary enums, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.vocab import CaseStatus
from streetwatch.store.models import Case

BEIJING = timezone(timedelta(hours=8))


def _case(**values: object) -> Case:
    return Case(family="stall", event_code="0301", lat=39.9, lon=116.4, h3_cell="8a31aa", **values)


def test_times_come_back_aware_in_utc(db_session_factory: sessionmaker[Session]) -> None:
    seen = datetime(2026, 5, 1, 10, 30, tzinfo=BEIJING)
    naive = datetime(2026, 5, 1, 3, 0)  # naive: taken as UTC
    with db_session_factory.begin() as session:
        session.add(_case(first_seen=seen, last_seen=naive))
    with db_session_factory() as session:
        case = session.scalars(select(Case)).one()
        latest = session.scalar(select(func.max(Case.last_seen)))
        later = session.scalars(select(Case).where(Case.first_seen > datetime(2026, 5, 1, 10, 0, tzinfo=BEIJING)))
        assert [c.id for c in later] == [case.id]  # compared as instants, whatever the zone
    for value in (case.first_seen, case.last_seen, case.created_at, latest):
        assert value is not None and value.tzinfo is UTC, value
    assert case.first_seen == seen and case.first_seen.hour == 2
    assert case.last_seen == naive.replace(tzinfo=UTC) == latest


def test_a_status_column_holds_members_of_its_vocabulary(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory.begin() as session:
        session.add_all([_case(), _case(status=CaseStatus.FILED), _case(status="closed")])
    with db_session_factory() as session:
        statuses = session.scalars(select(Case.status).order_by(Case.id)).all()
        stored = session.scalars(select(text("status")).select_from(Case).order_by(Case.id)).all()
    assert statuses == [CaseStatus.OPEN, CaseStatus.FILED, CaseStatus.CLOSED]
    assert all(type(status) is CaseStatus for status in statuses)
    assert stored == ["open", "filed", "closed"]  # the stored strings are what they always were


def test_an_unknown_status_is_refused_before_it_reaches_the_database(
    db_session_factory: sessionmaker[Session],
) -> None:
    with db_session_factory() as session:
        session.add(_case(status="bogus"))
        with pytest.raises(StatementError, match=r"'bogus' is not a CaseStatus \(one of: open, filed, "):
            session.flush()
        session.rollback()
        with pytest.raises(StatementError, match="'reopened' is not a CaseStatus"):
            session.scalars(select(Case).where(Case.status == "reopened")).all()


def test_an_unknown_status_in_the_database_is_a_clear_error(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory.begin() as session:
        session.add(_case())
    with db_session_factory.begin() as session:
        session.execute(text("UPDATE cases SET status = 'archived'"))
    with db_session_factory() as session, pytest.raises(ValueError, match="'archived' is not a CaseStatus"):
        session.scalars(select(Case)).all()
