"""Read queries for the API and the review queue, plus the one write a reviewer makes.

Cases (one per real-world problem, see ``streetwatch.store.cases``) list like violations, with
their times filtered on ``last_seen``.

Every list is keyset-paginated by id, newest first: a page ends with an opaque cursor (the
base64 of the last id it returned) and the next page starts strictly below that id, so
rows inserted meanwhile never shift a page or appear twice.

Times: ``since <= seen_at < until``. Naive datetimes are taken as UTC; aware ones are
converted to UTC before they are compared (SQLite keeps UTC wall time without an offset).

Review decisions (append-only ``ReviewDecision`` rows):

- ``approve``: pending -> approved.
- ``reject``: pending -> rejected; a reason is required.
- ``relabel``: changes the violation's class, family, event code and names to those the
  taxonomy gives the new class, and puts the violation back to ``pending`` whatever its
  status was: an approval or rejection was about the old label, so the new one is
  reviewed again. The observation keeps the detector's class: the pair (detector said,
  reviewer said) is what retraining learns from. Only classes with the ``violation`` role
  are targets; an evidence-only class (person, bin, ...) means "not a violation": reject.
- approve or reject on a violation that is no longer pending raises
  :class:`DecisionConflictError`. The status changes with a conditional UPDATE
  (``WHERE status = 'pending'``), so two reviewers deciding at once cannot both win.

``add_decision`` flushes but does not commit: the caller owns the transaction.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, TypeVar

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.orm import Session, joinedload, selectinload

from streetwatch.core.errors import BadInputError, ConflictError, MissingError
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import CaseStatus, DecisionAction, LocationStatus, VideoStatus, ViolationStatus
from streetwatch.store.column_types import as_utc
from streetwatch.store.models import (
    Case,
    Evidence,
    Observation,
    ReviewDecision,
    Video,
    Violation,
    utcnow,
)

# The decisions add_decision applies (a move goes through streetwatch.casework.review_queue).
_ADD_DECISION_ACTIONS: Final = (DecisionAction.APPROVE, DecisionAction.REJECT, DecisionAction.RELABEL)
MAX_PAGE_SIZE: Final = 500
CASE_RECENT_VIOLATIONS: Final = 50  # sightings a case's detail lists; the counts cover all of them

_CURSOR_PREFIX: Final = "id:"
RowT = TypeVar("RowT")


class QueryError(BadInputError, ValueError):
    """A query's arguments are invalid (bad cursor, bad filter)."""

    http_status: ClassVar[int] = 400  # what the schemas could not catch: a plain bad request


class InvalidCursorError(QueryError):
    """A pagination cursor that this module did not produce."""


class NotFoundError(MissingError, LookupError):
    """The row a write refers to does not exist."""


class InvalidDecisionError(BadInputError, ValueError):
    """A review decision that breaks the rules (missing reason, unknown class, ...)."""


class DecisionConflictError(ConflictError, RuntimeError):
    """The violation was already decided; the decision would overwrite someone else's."""


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
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not digits.isdigit() or not digits.isascii():
        raise InvalidCursorError(f"invalid cursor {cursor!r}: not a cursor returned by this API")
    return int(digits)


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


def _time_and_place(
    stmt: Select[Any], model: type[Observation] | type[Violation] | type[Case], time_column: Any,
    since: datetime | None, until: datetime | None, bbox: BBox | None,
) -> Select[Any]:
    if since is not None and until is not None and as_utc(since) >= as_utc(until):
        raise QueryError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if since is not None:
        stmt = stmt.where(time_column >= as_utc(since))
    if until is not None:
        stmt = stmt.where(time_column < as_utc(until))
    if bbox is not None:
        stmt = stmt.where(model.lon.between(bbox.min_lon, bbox.max_lon),
                          model.lat.between(bbox.min_lat, bbox.max_lat))
    return stmt


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

    Returns:
        The page's violations and the cursor of the next page (None on the last page).

    Raises:
        QueryError: A bad cursor, limit, status or time range.
    """
    _check_choice("status", status, ViolationStatus)
    stmt = select(Violation).options(joinedload(Violation.observation))
    if family is not None:
        stmt = stmt.where(Violation.family == family)
    if status is not None:
        stmt = stmt.where(Violation.status == status)
    if unit is not None:
        stmt = stmt.where(Violation.case_id.in_(select(Case.id).where(Case.unit == unit)))
    stmt = _time_and_place(stmt, Violation, Violation.seen_at, since, until, bbox)
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

    Returns:
        The page's cases and the cursor of the next page (None on the last page).

    Raises:
        QueryError: A bad cursor, limit, status or time range.
    """
    _check_choice("status", status, CaseStatus)
    stmt = select(Case)
    if family is not None:
        stmt = stmt.where(Case.family == family)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if unit is not None:
        stmt = stmt.where(Case.unit == unit)
    stmt = _time_and_place(stmt, Case, Case.last_seen, since, until, bbox)
    return _page(session, stmt, Case.id, limit, cursor)


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
    stmt = _time_and_place(stmt, Observation, Observation.seen_at, since, until, bbox)
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


def ping(session: Session) -> None:
    """Run a trivial statement; raises whatever the driver raises when the database is down."""
    session.execute(text("SELECT 1")).scalar_one()


# --- review decisions ---------------------------------------------------------------------------

def add_decision(
    session: Session,
    violation_id: int,
    action: str,
    reviewer: str,
    reason: str | None = None,
    new_family: str | None = None,
    new_class_name: str | None = None,
    *,
    taxonomy: Taxonomy | None = None,
) -> ReviewDecision:
    """Record a reviewer's decision and apply it to the violation (see the module docstring).

    Args:
        session: An open session; the caller commits.
        violation_id: The violation decided on.
        action: approve, reject or relabel.
        reviewer: Who decided (non-blank).
        reason: Why; required to reject.
        new_family: For relabel, optional: must match the new class's family if given.
        new_class_name: For relabel: the new class, by name or alias in the taxonomy.
        taxonomy: Required for relabel.

    Returns:
        The new decision row (flushed, so it has an id).

    Raises:
        NotFoundError: No violation has this id.
        InvalidDecisionError: An unknown action, a blank reviewer, a reject without reason,
            a relabel without a known violation class.
        DecisionConflictError: Approve or reject on a violation that is no longer pending.
    """
    if action not in _ADD_DECISION_ACTIONS:
        raise InvalidDecisionError(f"action must be one of {', '.join(_ADD_DECISION_ACTIONS)}; got {action!r}")
    if not reviewer.strip():
        raise InvalidDecisionError("reviewer must not be blank")
    reason = reason.strip() if reason is not None and reason.strip() else None
    if action == DecisionAction.REJECT and reason is None:
        raise InvalidDecisionError("a rejection needs a reason")
    if action != DecisionAction.RELABEL and (new_class_name is not None or new_family is not None):
        raise InvalidDecisionError(f"class_name and family are only for relabel, not for {action}")
    violation = session.get(Violation, violation_id)
    if violation is None:
        raise NotFoundError(f"violation {violation_id} not found")

    now = utcnow()
    if action == DecisionAction.RELABEL:
        values = _relabel_values(violation, new_family, new_class_name, taxonomy)
        new_family, new_class_name = values["family"], values["class_name"]
        session.execute(update(Violation).where(Violation.id == violation_id)
                        .values(**values, status=ViolationStatus.PENDING, updated_at=now))
    else:
        new_status = ViolationStatus.APPROVED if action == DecisionAction.APPROVE else ViolationStatus.REJECTED
        result = session.execute(
            update(Violation).where(Violation.id == violation_id, Violation.status == ViolationStatus.PENDING)
            .values(status=new_status, updated_at=now)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            session.refresh(violation)
            raise DecisionConflictError(f"violation {violation_id} is already {violation.status}; "
                                        f"relabel it to have it reviewed again")
    decision = ReviewDecision(violation_id=violation_id, action=action, reason=reason, new_family=new_family,
                              new_class_name=new_class_name, reviewer=reviewer.strip(), created_at=now)
    session.add(decision)
    session.flush()
    return decision


def _relabel_values(
    violation: Violation, new_family: str | None, new_class_name: str | None, taxonomy: Taxonomy | None
) -> dict[str, str]:
    if taxonomy is None:
        raise InvalidDecisionError("relabel needs the taxonomy to check the new class")
    if new_class_name is None or not new_class_name.strip():
        raise InvalidDecisionError("relabel needs class_name: the class the object really is")
    spec = taxonomy.lookup(new_class_name)
    if spec is None:
        known = ", ".join(sorted(c.name for c in taxonomy.classes.values() if c.role == "violation"))
        raise InvalidDecisionError(f"unknown class {new_class_name!r}; violation classes are: {known}")
    event = taxonomy.event_for(spec)
    if spec.role != "violation" or event is None:
        raise InvalidDecisionError(f"class {spec.name!r} is evidence only (no event code): "
                                   "reject the violation instead of relabelling it")
    if new_family is not None and new_family != spec.family:
        raise InvalidDecisionError(f"class {spec.name!r} belongs to family {spec.family!r}, "
                                   f"not {new_family!r}")
    if spec.name == violation.class_name:
        raise InvalidDecisionError(f"violation {violation.id} is already labelled {spec.name!r}")
    return {"class_name": spec.name, "family": spec.family, "event_code": event.code,
            "name_zh": event.name_zh, "name_en": event.name_en}
