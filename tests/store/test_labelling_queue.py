"""The labelling queue: which detections a committed video adds, leases, outcomes, and never a case."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.labels import LabelError
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.core.vocab import LabelKind, LabellingReason, LabellingStatus
from streetwatch.store import labelling_queue, labels
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.labelling_queue import LabellingPolicy
from streetwatch.store.models import Case, Observation, utcnow
from streetwatch.store.models_labels import LabellingItem
from streetwatch.store.queries import DecisionConflictError, InvalidDecisionError
from streetwatch.store.writes import Claimed, claim_video, commit_video_results
from tests.store.builders import jpeg, observation, results, video_meta, violation

SessionFactory = sessionmaker[Session]
TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)


def commit(factory: SessionFactory, tmp_path: Path, confidences: list[float], *, violations: int = 0,
           classes: list[str] | None = None, policy: LabellingPolicy | None = None, name: str = "v.mp4",
           shared_frame: bool = False) -> int:
    """Commit a video whose first ``violations`` observations are violations, one per confidence."""
    claim = claim_video(factory, video_meta(name), worker="w")
    assert isinstance(claim, Claimed)
    frame = jpeg(7, 48, 64) if shared_frame else None
    items = []
    for i, conf in enumerate(confidences):
        obs = replace(observation(i + 1, seed=100 * len(name) + i, frame=frame),
                      confidence=conf, class_name=(classes or ["car"] * len(confidences))[i])
        items.append((obs, violation() if i < violations else None))
    commit_video_results(factory, claim.video_id, "w", results(items), EvidenceStore(tmp_path / "ev"),
                         labelling=policy or LabellingPolicy())
    return claim.video_id


def items_of(factory: SessionFactory) -> list[LabellingItem]:
    with factory() as session:
        return list(session.scalars(select(LabellingItem).order_by(LabellingItem.score.desc())))


@pytest.mark.parametrize(
    ("share", "minimum", "violations", "candidates", "expected"),
    [
        (0.1, 1, 0, 5, 1),     # no violations: the floor
        (0.1, 1, 9, 5, 1),     # 0.1 / 0.9 * 9 = 1
        (0.1, 1, 10, 5, 2),    # 1.11 -> 2
        (0.25, 0, 30, 50, 10),  # a quarter of 40 items in all
        (0.1, 1, 90, 3, 3),    # never more than there are candidates
        (0.1, 5, 0, 0, 0),     # nothing to choose from
        (0.0, 3, 100, 10, 0),  # share 0: the queue is off
    ],
)
def test_budget_is_a_share_of_the_queue(share: float, minimum: int, violations: int, candidates: int,
                                        expected: int) -> None:
    policy = LabellingPolicy(share=share, min_per_video=minimum)
    assert policy.budget(violations, candidates) == expected


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_policy_refuses_a_share_outside_zero_to_one(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        LabellingPolicy(share=share)


def test_least_sure_detections_come_first_and_violations_are_never_items(
        db_session_factory: SessionFactory, tmp_path: Path) -> None:
    # 18 violations at 0.3 (reviewed anyway), then detections of 0.9, 0.45, 0.3, 0.35: budget 0.1/0.9*18 = 2.
    commit(db_session_factory, tmp_path, [0.3] * 18 + [0.9, 0.45, 0.3, 0.35], violations=18)
    found = items_of(db_session_factory)
    with db_session_factory() as session:
        confidences = [session.get(Observation, item.observation_id).confidence for item in found]  # type: ignore[union-attr]
        violation_ids = set(session.scalars(select(Observation.id).where(Observation.violation.has())))
    assert confidences == [0.3, 0.35]
    assert all(item.reason == LabellingReason.LOW_CONFIDENCE for item in found)
    assert not violation_ids & {item.observation_id for item in found}
    assert "confidence 0.30" in found[0].note


def test_weak_classes_are_sampled_even_when_sure(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    policy = LabellingPolicy(min_per_video=2, weak_classes={"garbage_pile": 0.26})
    commit(db_session_factory, tmp_path, [0.9, 0.95, 0.8], classes=["car", "garbage_pile", "car"], policy=policy)
    found = items_of(db_session_factory)
    assert len(found) == 1  # the cars at 0.8 and 0.9 are neither unsure nor of a weak class
    assert found[0].reason == LabellingReason.WEAK_CLASS and "mAP50 0.26" in found[0].note


def test_one_item_per_frame_and_labelled_frames_are_skipped(db_session_factory: SessionFactory,
                                                            tmp_path: Path) -> None:
    commit(db_session_factory, tmp_path, [0.3, 0.31, 0.32], policy=LabellingPolicy(min_per_video=3),
           shared_frame=True)
    assert len(items_of(db_session_factory)) == 1


def test_the_queue_off_adds_nothing(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    commit(db_session_factory, tmp_path, [0.3, 0.3], policy=LabellingPolicy(share=0.0))
    assert items_of(db_session_factory) == []


def _label(factory: SessionFactory, observation_id: int, actor: str = "ana") -> None:
    with factory() as session:
        labels.record_label(session, observation_id, labels.LabelRequest(LabelKind.EMPTY_FRAME), actor=actor,
                            taxonomy=TAXONOMY)
        session.commit()


def test_claim_label_finish_and_audit(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    commit(db_session_factory, tmp_path, [0.3, 0.4], policy=LabellingPolicy(min_per_video=2))
    first, second = labelling_queue.claim(db_session_factory, "ana", 5, 15)
    assert labelling_queue.claim(db_session_factory, "bo", 5, 15) == []  # ana holds both
    with db_session_factory() as session:
        item = session.get(LabellingItem, first)
        assert item is not None
        observation_id = item.observation_id
        with pytest.raises(InvalidDecisionError, match="no label yet"):
            labelling_queue.finish(session, first, LabellingStatus.LABELLED, actor="ana")
        session.rollback()
        with pytest.raises(DecisionConflictError, match="claim it first"):
            labelling_queue.finish(session, first, LabellingStatus.SKIPPED, actor="bo")
        session.rollback()
    _label(db_session_factory, observation_id)
    with db_session_factory() as session:
        done = labelling_queue.finish(session, first, LabellingStatus.LABELLED, actor="ana")
        skipped = labelling_queue.finish(session, second, LabellingStatus.SKIPPED, actor="ana")
        session.commit()
        assert (done.status, done.finished_by, done.lease_owner) == (LabellingStatus.LABELLED, "ana", None)
        assert skipped.status == LabellingStatus.SKIPPED
        with pytest.raises(DecisionConflictError, match="labelled already"):
            labelling_queue.finish(session, first, LabellingStatus.SKIPPED, actor="ana")
        session.rollback()
        assert labelling_queue.counts(session) == {LabellingStatus.PENDING: 0, LabellingStatus.LABELLED: 1,
                                                   LabellingStatus.SKIPPED: 1}
        assert verify_audit_chain(session).ok
        assert session.scalar(select(func.count()).select_from(Case)) == 0  # labelling never files a case


def test_a_supervisor_may_finish_without_a_lease(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    commit(db_session_factory, tmp_path, [0.3])
    (item,) = items_of(db_session_factory)
    with db_session_factory() as session:
        labelling_queue.finish(session, item.id, LabellingStatus.SKIPPED, actor="sue", may_override=True)
        session.commit()
    assert items_of(db_session_factory)[0].finished_by == "sue"


def test_an_expired_lease_goes_back_to_the_queue(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    commit(db_session_factory, tmp_path, [0.3])
    past = utcnow() - timedelta(hours=1)
    assert len(labelling_queue.claim(db_session_factory, "ana", 1, 15, now=past)) == 1
    assert len(labelling_queue.claim(db_session_factory, "bo", 1, 15)) == 1  # ana's lease ran out


def test_racing_claimers_never_share_an_item(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    commit(db_session_factory, tmp_path, [0.3 + 0.01 * i for i in range(8)],
           policy=LabellingPolicy(min_per_video=8), classes=["car"] * 8)
    got: dict[str, list[int]] = {}

    def take(name: str) -> None:
        got[name] = labelling_queue.claim(db_session_factory, name, 3, 15)

    threads = [threading.Thread(target=take, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [i for ids in got.values() for i in ids]
    assert len(taken) == len(set(taken)) == 8


def test_claim_limits(db_session_factory: SessionFactory) -> None:
    with pytest.raises(InvalidDecisionError, match="claim between"):
        labelling_queue.claim(db_session_factory, "ana", 0, 15)
    with pytest.raises(InvalidDecisionError, match="lease lasts"):
        labelling_queue.claim(db_session_factory, "ana", 1, 0)


def test_an_invalid_label_does_not_finish_the_item(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    commit(db_session_factory, tmp_path, [0.3])
    (item,) = items_of(db_session_factory)
    with db_session_factory() as session, pytest.raises(LabelError):
        labels.record_label(session, item.observation_id, labels.LabelRequest(LabelKind.RELABEL, class_name="dragon"),
                            actor="ana", taxonomy=TAXONOMY)
    labelling_queue.claim(db_session_factory, "ana", 1, 15)
    with db_session_factory() as session, pytest.raises(InvalidDecisionError):
        labelling_queue.finish(session, item.id, LabellingStatus.LABELLED, actor="ana")
