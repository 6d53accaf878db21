"""Read queries for the API and the review page.

Cases (one per real-world problem, see ``streetwatch.store.cases``) list like violations, with
their times filtered on ``last_seen``.

Every list is keyset-paginated by id, newest first: a page ends with an opaque cursor (the
base64 of the last id it returned) and the next page starts strictly below that id, so
rows inserted meanwhile never shift a page or appear twice.

Time, place and "overdue" filters are those of ``streetwatch.store.filters``; review decisions
are made by ``streetwatch.casework.review_queue.decide`` (leases, audit, case filing), whose
errors are defined here because the routes answer them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, selectinload

from streetwatch.core.errors import BadInputError, ConflictError, MissingError
from streetwatch.core.vocab import CaseStatus, LocationStatus, VideoStatus, ViolationStatus
from streetwatch.store.filters import (
    BBox,
    QueryError,
    case_filters,
    family_and_status,
    overdue_clause,
    phone_clause,
    time_and_place,
)
from streetwatch.store.models import (
    Case,
    Evidence,
    Observation,
    Video,
    Violation,
    parse_row_id,
    utcnow,
)
from streetwatch.store.spatial import postgis_enabled

__all__ = ["BBox", "QueryError"]  # re-exported: the filters' names callers know from here

MAX_PAGE_SIZE: Final = 500
CASE_RECENT_VIOLATIONS: Final = 50  # sightings a case's detail lists; the counts cover all of them

_CURSOR_PREFIX: Final = "id:"
RowT = TypeVar("RowT")



class InvalidCursorError(QueryError):
    """A pagination cursor that this module did not produce."""


class NotFoundError(MissingError, LookupError):
    """The row a write refers to does not exist."""


class InvalidDecisionError(BadInputError, ValueError):
    """A review decision that breaks the rules (missing reason, unknown class, ...)."""


class DecisionConflictError(ConflictError, RuntimeError):
    """The violation was already decided; the decision would overwrite someone else's."""


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case with a summary of its sightings.

    Attributes:
        case: The case row.
        violations_by_status: How many of its violations are pending, approved, rejected.
        recent_violations: Its newest violations (by id, at most ``CASE_RECENT_VIOLATIONS``),
            observations loaded.
    """

    case: Case
    violations_by_status: dict[str, int]
    recent_violations: list[Violation]


@dataclass(frozen=True, slots=True)
class VideoCounts:
    """A video with how many observations and violations it produced."""

    video: Video
    observations: int
    violations: int


# --- cursors ------------------------------------------------------------------------------------

def encode_cursor(last_id: int) -> str:
    """Return the opaque cursor that continues after ``last_id``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Return the id a cursor continues after.

    Raises:
        InvalidCursorError: The cursor was not produced by :func:`encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError(f"invalid cursor {cursor!r}: not a cursor returned by this API") from None
    last_id = parse_row_id(raw.removeprefix(_CURSOR_PREFIX)) if raw.startswith(_CURSOR_PREFIX) else None
    if last_id is None:  # also an id no row can have: it would reach the query and fail there
        raise InvalidCursorError(f"invalid cursor {cursor!r}: not a cursor returned by this API")
    return last_id


def _page(
    session: Session, stmt: Select[Any], id_column: Any, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise QueryError(f"limit must be within [1, {MAX_PAGE_SIZE}], got {limit}")
    if cursor is not None:
        stmt = stmt.where(id_column < decode_cursor(cursor))
    # One row more than asked tells whether a next page exists without a COUNT.
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)).unique())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id)


def _check_choice(name: str, value: str | None, vocabulary: type[StrEnum] | Sequence[str]) -> None:
    allowed = [str(choice) for choice in vocabulary]
    if value is not None and value not in allowed:
        raise QueryError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


# --- violations ---------------------------------------------------------------------------------

def list_violations(
    session: Session,
    *,
    family: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: BBox | None = None,
    limit: int = 50,
    cursor: str | None = None,
    unit: str | None = None,
    phone: str | None = None,
) -> tuple[list[Violation], str | None]:
    """List violations, newest first, with their observation loaded.

    Args:
        session: An open session.
        family: Only this violation family (stall, garbage, parking, ads).
        status: Only this review status (pending, approved, rejected).
        since: Only violations seen at or after this time.
        until: Only violations seen before this time.
        bbox: Only violations positioned inside this box (unpositioned ones are left out).
        limit: Page size, 1..500.
        cursor: The ``next_cursor`` of the previous page.
        unit: Only violations whose case is routed to this 责任单位 (access control).
        phone: Only violations whose observation's text carried this phone number (separators allowed).

    Returns:
        The page's violations and the cursor of the next page (None on the last page).

    Raises:
        QueryError: A bad cursor, limit, status or time range.
    """
    _check_choice("status", status, ViolationStatus)
    stmt = family_and_status(select(Violation).options(joinedload(Violation.observation)), Violation, family, status)
    if unit is not None:
        stmt = stmt.where(Violation.case_id.in_(select(Case.id).where(Case.unit == unit)))
    if phone is not None:
        stmt = stmt.where(phone_clause(phone))
    stmt = time_and_place(stmt, Violation, Violation.seen_at, since, until, bbox,
                          spatial=bbox is not None and postgis_enabled(session))
    return _page(session, stmt, Violation.id, limit, cursor)


def get_violation(session: Session, violation_id: int) -> Violation | None:
    """Return one violation with its observation, video and decisions loaded, or None."""
    stmt = (
        select(Violation)
        .where(Violation.id == violation_id)
        .options(
            joinedload(Violation.observation).joinedload(Observation.video),
            selectinload(Violation.decisions),
        )
        .execution_options(populate_existing=True)  # fresh after a decision changed the row
    )
    return session.scalars(stmt).unique().one_or_none()


# --- cases ---------------------------------------------------------------------------------------

def list_cases(
    session: Session,
    *,
    family: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: BBox | None = None,
    limit: int = 50,
    cursor: str | None = None,
    unit: str | None = None,
    grid: str | None = None,
    overdue: bool | None = None,
    now: datetime | None = None,
) -> tuple[list[Case], str | None]:
    """List cases, newest first (by id).

    Args:
        session: An open session.
        family: Only this family (stall, garbage, parking, ads).
        status: Only this case status (open, closed).
        since: Only cases last seen at or after this time.
        until: Only cases last seen before this time.
        bbox: Only cases whose (mean) position is inside this box.
        limit: Page size, 1..500.
        cursor: The ``next_cursor`` of the previous page.
        unit: Only cases routed to this 责任单位.
        grid: Only cases in this grid.
        overdue: True: only cases past a deadline (``filters.overdue_clause``); False: only the others.
        now: The time "overdue" is judged at (default: now).

    Returns:
        The page's cases and the cursor of the next page (None on the last page).

    Raises:
        QueryError: A bad cursor, limit, status or time range.
    """
    _check_choice("status", status, CaseStatus)
    stmt = family_and_status(select(Case), Case, family, status)
    stmt = case_filters(stmt, unit=unit, grid=grid, overdue=overdue, now=now)
    stmt = time_and_place(stmt, Case, Case.last_seen, since, until, bbox,
                          spatial=bbox is not None and postgis_enabled(session))
    return _page(session, stmt, Case.id, limit, cursor)


def overdue_case_ids(session: Session, case_ids: Sequence[int], now: datetime | None = None) -> set[int]:
    """Which of these cases are overdue at ``now`` (the same SQL predicate as the ``overdue`` filter)."""
    if not case_ids:
        return set()
    return set(session.scalars(select(Case.id).where(Case.id.in_(list(case_ids)),
                                                       overdue_clause(now or utcnow()))))


def find_case(session: Session, case_id: int) -> Case | None:
    """The case row, fresh from the database, or None."""
    return session.get(Case, case_id, populate_existing=True)


def get_case(session: Session, case_id: int, recent: int = CASE_RECENT_VIOLATIONS) -> CaseDetail | None:
    """Return one case with its violations' counts by status and its newest violations, or None."""
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        return None
    by_status: dict[str, int] = dict.fromkeys(ViolationStatus, 0)
    by_status.update(session.execute(
        select(Violation.status, func.count()).where(Violation.case_id == case_id).group_by(Violation.status)
    ).all())
    newest = session.scalars(
        select(Violation).where(Violation.case_id == case_id).options(joinedload(Violation.observation))
        .order_by(Violation.id.desc()).limit(recent)
    ).unique().all()
    return CaseDetail(case=case, violations_by_status=by_status, recent_violations=list(newest))


# --- observations, videos, evidence ---------------------------------------------------------------

def list_observations(
    session: Session,
    *,
    family: str | None = None,
    class_name: str | None = None,
    location_status: str | None = None,
    video_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: BBox | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Observation], str | None]:
    """List observations (violations or not), newest first, with their violation loaded.

    Filters are those of :func:`list_violations` plus ``class_name`` (the detector's class),
    ``location_status`` (geolocated, camera, unknown) and ``video_id``.

    Raises:
        QueryError: A bad cursor, limit, location status or time range.
    """
    _check_choice("location_status", location_status, LocationStatus)
    stmt = select(Observation).options(selectinload(Observation.violation))
    if family is not None:
        stmt = stmt.where(Observation.family == family)
    if class_name is not None:
        stmt = stmt.where(Observation.class_name == class_name)
    if location_status is not None:
        stmt = stmt.where(Observation.location_status == location_status)
    if video_id is not None:
        stmt = stmt.where(Observation.video_id == video_id)
    stmt = time_and_place(stmt, Observation, Observation.seen_at, since, until, bbox,
                          spatial=bbox is not None and postgis_enabled(session))
    return _page(session, stmt, Observation.id, limit, cursor)


def _with_counts(session: Session, videos: list[Video]) -> list[VideoCounts]:
    ids = [v.id for v in videos]
    if not ids:
        return []
    observations: dict[int, int] = dict(session.execute(
        select(Observation.video_id, func.count()).where(Observation.video_id.in_(ids))
        .group_by(Observation.video_id)
    ).all())
    violations: dict[int, int] = dict(session.execute(
        select(Observation.video_id, func.count()).join(Violation, Violation.observation_id == Observation.id)
        .where(Observation.video_id.in_(ids)).group_by(Observation.video_id)
    ).all())
    return [VideoCounts(v, observations.get(v.id, 0), violations.get(v.id, 0)) for v in videos]


def list_videos(
    session: Session, *, status: str | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[VideoCounts], str | None]:
    """List videos, newest first, with their observation and violation counts.

    Raises:
        QueryError: A bad cursor, limit or status (processing, done, failed).
    """
    _check_choice("status", status, VideoStatus)
    stmt = select(Video)
    if status is not None:
        stmt = stmt.where(Video.status == status)
    videos, next_cursor = _page(session, stmt, Video.id, limit, cursor)
    return _with_counts(session, videos), next_cursor


def get_video(session: Session, video_id: int) -> VideoCounts | None:
    """Return one video with its counts, or None."""
    video = session.get(Video, video_id)
    return None if video is None else _with_counts(session, [video])[0]


def get_evidence(session: Session, sha256: str) -> Evidence | None:
    """Return the evidence row for a content hash, or None."""
    return session.get(Evidence, sha256)


def evidence_units(session: Session, sha256: str) -> set[str | None]:
    """The units of the cases whose violations show this evidence image (None: no case or no unit).

    Empty when no violation uses the image (evidence of an observation that is no violation).
    """
    rows = session.execute(
        select(Case.unit).select_from(Observation)
        .join(Violation, Violation.observation_id == Observation.id)
        .outerjoin(Case, Case.id == Violation.case_id)
        .where((Observation.frame_sha256 == sha256) | (Observation.crop_sha256 == sha256))
    ).scalars()
    return set(rows)


def ping(session: Session) -> str | None:
    """None when the database answers a trivial statement; otherwise the driver's error, in one line."""
    try:
        session.execute(text("SELECT 1")).scalar_one()
    except SQLAlchemyError as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def observation_motion_tracks(session: Session) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Every stored observation's motion state and track points (``[{pts_s, xyxy, ...}]``), for
    evaluations against labels made on the footage."""
    rows = session.execute(select(Observation.motion_state, Observation.track_points)).all()
    return [(state, list(points or [])) for state, points in rows]
