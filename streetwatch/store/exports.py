"""Rows for the exports: violations and cases under the lists' filters, read in pages by id.

Oldest first, a page of :data:`PAGE` rows at a time, each page in its own short session: an
export of any size keeps memory flat, and the response can stream after the request's own
session has closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from streetwatch.store.filters import BBox, case_filters, family_and_status, time_and_place
from streetwatch.store.models import Case, Violation
from streetwatch.store.spatial import postgis_enabled

PAGE: Final = 500


def _rows(session_factory: sessionmaker[Session], stmt: Select[Any], id_column: Any) -> Iterator[Any]:
    last = 0
    while True:
        with session_factory() as session:
            page = list(session.scalars(stmt.where(id_column > last).order_by(id_column).limit(PAGE)))
        if not page:
            return
        yield from page
        last = page[-1].id


def export_violations(
    session_factory: sessionmaker[Session], *, family: str | None = None, status: str | None = None,
    since: datetime | None = None, until: datetime | None = None, bbox: BBox | None = None,
    unit: str | None = None, grid: str | None = None,
) -> Iterator[Violation]:
    """Violations with their observation, oldest first; ``unit`` and ``grid`` through the case each is a
    sighting of."""
    stmt = time_and_place(select(Violation).options(joinedload(Violation.observation)), Violation,
                          Violation.seen_at, since, until, bbox,
                          spatial=bbox is not None and postgis_enabled(session_factory))
    stmt = family_and_status(stmt, Violation, family, status)
    if unit is not None or grid is not None:
        stmt = stmt.where(Violation.case_id.in_(case_filters(select(Case.id), unit=unit, grid=grid)))
    return _rows(session_factory, stmt, Violation.id)


def export_cases(
    session_factory: sessionmaker[Session], *, family: str | None = None, status: str | None = None,
    since: datetime | None = None, until: datetime | None = None, bbox: BBox | None = None,
    unit: str | None = None, grid: str | None = None, overdue: bool | None = None, now: datetime | None = None,
) -> Iterator[Case]:
    """Cases, oldest first, filtered on ``last_seen`` as the lists are (and on overdue at ``now``)."""
    spatial = bbox is not None and postgis_enabled(session_factory)
    stmt = family_and_status(time_and_place(select(Case), Case, Case.last_seen, since, until, bbox, spatial=spatial),
                             Case, family, status)
    return _rows(session_factory, case_filters(stmt, unit=unit, grid=grid, overdue=overdue, now=now), Case.id)
