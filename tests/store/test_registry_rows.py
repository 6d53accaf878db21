"""The registry's rows: versions numbered in order (the first active), promotions and rollbacks audited and
walked back in order; the frozen set grows without duplicates; shadow runs stored and read back. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.core.vocab import ModelAction
from streetwatch.store import registry as rows
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.eval_set import add_eval_frames, frozen_frames, frozen_shas, frozen_video_ids
from streetwatch.store.labels import LabelRequest, labelled_frames, record_label
from streetwatch.store.model_files import StoredFile
from streetwatch.store.models_workflow import AuditEntry
from streetwatch.store.shadow import ShadowFrameDetections, ShadowRun, insert_shadow_run, shadow_frames
from tests.store.label_builders import T0, add_scene

TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def new_version(name: str, parent: int | None = None, digest: str = "a") -> rows.NewVersion:
    weights = StoredFile(f"{name}.pt", digest * 64)
    export = StoredFile(f"{name}.onnx", chr(ord(digest) + 1) * 64)
    return rows.NewVersion(name=name, folder=f"v-{name}", weights=weights, exports=[export],
                           runtime_file=export.file, parent_version=parent, train_command=f"train {name}")


def register(factory: sessionmaker[Session], name: str, parent: int | None = None, digest: str = "a") -> int:
    with factory.begin() as session:
        number = rows.next_version_number(session)
        return rows.add_version(session, new_version(name, parent, digest), version=number, actor="li.wei").version


def activate(factory: sessionmaker[Session], version: int, action: ModelAction, **extra: object) -> None:
    with factory.begin() as session:
        rows.activate(session, version, action=action, actor="supervisor", **extra)  # type: ignore[arg-type]


def active(factory: sessionmaker[Session]) -> int | None:
    with factory() as session:
        version = rows.active_version(session)
        return None if version is None else version.version


def test_versions_are_numbered_in_order_and_the_first_is_active(factory: sessionmaker[Session]) -> None:
    assert active(factory) is None
    assert [register(factory, "base"), register(factory, "city", 1, "c"), register(factory, "city2", 2, "e")] \
        == [1, 2, 3]
    assert active(factory) == 1
    with factory() as session:
        assert [(a.action, a.version) for a in rows.activations(session)] == [(ModelAction.REGISTER, 1)]
        assert rows.get_version(session, 2).label == "city@v2" and rows.get_version(session, 2).parent_version == 1
        assert rows.find_by_file_sha256(session, "d" * 64).version == 2  # type: ignore[union-attr]  # an export's
        assert rows.find_by_file_sha256(session, "0" * 64) is None
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.entity_id, e.details["active"]) for e in entries] == [
            ("model.register", "1", True), ("model.register", "2", False), ("model.register", "3", False)]
        assert entries[1].details["files"] == {"city.pt": "c" * 64, "city.onnx": "d" * 64}
        assert verify_audit_chain(session).ok


@pytest.mark.parametrize(("number", "change", "error", "message"), [
    (5, {}, ValueError, "not the next number"),
    (1, {"parent_version": 9}, rows.VersionNotFoundError, "no model version 9"),
    (1, {"runtime_file": "other.onnx"}, ValueError, "not one of the version's files"),
    (1, {"name": " "}, ValueError, "needs a name"),
])
def test_bad_registrations_write_nothing(factory: sessionmaker[Session], number: int, change: dict[str, Any],
                                         error: type[Exception], message: str) -> None:
    new = replace(new_version("base"), **change)
    with pytest.raises(error, match=message), factory.begin() as session:
        rows.add_version(session, new, version=number, actor="li.wei")
    with factory() as session:
        assert rows.all_versions(session) == [] and session.scalars(select(AuditEntry)).all() == []


def test_promotions_and_rollbacks_walk_back_in_order(factory: sessionmaker[Session]) -> None:
    for name in ("base", "city", "city2", "city3"):
        register(factory, name, digest=chr(ord("a") + 2 * len(name)))
    activate(factory, 2, ModelAction.PROMOTE, comparison={"regressions": []})
    activate(factory, 3, ModelAction.PROMOTE, forced=True, reason="night shift trial")
    with pytest.raises(rows.ActivationConflictError, match="active version already"):
        activate(factory, 3, ModelAction.PROMOTE)
    with pytest.raises(rows.ActivationConflictError, match="never active"):
        activate(factory, 4, ModelAction.ROLLBACK)
    with pytest.raises(rows.VersionNotFoundError):
        activate(factory, 7, ModelAction.PROMOTE)
    with pytest.raises(ValueError, match="promotes or rolls back"):
        activate(factory, 4, ModelAction.REGISTER)
    with pytest.raises(rows.ActivationConflictError, match="active version changed to 3"):
        activate(factory, 4, ModelAction.PROMOTE, expected_current=2)   # compared with 2, but 3 is active now
    walked = []
    with factory() as session:
        walked.append(rows.rollback_target(session))
    activate(factory, 2, ModelAction.ROLLBACK)
    with factory() as session:
        walked.append(rows.rollback_target(session))
    activate(factory, 1, ModelAction.ROLLBACK)
    with factory() as session:
        walked.append(rows.rollback_target(session))
        history = [(a.action, a.version, a.previous_version, a.forced) for a in rows.activations(session)]
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(["model.promote", "model.rollback"]))
                                .order_by(AuditEntry.id)).all()
        assert verify_audit_chain(session).ok
    assert walked == [2, 1, None]
    assert history == [(ModelAction.REGISTER, 1, None, False), (ModelAction.PROMOTE, 2, 1, False),
                       (ModelAction.PROMOTE, 3, 2, True), (ModelAction.ROLLBACK, 2, 3, False),
                       (ModelAction.ROLLBACK, 1, 2, False)]
    assert [(e.action, e.entity_id) for e in audit] == [("model.promote", "2"), ("model.promote", "3"),
                                                        ("model.rollback", "2"), ("model.rollback", "1")]
    assert audit[1].details["forced"] is True and audit[1].details["reason"] == "night shift trial"
    assert audit[0].details["comparison"] == {"regressions": []}
    assert active(factory) == 1


def test_the_frozen_set_grows_without_duplicates_and_reads_current_labels(factory: sessionmaker[Session]) -> None:
    scene = add_scene(factory)
    with factory.begin() as session:
        record_label(session, scene.car, LabelRequest("confirm"), actor="alice", taxonomy=TAXONOMY, now=T0)
        record_label(session, scene.bus, LabelRequest("confirm"), actor="alice", taxonomy=TAXONOMY, now=T0)
    with factory() as session:
        labelled = labelled_frames(session, T0)
    with factory.begin() as session:
        assert add_eval_frames(session, labelled[:1], actor="keeper", how="first freeze") == 1
    with factory.begin() as session:
        assert add_eval_frames(session, labelled, actor="keeper", how="--grow") == 1   # the first is there already
        assert add_eval_frames(session, labelled, actor="keeper", how="--grow") == 0
    with factory.begin() as session:  # a later correction on a frozen frame counts
        record_label(session, scene.bus, LabelRequest("relabel", class_name="truck"), actor="bob", taxonomy=TAXONOMY)
    with factory() as session:
        frames = frozen_frames(session)
        assert frozen_shas(session) == {scene.frame_one, scene.frame_two}
        assert frozen_video_ids(session) == {scene.video_id}
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "eval_set.add")).all()
        assert verify_audit_chain(session).ok
    assert [f.frame_sha256 for f in frames] == [scene.frame_one, scene.frame_two]
    assert [o.class_name for o in frames[1].labels.objects] == ["truck"]
    assert [(e.details["how"], e.details["size_after"]) for e in entries] == [("first freeze", 1), ("--grow", 2)]


def test_a_shadow_run_is_stored_apart_and_replaced_not_doubled(factory: sessionmaker[Session]) -> None:
    scene = add_scene(factory)
    register(factory, "base")
    run = ShadowRun("city@v1", 1, "streetwatch-v1", [
        ShadowFrameDetections(0, 0.0, [[1.0, 2.0, 3.0, 4.0, 0.5, "car"]], []),
        ShadowFrameDetections(3, 0.3, [], [[1.0, 2.0, 3.0, 4.0, 0.9, "bus"]])])
    for _ in range(2):
        with factory.begin() as session:
            assert insert_shadow_run(session, scene.video_id, run) == 2
    with factory() as session:
        by_name = shadow_frames(session, shadow_model="city@v1")
        by_version = shadow_frames(session, shadow_model="renamed", shadow_version=1)
        assert shadow_frames(session, shadow_model="other") == []
    assert [(r.frame_index, r.shadow_detections, r.active_detections) for r in by_name] == [
        (0, [[1.0, 2.0, 3.0, 4.0, 0.5, "car"]], []), (3, [], [[1.0, 2.0, 3.0, 4.0, 0.9, "bus"]])]
    assert [r.id for r in by_version] == [r.id for r in by_name]
