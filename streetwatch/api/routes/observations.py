"""Observations: every tracked, geolocated object, violation or not.

Raw pipeline output, not routed to any unit: reviewers, supervisors and admins only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from streetwatch.api.auth import ALL_UNITS_ROLES, require_roles
from streetwatch.api.deps import SessionDep, TaxonomyDep, check_family
from streetwatch.api.schemas import ErrorPublic, ObservationPublic, ObservationsPage, ObservationsQuery
from streetwatch.store import queries

router = APIRouter(prefix="/observations", tags=["observations"],
                   dependencies=[Depends(require_roles(*ALL_UNITS_ROLES))])


@router.get(
    "",
    summary="List observations",
    response_model=ObservationsPage,
    responses={400: {"model": ErrorPublic, "description": "A cursor this API did not produce."}},
)
def list_observations(
    session: SessionDep, taxonomy: TaxonomyDep, query: Annotated[ObservationsQuery, Query()]
) -> ObservationsPage:
    """Observations newest first, filtered by family, detector class, location status, video,
    time seen and map box."""
    check_family(taxonomy, query.family)
    rows, next_cursor = queries.list_observations(
        session, family=query.family, class_name=query.class_name, location_status=query.location_status,
        video_id=query.video_id, since=query.since, until=query.until, bbox=query.parsed_bbox(),
        limit=query.limit, cursor=query.cursor,
    )
    return ObservationsPage(items=[ObservationPublic.from_row(o) for o in rows], next_cursor=next_cursor)
