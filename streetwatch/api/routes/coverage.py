"""Patrol coverage over HTTP: per road segment and grid cell, one segment's passes, GeoJSON and CSV exports.

Who may look: supervisors and dispatchers (and admin). A dispatcher sees the roads and grid cells of
their own unit only (the H3 cells, which belong to no unit, all). Periods: ``since`` defaults to 30
days before ``until``, ``until`` to now; naive times are UTC. The road network, the stale-after days and
the grid cells are read once per app, from the settings it was created with (``roads_path``,
``workflow.coverage_path``, ``zones_paths``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from streetwatch.api.auth import AuthenticatedUser, Role, require_roles
from streetwatch.api.deps import SessionDep
from streetwatch.api.errors import unprocessable
from streetwatch.api.schemas import ErrorPublic, UtcQueryTime
from streetwatch.api.schemas.coverage import (
    CellCoveragePublic,
    CellsCoveragePublic,
    CoverageCounts,
    GridCoveragePublic,
    GridsCoveragePublic,
    PatrolPassPublic,
    RoadCoveragePublic,
    RoadsCoveragePublic,
    SegmentPassesPublic,
)
from streetwatch.casework.coverage import (
    CoverageConfig,
    CoverageReport,
    cell_row,
    coverage_report,
    grid_row,
    load_coverage_config,
    report_csv,
    report_geojson,
    road_row,
)
from streetwatch.core.vocab import CoverageKind, CoverageStatus
from streetwatch.store.coverage import passes_of
from streetwatch.store.models import utcnow

router = APIRouter(tags=["coverage"])
COVERAGE_ROLES = (Role.SUPERVISOR, Role.DISPATCHER)
DEFAULT_PERIOD = timedelta(days=30)


def get_coverage_config(request: Request) -> CoverageConfig:
    """The road network, stale-after days, H3 resolution and the zones' grid cells, read once per app on first use."""
    config: CoverageConfig | None = getattr(request.app.state, "coverage_config", None)
    if config is None:
        settings = request.app.state.settings
        config = load_coverage_config(settings.roads_path, settings.workflow.coverage_path,
                                      settings.coverage_h3_resolution, settings.coverage_match_m, settings.zones_paths)
        request.app.state.coverage_config = config
    return config


CoverageConfigDep = Annotated[CoverageConfig, Depends(get_coverage_config)]
CoverageUser = Annotated[AuthenticatedUser, Depends(require_roles(*COVERAGE_ROLES))]
Since = Annotated[UtcQueryTime | None, Query(description="Period start (default: 30 days before until).")]
Until = Annotated[UtcQueryTime | None, Query(description="Period end, and the time statuses are judged at "
                                                        "(default: now).")]
UnitFilter = Annotated[str | None, Query(max_length=255, description="Only the roads of this responsible unit.")]
StatusFilter = Annotated[CoverageStatus | None, Query(description="Only segments and cells with this status.")]
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"model": ErrorPublic, "description": "Another unit's roads."}}


def period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The period a request names (defaults filled in); 422 when it runs backwards."""
    end = until or utcnow()
    start = since or end - DEFAULT_PERIOD
    if start > end:
        raise unprocessable(f"since ({start.isoformat()}) must not be after until ({end.isoformat()})", "query",
                            "since" if since is not None else "until")
    return start, end


def scoped_unit(user: AuthenticatedUser, unit: str | None) -> str | None:
    """The unit a user's request is limited to (a dispatcher: their own)."""
    scope = user.unit_scope
    if scope is not None and unit is not None and unit != scope:
        raise HTTPException(403, f"you may only see the roads of your unit {scope!r}")
    return scope or unit


def report_for(session: SessionDep, config: CoverageConfig, user: AuthenticatedUser, since: datetime | None,
               until: datetime | None, unit: str | None = None,
               status: CoverageStatus | None = None) -> CoverageReport:
    """The coverage report a user may see for a request's period and filters."""
    start, end = period(since, until)
    return coverage_report(session, config, start, end, unit=scoped_unit(user, unit), status=status)


@router.get("/coverage/roads", summary="Coverage per road segment", response_model=RoadsCoveragePublic,
            responses=FORBIDDEN)
def roads(session: SessionDep, config: CoverageConfigDep, user: CoverageUser, since: Since = None,
          until: Until = None, unit: UnitFilter = None, status: StatusFilter = None) -> RoadsCoveragePublic:
    """Per segment of the city's road network: road chief (路长), unit, last patrolled, passes in the period,
    and its status (covered, stale, never). Empty without a road network (``STREETWATCH_ROADS_PATH``)."""
    report = report_for(session, config, user, since, until, unit, status)
    return RoadsCoveragePublic(since=report.since, until=report.until,
                               counts=CoverageCounts(**report.road_counts()),
                               items=[RoadCoveragePublic(**road_row(r)) for r in report.roads])


@router.get("/coverage/roads/{segment_id}", summary="One road segment's passes",
            response_model=SegmentPassesPublic, responses={**FORBIDDEN, 404: {"model": ErrorPublic}})
def road_passes(session: SessionDep, config: CoverageConfigDep, user: CoverageUser,
                segment_id: Annotated[str, Path(max_length=64)], since: Since = None,
                until: Until = None) -> SegmentPassesPublic:
    """A segment's coverage and each pass within the period (video, entered, left, metres driven), newest first."""
    segment = config.network.by_id.get(segment_id) if config.network is not None else None
    if segment is None:
        raise HTTPException(404, f"road segment {segment_id!r} is not in the road network")
    if not user.can_see_unit(segment.unit):
        raise HTTPException(403, f"road segment {segment_id!r} is not your unit's")
    start, end = period(since, until)
    report = coverage_report(session, config, start, end, unit=segment.unit)
    row = next(r for r in report.roads if r.segment.id == segment_id)
    rows = passes_of(session, CoverageKind.ROAD, segment_id, start, end)
    return SegmentPassesPublic(segment=RoadCoveragePublic(**road_row(row)),
                               passes=[PatrolPassPublic.model_validate(p) for p in rows])


@router.get("/coverage/cells", summary="Coverage per grid cell", response_model=CellsCoveragePublic)
def cells(session: SessionDep, config: CoverageConfigDep, user: CoverageUser, since: Since = None,
          until: Until = None, status: StatusFilter = None) -> CellsCoveragePublic:
    """Per H3 cell (网格) the roads cross (or a patrol drove through): last patrolled, passes, status."""
    report = report_for(session, config, user, since, until, None, status)
    items = []
    for cell in report.cells:
        values = cell_row(cell)
        items.append(CellCoveragePublic(**{k: values[k] for k in CellCoveragePublic.model_fields}))
    return CellsCoveragePublic(since=report.since, until=report.until, h3_resolution=config.h3_resolution,
                               counts=CoverageCounts(**report.cell_counts()), items=items)


@router.get("/coverage/grids", summary="Coverage per city grid cell (网格)", response_model=GridsCoveragePublic,
            responses=FORBIDDEN)
def grids(session: SessionDep, config: CoverageConfigDep, user: CoverageUser, since: Since = None,
          until: Until = None, unit: UnitFilter = None, status: StatusFilter = None) -> GridsCoveragePublic:
    """Per grid cell of the city's zones files (kind grid, ``STREETWATCH_ZONES_PATHS``): its unit, last patrolled,
    passes in the period, status (stale after the coverage file's cell_days). Empty without grid cells."""
    report = report_for(session, config, user, since, until, unit, status)
    items = []
    for grid in report.grids:
        values = grid_row(grid)
        items.append(GridCoveragePublic(**{k: values[k] for k in GridCoveragePublic.model_fields}))
    return GridsCoveragePublic(since=report.since, until=report.until, counts=CoverageCounts(**report.grid_counts()),
                               items=items)


@router.get("/coverage.geojson", summary="Coverage as GeoJSON", responses={
    **FORBIDDEN, 200: {"content": {"application/geo+json": {}}, "description": "A FeatureCollection."}})
def coverage_geojson(session: SessionDep, config: CoverageConfigDep, user: CoverageUser, since: Since = None,
                     until: Until = None, unit: UnitFilter = None, status: StatusFilter = None,
                     kind: Annotated[CoverageKind | None, Query(description="Only these features (default: all).")
                                     ] = None,
                     ) -> Response:
    """Segments as LineStrings, H3 cells and city grid cells as Polygons (WGS84 lon/lat), with their coverage."""
    report = report_for(session, config, user, since, until, unit, status)
    kinds = tuple(CoverageKind) if kind is None else (kind,)
    return JSONResponse(report_geojson(report, kinds), media_type="application/geo+json")


@router.get("/coverage.csv", summary="Coverage as CSV", responses={
    **FORBIDDEN, 200: {"content": {"text/csv": {}}, "description": "One row per segment, then per cell."}})
def coverage_csv(session: SessionDep, config: CoverageConfigDep, user: CoverageUser, since: Since = None,
                 until: Until = None, unit: UnitFilter = None, status: StatusFilter = None) -> Response:
    """One row per segment, grid and cell: kind, id, name, class, road chief, unit, status, last patrolled, passes."""
    report = report_for(session, config, user, since, until, unit, status)
    return Response(report_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="coverage.csv"'})
