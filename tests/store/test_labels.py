"""Label records: each kind is stored whole (box and class), checked, canonicalised and chained into the audit
log; a frame's records resolve to its objects; review decisions write their labels. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.review_queue import DecisionRequest, claim, decide
from streetwatch.core.labels import LabelError, ObjectRef
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.labels import LabelRequest, labelled_frames, read_frame, record_label
from streetwatch.store.models_labels import ReviewLabel
from streetwatch.store.models_workflow import AuditEntry
from streetwatch.store.queries import NotFoundError
from tests.casework.store_builders import CONFIG
from tests.store.label_builders import BUS_BOX, CAR_BOX, MODEL, PERSON_BOX, T0, LabelScene, add_scene

TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)
NEW_BOX = (110.0, 60.0, 310.5, 210.25)
MISSED_BOX = (500.0, 200.0, 560.0, 300.0)


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def scene(factory: sessionmaker[Session]) -> LabelScene:
    return add_scene(factory)


def label(factory: sessionmaker[Session], observation_id: int, request: LabelRequest, *, actor: str = "alice",
          minutes: int = 0) -> ReviewLabel:
    with factory() as session:
        row = record_label(session, observation_id, request, actor=actor, taxonomy=TAXONOMY,
                           now=T0 + timedelta(minutes=minutes))
        session.commit()
        return row


# (request on the car, stored kind, class and box)
ONE_RECORD = [
    (LabelRequest("confirm"), "car", CAR_BOX),
    (LabelRequest("adjust_box", box=NEW_BOX), "car", NEW_BOX),
    (LabelRequest("relabel", class_name="Truck"), "truck", CAR_BOX),           # case-insensitive, canonical
    (LabelRequest("add_missed", box=MISSED_BOX, class_name="trashbag"), "trash_bag", MISSED_BOX),  # an alias
    (LabelRequest("empty_frame"), None, None),
]


@pytest.mark.parametrize(("request_", "class_name", "box"), ONE_RECORD, ids=[r[0].kind for r in ONE_RECORD])
def test_each_kind_is_stored_whole_and_audited(
    factory: sessionmaker[Session], scene: LabelScene, request_: LabelRequest, class_name: str | None,
    box: tuple[float, ...] | None,
) -> None:
    row = label(factory, scene.car, request_, actor="li.wei")
    with factory() as session:
        stored = session.get(ReviewLabel, row.id)
        assert stored is not None
        assert (stored.kind, stored.class_name, stored.box) == (request_.kind, class_name, box)
        assert (stored.frame_sha256, stored.video_id, stored.observation_id) == (scene.frame_one, scene.video_id,
                                                                               scene.car)
        assert (stored.model_name, stored.reviewer, stored.created_at) == (MODEL, "li.wei", T0)
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.action, entry.entity_type, entry.entity_id, entry.actor) == (
            f"label.{request_.kind}", "review_label", str(row.id), "li.wei")
        assert entry.details["box"] == (list(box) if box else None) and entry.details["class_name"] == class_name
        assert entry.details["frame_sha256"] == scene.frame_one and entry.details["model_name"] == MODEL
        assert verify_audit_chain(session).ok


def test_a_frame_resolves_to_the_latest_word_on_each_object(factory: sessionmaker[Session], scene: LabelScene) -> None:
    label(factory, scene.car, LabelRequest("adjust_box", box=NEW_BOX), minutes=1)
    label(factory, scene.car, LabelRequest("relabel", class_name="truck"), minutes=2)  # keeps the adjusted box
    missed = label(factory, scene.person, LabelRequest("add_missed", box=MISSED_BOX, class_name="bin"), minutes=3)
    label(factory, scene.person, LabelRequest("confirm"), minutes=4)
    # Correcting the drawn object: through its add_missed record, from any observation of the frame.
    label(factory, scene.car, LabelRequest("relabel", class_name="trash_bag", target_label_id=missed.id), minutes=5)
    with factory() as session:
        frame = read_frame(session, scene.frame_one)
    got = {o.ref: (o.class_name, o.box, o.kind) for o in frame.labels.objects}
    assert got == {
        ObjectRef("detection", scene.car): ("truck", NEW_BOX, "relabel"),
        ObjectRef("missed", missed.id): ("trash_bag", MISSED_BOX, "relabel"),
        ObjectRef("detection", scene.person): ("person", PERSON_BOX, "confirm"),
    }
    assert not frame.labels.empty and len(frame.records) == 5


def test_an_empty_frame_clears_what_came_before_it_only(factory: sessionmaker[Session], scene: LabelScene) -> None:
    label(factory, scene.car, LabelRequest("confirm"), minutes=1)
    empty = label(factory, scene.person, LabelRequest("empty_frame"), minutes=2)
    with factory() as session:
        cleared = read_frame(session, scene.frame_one).labels
    assert cleared.empty and cleared.objects == () and cleared.label_ids == (empty.id,)
    after = label(factory, scene.person, LabelRequest("add_missed", box=MISSED_BOX, class_name="bin"), minutes=3)
    with factory() as session:
        frame = read_frame(session, scene.frame_one).labels
        bus_frame = read_frame(session, scene.frame_two).labels
    assert not frame.empty and [(o.class_name, o.box) for o in frame.objects] == [("bin", MISSED_BOX)]
    assert frame.label_ids == (empty.id, after.id)
    assert bus_frame.objects == () and not bus_frame.empty  # the other frame never heard of it


def test_labelled_frames_picks_frames_by_recent_records_and_resolves_all_of_them(
    factory: sessionmaker[Session], scene: LabelScene,
) -> None:
    label(factory, scene.car, LabelRequest("adjust_box", box=NEW_BOX), minutes=0)
    label(factory, scene.person, LabelRequest("confirm"), minutes=60)
    label(factory, scene.bus, LabelRequest("confirm"), minutes=1)
    with factory() as session:
        recent = labelled_frames(session, T0 + timedelta(minutes=30))
        every = labelled_frames(session, T0)
    assert [f.frame_sha256 for f in recent] == [scene.frame_one]
    (one,) = recent
    assert {(o.class_name, o.box) for o in one.labels.objects} == {("car", NEW_BOX), ("person", PERSON_BOX)}
    assert (one.width, one.height, one.video_id, one.model_names) == (640, 360, scene.video_id, (MODEL,))
    assert [f.frame_sha256 for f in every] == [scene.frame_one, scene.frame_two]
    assert [(o.class_name, o.box) for o in every[1].labels.objects] == [("bus", BUS_BOX)]


# (request, observation: "car" or "bus", error type, message pattern)
BAD_REQUESTS = [
    (LabelRequest("approve"), "car", LabelError, "kind must be one of confirm, adjust_box"),
    (LabelRequest("adjust_box"), "car", LabelError, "adjust_box needs box"),
    (LabelRequest("relabel"), "car", LabelError, "relabel needs class_name"),
    (LabelRequest("add_missed", box=MISSED_BOX), "car", LabelError, "add_missed needs class_name"),
    (LabelRequest("confirm", class_name="car"), "car", LabelError, "class_name is not for confirm"),
    (LabelRequest("adjust_box", box=NEW_BOX, class_name="bus"), "car", LabelError, "class_name is not for adjust_box"),
    (LabelRequest("relabel", class_name="bus", box=NEW_BOX), "car", LabelError, "box is not for relabel"),
    (LabelRequest("empty_frame", box=NEW_BOX), "car", LabelError, "box is not for empty_frame"),
    (LabelRequest("empty_frame", target_label_id=1), "car", LabelError, "target_label_id is not for empty_frame"),
    (LabelRequest("relabel", class_name="car"), "car", LabelError, "already labelled 'car'"),
    (LabelRequest("relabel", class_name="spaceship"), "car", LabelError, "unknown class 'spaceship'.*trash_bag"),
    (LabelRequest("adjust_box", box=(10, 10, 700, 20)), "car", LabelError, r"outside the 640x360 frame"),
    (LabelRequest("adjust_box", box=(10, -1, 70, 20)), "car", LabelError, r"outside the 640x360 frame"),
    (LabelRequest("adjust_box", box=(70, 10, 10, 20)), "car", LabelError, r"x1 < x2 and y1 < y2"),
    (LabelRequest("adjust_box", box=(10, 10, 10.5, 20)), "car", LabelError, r"at least one pixel"),
    (LabelRequest("adjust_box", box=(10, 10, float("nan"), 20)), "car", LabelError, r"four finite numbers"),
    (LabelRequest("confirm", target_label_id=999), "car", LabelError, "not an add_missed record on this frame"),
    (LabelRequest("confirm"), "nobody", NotFoundError, "observation 999999 not found"),
]


@pytest.mark.parametrize(("request_", "who", "error", "message"), BAD_REQUESTS,
                         ids=[f"{i}-{r[0].kind}" for i, r in enumerate(BAD_REQUESTS)])
def test_bad_requests_are_refused_and_leave_nothing(
    factory: sessionmaker[Session], scene: LabelScene, request_: LabelRequest, who: str, error: type[Exception],
    message: str,
) -> None:
    observation_id = {"car": scene.car, "nobody": 999_999}[who]
    with factory() as session, pytest.raises(error, match=message):
        record_label(session, observation_id, request_, actor="alice", taxonomy=TAXONOMY, now=T0)
    with factory() as session:
        assert session.scalars(select(ReviewLabel)).all() == []
        assert session.scalars(select(AuditEntry)).all() == []


def test_a_target_on_another_frame_is_refused(factory: sessionmaker[Session], scene: LabelScene) -> None:
    missed = label(factory, scene.bus, LabelRequest("add_missed", box=MISSED_BOX, class_name="bin"))
    confirm = label(factory, scene.bus, LabelRequest("confirm", target_label_id=missed.id))
    assert (confirm.class_name, confirm.box) == ("bin", MISSED_BOX)
    with factory() as session, pytest.raises(LabelError, match=re.escape(f"target_label_id {missed.id} is not")):
        record_label(session, scene.car, LabelRequest("confirm", target_label_id=missed.id), actor="alice",
                     taxonomy=TAXONOMY)


def test_approve_confirms_and_relabel_relabels_in_the_decisions_transaction(
    factory: sessionmaker[Session], scene: LabelScene,
) -> None:
    label(factory, scene.car, LabelRequest("adjust_box", box=NEW_BOX))
    claim(factory, "alice", 1, 10, now=T0)
    with factory() as session:
        relabel = decide(session, scene.car_violation, DecisionRequest("relabel", class_name="truck"), actor="alice",
                         may_override=False, taxonomy=TAXONOMY, config=CONFIG, now=T0 + timedelta(minutes=1))
        approve = decide(session, scene.car_violation, DecisionRequest("approve"), actor="alice", may_override=False,
                         taxonomy=TAXONOMY, config=CONFIG, now=T0 + timedelta(minutes=2))
        session.commit()
        rows = session.scalars(select(ReviewLabel).order_by(ReviewLabel.id)).all()
        assert [(r.kind, r.class_name, r.box, r.decision_id) for r in rows] == [
            ("adjust_box", "car", NEW_BOX, None),
            ("relabel", "truck", NEW_BOX, relabel.id),   # one act: the decision and the label
            ("confirm", "truck", NEW_BOX, approve.id),   # an approval confirms the object as it now stands
        ]
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["label.adjust_box", "violation.relabel", "label.relabel", "violation.approve",
                           "label.confirm"]
        assert verify_audit_chain(session).ok


def test_a_relabel_decision_to_the_class_already_labelled_confirms(
    factory: sessionmaker[Session], scene: LabelScene,
) -> None:
    label(factory, scene.car, LabelRequest("relabel", class_name="truck"))
    with factory() as session:  # a supervisor, without a lease
        decision = decide(session, scene.car_violation, DecisionRequest("relabel", class_name="truck"), actor="boss",
                          may_override=True, taxonomy=TAXONOMY, config=CONFIG, now=T0 + timedelta(minutes=1))
        session.commit()
        last = session.scalars(select(ReviewLabel).order_by(ReviewLabel.id.desc())).first()
    assert last is not None and (last.kind, last.class_name, last.decision_id) == ("confirm", "truck", decision.id)


def test_reject_writes_no_label(factory: sessionmaker[Session], scene: LabelScene) -> None:
    with factory() as session:
        decide(session, scene.car_violation, DecisionRequest("reject", reason_code="compliant"), actor="boss",
               may_override=True, taxonomy=TAXONOMY, config=CONFIG, now=T0)
        session.commit()
        assert session.scalars(select(ReviewLabel)).all() == []
