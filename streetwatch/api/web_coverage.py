"""The coverage page (``/ui/coverage``): the road network on the map, coloured by patrol coverage.

Segments are drawn green (covered), amber (stale: not patrolled within their road class's days) or
red (never patrolled), over the grid in the same colours, lighter (the city's grid cells, 网格, when the
zones files have some; H3 cells otherwise); a legend, the counts and
a table of the gaps (stale and never patrolled segments, with their road chief and unit) follow,
with links to the CSV and GeoJSON exports. Supervisors and dispatchers (a dispatcher sees the roads
of their own unit).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from streetwatch.api.deps import SessionDep
from streetwatch.api.routes.coverage import COVERAGE_ROLES, CoverageConfigDep, report_for
from streetwatch.api.web import PageUser, _render, _require
from streetwatch.casework.coverage import grid_row, report_geojson, road_row
from streetwatch.core.vocab import CoverageStatus
from streetwatch.store.models import utcnow

router = APIRouter(prefix="/ui", include_in_schema=False)
STATUS_COLOURS = {CoverageStatus.COVERED.value: "#16a34a", CoverageStatus.STALE.value: "#f59e0b",
                  CoverageStatus.NEVER.value: "#dc2626"}


@router.get("/coverage")
def coverage_page(request: Request, session: SessionDep, config: CoverageConfigDep, user: PageUser,
                  days: Annotated[int, Query(ge=1, le=366)] = 30) -> HTMLResponse:
    """The map of coverage for the last ``days`` days, judged now."""
    _require(user, COVERAGE_ROLES)
    until = utcnow()
    report = report_for(session, config, user, until - timedelta(days=days), until)
    gaps = [road_row(r) for r in report.roads if r.status != CoverageStatus.COVERED]
    gaps.sort(key=lambda row: (row["status"] != CoverageStatus.NEVER.value, row["last_patrolled"] or "", row["id"]))
    grid_gaps = sorted((grid_row(g) for g in report.grids if g.status != CoverageStatus.COVERED),
                       key=lambda row: (row["status"] != CoverageStatus.NEVER.value, row["last_patrolled"] or "",
                                        row["id"]))
    return _render(request, "coverage.html", {
        "user": user, "page": "coverage", "days": days, "report": report, "gaps": gaps, "grid_gaps": grid_gaps,
        "road_counts": report.road_counts(), "cell_counts": report.cell_counts(), "grid_counts": report.grid_counts(),
        "has_grids": bool(config.grids), "colours": STATUS_COLOURS,
        "geojson": json.dumps(report_geojson(report), ensure_ascii=False), "has_network": config.network is not None,
    })
