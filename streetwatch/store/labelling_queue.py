"""The labelling queue: frames where a reviewer's label teaches the detector most, apart from the violations.

When a video is committed, :func:`sample_for_video` picks a few of its detections (in the same
transaction, so a video's items appear with its results or not at all):

- **low confidence**: detections the model was unsure of (confidence below
  ``LabellingPolicy.max_confidence``), least sure first: a label there moves the decision
  boundary most;
- **weak class**: detections of the classes the active model is weakest on (its card's mAP50 below
  a threshold: see :func:`streetwatch.pipeline.labelling.weak_classes_of`).

How many: ``share`` of what the queue holds for the video, so labelling stays a small, fixed
part of a reviewer's day: ``ceil(share / (1 - share) * violations)`` items for a video that put
``violations`` items in the review queue (share 0.1: one labelling item per nine violations), and
at least ``min_per_video`` when the video has candidates. One item per evidence frame; a
detection that is a violation (it is reviewed anyway) or whose frame already has labels is
never picked.

Items are leased like violations (one conditional UPDATE per item, so two reviewers never get
the same one) and end ``labelled`` (the frame has a label record written after the item was
created) or ``skipped``. An item never files a case: it lives in its own table and nothing in
the case workflow reads it. Each finish is an audit entry.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.vocab import LabellingReason, LabellingStatus
from streetwatch.store.audit import append_audit
from streetwatch.store.column_types import require_aware
from streetwatch.store.models import Observation, Violation, utcnow
from streetwatch.store.models_labels import LabellingItem, ReviewLabel
from streetwatch.store.queries import DecisionConflictError, InvalidDecisionError, NotFoundError

MAX_CLAIM: Final = 50
MAX_LEASE_MINUTES: Final = 240


@dataclass(frozen=True, slots=True)
class LabellingPolicy:
    """How many items the labelling queue takes from a video, and which.

    Attributes:
        share: The labelling items' share of what a video puts in the queues (0 turns the queue off).
        min_per_video: At least this many items from a video that has candidates.
        max_confidence: Detections below this confidence are low-confidence candidates.
        weak_classes: Classes the active model is weak on, with their mAP50 (lower is weaker).
    """

    share: float = 0.1
    min_per_video: int = 1
    max_confidence: float = 0.5
    weak_classes: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.share < 1.0:
            raise ValueError(f"labelling share must be in [0, 1), got {self.share}")
        if self.min_per_video < 0:
            raise ValueError(f"min_per_video must be zero or more, got {self.min_per_video}")

    def budget(self, violations: int, candidates: int) -> int:
        """Items to take from a video with ``violations`` queue items and ``candidates`` to choose from."""
        if self.share == 0.0 or candidates == 0:
            return 0
        wanted = math.ceil(self.share / (1.0 - self.share) * violations - 1e-9)
        return min(candidates, max(wanted, self.min_per_video))


@dataclass(frozen=True, slots=True)
class _Candidate:
    observation: Observation
    reason: LabellingReason
    score: float
    note: str


def _candidates(observations: Sequence[Observation], policy: LabellingPolicy) -> list[_Candidate]:
    """Each eligible detection once, with its best reason; most informative first."""
    found: list[_Candidate] = []
    for obs in observations:
        low = obs.confidence < policy.max_confidence
        weak = policy.weak_classes.get(obs.class_name)
        if not low and weak is None:
            continue
        # Uncertainty: 1 at the threshold of doubt, 0 at certainty; weakness: 1 - the class's mAP50.
        uncertainty = 1.0 - obs.confidence if low else 0.0
        weakness = 1.0 - weak if weak is not None else 0.0
        if low and uncertainty >= weakness:
            found.append(_Candidate(obs, LabellingReason.LOW_CONFIDENCE, round(uncertainty, 4),
                                    f"{obs.class_name} at confidence {obs.confidence:.2f}: the detector was unsure"))
        else:
            found.append(_Candidate(obs, LabellingReason.WEAK_CLASS, round(weakness, 4),
                                    f"{obs.class_name}: a class the model is weak on (mAP50 {weak:.2f})"))
    found.sort(key=lambda c: (-c.score, c.observation.id))
    return found


def sample_for_video(session: Session, video_id: int, policy: LabellingPolicy) -> list[LabellingItem]:
    """Add the video's labelling items (in the caller's transaction; nothing commits here).

    Call after the video's observations and violations are flushed. Returns the items added.
    """
    violations = session.scalar(
        select(func.count()).select_from(Violation).join(Observation).where(Observation.video_id == video_id)) or 0
    labelled_frames = select(ReviewLabel.frame_sha256)
    already = select(LabellingItem.observation_id)
    observations = session.scalars(
        select(Observation).outerjoin(Violation, Violation.observation_id == Observation.id).where(
            Observation.video_id == video_id, Violation.id.is_(None),
            Observation.frame_sha256.not_in(labelled_frames), Observation.id.not_in(already),
        ).order_by(Observation.id)
    ).all()
    picked: list[LabellingItem] = []
    frames: set[str] = set()
    candidates = _candidates(observations, policy)
    budget = policy.budget(int(violations), len({c.observation.frame_sha256 for c in candidates}))
    for candidate in candidates:
        if len(picked) >= budget:
            break
        obs = candidate.observation
        if obs.frame_sha256 in frames:
            continue
        frames.add(obs.frame_sha256)
        picked.append(LabellingItem(observation_id=obs.id, video_id=video_id, frame_sha256=obs.frame_sha256,
                                    reason=candidate.reason, score=candidate.score, note=candidate.note,
                                    status=LabellingStatus.PENDING))
    session.add_all(picked)
    return picked


def claim(factory: sessionmaker[Session], actor: str, count: int, minutes: float, *,
          now: datetime | None = None) -> list[int]:
    """Lease up to ``count`` pending items to ``actor`` for ``minutes`` (best first); the ids leased.

    Items ``actor`` already holds are renewed and count toward ``count``.
    """
    if not 1 <= count <= MAX_CLAIM:
        raise InvalidDecisionError(f"claim between 1 and {MAX_CLAIM} labelling items, not {count}")
    if not 0 < minutes <= MAX_LEASE_MINUTES:
        raise InvalidDecisionError(f"a lease lasts more than 0 and at most {MAX_LEASE_MINUTES} minutes, not {minutes}")
    now = require_aware(now or utcnow(), "now")
    until = now + timedelta(minutes=minutes)
    free = or_(LabellingItem.lease_owner.is_(None), LabellingItem.lease_expires_at < now)
    with factory.begin() as session:  # renew what I hold (a write first: on SQLite it takes the lock)
        session.execute(update(LabellingItem).where(
            LabellingItem.lease_owner == actor, LabellingItem.status == LabellingStatus.PENDING,
            LabellingItem.lease_expires_at >= now).values(lease_expires_at=until),
            execution_options={"synchronize_session": False})
    with factory() as session:
        taken = list(session.scalars(select(LabellingItem.id).where(
            LabellingItem.lease_owner == actor, LabellingItem.status == LabellingStatus.PENDING,
            LabellingItem.lease_expires_at == until).order_by(LabellingItem.id).limit(count)))
    tried = set(taken)
    while len(taken) < count:  # rounds of candidates: others may take some of each round meanwhile
        with factory() as session:
            candidates = list(session.scalars(
                select(LabellingItem.id).where(LabellingItem.status == LabellingStatus.PENDING, free,
                                               LabellingItem.id.not_in(tried) if tried else LabellingItem.id > 0)
                .order_by(LabellingItem.score.desc(), LabellingItem.id).limit(2 * (count - len(taken)) + 8)))
        if not candidates:
            break
        for item_id in candidates:
            tried.add(item_id)
            with factory.begin() as session:
                result = session.execute(
                    update(LabellingItem).where(LabellingItem.id == item_id,
                                                LabellingItem.status == LabellingStatus.PENDING, free)
                    .values(lease_owner=actor, lease_expires_at=until),
                    execution_options={"synchronize_session": False})
            if int(result.rowcount) == 1:  # type: ignore[attr-defined]
                taken.append(item_id)
                if len(taken) == count:
                    break
    return taken


def leased_to(session: Session, actor: str, *, now: datetime | None = None) -> list[LabellingItem]:
    """The pending items ``actor`` holds a live lease on, best first."""
    now = require_aware(now or utcnow(), "now")
    return list(session.scalars(
        select(LabellingItem).where(LabellingItem.status == LabellingStatus.PENDING,
                                    LabellingItem.lease_owner == actor, LabellingItem.lease_expires_at >= now)
        .order_by(LabellingItem.score.desc(), LabellingItem.id)))


def list_items(session: Session, *, status: LabellingStatus | None = None, limit: int = 100,
               after_id: int | None = None) -> list[LabellingItem]:
    """Items by id, optionally of one status, after ``after_id`` (a cursor)."""
    query = select(LabellingItem).order_by(LabellingItem.id).limit(limit)
    if status is not None:
        query = query.where(LabellingItem.status == status)
    if after_id is not None:
        query = query.where(LabellingItem.id > after_id)
    return list(session.scalars(query))


def counts(session: Session) -> dict[LabellingStatus, int]:
    """How many items are in each status."""
    rows = session.execute(select(LabellingItem.status, func.count()).group_by(LabellingItem.status)).all()
    found = {LabellingStatus(status): int(n) for status, n in rows}
    return {status: found.get(status, 0) for status in LabellingStatus}


def finish(session: Session, item_id: int, outcome: LabellingStatus, *, actor: str, may_override: bool = False,
           now: datetime | None = None) -> LabellingItem:
    """End an item as ``labelled`` or ``skipped`` (in the caller's transaction, audited).

    A reviewer must hold the item's live lease (a supervisor or admin may override). ``labelled``
    needs a label record on the item's frame written since the item was created.

    Raises:
        NotFoundError: No such item.
        InvalidDecisionError: Not ``labelled``/``skipped``, or ``labelled`` without a label on the frame.
        DecisionConflictError: The item is finished already, or ``actor`` holds no live lease on it.
    """
    if outcome not in (LabellingStatus.LABELLED, LabellingStatus.SKIPPED):
        raise InvalidDecisionError(f"a labelling item ends labelled or skipped, not {outcome}")
    now = require_aware(now or utcnow(), "now")
    # The write first (on SQLite it takes the lock), with every condition in its WHERE; a miss is diagnosed after.
    conditions = [LabellingItem.id == item_id, LabellingItem.status == LabellingStatus.PENDING]
    if outcome == LabellingStatus.LABELLED:
        conditions.append(select(ReviewLabel.id).where(ReviewLabel.frame_sha256 == LabellingItem.frame_sha256,
                                                       ReviewLabel.created_at >= LabellingItem.created_at).exists())
    values = {"status": outcome, "finished_by": actor, "finished_at": now, "lease_owner": None,
              "lease_expires_at": None}
    leased = (LabellingItem.lease_owner == actor) & (LabellingItem.lease_expires_at >= now)
    changed = int(session.execute(update(LabellingItem).where(*conditions, leased).values(**values))
                  .rowcount)  # type: ignore[attr-defined]
    held = changed == 1
    if not held and may_override:
        changed = int(session.execute(update(LabellingItem).where(*conditions).values(**values))
                      .rowcount)  # type: ignore[attr-defined]
    item = session.get(LabellingItem, item_id)
    if item is None:
        raise NotFoundError(f"labelling item {item_id} not found")
    if changed != 1:
        if item.status != LabellingStatus.PENDING:
            raise DecisionConflictError(f"labelling item {item_id} is {item.status} already (by {item.finished_by})")
        lease_live = item.lease_owner == actor and item.lease_expires_at is not None and item.lease_expires_at >= now
        if not (lease_live or may_override):
            raise DecisionConflictError(f"labelling item {item_id}: claim it first (POST /labelling/claim); "
                                        "your lease is missing or expired")
        raise InvalidDecisionError(f"labelling item {item_id}: its frame has no label yet; label it "
                                   f"(POST /observations/{item.observation_id}/labels) or skip it")
    append_audit(session, actor=actor, action=f"labelling.{outcome.value}", entity_type="labelling_item",
                 entity_id=item_id, details={"observation_id": item.observation_id, "frame_sha256": item.frame_sha256,
                                             "reason": item.reason.value, "override": not held}, now=now)
    session.refresh(item)
    return item


def pending_for_frames(session: Session, frames: Collection[str]) -> list[LabellingItem]:
    """Pending items on any of ``frames`` (the page finishes them when their frame is labelled)."""
    if not frames:
        return []
    return list(session.scalars(select(LabellingItem).where(LabellingItem.frame_sha256.in_(list(frames)),
                                                            LabellingItem.status == LabellingStatus.PENDING)))
