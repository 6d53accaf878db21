"""Exports: violations and cases as GeoJSON (RFC 7946, WGS84 lon/lat) or CSV, streamed.

Filters are those of the lists (family, status, since/until, bbox) plus unit and grid, and
``overdue`` for cases. A dispatcher or field inspector exports only their own unit's rows.
Rows are read in pages by id, oldest first, so an export of any size keeps memory flat.
CSV cells that a spreadsheet would run as a formula (starting with = + - @) get a leading '.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.api.auth import AuthenticatedUser, CurrentUser
from streetwatch.api.deps import TaxonomyDep, check_family
from streetwatch.api.schemas.exports import CasesExportQuery, ViolationsExportQuery, _ExportQuery
from streetwatch.core.vocab import CaseStatus
from streetwatch.store.models import Case, Violation, utcnow
from streetwatch.store.queries import BBox

router = APIRouter(prefix="/exports", tags=["exports"])
PAGE: Final = 500
CASE_COLUMNS: Final = ("id", "status", "family", "event_code", "lat", "lon", "h3_cell", "grid_id", "unit",
                       "sightings", "recurrence_count", "first_seen", "last_seen", "filed_at", "dispatched_at",
                       "handle_due", "close_due", "handled_at", "closed_at", "created_at", "updated_at")
VIOLATION_COLUMNS: Final = ("id", "status", "family", "class_name", "event_code", "name_zh", "name_en", "reason",
                            "rule", "rule_version", "seen_at", "lat", "lon", "case_id", "created_at", "updated_at")
# Cases past a deadline: not handled by handle_due, or not closed by close_due.
OVERDUE_STATUSES: Final = (CaseStatus.DISPATCHED, CaseStatus.HANDLED, CaseStatus.CHECKED)


def _place_time(stmt: Select[Any], model: type[Case] | type[Violation], column: Any,
                query: _ExportQuery) -> Select[Any]:
    if query.family is not None:
        stmt = stmt.where(model.family == query.family)
    if query.since is not None:
        stmt = stmt.where(column >= query.since)
    if query.until is not None:
        stmt = stmt.where(column < query.until)
    if query.bbox is not None:
        box = BBox.parse(query.bbox)
        stmt = stmt.where(model.lon.between(box.min_lon, box.max_lon), model.lat.between(box.min_lat, box.max_lat))
    return stmt


def _unit(user: AuthenticatedUser, unit: str | None) -> str | None:
    scope = user.unit_scope
    if scope is not None and unit is not None and unit != scope:
        raise HTTPException(403, f"you may only export your unit {scope!r}")
    return scope or unit


def overdue_clause(now: datetime) -> Any:
    """SQL: the case is past its handling deadline while dispatched, or past its closing deadline while open."""
    return or_(and_(Case.status == CaseStatus.DISPATCHED, Case.handle_due < now),
               and_(Case.status.in_(OVERDUE_STATUSES), Case.close_due < now))


def _violations_stmt(query: ViolationsExportQuery, unit: str | None) -> Select[Any]:
    stmt = _place_time(select(Violation), Violation, Violation.seen_at, query)
    if query.status is not None:
        stmt = stmt.where(Violation.status == query.status)
    if unit is not None or query.grid is not None:
        cases = select(Case.id)
        if unit is not None:
            cases = cases.where(Case.unit == unit)
        if query.grid is not None:
            cases = cases.where(Case.grid_id == query.grid)
        stmt = stmt.where(Violation.case_id.in_(cases))
    return stmt


def _cases_stmt(query: CasesExportQuery, unit: str | None, now: datetime) -> Select[Any]:
    stmt = _place_time(select(Case), Case, Case.last_seen, query)
    if query.status is not None:
        stmt = stmt.where(Case.status == query.status)
    if unit is not None:
        stmt = stmt.where(Case.unit == unit)
    if query.grid is not None:
        stmt = stmt.where(Case.grid_id == query.grid)
    if query.overdue is not None:
        clause = overdue_clause(now)
        stmt = stmt.where(clause if query.overdue else ~clause)
    return stmt


def _rows(factory: sessionmaker[Session], stmt: Select[Any], id_column: Any) -> Iterator[Any]:
    last = 0
    while True:
        with factory() as session:  # its own session: the response streams after the request's is closed
            page = list(session.scalars(stmt.where(id_column > last).order_by(id_column).limit(PAGE)))
        if not page:
            return
        yield from page
        last = page[-1].id


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()  # aware UTC from the store
    return value


def _values(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    return {name: _text(getattr(row, name)) for name in columns}


def _geojson(rows: Iterator[Any], columns: Sequence[str]) -> Iterator[str]:
    yield '{"type":"FeatureCollection","features":['
    for i, row in enumerate(rows):
        geometry = (None if row.lat is None or row.lon is None
                    else {"type": "Point", "coordinates": [row.lon, row.lat]})
        feature = {"type": "Feature", "id": row.id, "geometry": geometry, "properties": _values(row, columns)}
        yield ("," if i else "") + json.dumps(feature, ensure_ascii=False, separators=(",", ":"))
    yield "]}\n"


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def _csv(rows: Iterator[Any], columns: Sequence[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = _values(row, columns)
        writer.writerow([_safe(values[name]) for name in columns])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _respond(kind: Literal["geojson", "csv"], name: str, rows: Iterator[Any], columns: Sequence[str]
             ) -> StreamingResponse:
    render: Callable[[Iterator[Any], Sequence[str]], Iterator[str]] = _geojson if kind == "geojson" else _csv
    media = "application/geo+json" if kind == "geojson" else "text/csv; charset=utf-8"
    return StreamingResponse(render(rows, columns), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'})


def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def _export_violations(request: Request, taxonomy: TaxonomyDep, user: AuthenticatedUser,
                       query: ViolationsExportQuery, kind: Literal["geojson", "csv"]) -> StreamingResponse:
    check_family(taxonomy, query.family)
    stmt = _violations_stmt(query, _unit(user, query.unit))
    return _respond(kind, "violations", _rows(_factory(request), stmt, Violation.id), VIOLATION_COLUMNS)


def _export_cases(request: Request, taxonomy: TaxonomyDep, user: AuthenticatedUser, query: CasesExportQuery,
                  kind: Literal["geojson", "csv"]) -> StreamingResponse:
    check_family(taxonomy, query.family)
    stmt = _cases_stmt(query, _unit(user, query.unit), utcnow())
    return _respond(kind, "cases", _rows(_factory(request), stmt, Case.id), CASE_COLUMNS)


_GEOJSON: dict[int | str, dict[str, Any]] = {200: {"content": {"application/geo+json": {}}}}
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get("/violations.geojson", summary="Violations as GeoJSON", response_class=StreamingResponse,
            responses=_GEOJSON)
def violations_geojson(request: Request, taxonomy: TaxonomyDep, user: CurrentUser,
                       query: Annotated[ViolationsExportQuery, Query()]) -> StreamingResponse:
    """A FeatureCollection of Points (null geometry for violations with no position)."""
    return _export_violations(request, taxonomy, user, query, "geojson")


@router.get("/violations.csv", summary="Violations as CSV", response_class=StreamingResponse, responses=_CSV)
def violations_csv(request: Request, taxonomy: TaxonomyDep, user: CurrentUser,
                   query: Annotated[ViolationsExportQuery, Query()]) -> StreamingResponse:
    """One row per violation; times in UTC (ISO 8601)."""
    return _export_violations(request, taxonomy, user, query, "csv")


@router.get("/cases.geojson", summary="Cases as GeoJSON", response_class=StreamingResponse, responses=_GEOJSON)
def cases_geojson(request: Request, taxonomy: TaxonomyDep, user: CurrentUser,
                  query: Annotated[CasesExportQuery, Query()]) -> StreamingResponse:
    """A FeatureCollection of case Points with their workflow state and deadlines."""
    return _export_cases(request, taxonomy, user, query, "geojson")


@router.get("/cases.csv", summary="Cases as CSV", response_class=StreamingResponse, responses=_CSV)
def cases_csv(request: Request, taxonomy: TaxonomyDep, user: CurrentUser,
              query: Annotated[CasesExportQuery, Query()]) -> StreamingResponse:
    """One row per case; times in UTC (ISO 8601)."""
    return _export_cases(request, taxonomy, user, query, "csv")
