"""Label records on evidence frames: write one (checked and audited), read a frame's, gather labelled frames.

:func:`record_label` is the only writer. It checks the request against the kind (which fields each
kind takes), the class against the taxonomy (names and aliases; the canonical name is stored) and
the box against the frame's size, fills in what the record does not change from the object's
current state (a confirm keeps the box and class, an adjust_box the class, a relabel the box), then
inserts the row and appends an audit entry (``label.<kind>``) in the caller's transaction. The caller
commits. Review decisions write records through it too: an approval confirms the detection, a
relabel relabels it (``streetwatch.casework.review_queue``).

What a frame's records add up to is :func:`streetwatch.core.labels.resolve_frame`'s business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from streetwatch.core.labels import (
    Box,
    FrameLabels,
    LabelError,
    LabelRecord,
    ObjectRef,
    check_box,
    check_kind_fields,
    resolve_frame,
)
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import LabelKind
from streetwatch.store.audit import append_audit, take_writer_lock
from streetwatch.store.column_types import require_aware
from streetwatch.store.models import Evidence, Observation, utcnow
from streetwatch.store.models_labels import ReviewLabel
from streetwatch.store.queries import NotFoundError

__all__ = ["LabelError", "LabelRequest", "LabelledFrame", "ReviewLabel", "label_decision", "labelled_frames",
           "read_frame", "read_observation_frame", "record_label", "resolved_frames"]

_FRAMES_PER_QUERY: Final = 500  # frames whose records one query loads: far below SQLite's parameter limit


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """What a reviewer says about an observation's evidence frame.

    Attributes:
        kind: confirm, adjust_box, relabel, add_missed or empty_frame.
        box: adjust_box, add_missed: ``(x1, y1, x2, y2)`` in the frame's pixels.
        class_name: relabel, add_missed: a class (or alias) of the taxonomy.
        target_label_id: confirm / adjust_box / relabel of an object a reviewer drew: the add_missed
            record that drew it (default: the observation's own detection).
    """

    kind: str
    box: Box | None = None
    class_name: str | None = None
    target_label_id: int | None = None


@dataclass(frozen=True, slots=True)
class FrameRead:
    """An evidence frame with its label records (oldest first) and what they add up to."""

    frame: Evidence
    records: list[ReviewLabel]
    labels: FrameLabels


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """A labelled evidence frame and where it came from, for a dataset export.

    Attributes:
        frame_sha256: The frame's evidence hash (its file in the evidence folder).
        width: Its width in pixels (0 if an old row did not record it).
        height: Its height in pixels.
        video_id: The video it is a frame of (the lowest, should two videos share an identical frame).
        video_sha256: That video's hash: dataset splits are grouped by it.
        pts_s: The frame's presentation time in the video.
        seen_at: Its UTC time, if the video's clock is known.
        model_names: The detectors whose output was reviewed on it.
        labels: What its records add up to.
    """

    frame_sha256: str
    width: int
    height: int
    video_id: int
    video_sha256: str
    pts_s: float
    seen_at: datetime | None
    model_names: tuple[str, ...]
    labels: FrameLabels


def as_record(row: ReviewLabel) -> LabelRecord:
    """The resolver's view of a stored row."""
    return LabelRecord(row.id, LabelKind(row.kind), row.observation_id, row.target_label_id, row.class_name, row.box)


def _canonical_class(name: str, taxonomy: Taxonomy | None) -> str:
    if taxonomy is None:
        raise LabelError("a class can only be checked against the taxonomy, and none was given")
    spec = taxonomy.lookup(name)
    if spec is None:
        raise LabelError(f"unknown class {name!r}; the taxonomy's classes are: {', '.join(taxonomy.classes)}")
    return spec.name


def frame_records(session: Session, frame_sha256: str) -> list[ReviewLabel]:
    """The label records of one evidence frame, oldest first."""
    return list(session.scalars(select(ReviewLabel).where(ReviewLabel.frame_sha256 == frame_sha256)
                                .order_by(ReviewLabel.id)))


def _target(session: Session, target_id: int, frame_sha256: str) -> ReviewLabel:
    target = session.get(ReviewLabel, target_id)
    if target is None or target.kind != LabelKind.ADD_MISSED or target.frame_sha256 != frame_sha256:
        raise LabelError(f"target_label_id {target_id} is not an add_missed record on this frame")
    return target


def _current_object(session: Session, observation: Observation, target_label_id: int | None) -> tuple[str, Box]:
    """The class and box an object has now: its latest record's, else what the detector or the drawing gave."""
    frame_sha = observation.frame_sha256
    target = None if target_label_id is None else _target(session, target_label_id, frame_sha)
    ref = ObjectRef("detection", observation.id) if target is None else ObjectRef("missed", target.id)
    current = resolve_frame(as_record(r) for r in frame_records(session, frame_sha)).find(ref)
    if current is not None:
        return current.class_name, current.box
    if target is not None and target.class_name is not None and target.box is not None:
        return target.class_name, target.box
    x1, y1, x2, y2 = (float(v) for v in observation.bbox)  # the detector's box, as it was stored
    return observation.class_name, (x1, y1, x2, y2)


def record_label(
    session: Session,
    observation_id: int,
    request: LabelRequest,
    *,
    actor: str,
    taxonomy: Taxonomy | None,
    decision_id: int | None = None,
    now: datetime | None = None,
) -> ReviewLabel:
    """Write one label record on the observation's evidence frame and audit it. The caller commits.

    Args:
        session: An open session; its first statement here is a write (the audit log's lock).
        observation_id: The observation whose evidence frame is labelled.
        request: What the reviewer says.
        actor: Who says it (their username).
        taxonomy: To check (and canonicalise) a class name; may be None for confirm, adjust_box and
            empty_frame.
        decision_id: The review decision this record is part of, if any.
        now: The record's time (default: now).

    Returns:
        The new row (flushed, with its id).

    Raises:
        LabelError: Fields that do not fit the kind, an unknown class, a relabel to the class the
            object has, a box outside the frame, a target that is not a drawn object of this frame.
        NotFoundError: No such observation.
    """
    kind = check_kind_fields(request.kind, box=request.box is not None, class_name=request.class_name is not None,
                             target=request.target_label_id is not None)
    if not actor.strip():
        raise LabelError("actor must not be blank")
    now = require_aware(now or utcnow())
    take_writer_lock(session)
    observation = session.get(Observation, observation_id, options=[joinedload(Observation.video)])
    if observation is None:
        raise NotFoundError(f"observation {observation_id} not found")
    frame_sha = observation.frame_sha256
    frame = session.get(Evidence, frame_sha)
    width, height = (frame.width, frame.height) if frame is not None else (0, 0)
    class_name: str | None = None
    box: Box | None = None
    if kind != LabelKind.EMPTY_FRAME:
        class_name, box = _current_object(session, observation, request.target_label_id)
        if request.class_name is not None:
            new_class = _canonical_class(request.class_name, taxonomy)
            if kind == LabelKind.RELABEL and new_class == class_name:
                raise LabelError(f"the object is already labelled {new_class!r}")
            class_name = new_class
        if request.box is not None:
            box = check_box(request.box, width, height)
    row = ReviewLabel(
        frame_sha256=frame_sha, video_id=observation.video_id, observation_id=observation_id,
        target_label_id=request.target_label_id, kind=kind, class_name=class_name,
        x1=box[0] if box else None, y1=box[1] if box else None, x2=box[2] if box else None,
        y2=box[3] if box else None, model_name=observation.video.model_name, decision_id=decision_id,
        reviewer=actor, created_at=now,
    )
    session.add(row)
    session.flush()
    details: dict[str, Any] = {"observation_id": observation_id, "frame_sha256": frame_sha,
                               "video_id": observation.video_id, "kind": kind, "class_name": class_name,
                               "box": list(box) if box else None, "target_label_id": request.target_label_id,
                               "model_name": row.model_name, "decision_id": decision_id}
    append_audit(session, actor=actor, action=f"label.{kind}", entity_type="review_label", entity_id=row.id,
                 details=details, now=now)
    return row


def label_decision(
    session: Session, observation_id: int, new_class: str | None, *, actor: str, taxonomy: Taxonomy | None,
    decision_id: int, now: datetime,
) -> ReviewLabel:
    """The label record a review decision writes on its violation's detection, in the decision's transaction.

    An approval (``new_class`` None) confirms the detection as it now stands; a relabel to
    ``new_class`` relabels it, or confirms it when its label already has that class (relabelled on
    the frame before the violation was).
    """
    request = LabelRequest(LabelKind.CONFIRM)
    if new_class is not None:
        observation = session.get(Observation, observation_id)
        if observation is None:
            raise NotFoundError(f"observation {observation_id} not found")
        if _current_object(session, observation, None)[0] != new_class:
            request = LabelRequest(LabelKind.RELABEL, class_name=new_class)
    return record_label(session, observation_id, request, actor=actor, taxonomy=taxonomy, decision_id=decision_id,
                        now=now)


def read_frame(session: Session, frame_sha256: str) -> FrameRead:
    """An evidence frame's label records and what they add up to.

    Raises:
        NotFoundError: No evidence has this hash.
    """
    frame = session.get(Evidence, frame_sha256)
    if frame is None:
        raise NotFoundError(f"evidence {frame_sha256} not found")
    records = frame_records(session, frame_sha256)
    return FrameRead(frame, records, resolve_frame(as_record(r) for r in records))


def read_observation_frame(session: Session, observation_id: int) -> tuple[Observation, FrameRead]:
    """The observation and its evidence frame's labels.

    Raises:
        NotFoundError: No such observation.
    """
    observation = session.get(Observation, observation_id, options=[joinedload(Observation.video)])
    if observation is None:
        raise NotFoundError(f"observation {observation_id} not found")
    return observation, read_frame(session, observation.frame_sha256)


def labelled_frames(session: Session, since: datetime) -> list[LabelledFrame]:
    """Every evidence frame with a label record written at or after ``since``, with all of its records resolved.

    A frame is chosen by its recent records but resolved from all of them, so an older correction
    on it still counts. Frames come in order of their first record.
    """
    since = require_aware(since, "since")
    chosen = list(session.scalars(select(ReviewLabel.frame_sha256).where(ReviewLabel.created_at >= since)
                                  .group_by(ReviewLabel.frame_sha256).order_by(func.min(ReviewLabel.id))))
    return resolved_frames(session, chosen)


def resolved_frames(session: Session, chosen: Sequence[str]) -> list[LabelledFrame]:
    """The given evidence frames (by sha256, in that order) with all of their label records resolved.

    A frame without label records is left out.
    """
    frames: list[LabelledFrame] = []
    for start in range(0, len(chosen), _FRAMES_PER_QUERY):
        chunk = chosen[start:start + _FRAMES_PER_QUERY]
        rows = session.scalars(select(ReviewLabel).where(ReviewLabel.frame_sha256.in_(chunk))
                               .order_by(ReviewLabel.id)).all()
        by_frame: dict[str, list[ReviewLabel]] = {sha: [] for sha in chunk}
        for row in rows:
            by_frame[row.frame_sha256].append(row)
        frames.extend(_labelled_frame(session, sha, records) for sha, records in by_frame.items() if records)
    return frames


def _labelled_frame(session: Session, frame_sha256: str, records: Sequence[ReviewLabel]) -> LabelledFrame:
    first = min(records, key=lambda r: (r.video_id, r.id))
    observation = session.get(Observation, first.observation_id, options=[joinedload(Observation.video)])
    frame = session.get(Evidence, frame_sha256)
    assert observation is not None and frame is not None  # foreign keys
    models = tuple(sorted({r.model_name for r in records if r.model_name}))
    return LabelledFrame(frame_sha256, frame.width, frame.height, observation.video_id, observation.video.sha256,
                         observation.best_pts_s, observation.seen_at, models,
                         resolve_frame(as_record(r) for r in records))
