"""One case per real problem: attach each new violation to the case it is a sighting of.

Called by :func:`pipeline.store.writes.commit_video_results` inside the transaction that
stores a video's violations, so a video's rows and its case updates commit together.

How a violation finds its case:

- Only violations with a position join a case. One whose position is unknown keeps
  ``case_id`` NULL: without a place it cannot be told apart from any other problem of its
  family, and a case of one would only add noise to the map. A reviewer can still see it
  in the violations list.
- Candidates are cases of the same family, in any status, whose ``h3_cell`` lies in
  :func:`pipeline.dedup.cells_within` of the violation's position, kept if
  :func:`pipeline.dedup.same_problem` says so. Cases not closed win over closed ones, then the
  nearest wins. With no candidate a new case starts at the violation. As in
  :func:`pipeline.dedup.group_sightings` (which the simulation scores), the search reaches
  ``radius_m`` plus the sighting's own position uncertainty, capped at half the radius.
- A match updates the case: ``sightings`` + 1, position = running mean of the sightings'
  positions (and ``h3_cell`` follows it), ``first_seen`` / ``last_seen`` widen. The
  recurrence count (复发) goes up by one when the sighting comes more than
  ``recurrence_gap_s`` after ``last_seen``, or when it reopens a ``closed`` case (once if both).
  A closed case reopens as ``open``; a case in the workflow (filed ... checked) keeps its status.
  Sightings are applied in time order within a video; a sighting older than ``last_seen``
  (footage committed out of order) widens the times but never counts as a recurrence.
- The case keeps the event code of its first sighting; ``grid_id`` / ``unit`` come from the
  first sighting's rule details (``extra["grid_id"]`` / ``extra["unit"]``) when a zone rule
  put them there, else stay NULL for routing to fill in.

Concurrency: two videos committing sightings of one new problem at the same time must not
create two cases. On PostgreSQL the transaction first takes a transaction-scoped advisory
lock (``pg_advisory_xact_lock``) per (family, coarse H3 parent cell) that its searches
touch, in sorted order so that two transactions never deadlock. Two searches that could
see the same case share a cell, hence a parent, hence a lock. SQLite needs none: the
commit's first write already holds the database's single writer lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import h3
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pipeline.dedup import H3_RESOLUTION, cell_of, cells_within, same_problem
from pipeline.geo import haversine_m
from pipeline.store.models import CASE_CLOSED, CASE_OPEN, CASE_STATUSES, Case, Violation, utcnow

# Cases a new sighting may join: every status. A case in the review/dispatch workflow gathers
# further sightings of its problem; a closed one reopens (and counts a recurrence).
MATCHABLE_STATUSES: Final = CASE_STATUSES
DEFAULT_CASE_RADIUS_M: Final = 10.0
DEFAULT_RECURRENCE_GAP_S: Final = 24 * 3600.0
# Advisory locks cover H3 cells of this resolution (~0.46 km edge): coarse enough that a
# search of a few metres usually needs one lock, fine enough that distant patrols never wait.
LOCK_RESOLUTION: Final = 8
_LOCK_NAMESPACE: Final = "streetwatch.case"


@dataclass(frozen=True, slots=True)
class CaseTally:
    """What attaching one video's violations did.

    Attributes:
        created: Cases started by this video.
        updated: Existing cases (from earlier videos) this video added sightings to.
        unlocated: Violations left without a case because their position is unknown.
    """

    created: int = 0
    updated: int = 0
    unlocated: int = 0


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns; we only ever store UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def case_lock_key(family: str, parent_cell: str) -> int:
    """The signed 64-bit advisory lock key of one family in one coarse H3 cell."""
    digest = hashlib.blake2b(f"{_LOCK_NAMESPACE}:{family}:{parent_cell}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def search_reach_m(radius_m: float, uncertainty_m: float | None) -> float:
    """How far a sighting looks for its case: the radius plus its uncertainty, at most half the radius."""
    allowance = 0.0 if uncertainty_m is None or not uncertainty_m > 0 else min(uncertainty_m, radius_m / 2.0)
    return radius_m + allowance


def _reach(violation: Violation, radius_m: float) -> float:
    observation = violation.observation
    return search_reach_m(radius_m, None if observation is None else observation.uncertainty_m)


def case_lock_keys(sightings: Iterable[tuple[str, float, float, float]]) -> list[int]:
    """The sorted advisory lock keys that searching around each (family, lat, lon, reach_m) needs."""
    resolution = min(LOCK_RESOLUTION, H3_RESOLUTION)
    keys = {
        case_lock_key(family, h3.cell_to_parent(cell, resolution))
        for family, lat, lon, reach_m in sightings
        for cell in cells_within(lat, lon, reach_m)
    }
    return sorted(keys)


def lock_case_areas(session: Session, violations: Sequence[Violation], radius_m: float) -> int:
    """On PostgreSQL, take the advisory locks for attaching these violations; a no-op elsewhere.

    Take them before reading any case. The locks are released when the transaction ends.

    Returns:
        How many locks were taken.
    """
    if session.get_bind().dialect.name != "postgresql":
        return 0
    keys = case_lock_keys(
        (v.family, v.lat, v.lon, _reach(v, radius_m)) for v in violations if v.lat is not None and v.lon is not None
    )
    for key in keys:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    return len(keys)


def _time_order(violation: Violation) -> tuple[bool, datetime]:
    seen = _utc(violation.seen_at)
    return (seen is None, seen or datetime.min.replace(tzinfo=UTC))


def find_case(session: Session, family: str, lat: float, lon: float, radius_m: float) -> Case | None:
    """The case a sighting of ``family`` at (lat, lon) belongs to, or None if it is a new problem.

    Args:
        session: The session inside the commit's transaction.
        family: The sighting's family.
        lat: Its latitude.
        lon: Its longitude.
        radius_m: How far from the sighting a case's position may be (see :func:`search_reach_m`).
    """
    cells = sorted(cells_within(lat, lon, radius_m))
    candidates = session.scalars(
        select(Case).where(Case.family == family, Case.status.in_(MATCHABLE_STATUSES), Case.h3_cell.in_(cells))
    ).all()
    matching = [c for c in candidates if same_problem(c.family, c.lat, c.lon, family, lat, lon, radius_m)]
    if not matching:
        return None
    return min(matching, key=lambda c: (c.status == CASE_CLOSED, haversine_m(c.lat, c.lon, lat, lon), c.id))


def _new_case(violation: Violation, lat: float, lon: float, now: datetime) -> Case:
    extra = violation.extra or {}
    grid_id, unit = extra.get("grid_id"), extra.get("unit")
    seen = _utc(violation.seen_at)
    return Case(
        family=violation.family, event_code=violation.event_code, status=CASE_OPEN, lat=lat, lon=lon,
        h3_cell=cell_of(lat, lon), first_seen=seen, last_seen=seen, sightings=1, recurrence_count=0,
        grid_id=str(grid_id) if grid_id is not None else None, unit=str(unit) if unit is not None else None,
        created_at=now, updated_at=now,
    )


def add_sighting(case: Case, lat: float, lon: float, seen: datetime | None, recurrence_gap_s: float,
                 now: datetime) -> None:
    """Update a case's statistics with one more sighting (see the module docstring)."""
    last_seen, first_seen = _utc(case.last_seen), _utc(case.first_seen)
    after_gap = (seen is not None and last_seen is not None
                 and (seen - last_seen).total_seconds() > recurrence_gap_s)
    if after_gap or case.status == CASE_CLOSED:
        case.recurrence_count += 1
    if case.status == CASE_CLOSED:
        case.status = CASE_OPEN
    case.sightings += 1
    case.lat += (lat - case.lat) / case.sightings
    case.lon += (lon - case.lon) / case.sightings
    case.h3_cell = cell_of(case.lat, case.lon)
    if seen is not None:
        case.first_seen = seen if first_seen is None else min(first_seen, seen)
        case.last_seen = seen if last_seen is None else max(last_seen, seen)
    case.updated_at = now


def attach_violations(
    session: Session,
    violations: Sequence[Violation],
    *,
    radius_m: float = DEFAULT_CASE_RADIUS_M,
    recurrence_gap_s: float = DEFAULT_RECURRENCE_GAP_S,
) -> CaseTally:
    """Attach new (flushed or pending) violation rows to cases, creating cases as needed.

    The caller owns the transaction and, on PostgreSQL, must have called
    :func:`lock_case_areas` for the same violations before.

    Args:
        session: The session inside the commit's transaction.
        violations: The violations to attach; their ``case_id`` must be unset.
        radius_m: Sightings of one family closer than this are one problem.
        recurrence_gap_s: A sighting this long after a case's ``last_seen`` is a recurrence.

    Returns:
        How many cases were created and updated, and how many violations had no position.

    Raises:
        ValueError: If ``radius_m`` is not positive or ``recurrence_gap_s`` is negative.
    """
    if not radius_m > 0:
        raise ValueError(f"case radius must be a positive number of metres, got {radius_m}")
    if not recurrence_gap_s >= 0:
        raise ValueError(f"recurrence gap must be zero or more seconds, got {recurrence_gap_s}")
    now = utcnow()
    created: set[int] = set()
    updated: set[int] = set()
    unlocated = 0
    for violation in sorted(violations, key=_time_order):  # stable: ties keep insertion order
        if violation.lat is None or violation.lon is None:
            unlocated += 1
            continue
        case = find_case(session, violation.family, violation.lat, violation.lon, _reach(violation, radius_m))
        if case is None:
            case = _new_case(violation, violation.lat, violation.lon, now)
            session.add(case)
            session.flush()  # an id now, and visible to the next violation's search
            created.add(case.id)
        else:
            add_sighting(case, violation.lat, violation.lon, _utc(violation.seen_at), recurrence_gap_s, now)
            if case.id not in created:
                updated.add(case.id)
        violation.case_id = case.id
    session.flush()
    return CaseTally(created=len(created), updated=len(updated), unlocated=unlocated)
