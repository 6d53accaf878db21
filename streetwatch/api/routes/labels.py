"""Label records on evidence frames: reviewers correct the detector, one append-only record at a time.

Writing needs reviewer, supervisor or admin (as deciding does) but no lease: a label is about the
frame, not the violation's review state. Reading needs a city-wide role, as observations do. A
relabel or approve decision (``POST /violations/{id}/decision``) writes its label record itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from streetwatch.api.auth import ALL_UNITS_ROLES, DECIDER_ROLES, AuthenticatedUser, require_roles
from streetwatch.api.deps import SessionDep, TaxonomyDep
from streetwatch.api.errors import BAD_BODY
from streetwatch.api.routes.evidence import SHA256_PATTERN
from streetwatch.api.schemas import DbId, ErrorPublic
from streetwatch.api.schemas.labels import FrameLabelsPublic, LabelCreate, LabelPublic
from streetwatch.store import labels

router = APIRouter(tags=["labels"])

ObservationId = Annotated[DbId, Path(description="The observation whose evidence frame is labelled.")]
Labeller = Annotated[AuthenticatedUser, Depends(require_roles(*DECIDER_ROLES))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorPublic, "description": "No observation has this id."}}


@router.post(
    "/observations/{observation_id}/labels",
    summary="Label an observation's evidence frame",
    status_code=201,
    response_model=LabelPublic,
    responses={
        403: {"model": ErrorPublic, "description": "Not a reviewer, supervisor or admin."},
        **NOT_FOUND,
        **BAD_BODY,
        422: {"description": "Fields that do not fit the kind, an unknown class, a relabel to the class the object "
                             "has, a box outside the frame, a target that is not a drawn object of this frame."},
    },
)
def add_label(
    session: SessionDep, taxonomy: TaxonomyDep, observation_id: ObservationId, body: LabelCreate, user: Labeller,
) -> LabelPublic:
    """Record one correction of the detector on the observation's evidence frame, under your name.

    * `confirm`: the detection is right as it stands (an approval confirms too).
    * `adjust_box`: its box is `box`; the class stays.
    * `relabel`: its class is `class_name` (a class or alias of the taxonomy); the box stays. To
      change the violation's class too, relabel the violation instead: that writes this record.
    * `add_missed`: an object the detector missed on this frame, at `box`, of `class_name`.
    * `empty_frame`: nothing to find on this frame; it clears every earlier record on it.

    confirm, adjust_box and relabel speak of the observation's detection, or with `target_label_id`
    of an object drawn by that add_missed record. Records are append-only: the latest word on
    each object wins. The record stores the object's whole box and class (the model that was
    reviewed, the frame's hash) and is chained into the audit log.
    """
    request = labels.LabelRequest(kind=body.kind, box=body.box, class_name=body.class_name,
                                  target_label_id=body.target_label_id)
    row = labels.record_label(session, observation_id, request, actor=user.username, taxonomy=taxonomy)
    session.commit()
    return LabelPublic.from_row(row)


@router.get(
    "/observations/{observation_id}/labels",
    summary="Labels of an observation's evidence frame",
    response_model=FrameLabelsPublic,
    responses=NOT_FOUND,
    dependencies=[Depends(require_roles(*ALL_UNITS_ROLES))],
)
def observation_labels(session: SessionDep, observation_id: ObservationId) -> FrameLabelsPublic:
    """Every label record on the observation's evidence frame (of any of its observations), oldest
    first, and the objects they add up to."""
    _, frame = labels.read_observation_frame(session, observation_id)
    return FrameLabelsPublic.of(frame)


@router.get(
    "/evidence/{sha256}/labels",
    summary="Labels of an evidence frame",
    response_model=FrameLabelsPublic,
    responses={404: {"model": ErrorPublic, "description": "No evidence has this hash."}},
    dependencies=[Depends(require_roles(*ALL_UNITS_ROLES))],
)
def frame_labels(
    session: SessionDep,
    sha256: Annotated[str, Path(pattern=SHA256_PATTERN, description="sha256 of the frame, lowercase hex.")],
) -> FrameLabelsPublic:
    """Every label record on the frame, oldest first, and the objects they add up to."""
    return FrameLabelsPublic.of(labels.read_frame(session, sha256))
