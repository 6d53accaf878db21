"""Violations: list, read, and decide on them (approve, reject, relabel).

Reading needs any role; a dispatcher or field inspector sees only the violations whose case is
routed to their unit. Deciding needs reviewer, supervisor or admin, and is recorded under the
signed-in user's name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from streetwatch.api.auth import DECIDER_ROLES, AuthenticatedUser, CurrentUser, Role, require_roles
from streetwatch.api.deps import SessionDep, TaxonomyDep, check_family
from streetwatch.api.errors import BAD_BODY
from streetwatch.api.routes.workflow import WorkflowConfigDep
from streetwatch.api.schemas import (
    DbId,
    DecisionCreate,
    ErrorPublic,
    ViolationDetail,
    ViolationPublic,
    ViolationsPage,
    ViolationsQuery,
)
from streetwatch.casework import review_queue
from streetwatch.store import queries
from streetwatch.store.models import Violation

router = APIRouter(prefix="/violations", tags=["violations"])

ViolationId = Annotated[DbId, Path(description="The violation's id.")]


@router.get(
    "",
    summary="List violations",
    response_model=ViolationsPage,
    responses={400: {"model": ErrorPublic, "description": "A cursor this API did not produce."}},
)
def list_violations(
    session: SessionDep, taxonomy: TaxonomyDep, user: CurrentUser, query: Annotated[ViolationsQuery, Query()]
) -> ViolationsPage:
    """Violations newest first, filtered by family, review status, time seen, map box and the phone
    number an ad carried (`phone=13812345678`, separators allowed)."""
    check_family(taxonomy, query.family)
    rows, next_cursor = queries.list_violations(
        session, family=query.family, status=query.status, since=query.since, until=query.until,
        bbox=query.parsed_bbox(), limit=query.limit, cursor=query.cursor, unit=user.unit_scope,
        phone=query.phone,
    )
    return ViolationsPage(items=[ViolationPublic.from_row(v) for v in rows], next_cursor=next_cursor)


@router.get(
    "/{violation_id}",
    summary="Read one violation",
    response_model=ViolationDetail,
    responses={
        403: {"model": ErrorPublic, "description": "The violation's case is routed to another unit."},
        404: {"model": ErrorPublic, "description": "No violation has this id."},
    },
)
def get_violation(session: SessionDep, user: CurrentUser, violation_id: ViolationId) -> ViolationDetail:
    """A violation with its position, evidence, track, video and review decisions."""
    violation = queries.get_violation(session, violation_id)
    if violation is None:
        raise HTTPException(404, f"violation {violation_id} not found")
    check_violation_access(user, violation)
    return ViolationDetail.from_row(violation)


def check_violation_access(user: AuthenticatedUser, violation: Violation) -> None:
    """403 unless the user's unit may see the violation (its case's unit; none without a case)."""
    unit = violation.case.unit if violation.case is not None else None
    if not user.can_see_unit(unit):
        raise HTTPException(403, f"violation {violation.id} is not routed to your unit")


@router.post(
    "/{violation_id}/decision",
    summary="Decide on a violation",
    response_model=ViolationDetail,
    responses={
        403: {"model": ErrorPublic, "description": "Not a reviewer, supervisor or admin; or `reviewer` "
                                                  "names someone else."},
        404: {"model": ErrorPublic, "description": "No violation has this id."},
        409: {"model": ErrorPublic, "description": "Already decided, or you hold no live lease on it."},
        **BAD_BODY,
        422: {"description": "A reject without reason, a relabel to an unknown class, an unknown field."},
    },
)
def decide(
    session: SessionDep, taxonomy: TaxonomyDep, violation_id: ViolationId, decision: DecisionCreate,
    user: Annotated[AuthenticatedUser, Depends(require_roles(*DECIDER_ROLES))], config: WorkflowConfigDep,
) -> ViolationDetail:
    """Record a review decision and return the violation as it now stands.

    * `approve`: pending -> approved; files the violation's case (立案) and routes it to its unit.
    * `reject`: pending -> rejected; `reason_code` is false_detection, compliant, duplicate or
      unclear_image, `reason` an optional note (a note alone is accepted, stored without a code).
    * `relabel`: `class_name` becomes the violation's class, with the family, event code and
      names the taxonomy gives it; the violation goes back to `pending` (from any status) so
      the new label is reviewed, and to a case of the new family. Only violation classes are
      targets: to say an object is not a violation, reject it.
    * `move`: `lat`/`lon` become the violation's position (pending only); it joins the case there.

    A reviewer must hold a live lease on the violation (`POST /review/claim`), else 409;
    supervisors and admins may decide without one (recorded as an override in the audit log),
    and only they may relabel a decided violation. Approve, reject or move on a violation that
    is no longer pending answers 409: decisions are append-only and never overwrite one another.
    The decision is recorded under the signed-in user's name; `reviewer`, if sent, must be that name.
    """
    if decision.reviewer is not None and decision.reviewer != user.username:
        raise HTTPException(403, f"you are signed in as {user.username!r} and cannot decide as "
                                 f"{decision.reviewer!r}")
    request = review_queue.DecisionRequest(
        action=decision.action, reason_code=decision.reason_code, note=decision.reason,
        class_name=decision.class_name, lat=decision.lat, lon=decision.lon,
    )
    # Unknown violation 404, malformed decision 422, already decided or not leased 409: the app's
    # StreetwatchError handler answers each with its class's status.
    review_queue.decide(
        session, violation_id, request, actor=user.username, taxonomy=taxonomy, config=config,
        # Reviewers must hold a live lease (POST /review/claim); supervisors and admins may override.
        may_override=user.has_any_role(Role.SUPERVISOR),
    )
    session.commit()
    violation = queries.get_violation(session, violation_id)
    assert violation is not None  # just decided on it in this session
    return ViolationDetail.from_row(violation)
