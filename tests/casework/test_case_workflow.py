"""Case transitions on SQLite and PostgreSQL: deadlines, events, outbox, audit, roles, races, KPIs from the rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.case_workflow import (
    CaseNotFoundError,
    TransitionInputError,
    file_on_approval,
    kpi_events,
    transition_case,
)
from streetwatch.casework.deadlines import TimeLimit
from streetwatch.casework.kpis import compute_kpis
from streetwatch.casework.states import IllegalTransitionError, NotPermittedError
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Case, Violation
from streetwatch.store.models_workflow import CaseEvent
from tests.casework.store_builders import CONFIG, T0, add_violations, outbox_types, spread

SH = ZoneInfo("Asia/Shanghai")
SUP = frozenset({"supervisor"})


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def filed_case(factory: sessionmaker[Session], at: datetime = T0) -> int:
    """A case filed (as by an approval) at ``at``; its id."""
    (vid,) = add_violations(factory, spread(1))
    with factory() as session:
        violation = session.get(Violation, vid)
        assert violation is not None and violation.case_id is not None
        file_on_approval(session, violation.case_id, vid, "alice", CONFIG, now=at)
        session.commit()
        return violation.case_id


def act(factory: sessionmaker[Session], case_id: int, action: str, at: str, roles: frozenset[str] = SUP,
        **kwargs: object) -> CaseEvent:
    with factory() as session:
        event = transition_case(session, case_id, action, actor="sam", roles=roles, config=CONFIG, now=sh(at),
                                **kwargs)  # type: ignore[arg-type]
        session.commit()
        return event


def test_the_whole_life_of_a_case(factory: sessionmaker[Session]) -> None:
    case_id = filed_case(factory, sh("2026-03-06 09:00"))
    # 0502 street vending: handle within 2 h, close within 4 h of dispatch. Friday 16:30 -> Monday.
    dispatched = act(factory, case_id, "dispatch", "2026-03-06 16:30", roles=frozenset({"dispatcher"}))
    assert (dispatched.handle_due, dispatched.close_due) == (sh("2026-03-09 09:30"), sh("2026-03-09 11:30"))
    extended = act(factory, case_id, "extend", "2026-03-09 08:40", note="vendor asked for a day",
                   extend_by=TimeLimit.parse("1d"))
    assert (extended.handle_due, extended.close_due) == (sh("2026-03-10 09:30"), sh("2026-03-10 11:30"))
    assert extended.details["extend_by"] == "1d"
    act(factory, case_id, "handle", "2026-03-09 10:00", roles=frozenset({"field_inspector"}))
    rework = act(factory, case_id, "rework", "2026-03-09 11:00", note="stall is back",
                 roles=frozenset({"field_inspector"}))
    assert rework.handle_due == sh("2026-03-10 09:30")  # the clock keeps running
    act(factory, case_id, "handle", "2026-03-09 14:00", roles=frozenset({"field_inspector"}))
    act(factory, case_id, "check", "2026-03-09 15:00", roles=frozenset({"field_inspector"}))
    act(factory, case_id, "close", "2026-03-09 16:00", note="done")
    with factory() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.status == "closed"
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
        assert [(e.action, e.to_status) for e in events] == [
            ("file", "filed"), ("dispatch", "dispatched"), ("extend", "dispatched"), ("handle", "handled"),
            ("rework", "dispatched"), ("handle", "handled"), ("check", "checked"), ("close", "closed")]
        assert outbox_types(session, case_id) == [
            "case.filed", "case.dispatched", "case.extended", "case.handled", "case.reworked", "case.handled",
            "case.checked", "case.closed"]
        report = verify_audit_chain(session)
        assert report.ok and report.entries == 8
        row = compute_kpis(kpi_events(session, sh("2026-03-01 00:00"), sh("2026-04-01 00:00")),
                           since=sh("2026-03-01 00:00"), until=sh("2026-04-01 00:00"))[0]
        assert (row.filed, row.dispatched, row.handled, row.handled_on_time, row.closed, row.closed_on_time,
                row.reworked, row.extended) == (1, 1, 1, 1, 1, 1, 1, 1)


def test_return_and_redispatch_restart_the_clock_and_may_reroute(factory: sessionmaker[Session]) -> None:
    case_id = filed_case(factory)
    act(factory, case_id, "dispatch", "2026-03-02 10:00")
    returned = act(factory, case_id, "return", "2026-03-02 11:00", note="not ours: private land",
                   unit="物业管理科")
    assert (returned.to_status, returned.unit, returned.handle_due) == ("filed", "物业管理科", None)
    assert returned.details["previous_unit"] == "交警大队"
    again = act(factory, case_id, "dispatch", "2026-03-02 14:00")
    assert again.handle_due == sh("2026-03-02 16:00")


ILLEGAL = [
    # (actions taken first, action, roles, kwargs, error type, message)
    ([], "handle", SUP, {}, IllegalTransitionError, "cannot handle case .* in state 'filed'"),
    ([], "close", SUP, {}, IllegalTransitionError, "allowed from 'filed': dispatch"),
    (["dispatch"], "dispatch", SUP, {}, IllegalTransitionError, "in state 'dispatched'"),
    (["dispatch", "handle"], "extend", SUP, {"note": "late", "extend_by": TimeLimit.parse("1h")},
     IllegalTransitionError, "cannot extend"),
    ([], "dispatch", frozenset({"reviewer"}), {}, NotPermittedError, "dispatch needs role dispatcher or supervisor"),
    (["dispatch"], "extend", frozenset({"dispatcher"}), {"note": "x", "extend_by": TimeLimit.parse("1h")},
     NotPermittedError, "extend needs role supervisor"),
    (["dispatch"], "return", SUP, {}, TransitionInputError, "return needs a note"),
    (["dispatch"], "extend", SUP, {"note": "x"}, TransitionInputError, "extend needs extend_by"),
    (["dispatch"], "handle", SUP, {"extend_by": TimeLimit.parse("1h")}, TransitionInputError, "only for extend"),
    (["dispatch"], "handle", SUP, {"unit": "x"}, TransitionInputError, "only for dispatch or return"),
    ([], "teleport", SUP, {}, ValueError, "unknown case action"),
]


@pytest.mark.parametrize(("before", "action", "roles", "kwargs", "error", "message"), ILLEGAL)
def test_refused_transitions_change_nothing(factory: sessionmaker[Session], before: list[str], action: str,
                                            roles: frozenset[str], kwargs: dict[str, object],
                                            error: type[Exception], message: str) -> None:
    case_id = filed_case(factory)
    for step in before:
        act(factory, case_id, step, "2026-03-02 10:00")
    with factory() as session:
        status = session.get(Case, case_id).status  # type: ignore[union-attr]
        with pytest.raises(error, match=message):
            transition_case(session, case_id, action, actor="sam", roles=roles, config=CONFIG, **kwargs)  # type: ignore[arg-type]
        session.rollback()
        assert session.get(Case, case_id).status == status  # type: ignore[union-attr]
        assert len(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()) == 1 + len(before)


def test_unknown_case(factory: sessionmaker[Session]) -> None:
    with factory() as session, pytest.raises(CaseNotFoundError, match="case 424242 not found"):
        transition_case(session, 424242, "dispatch", actor="sam", roles=SUP, config=CONFIG)


def test_two_dispatchers_at_once_one_wins(factory: sessionmaker[Session]) -> None:
    case_id = filed_case(factory)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        barrier.wait(timeout=30)
        try:
            act(factory, case_id, "dispatch", "2026-03-02 10:00")
            outcomes.append("ok")
        except IllegalTransitionError:
            outcomes.append("illegal")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["illegal", "ok"]
    with factory() as session:
        assert outbox_types(session, case_id) == ["case.filed", "case.dispatched"]


def test_times_are_stored_as_utc(factory: sessionmaker[Session]) -> None:
    case_id = filed_case(factory)
    act(factory, case_id, "dispatch", "2026-03-02 10:00")
    with factory() as session:
        events = kpi_events(session, datetime(2026, 3, 2, 1, 59, tzinfo=UTC), datetime(2026, 3, 2, 2, 1, tzinfo=UTC))
        assert [e.action for e in events] == ["file", "dispatch"]
        assert events[1].at == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
        assert events[1].handle_due == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
        assert kpi_events(session, T0 + timedelta(minutes=1), T0 + timedelta(hours=1)) == []


@pytest.mark.parametrize(("steps", "status_after"), [
    (["dispatch"], "dispatched"),                                  # a case in the workflow keeps its state
    (["dispatch", "handle", "check", "close"], "open"),            # a closed case reopens
])
def test_a_new_sighting_joins_the_case_in_any_state(factory: sessionmaker[Session], steps: list[str],
                                                    status_after: str) -> None:
    case_id = filed_case(factory)
    for step in steps:
        act(factory, case_id, step, "2026-03-02 10:00")
    (again,) = add_violations(factory, spread(1), name="second-patrol")
    with factory() as session:
        case = session.get(Case, case_id)
        assert session.get(Violation, again).case_id == case_id  # type: ignore[union-attr]
        assert case is not None and (case.status, case.sightings) == (status_after, 2)
        assert case.recurrence_count == (1 if status_after == "open" else 0)
