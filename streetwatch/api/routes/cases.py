"""Cases: one per real-world problem, gathering every violation that is a sighting of it.

Reading needs any role; a dispatcher or field inspector sees only the cases routed to their unit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from streetwatch.api.auth import CurrentUser
from streetwatch.api.deps import SessionDep, TaxonomyDep, check_family
from streetwatch.api.schemas import CaseDetailPublic, CasePublic, CasesPage, CasesQuery, DbId, ErrorPublic
from streetwatch.store import queries

router = APIRouter(prefix="/cases", tags=["cases"])


@router.get(
    "",
    summary="List cases",
    response_model=CasesPage,
    responses={400: {"model": ErrorPublic, "description": "A cursor this API did not produce."}},
)
def list_cases(
    session: SessionDep, taxonomy: TaxonomyDep, user: CurrentUser, query: Annotated[CasesQuery, Query()]
) -> CasesPage:
    """Cases newest first, filtered by family, status, grid, overdue, when last seen (`since`/`until`) and map box."""
    check_family(taxonomy, query.family)
    rows, next_cursor = queries.list_cases(
        session, family=query.family, status=query.status, since=query.since, until=query.until,
        bbox=query.parsed_bbox(), limit=query.limit, cursor=query.cursor, unit=user.unit_scope, grid=query.grid,
        overdue=query.overdue,
    )
    return CasesPage(items=[CasePublic.from_row(c, taxonomy) for c in rows], next_cursor=next_cursor)


@router.get(
    "/{case_id}",
    summary="Read one case",
    response_model=CaseDetailPublic,
    responses={
        403: {"model": ErrorPublic, "description": "The case is routed to another unit."},
        404: {"model": ErrorPublic, "description": "No case has this id."},
    },
)
def get_case(
    session: SessionDep, taxonomy: TaxonomyDep, user: CurrentUser,
    case_id: Annotated[DbId, Path(description="The case's id.")],
) -> CaseDetailPublic:
    """A case with its violations counted by review status and its newest violations."""
    detail = queries.get_case(session, case_id)
    if detail is None:
        raise HTTPException(404, f"case {case_id} not found")
    if not user.can_see_unit(detail.case.unit):
        raise HTTPException(403, f"case {case_id} is not routed to your unit")
    return CaseDetailPublic.from_detail(detail, taxonomy)
