"""The filters every list and export shares: a WGS84 box, a time range, and "overdue".

One place for each: the paged lists (``streetwatch.store.queries``), the streamed exports
(``streetwatch.store.exports``) and the review page all build their WHERE clauses here, so a
filter never means one thing on one screen and another in a download.

Times: ``since <= t < until``. Naive datetimes are taken as UTC; aware ones are converted to
UTC before they are compared (SQLite keeps UTC wall time without an offset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select

from streetwatch.core.errors import BadInputError
from streetwatch.core.vocab import CaseStatus
from streetwatch.store.column_types import as_utc
from streetwatch.store.models import Case, Observation, Violation, utcnow
from streetwatch.store.spatial import bbox_clause

# Cases past a deadline: not handled by handle_due while dispatched, or not closed by close_due
# while in the unit's hands. An open case (never filed, or reopened by a later sighting after it
# was closed) has no deadline running, whatever deadlines an earlier cycle left on the row.
OVERDUE_STATUSES: Final = (CaseStatus.DISPATCHED, CaseStatus.HANDLED, CaseStatus.CHECKED)


class QueryError(BadInputError, ValueError):
    """A query's arguments are invalid (bad cursor, bad filter)."""

    http_status: ClassVar[int] = 400  # what the schemas could not catch: a plain bad request


@dataclass(frozen=True, slots=True)
class BBox:
    """A WGS84 box: ``min_lon, min_lat, max_lon, max_lat`` (the GeoJSON / OGC order)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def __post_init__(self) -> None:
        for name, value, limit in (("min_lon", self.min_lon, 180.0), ("max_lon", self.max_lon, 180.0),
                                   ("min_lat", self.min_lat, 90.0), ("max_lat", self.max_lat, 90.0)):
            if not -limit <= value <= limit:
                raise QueryError(f"bbox {name} must be within [-{limit:g}, {limit:g}], got {value}")
        if self.min_lon > self.max_lon:
            raise QueryError(f"bbox min_lon {self.min_lon} is greater than max_lon {self.max_lon} "
                             "(boxes across the antimeridian are not supported)")
        if self.min_lat > self.max_lat:
            raise QueryError(f"bbox min_lat {self.min_lat} is greater than max_lat {self.max_lat}")

    @classmethod
    def parse(cls, value: str) -> BBox:
        """Parse ``"min_lon,min_lat,max_lon,max_lat"``."""
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 4:
            raise QueryError(f"bbox must be 4 comma-separated numbers min_lon,min_lat,max_lon,max_lat; "
                             f"got {len(parts)} value(s) in {value!r}")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise QueryError(f"bbox values must be numbers, got {value!r}") from None
        if any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
            raise QueryError(f"bbox values must be finite numbers, got {value!r}")
        return cls(*numbers)


def time_and_place(
    stmt: Select[Any], model: type[Observation] | type[Violation] | type[Case], time_column: Any,
    since: datetime | None, until: datetime | None, bbox: BBox | None, *, spatial: bool = False,
) -> Select[Any]:
    """``stmt`` narrowed to ``since <= time_column < until`` and to rows positioned inside ``bbox``.

    ``spatial``: the database has PostGIS (``streetwatch.store.spatial.postgis_enabled``): the box
    uses the GiST index on ``geom``; else lat/lon comparisons. Both keep the same rows.

    Raises:
        QueryError: ``since`` is not before ``until``.
    """
    if since is not None and until is not None and as_utc(since) >= as_utc(until):
        raise QueryError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if since is not None:
        stmt = stmt.where(time_column >= as_utc(since))
    if until is not None:
        stmt = stmt.where(time_column < as_utc(until))
    if bbox is not None:
        stmt = stmt.where(bbox_clause(model, bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat,
                                      spatial=spatial))
    return stmt


def family_and_status(
    stmt: Select[Any], model: type[Violation] | type[Case], family: str | None, status: str | None,
) -> Select[Any]:
    """``stmt`` narrowed to one family and one status (either may be None: no filter)."""
    if family is not None:
        stmt = stmt.where(model.family == family)
    if status is not None:
        stmt = stmt.where(model.status == status)
    return stmt


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL (超期): past the handling deadline while dispatched, or past the closing deadline while
    dispatched, handled or checked. The one definition the page, the API and the exports use."""
    now = as_utc(now)
    return or_(and_(Case.status == CaseStatus.DISPATCHED, Case.handle_due < now),
               and_(Case.status.in_(OVERDUE_STATUSES), Case.close_due < now))


def case_filters(
    stmt: Select[Any], *, unit: str | None = None, grid: str | None = None, overdue: bool | None = None,
    now: datetime | None = None,
) -> Select[Any]:
    """``stmt`` (over cases) narrowed to a unit, a grid, and overdue (true) or not overdue (false)."""
    if unit is not None:
        stmt = stmt.where(Case.unit == unit)
    if grid is not None:
        stmt = stmt.where(Case.grid_id == grid)
    if overdue is not None:
        clause = overdue_clause(now or utcnow())
        stmt = stmt.where(clause if overdue else ~clause)
    return stmt


def phone_digits(text: str) -> str:
    """A phone number as the OCR stage stores it: digits only, a leading +86 / 0086 dropped from a mobile.

    Raises:
        QueryError: Fewer than 7 or more than 12 digits once separators are gone.
    """
    digits = re.sub(r"\D", "", text)
    if (len(digits) == 13 and digits.startswith("86")) or (len(digits) == 15 and digits.startswith("0086")):
        digits = digits[-11:]
    if not 7 <= len(digits) <= 12:
        raise QueryError(f"phone must be 7-12 digits (separators allowed), got {text!r}")
    return digits


def phone_clause(phone: str) -> ColumnElement[bool]:
    """SQL: the violation's observation read this phone number (attributes ``phones``, comma-separated)."""
    digits = phone_digits(phone)
    phones = func.coalesce(Observation.attributes["phones"].as_string(), "")
    listed = literal(",") + phones + literal(",")
    return Violation.observation_id.in_(select(Observation.id).where(listed.like(f"%,{digits},%")))
