"""One case per real problem: attach a video's new violations to the cases they are sightings of.

Called by :func:`streetwatch.store.writes.commit_video_results` inside the transaction that
stores a video's violations, so a video's rows and its case updates commit together.

The store runs the algorithm the simulation scores (:mod:`streetwatch.core.dedup`), one video at a time:

- Only violations with a position join a case. One whose position is unknown keeps
  ``case_id`` NULL: without a place it cannot be told apart from any other problem of its
  family, and a case of one would only add noise to the map. A reviewer can still see it
  in the violations list.
- Candidates are cases of the video's families, in any status, whose ``h3_cell`` lies in
  :func:`streetwatch.core.dedup.cells_within` of a violation's position, searched out to its reach plus
  ``radius_m`` (the local GPS offset taken off before matching is at most ``radius_m``). The
  reach is ``radius_m`` plus the sighting's own position uncertainty, capped at half the radius.
  On PostGIS (:func:`streetwatch.store.spatial.postgis_enabled`) the search is by distance on
  the GiST index instead (:func:`spatial_search_m`): it finds every case the H3 search could
  match, so both paths attach the same sightings to the same cases.
- :func:`streetwatch.core.dedup.match_batch` matches the video's sightings to them: the local GPS offset
  measured on unambiguous matches is taken off, pairs are taken nearest first, and a case never
  takes a sighting that overlaps in time one it already holds from the same video. Cases not
  closed are matched first; closed ones only take the sightings left over.
- The sightings still left are grouped with :func:`streetwatch.core.dedup.group_sightings` (the same
  same-video rule; tracker id-switch fragments, which follow one another, join): one new case
  per group.
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

A sighting's time span is its track's on the video's own clock (``pts_start_s`` ..
``pts_end_s``): the same-video rule and the GPS offset's time window only compare sightings
of one video, and the video clock needs no GPS time.

Concurrency: two videos committing sightings of one new problem at the same time must not
create two cases. On PostgreSQL the transaction first takes a transaction-scoped advisory
lock (``pg_advisory_xact_lock``) per (family, coarse H3 parent cell) that its searches
touch, in sorted order so that two transactions never deadlock. Two searches that could
see the same case share a cell, hence a parent, hence a lock. SQLite needs none: the
commit's first write already holds the database's single writer lock.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar

import h3
from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from streetwatch.core.dedup import (
    ANCHOR_MARGIN_M,
    H3_RESOLUTION,
    CaseCentre,
    Sighting,
    cell_of,
    cells_within,
    group_sightings,
    match_batch,
)
from streetwatch.core.vocab import CaseStatus
from streetwatch.store.models import Case, Observation, Violation, utcnow
from streetwatch.store.spatial import near_clause, postgis_enabled

# Cases a new sighting may join: every status. A case in the review/dispatch workflow gathers
# further sightings of its problem; a closed one reopens (and counts a recurrence).
MATCHABLE_STATUSES: Final = tuple(CaseStatus)
DEFAULT_CASE_RADIUS_M: Final = 10.0
DEFAULT_RECURRENCE_GAP_S: Final = 24 * 3600.0
# Advisory locks cover H3 cells of this resolution (~0.46 km edge): coarse enough that a
# search of a few metres usually needs one lock, fine enough that distant patrols never wait.
LOCK_RESOLUTION: Final = 8
_LOCK_NAMESPACE: Final = "streetwatch.case"
_IN_CHUNK: Final = 500  # values per SQL IN (...): far below SQLite's bound-parameter limit
_NEAR_CHUNK: Final = 100  # sightings per PostGIS candidate query (one OR of distance tests)
_T = TypeVar("_T")


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


def _search_m(violation: Violation, radius_m: float) -> float:
    # Matching takes off a local GPS offset of up to radius_m first: candidates lie that much farther.
    return _reach(violation, radius_m) + radius_m


def spatial_search_m(reach_search_m: float, radius_m: float) -> float:
    """How far the PostGIS candidate search looks, given the H3 search's distance.

    At least ``radius_m + ANCHOR_MARGIN_M``: a case beyond that can never make a match doubtful in
    :func:`streetwatch.core.dedup.match_batch` (its anchors), so leaving it out changes nothing;
    1 % and 1 m more cover the difference between match_batch's local plane and the spheroid.
    """
    return max(reach_search_m, radius_m + ANCHOR_MARGIN_M) * 1.01 + 1.0


def _search_distance(violation: Violation, radius_m: float, spatial: bool) -> float:
    search = _search_m(violation, radius_m)
    return spatial_search_m(search, radius_m) if spatial else search


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
    spatial = postgis_enabled(session)
    keys = case_lock_keys(
        (v.family, v.lat, v.lon, _search_distance(v, radius_m, spatial))
        for v in violations if v.lat is not None and v.lon is not None
    )
    for key in keys:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    return len(keys)


def _time_order(violation: Violation) -> tuple[bool, datetime]:
    seen = violation.seen_at
    return (seen is None, seen or datetime.min.replace(tzinfo=UTC))


def _sighting(key: str, violation: Violation, radius_m: float) -> Sighting:
    assert violation.lat is not None and violation.lon is not None
    observation = violation.observation
    if observation is None:
        seen = violation.seen_at
        start = end = 0.0 if seen is None else seen.timestamp()
        source = ""
    else:
        start, end = observation.pts_start_s, max(observation.pts_end_s, observation.pts_start_s)
        source = str(observation.video_id)
    # The capped allowance, so that match_batch's own cap (radius / 2, passed below) agrees with the search.
    allowance = _reach(violation, radius_m) - radius_m
    return Sighting(key, violation.family, violation.class_name or "", violation.lat, violation.lon, start,
                    allowance, source=source, t_end=end)


def _chunks(values: Sequence[_T], size: int = _IN_CHUNK) -> Iterator[list[_T]]:
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def _candidate_cases(session: Session, batch: Sequence[Violation], radius_m: float) -> list[Case]:
    """The cases (any status) that the batch's sightings could match, in id order."""
    families = sorted({v.family for v in batch})
    matchable = (Case.family.in_(families), Case.status.in_(MATCHABLE_STATUSES))
    found: dict[int, Case] = {}
    if postgis_enabled(session):
        located = [v for v in batch if v.lat is not None and v.lon is not None]
        for part in _chunks(located, _NEAR_CHUNK):
            near = or_(*(near_clause(Case, v.lat, v.lon, _search_distance(v, radius_m, True))
                         for v in part if v.lat is not None and v.lon is not None))
            found.update((c.id, c) for c in session.scalars(select(Case).where(*matchable, near)))
        return [found[case_id] for case_id in sorted(found)]
    cells = sorted({cell for v in batch if v.lat is not None and v.lon is not None
                    for cell in cells_within(v.lat, v.lon, _search_m(v, radius_m))})
    for chunk in _chunks(cells):
        found.update((c.id, c) for c in session.scalars(select(Case).where(*matchable, Case.h3_cell.in_(chunk))))
    return [found[case_id] for case_id in sorted(found)]


def _case_spans(session: Session, case_ids: Sequence[int],
                sources: set[str]) -> dict[int, list[tuple[str, float, float]]]:
    """Per case, the spans of its sightings from these videos (re-attachment, re-commits)."""
    video_ids = sorted(int(s) for s in sources if s)
    spans: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    if not video_ids:
        return spans
    for chunk in _chunks(case_ids):
        rows = session.execute(
            select(Violation.case_id, Observation.video_id, Observation.pts_start_s, Observation.pts_end_s)
            .join(Observation, Violation.observation_id == Observation.id)
            .where(Violation.case_id.in_(chunk), Observation.video_id.in_(video_ids)))
        for case_id, video_id, pts_start, pts_end in rows:
            if case_id is not None:  # always: the query asks for these cases
                spans[case_id].append((str(video_id), pts_start, max(pts_end, pts_start)))
    return spans


def _new_case(violation: Violation, lat: float, lon: float, now: datetime) -> Case:
    extra = violation.extra or {}
    grid_id, unit = extra.get("grid_id"), extra.get("unit")
    seen = violation.seen_at
    return Case(
        family=violation.family, event_code=violation.event_code, status=CaseStatus.OPEN, lat=lat, lon=lon,
        h3_cell=cell_of(lat, lon), first_seen=seen, last_seen=seen, sightings=1, recurrence_count=0,
        grid_id=str(grid_id) if grid_id is not None else None, unit=str(unit) if unit is not None else None,
        created_at=now, updated_at=now,
    )


def add_sighting(case: Case, lat: float, lon: float, seen: datetime | None, recurrence_gap_s: float,
                 now: datetime) -> None:
    """Update a case's statistics with one more sighting (see the module docstring)."""
    last_seen, first_seen = case.last_seen, case.first_seen
    after_gap = (seen is not None and last_seen is not None
                 and (seen - last_seen).total_seconds() > recurrence_gap_s)
    if after_gap or case.status == CaseStatus.CLOSED:
        case.recurrence_count += 1
    if case.status == CaseStatus.CLOSED:
        case.status = CaseStatus.OPEN
    case.sightings += 1
    case.lat += (lat - case.lat) / case.sightings
    case.lon += (lon - case.lon) / case.sightings
    case.h3_cell = cell_of(case.lat, case.lon)
    if seen is not None:
        case.first_seen = seen if first_seen is None else min(first_seen, seen)
        case.last_seen = seen if last_seen is None else max(last_seen, seen)
    case.updated_at = now


def _match_existing(session: Session, batch: Sequence[Violation], sightings: Sequence[Sighting],
                    radius_m: float) -> list[Case | None]:
    """Per sighting, the existing case it is a sighting of (``match_batch``), or None."""
    candidates = _candidate_cases(session, batch, radius_m)
    if not candidates:
        return [None] * len(batch)
    spans = _case_spans(session, [c.id for c in candidates], {s.source for s in sightings})
    matched: list[Case | None] = [None] * len(batch)
    for closed in (False, True):  # a closed case only takes what no live case can
        pool = [c for c in candidates if (c.status == CaseStatus.CLOSED) is closed]
        families = {c.family for c in pool}
        # A sighting with no case of its family in the pool cannot match; leaving it out also
        # spares match_batch rows of nothing but infinite distances.
        left = [i for i, case in enumerate(matched) if case is None and sightings[i].family in families]
        if not pool or not left:
            continue
        centres = [CaseCentre(c.family, c.lat, c.lon, tuple(spans.get(c.id, ()))) for c in pool]
        found = match_batch([sightings[i] for i in left], centres, radius_m, max_allowance_m=radius_m / 2.0)
        for i, k in zip(left, found, strict=True):
            if k >= 0:
                matched[i] = pool[k]
    return matched


def _attach_batch(session: Session, batch: Sequence[Violation], radius_m: float, recurrence_gap_s: float,
                  now: datetime) -> tuple[set[int], set[int]]:
    """Attach one video's located violations; returns the ids of the cases created and updated."""
    ordered = sorted(batch, key=_time_order)  # stable: ties keep insertion order
    sightings = [_sighting(f"{i:06d}", v, radius_m) for i, v in enumerate(ordered)]
    matched = _match_existing(session, ordered, sightings, radius_m)
    left = [i for i, case in enumerate(matched) if case is None]
    groups = group_sightings([sightings[i] for i in left], radius_m, max_allowance_m=radius_m / 2.0)
    group_of = dict(zip(left, groups, strict=True))
    opened: dict[int, Case] = {}
    for i, violation in enumerate(ordered):  # time order: the first sighting opens, gaps count recurrences
        assert violation.lat is not None and violation.lon is not None
        case = matched[i] or opened.get(group_of[i])
        if case is None:
            opened[group_of[i]] = _new_case(violation, violation.lat, violation.lon, now)
            session.add(opened[group_of[i]])
        else:
            add_sighting(case, violation.lat, violation.lon, violation.seen_at, recurrence_gap_s, now)
    session.flush()  # ids for the new cases, visible to the next batch's search
    for i, violation in enumerate(ordered):
        case = matched[i] or opened[group_of[i]]
        violation.case_id = case.id
    updated = {case.id for case in matched if case is not None}
    return {case.id for case in opened.values()}, updated


def _batches_by_video(violations: Sequence[Violation]) -> list[list[Violation]]:
    """The violations split by source video, videos in the order of their first sighting."""
    by_video: dict[int | None, list[Violation]] = defaultdict(list)
    alone: list[list[Violation]] = []
    for violation in sorted(violations, key=_time_order):
        video_id = None if violation.observation is None else violation.observation.video_id
        if video_id is None:
            alone.append([violation])  # no source: a batch of its own, as in group_sightings
        else:
            by_video[video_id].append(violation)
    return sorted([*by_video.values(), *alone], key=lambda batch: _time_order(batch[0]))


def attach_violations(
    session: Session,
    violations: Sequence[Violation],
    *,
    radius_m: float = DEFAULT_CASE_RADIUS_M,
    recurrence_gap_s: float = DEFAULT_RECURRENCE_GAP_S,
) -> CaseTally:
    """Attach new (flushed or pending) violation rows to cases, creating cases as needed.

    The violations of each video are matched together (see the module docstring); videos are
    taken in the order of their first sighting. The caller owns the transaction and, on
    PostgreSQL, must have called :func:`lock_case_areas` for the same violations before.

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
    located = [v for v in violations if v.lat is not None and v.lon is not None]
    for batch in _batches_by_video(located):
        made, touched = _attach_batch(session, batch, radius_m, recurrence_gap_s, now)
        created |= made
        updated |= touched - created
    session.flush()
    return CaseTally(created=len(created), updated=len(updated), unlocated=len(violations) - len(located))
