"""Exports: violations and cases as GeoJSON (RFC 7946, WGS84 lon/lat) or CSV, streamed.

Plates (personal data) leave only masked: the ``plate`` column and any plate a reason names.
Filters are those of the lists (family, status, since/until, bbox) plus unit and grid, and
``overdue`` for cases. A dispatcher or field inspector exports only their own unit's rows.
Rows come from ``streetwatch.store.exports`` in pages by id, oldest first, so an export of any
size keeps memory flat.
CSV cells that a spreadsheet would run as a formula (starting with = + - @) get a leading '.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse

from streetwatch.api.auth import AuthenticatedUser, CurrentUser
from streetwatch.api.deps import SessionFactoryDep, TaxonomyDep, check_family
from streetwatch.api.schemas.exports import CasesExportQuery, ViolationsExportQuery
from streetwatch.core.privacy import mask_plate, masked
from streetwatch.store.column_types import as_utc
from streetwatch.store.exports import export_cases, export_violations

router = APIRouter(prefix="/exports", tags=["exports"])
# Columns read from the violation's observation's attributes (what the OCR read).
OBSERVATION_ATTRIBUTES: Final = frozenset({"plate", "phones"})
CASE_COLUMNS: Final = ("id", "status", "family", "event_code", "lat", "lon", "h3_cell", "grid_id", "unit",
                       "sightings", "recurrence_count", "first_seen", "last_seen", "filed_at", "dispatched_at",
                       "handle_due", "close_due", "handled_at", "closed_at", "created_at", "updated_at")
VIOLATION_COLUMNS: Final = ("id", "status", "family", "class_name", "event_code", "name_zh", "name_en", "reason",
                            "rule", "rule_version", "seen_at", "lat", "lon", "case_id", "created_at", "updated_at",
                            "plate", "phones")


def _unit(user: AuthenticatedUser, unit: str | None) -> str | None:
    scope = user.unit_scope
    if scope is not None and unit is not None and unit != scope:
        raise HTTPException(403, f"you may only export your unit {scope!r}")
    return scope or unit


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def _values(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    """The row's cells; plates (personal data) leave only masked (``core.privacy``)."""
    values = {name: _text(getattr(row, name)) for name in columns if name not in OBSERVATION_ATTRIBUTES}
    if any(name in OBSERVATION_ATTRIBUTES for name in columns):
        attributes = row.observation.attributes or {}
        plate = attributes.get("plate")
        values["plate"] = mask_plate(str(plate)) if plate else None
        values["phones"] = attributes.get("phones") or None
    return masked(values)


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


def _export_violations(factory: SessionFactoryDep, taxonomy: TaxonomyDep, user: AuthenticatedUser,
                       query: ViolationsExportQuery, kind: Literal["geojson", "csv"]) -> StreamingResponse:
    check_family(taxonomy, query.family)
    rows = export_violations(factory, family=query.family, status=query.status, since=query.since,
                             until=query.until, bbox=query.parsed_bbox(), unit=_unit(user, query.unit),
                             grid=query.grid)
    return _respond(kind, "violations", rows, VIOLATION_COLUMNS)


def _export_cases(factory: SessionFactoryDep, taxonomy: TaxonomyDep, user: AuthenticatedUser,
                  query: CasesExportQuery, kind: Literal["geojson", "csv"]) -> StreamingResponse:
    check_family(taxonomy, query.family)
    rows = export_cases(factory, family=query.family, status=query.status, since=query.since, until=query.until,
                        bbox=query.parsed_bbox(), unit=_unit(user, query.unit), grid=query.grid,
                        overdue=query.overdue)
    return _respond(kind, "cases", rows, CASE_COLUMNS)


_GEOJSON: dict[int | str, dict[str, Any]] = {200: {"content": {"application/geo+json": {}}}}
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get("/violations.geojson", summary="Violations as GeoJSON", response_class=StreamingResponse,
            responses=_GEOJSON)
def violations_geojson(factory: SessionFactoryDep, taxonomy: TaxonomyDep, user: CurrentUser,
                       query: Annotated[ViolationsExportQuery, Query()]) -> StreamingResponse:
    """A FeatureCollection of Points (null geometry for violations with no position)."""
    return _export_violations(factory, taxonomy, user, query, "geojson")


@router.get("/violations.csv", summary="Violations as CSV", response_class=StreamingResponse, responses=_CSV)
def violations_csv(factory: SessionFactoryDep, taxonomy: TaxonomyDep, user: CurrentUser,
                   query: Annotated[ViolationsExportQuery, Query()]) -> StreamingResponse:
    """One row per violation; times in UTC (ISO 8601)."""
    return _export_violations(factory, taxonomy, user, query, "csv")


@router.get("/cases.geojson", summary="Cases as GeoJSON", response_class=StreamingResponse, responses=_GEOJSON)
def cases_geojson(factory: SessionFactoryDep, taxonomy: TaxonomyDep, user: CurrentUser,
                  query: Annotated[CasesExportQuery, Query()]) -> StreamingResponse:
    """A FeatureCollection of case Points with their workflow state and deadlines."""
    return _export_cases(factory, taxonomy, user, query, "geojson")


@router.get("/cases.csv", summary="Cases as CSV", response_class=StreamingResponse, responses=_CSV)
def cases_csv(factory: SessionFactoryDep, taxonomy: TaxonomyDep, user: CurrentUser,
              query: Annotated[CasesExportQuery, Query()]) -> StreamingResponse:
    """One row per case; times in UTC (ISO 8601)."""
    return _export_cases(factory, taxonomy, user, query, "csv")
