"""The review queue on SQLite and PostgreSQL: leases, 50 concurrent claimers, lease rules for decisions."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.review_queue import DecisionRequest, LeaseError, claim, decide, leased_to, release
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Case, ReviewDecision, Violation
from streetwatch.store.models_workflow import AuditEntry, CaseEvent
from streetwatch.store.queries import DecisionConflictError, InvalidDecisionError, NotFoundError
from tests.casework.store_builders import CONFIG, T0, add_violations, count, outbox_types, spread

TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url, pool_size=10, max_overflow=60)  # room for 50 threads at once
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def ids(rows: list[Violation]) -> list[int]:
    return [v.id for v in rows]


def test_claim_takes_oldest_pending_and_renews_own(factory: sessionmaker[Session]) -> None:
    made = add_violations(factory, spread(6))
    with factory.begin() as session:  # decided items are never queued
        session.get(Violation, made[0]).status = "approved"  # type: ignore[union-attr]
    first = claim(factory, "alice", 3, 10, now=T0)
    assert ids(first) == made[1:4]
    assert all(v.lease_owner == "alice" for v in first)
    assert ids(claim(factory, "bob", 5, 10, now=T0)) == made[4:6]
    assert claim(factory, "carol", 5, 10, now=T0) == []
    again = claim(factory, "alice", 3, 30, now=T0 + timedelta(minutes=5))  # renews, takes nothing new
    assert ids(again) == made[1:4]
    with factory() as session:
        assert ids(leased_to(session, "alice", now=T0 + timedelta(minutes=34))) == made[1:4]
        assert leased_to(session, "alice", now=T0 + timedelta(minutes=36)) == []


def test_expired_leases_return_to_the_queue(factory: sessionmaker[Session]) -> None:
    made = add_violations(factory, spread(4))
    assert ids(claim(factory, "alice", 4, 10, now=T0)) == made
    assert claim(factory, "bob", 4, 10, now=T0 + timedelta(minutes=9)) == []
    assert ids(claim(factory, "bob", 2, 10, now=T0 + timedelta(minutes=11))) == made[:2]
    with factory() as session:
        owners = dict(session.execute(select(Violation.id, Violation.lease_owner)).all())
    assert [owners[i] for i in made] == ["bob", "bob", "alice", "alice"]


def test_release(factory: sessionmaker[Session]) -> None:
    made = add_violations(factory, spread(3))
    claim(factory, "alice", 3, 10, now=T0)
    assert release(factory, "bob") == 0  # never someone else's
    assert release(factory, "alice", [made[0]]) == 1
    assert ids(claim(factory, "bob", 3, 10, now=T0)) == [made[0]]
    assert release(factory, "alice") == 2


@pytest.mark.parametrize(
    ("n", "minutes", "message"), [(0, 10, "n must be"), (101, 10, "n must be"), (1, 0, "lease_minutes"),
                                  (1, 241, "lease_minutes")],
)
def test_claim_arguments(factory: sessionmaker[Session], n: int, minutes: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        claim(factory, "alice", n, minutes)


@pytest.mark.slow
def test_fifty_concurrent_claimers_never_share_an_item(factory: sessionmaker[Session]) -> None:
    items, claimers, per_claimer = 120, 50, 3
    add_violations(factory, spread(items, 0.0005))
    barrier = threading.Barrier(claimers)
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            barrier.wait(timeout=60)
            got[name] = ids(claim(factory, name, per_claimer, 10, now=T0))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"reviewer-{i:02d}",)) for i in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:3]
    taken = Counter(i for leased in got.values() for i in leased)
    assert max(taken.values()) == 1, f"items leased twice: {[i for i, c in taken.items() if c > 1]}"
    assert len(taken) == items  # 150 asked for 120: the queue is emptied, nothing is lost
    with factory() as session:
        owners = dict(session.execute(select(Violation.id, Violation.lease_owner)).all())
    assert all(owners[i] == name for name, leased in got.items() for i in leased)


# --- decisions and leases -----------------------------------------------------------------------------

APPROVE = DecisionRequest("approve")
LEASE_CASES = [
    # (id, lease holder, decider, override, minutes after the claim, expected error or None)
    ("own-live-lease", "alice", "alice", False, 5, None),
    ("no-lease", None, "alice", False, 5, "not leased to you"),
    ("someone-elses", "bob", "alice", False, 5, "leased to 'bob'"),
    ("own-expired", "alice", "alice", False, 11, "expired at"),
    ("supervisor-over-someone-elses", "bob", "sam", True, 5, None),
    ("supervisor-without-lease", None, "sam", True, 5, None),
]


@pytest.mark.parametrize(("holder", "actor", "override", "after", "error"), [c[1:] for c in LEASE_CASES],
                         ids=[c[0] for c in LEASE_CASES])
def test_decisions_need_a_live_lease(factory: sessionmaker[Session], holder: str | None, actor: str,
                                     override: bool, after: int, error: str | None) -> None:
    (vid,) = add_violations(factory, spread(1))
    if holder is not None:
        claim(factory, holder, 1, 10, now=T0)
    with factory() as session:
        if error is not None:
            with pytest.raises(LeaseError, match=error):
                decide(session, vid, APPROVE, actor=actor, may_override=override, taxonomy=TAXONOMY,
                       config=CONFIG, now=T0 + timedelta(minutes=after))
            session.rollback()
            assert session.get(Violation, vid).status == "pending"  # type: ignore[union-attr]
            return
        decide(session, vid, APPROVE, actor=actor, may_override=override, taxonomy=TAXONOMY, config=CONFIG,
               now=T0 + timedelta(minutes=after))
        session.commit()
        violation = session.get(Violation, vid)
        assert violation is not None and violation.status == "approved" and violation.lease_owner is None
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "violation.approve")).one()
        assert audit.actor == actor and audit.details["lease_override"] is (holder != actor)


def test_approval_files_the_case_once_and_routes_it(factory: sessionmaker[Session]) -> None:
    a, b = add_violations(factory, [spread(1)[0], spread(1)[0]])  # two sightings, one case
    claim(factory, "alice", 2, 10, now=T0)
    with factory() as session:
        for vid in (a, b):
            decide(session, vid, APPROVE, actor="alice", may_override=False, taxonomy=TAXONOMY, config=CONFIG,
                   now=T0)
        session.commit()
        case = session.scalars(select(Case)).one()
        assert (case.status, case.unit, case.sightings) == ("filed", "交警大队", 2)
        events = session.scalars(select(CaseEvent)).all()
        assert [(e.action, e.from_status, e.to_status, e.actor) for e in events] == [("file", "open", "filed", "alice")]
        assert events[0].details == {"violation_id": a, "routed_by": "family"}
        assert outbox_types(session, case.id) == ["case.filed"]
        assert [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
            "case.file", "violation.approve", "label.confirm", "violation.approve", "label.confirm"]


def test_unlocated_approval_files_nothing(factory: sessionmaker[Session]) -> None:
    (vid,) = add_violations(factory, [None])
    with factory() as session:
        decide(session, vid, APPROVE, actor="sam", may_override=True, taxonomy=TAXONOMY, config=CONFIG, now=T0)
        session.commit()
        assert count(session, Case) == 0 and count(session, CaseEvent) == 0


REJECT_CASES = [
    # (id, request, expected (reason_code, note) or error message)
    ("code", DecisionRequest("reject", reason_code="duplicate"), ("duplicate", None)),
    ("code+note", DecisionRequest("reject", reason_code="compliant", note=" licensed stall "),
     ("compliant", "licensed stall")),
    ("note-that-is-a-code", DecisionRequest("reject", note="unclear_image"), ("unclear_image", None)),
    ("free-text-only", DecisionRequest("reject", note="a delivery, stopped briefly"),
     (None, "a delivery, stopped briefly")),
    ("unknown-code", DecisionRequest("reject", reason_code="ugly"), "reason_code must be one of"),
    ("nothing", DecisionRequest("reject", note="  "), "needs a reason"),
    ("code-on-approve", DecisionRequest("approve", reason_code="duplicate"), "only for reject"),
    ("lat-on-approve", DecisionRequest("approve", lat=1.0, lon=2.0), "only for move"),
    ("move-half", DecisionRequest("move", lat=31.0), "needs lat and lon"),
    ("move-off-earth", DecisionRequest("move", lat=95.0, lon=0.0), "not a WGS84"),
    ("class-on-move", DecisionRequest("move", lat=31.0, lon=121.0, class_name="car"), "only for relabel"),
    ("unknown-action", DecisionRequest("delete"), "action must be one of"),
]


@pytest.mark.parametrize(("request_", "expected"), [c[1:] for c in REJECT_CASES], ids=[c[0] for c in REJECT_CASES])
def test_decision_validation(factory: sessionmaker[Session], request_: DecisionRequest,
                             expected: tuple[str | None, str | None] | str) -> None:
    (vid,) = add_violations(factory, spread(1))
    with factory() as session:
        if isinstance(expected, str):
            with pytest.raises(InvalidDecisionError, match=expected):
                decide(session, vid, request_, actor="sam", may_override=True, taxonomy=TAXONOMY, config=CONFIG)
            return
        decision = decide(session, vid, request_, actor="sam", may_override=True, taxonomy=TAXONOMY,
                          config=CONFIG)
        session.commit()
        assert (decision.reason_code, decision.reason) == expected


def test_decided_violations_conflict_and_unknown_ones_are_not_found(factory: sessionmaker[Session]) -> None:
    (vid,) = add_violations(factory, spread(1))
    with factory() as session:
        decide(session, vid, APPROVE, actor="sam", may_override=True, taxonomy=TAXONOMY, config=CONFIG)
        session.commit()
        with pytest.raises(DecisionConflictError, match="already approved"):
            decide(session, vid, DecisionRequest("reject", reason_code="duplicate"), actor="sam",
                   may_override=True, taxonomy=TAXONOMY, config=CONFIG)
        session.rollback()
        with pytest.raises(NotFoundError, match="violation 999999 not found"):
            decide(session, 999999, APPROVE, actor="sam", may_override=True, taxonomy=TAXONOMY, config=CONFIG)


def test_relabel_to_another_family_moves_the_violation_to_another_case(factory: sessionmaker[Session]) -> None:
    vid, _ = add_violations(factory, [spread(1)[0], spread(1)[0]])
    claim(factory, "alice", 2, 10, now=T0)
    with factory() as session:
        old_case = session.get(Violation, vid).case_id  # type: ignore[union-attr]
        decide(session, vid, DecisionRequest("relabel", class_name="stall"), actor="alice", may_override=False,
               taxonomy=TAXONOMY, config=CONFIG, now=T0)
        session.commit()
        violation = session.get(Violation, vid)
        assert violation is not None and (violation.family, violation.event_code) == ("stall", "0502")
        assert violation.case_id != old_case and violation.lease_owner == "alice"  # keeps the lease
        assert session.get(Case, old_case).sightings == 1  # type: ignore[union-attr]
        assert session.get(Case, violation.case_id).family == "stall"  # type: ignore[union-attr]
        # The relabeller may approve at once: the lease is still theirs.
        decide(session, vid, APPROVE, actor="alice", may_override=False, taxonomy=TAXONOMY, config=CONFIG, now=T0)
        session.commit()


def test_move_changes_case_and_keeps_the_observation(factory: sessionmaker[Session]) -> None:
    here, there = spread(2, 0.01)
    vid, _ = add_violations(factory, [here, there])
    claim(factory, "alice", 1, 10, now=T0)
    with factory() as session:
        first_case = session.get(Violation, vid).case_id  # type: ignore[union-attr]
        assert there is not None
        decide(session, vid, DecisionRequest("move", lat=there[0] + 0.00001, lon=there[1]), actor="alice",
               may_override=False, taxonomy=TAXONOMY, config=CONFIG, now=T0)
        session.commit()
        violation = session.get(Violation, vid)
        assert violation is not None and violation.observation.lat == pytest.approx(here[0])  # type: ignore[index]
        target = session.get(Case, violation.case_id)
        assert target is not None and target.id != first_case and target.sightings == 2
        assert session.get(Case, first_case).sightings == 0  # type: ignore[union-attr]
        decision = session.scalars(select(ReviewDecision)).one()
        assert (decision.action, decision.new_lat) == ("move", pytest.approx(there[0] + 0.00001))
        assert violation.status == "pending" and violation.lease_owner == "alice"


# --- the decision table (moved from the store's former add_decision, now on decide) ------------------------

DECISION_TABLE = [
    # (start status, request, expected error or None, status after)
    ("pending", DecisionRequest("approve"), None, "approved"),
    ("pending", DecisionRequest("reject", note="parked legally, loading zone"), None, "rejected"),
    ("pending", DecisionRequest("reject"), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("reject", note="  "), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("approve", class_name="truck"), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("delete"), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("relabel", class_name="truck"), None, "pending"),
    ("pending", DecisionRequest("relabel", class_name="spaceship"), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("relabel", class_name="person"), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("relabel", class_name="car"), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("relabel"), InvalidDecisionError, "pending"),
    ("pending", DecisionRequest("relabel", class_name="truck", family="ads"), InvalidDecisionError, "pending"),
    ("approved", DecisionRequest("approve"), DecisionConflictError, "approved"),
    ("approved", DecisionRequest("reject", note="wrong"), DecisionConflictError, "approved"),
    ("rejected", DecisionRequest("approve"), DecisionConflictError, "rejected"),
    ("approved", DecisionRequest("relabel", class_name="truck"), None, "pending"),
    ("rejected", DecisionRequest("relabel", class_name="dining table"), None, "pending"),
]


def _decided(factory: sessionmaker[Session], status: str) -> int:
    (vid,) = add_violations(factory, spread(1))
    if status != "pending":
        with factory() as session:
            request = APPROVE if status == "approved" else DecisionRequest("reject", reason_code="compliant")
            decide(session, vid, request, actor="sam", may_override=True, taxonomy=TAXONOMY, config=CONFIG)
            session.commit()
    return vid


@pytest.mark.parametrize(("start", "request_", "error", "after"), DECISION_TABLE)
def test_decision_table(factory: sessionmaker[Session], start: str, request_: DecisionRequest,
                        error: type[Exception] | None, after: str) -> None:
    vid = _decided(factory, start)
    with factory() as session:
        if error is not None:
            with pytest.raises(error):
                decide(session, vid, request_, actor="alice", may_override=True, taxonomy=TAXONOMY, config=CONFIG)
            session.rollback()
        else:
            decision = decide(session, vid, request_, actor="alice", may_override=True, taxonomy=TAXONOMY,
                              config=CONFIG)
            session.commit()
            assert decision.id is not None and decision.action == request_.action and decision.reviewer == "alice"
        violation = session.get(Violation, vid, populate_existing=True)
        assert violation is not None and violation.status == after
        mine = session.scalars(select(ReviewDecision).where(ReviewDecision.violation_id == vid,
                                                            ReviewDecision.reviewer == "alice")).all()
        assert len(mine) == (0 if error else 1)


def test_relabel_takes_family_event_and_names_from_the_taxonomy(factory: sessionmaker[Session]) -> None:
    vid = _decided(factory, "approved")
    with factory() as session:
        decision = decide(session, vid, DecisionRequest("relabel", class_name="Dining Table",
                                                        note="it is a market table"),
                          actor="bob", may_override=True, taxonomy=TAXONOMY, config=CONFIG)
        session.commit()
        spec = TAXONOMY.classes["dining_table"]
        event = TAXONOMY.events[spec.event_code or ""]
        violation = session.get(Violation, vid, populate_existing=True)
        assert violation is not None
        assert (violation.class_name, violation.family, violation.event_code, violation.name_zh,
                violation.name_en) == ("dining_table", spec.family, event.code, event.name_zh, event.name_en)
        assert (decision.new_class_name, decision.new_family) == ("dining_table", spec.family)
        # The detector's class stays on the observation: retraining learns from the pair.
        assert violation.observation.class_name == "car"
        # Relabel reopens review; approving now works.
        decide(session, vid, APPROVE, actor="bob", may_override=True, taxonomy=TAXONOMY, config=CONFIG)
        session.commit()
        actions = session.scalars(select(ReviewDecision.action).where(ReviewDecision.violation_id == vid)
                                  .order_by(ReviewDecision.id)).all()
        assert actions[-2:] == ["relabel", "approve"]


def test_two_deciders_at_once_only_one_wins(factory: sessionmaker[Session]) -> None:
    (vid,) = add_violations(factory, spread(1))
    with factory() as first, factory() as second:
        decide(first, vid, APPROVE, actor="alice", may_override=True, taxonomy=TAXONOMY, config=CONFIG)
        first.commit()
        with pytest.raises(DecisionConflictError, match="already approved"):
            decide(second, vid, DecisionRequest("reject", note="no"), actor="bob", may_override=True,
                   taxonomy=TAXONOMY, config=CONFIG)
        second.rollback()
    with factory() as check:
        decisions = check.scalars(select(ReviewDecision).where(ReviewDecision.violation_id == vid)).all()
        assert [(d.action, d.reviewer) for d in decisions] == [("approve", "alice")]
