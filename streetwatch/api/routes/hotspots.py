"""Hot spots over HTTP: the heat layer's points and the ranked recurring places (see ``casework.hotspots``).

Any signed-in role may read them; a dispatcher or field inspector sees their own unit's cases only
(violations with no case, or cases with no unit, only the city-wide roles see), as on ``/kpis``.
Naive times are in the workflow calendar's time zone; the period defaults to the 30 days before now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from streetwatch.api.auth import AuthenticatedUser, Role, require_roles
from streetwatch.api.deps import SessionDep, TaxonomyDep, check_family
from streetwatch.api.errors import unprocessable
from streetwatch.api.routes.workflow import WorkflowConfigDep
from streetwatch.api.schemas import ErrorPublic, QueryTime
from streetwatch.casework.hotspots import DEFAULT_RESOLUTION, heat_points, recurring_places
from streetwatch.store.models import utcnow

router = APIRouter(tags=["workflow"])
READERS = (Role.SUPERVISOR, Role.DISPATCHER, Role.FIELD_INSPECTOR, Role.REVIEWER)
Reader = Annotated[AuthenticatedUser, Depends(require_roles(*READERS))]
Family = Annotated[str | None, Query(max_length=32, description="Only this violation family.")]
Since = Annotated[QueryTime | None, Query(description="Period start (default: 30 days before until).")]
Until = Annotated[QueryTime | None, Query(description="Period end, exclusive (default: now).")]


class HotspotsPublic(BaseModel):
    """The heat layer: ``[lat, lon, weight]`` points, as Leaflet.heat takes them."""

    since: datetime
    until: datetime
    family: str | None
    unit: str | None
    kind: Literal["violations", "cases"]
    count: int = Field(description="Number of points.")
    truncated: bool = Field(description="More points than ``limit`` matched: the newest violations, or the "
                                        "cases with the most sightings, are given.")
    points: list[list[float]] = Field(description="``[lat, lon, weight]`` each.")


class RecurringPlacePublic(BaseModel):
    """One H3 cell and family, ranked by score (recurrences + cases beyond the first)."""

    rank: int
    cell: str = Field(description="H3 cell index.")
    family: str
    lat: float = Field(description="The cell's centre.")
    lon: float
    cases: int = Field(description="Cases of the family in the cell with a sighting in the period.")
    recurrences: int = Field(description="Sightings that came back after the recurrence gap or after closing.")
    reopened: int = Field(description="Closed cases seen again in the period.")
    score: int
    previous_score: int = Field(description="The same place's score in the previous period.")
    trend: int = Field(description="score - previous_score (positive: worse).")
    unit: str | None
    grid_id: str | None


class RecurringPlacesPublic(BaseModel):
    """Recurring places of a period, worst first, with the trend against the previous period."""

    since: datetime
    until: datetime
    previous_since: datetime
    previous_until: datetime
    resolution: int
    family: str | None
    unit: str | None
    items: list[RecurringPlacePublic]


def _period(config: WorkflowConfigDep, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    zone = config.deadlines.calendar.timezone
    end = utcnow() if until is None else (until.replace(tzinfo=zone) if until.tzinfo is None else until)
    start = end - timedelta(days=30) if since is None else (
        since.replace(tzinfo=zone) if since.tzinfo is None else since)
    if start >= end:
        raise unprocessable(f"since ({start.isoformat()}) must be before until ({end.isoformat()})", "query",
                            "since" if since is not None else "until")
    return start, end


def _unit(user: AuthenticatedUser) -> str | None:
    return user.unit_scope  # None for city-wide roles; 403 for a unit-scoped user without a unit


@router.get("/hotspots", summary="Heat map points", response_model=HotspotsPublic,
            responses={403: {"model": ErrorPublic, "description": "A unit-scoped user without a unit."}})
def hotspots(
    session: SessionDep, config: WorkflowConfigDep, taxonomy: TaxonomyDep, user: Reader, family: Family = None,
    since: Since = None, until: Until = None,
    kind: Annotated[Literal["violations", "cases"], Query(
        description="violations: one point per violation seen in the period; cases: one per case, weighted "
                    "by its sightings in the period.")] = "violations",
    limit: Annotated[int, Query(ge=1, le=200_000, description="At most this many points.")] = 50_000,
) -> HotspotsPublic:
    """Points for the cases map's heat layer (rejected violations left out)."""
    check_family(taxonomy, family)
    start, end = _period(config, since, until)
    unit = _unit(user)
    points = heat_points(session, since=start, until=end, family=family, unit=unit, kind=kind, limit=limit + 1)
    return HotspotsPublic(since=start, until=end, family=family, unit=unit, kind=kind, count=min(len(points), limit),
                          truncated=len(points) > limit, points=[[p.lat, p.lon, p.weight] for p in points[:limit]])


@router.get("/hotspots/recurring", summary="Recurring places, ranked", response_model=RecurringPlacesPublic,
            responses={403: {"model": ErrorPublic, "description": "A unit-scoped user without a unit."}})
def recurring(
    session: SessionDep, config: WorkflowConfigDep, taxonomy: TaxonomyDep, user: Reader, family: Family = None,
    since: Since = None, until: Until = None,
    resolution: Annotated[int, Query(ge=5, le=12, description="H3 resolution of the places (9: ~175 m edge).")]
    = DEFAULT_RESOLUTION,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many places.")] = 20,
) -> RecurringPlacesPublic:
    """H3 cells where cases of one family recurred or reopened most, with the trend against the period of the
    same length just before."""
    check_family(taxonomy, family)
    start, end = _period(config, since, until)
    unit = _unit(user)
    previous = (start - (end - start), start)
    try:
        places = recurring_places(session, since=start, until=end, previous=previous, family=family, unit=unit,
                                  resolution=resolution, limit=limit)
    except ValueError as exc:  # e.g. a resolution h3 refuses: a bad query, in FastAPI's 422 shape
        raise unprocessable(str(exc), "query", "resolution") from None
    return RecurringPlacesPublic(
        since=start, until=end, previous_since=previous[0], previous_until=previous[1], resolution=resolution,
        family=family, unit=unit,
        items=[RecurringPlacePublic(rank=i, cell=p.cell, family=p.family, lat=p.lat, lon=p.lon, cases=p.cases,
                                    recurrences=p.recurrences, reopened=p.reopened, score=p.score,
                                    previous_score=p.previous_score, trend=p.trend, unit=p.unit, grid_id=p.grid_id)
               for i, p in enumerate(places, 1)])
