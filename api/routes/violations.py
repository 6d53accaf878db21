"""Violations: list, read, and decide on them (approve, reject, relabel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import SessionDep, TaxonomyDep, check_family
from api.schemas import (
    DecisionCreate,
    ErrorPublic,
    ViolationDetail,
    ViolationPublic,
    ViolationsPage,
    ViolationsQuery,
)
from pipeline.store import queries

router = APIRouter(prefix="/violations", tags=["violations"])

ViolationId = Annotated[int, Path(ge=1, description="The violation's id.")]


@router.get(
    "",
    summary="List violations",
    response_model=ViolationsPage,
    responses={400: {"model": ErrorPublic, "description": "A cursor this API did not produce."}},
)
def list_violations(
    session: SessionDep, taxonomy: TaxonomyDep, query: Annotated[ViolationsQuery, Query()]
) -> ViolationsPage:
    """Violations newest first, filtered by family, review status, time seen and map box."""
    check_family(taxonomy, query.family)
    rows, next_cursor = queries.list_violations(
        session, family=query.family, status=query.status, since=query.since, until=query.until,
        bbox=query.parsed_bbox(), limit=query.limit, cursor=query.cursor,
    )
    return ViolationsPage(items=[ViolationPublic.from_row(v) for v in rows], next_cursor=next_cursor)


@router.get(
    "/{violation_id}",
    summary="Read one violation",
    response_model=ViolationDetail,
    responses={404: {"model": ErrorPublic, "description": "No violation has this id."}},
)
def get_violation(session: SessionDep, violation_id: ViolationId) -> ViolationDetail:
    """A violation with its position, evidence, track, video and review decisions."""
    violation = queries.get_violation(session, violation_id)
    if violation is None:
        raise HTTPException(404, f"violation {violation_id} not found")
    return ViolationDetail.from_row(violation)


@router.post(
    "/{violation_id}/decision",
    summary="Decide on a violation",
    response_model=ViolationDetail,
    responses={
        404: {"model": ErrorPublic, "description": "No violation has this id."},
        409: {"model": ErrorPublic, "description": "Approve or reject on a violation already decided."},
        422: {"description": "A reject without reason, a relabel to an unknown class, an unknown field."},
    },
)
def decide(
    session: SessionDep, taxonomy: TaxonomyDep, violation_id: ViolationId, decision: DecisionCreate
) -> ViolationDetail:
    """Record a review decision and return the violation as it now stands.

    * `approve`: pending -> approved.
    * `reject`: pending -> rejected; `reason` is required.
    * `relabel`: `class_name` becomes the violation's class, with the family, event code and
      names the taxonomy gives it; the violation goes back to `pending` (from any status) so
      the new label is reviewed. Only violation classes are targets: to say an object is not a
      violation, reject it.

    Approve or reject on a violation that is no longer pending answers 409: decisions are
    append-only and never overwrite one another.
    """
    try:
        queries.add_decision(
            session, violation_id, decision.action, decision.reviewer, reason=decision.reason,
            new_class_name=decision.class_name, taxonomy=taxonomy,
        )
    except queries.NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except queries.InvalidDecisionError as exc:
        raise HTTPException(422, str(exc)) from None
    except queries.DecisionConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    session.commit()
    violation = queries.get_violation(session, violation_id)
    assert violation is not None  # just decided on it in this session
    return ViolationDetail.from_row(violation)
