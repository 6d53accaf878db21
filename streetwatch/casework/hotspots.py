"""Hot spots and recurring places: where violations cluster, and where problems keep coming back.

Two reads over the cases' sightings (their violations, rejected ones left out):

- **Heat points** (:func:`heat_points`): the violations seen in a period, each a point of weight 1
  (``kind="violations"``), or the cases with a sighting in the period, each at its position and
  weighted by its sightings in the period (``kind="cases"``). The review page draws them as a heat
  layer on the cases map.
- **Recurring places** (:func:`recurring_places`): per H3 cell (resolution 9 by default, hexagons of
  about 175 m edge: a block or a stretch of street) and family, for the period ``since <= t < until``:

  - ``cases``: cases of the family in the cell with a sighting in the period;
  - ``recurrences`` (复发): sightings in the period that came more than ``recurrence_gap_s`` after
    the case's previous sighting, or after the case was closed (结案) since that sighting (once if
    both) — the rule ingest counts ``cases.recurrence_count`` by (``streetwatch.store.cases``), here
    restricted to the period;
  - ``reopened``: cases among them that were closed and seen again in the period;
  - ``score`` = recurrences + (cases - 1 when more than one): a place scores when one problem came
    back, or when several problems of one family were found in it.

  Places with a score are ranked by score, then cases, then cell; ``trend`` is the score minus the
  same place's score in the previous period (by default the one of the same length just before).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import h3
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from streetwatch.core.vocab import CaseAction, ViolationStatus
from streetwatch.store.cases import DEFAULT_RECURRENCE_GAP_S
from streetwatch.store.column_types import require_aware
from streetwatch.store.models import Case, Violation
from streetwatch.store.models_workflow import CaseEvent

HeatKind = Literal["violations", "cases"]
DEFAULT_RESOLUTION = 9


@dataclass(frozen=True, slots=True)
class HeatPoint:
    """One point of the heat layer."""

    lat: float
    lon: float
    weight: float


@dataclass(frozen=True, slots=True)
class CaseSightings:
    """One case, where it is, and when it was seen and closed (everything before the period's end)."""

    case_id: int
    family: str
    lat: float
    lon: float
    unit: str | None
    grid_id: str | None
    seen: tuple[datetime, ...]     # sorted
    closed: tuple[datetime, ...]   # sorted


@dataclass(frozen=True, slots=True)
class RecurringPlace:
    """One H3 cell and family: what recurred there in the period, and against the previous period."""

    cell: str
    family: str
    lat: float          # the cell's centre
    lon: float
    cases: int
    recurrences: int
    reopened: int
    score: int
    previous_score: int
    unit: str | None    # the unit most of its cases are routed to
    grid_id: str | None

    @property
    def trend(self) -> int:
        """Score minus the previous period's score (positive: getting worse)."""
        return self.score - self.previous_score


def _not_rejected() -> ColumnElement[bool]:
    return Violation.status != ViolationStatus.REJECTED.value


def heat_points(
    session: Session, *, since: datetime, until: datetime, family: str | None = None, unit: str | None = None,
    kind: HeatKind = "violations", limit: int | None = None,
) -> list[HeatPoint]:
    """The heat layer's points for ``since <= seen_at < until`` (see the module docstring).

    Args:
        session: An open session.
        since: Period start (timezone-aware).
        until: Period end, exclusive.
        family: Only this violation family.
        unit: Only violations of cases routed to this unit (a unit-scoped user's view).
        kind: ``violations`` (one point each) or ``cases`` (one point per case, weighted by sightings).
        limit: At most this many points (the newest violations, or the cases with the most sightings).
    """
    since, until = require_aware(since, "since"), require_aware(until, "until")
    in_period = (Violation.seen_at >= since, Violation.seen_at < until, _not_rejected())
    if kind == "violations":
        query = (select(Violation.lat, Violation.lon)
                 .where(*in_period, Violation.lat.is_not(None), Violation.lon.is_not(None)))
        if unit is not None:
            query = query.join(Case, Case.id == Violation.case_id).where(Case.unit == unit)
        if family is not None:
            query = query.where(Violation.family == family)
        rows = session.execute(query.order_by(Violation.seen_at.desc(), Violation.id.desc()).limit(limit)).all()
        return [HeatPoint(float(lat), float(lon), 1.0) for lat, lon in rows if lat is not None and lon is not None]
    sightings = func.count(Violation.id)
    grouped = (select(Case.lat, Case.lon, sightings).join(Violation, Violation.case_id == Case.id)
               .where(*in_period).group_by(Case.id, Case.lat, Case.lon))
    if unit is not None:
        grouped = grouped.where(Case.unit == unit)
    if family is not None:
        grouped = grouped.where(Case.family == family)
    rows2 = session.execute(grouped.order_by(sightings.desc(), Case.id).limit(limit)).all()
    return [HeatPoint(float(lat), float(lon), float(n)) for lat, lon, n in rows2]


def load_case_sightings(
    session: Session, *, since: datetime, until: datetime, family: str | None = None, unit: str | None = None,
) -> list[CaseSightings]:
    """Cases with a (not rejected) sighting in ``since <= t < until``, with all their sightings and closings
    before ``until`` (earlier ones tell whether a sighting in the period is a recurrence)."""
    since, until = require_aware(since, "since"), require_aware(until, "until")
    active = (select(Violation.case_id).where(Violation.case_id.is_not(None), Violation.seen_at >= since,
                                              Violation.seen_at < until, _not_rejected()).distinct())
    query = select(Case).where(Case.id.in_(active))
    if family is not None:
        query = query.where(Case.family == family)
    if unit is not None:
        query = query.where(Case.unit == unit)
    cases = {c.id: c for c in session.scalars(query)}
    if not cases:
        return []
    seen: dict[int, list[datetime]] = defaultdict(list)
    closed: dict[int, list[datetime]] = defaultdict(list)
    ids = sorted(cases)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for case_id, at in session.execute(
                select(Violation.case_id, Violation.seen_at).where(
                    Violation.case_id.in_(chunk), Violation.seen_at < until, _not_rejected())):
            if case_id is not None and at is not None:
                seen[case_id].append(at)
        for case_id, at in session.execute(
                select(CaseEvent.case_id, CaseEvent.created_at).where(
                    CaseEvent.case_id.in_(chunk), CaseEvent.action == CaseAction.CLOSE.value,
                    CaseEvent.created_at < until)):
            closed[case_id].append(at)
    return [CaseSightings(case_id=i, family=cases[i].family, lat=cases[i].lat, lon=cases[i].lon, unit=cases[i].unit,
                          grid_id=cases[i].grid_id, seen=tuple(sorted(seen[i])), closed=tuple(sorted(closed[i])))
            for i in ids]


def count_recurrences(case: CaseSightings, since: datetime, until: datetime,
                      gap_s: float = DEFAULT_RECURRENCE_GAP_S) -> tuple[int, bool]:
    """(recurrences in ``since <= t < until``, whether a closed case was seen again in it)."""
    recurrences, reopened = 0, False
    for previous, current in zip(case.seen, case.seen[1:], strict=False):
        if not since <= current < until:
            continue
        after_close = bisect_left(case.closed, current) > bisect_left(case.closed, previous)
        if after_close or (current - previous).total_seconds() > gap_s:
            recurrences += 1
            reopened = reopened or after_close
    return recurrences, reopened


@dataclass(slots=True)
class _Place:
    cases: list[CaseSightings]
    recurrences: int = 0
    reopened: int = 0

    @property
    def score(self) -> int:
        return self.recurrences + max(len(self.cases) - 1, 0)


def _places(cases: Iterable[CaseSightings], since: datetime, until: datetime, resolution: int,
            gap_s: float) -> dict[tuple[str, str], _Place]:
    places: dict[tuple[str, str], _Place] = {}
    for case in cases:
        if not any(since <= t < until for t in case.seen):
            continue
        key = (str(h3.latlng_to_cell(case.lat, case.lon, resolution)), case.family)
        recurrences, reopened = count_recurrences(case, since, until, gap_s)
        place = places.setdefault(key, _Place([]))
        place.cases.append(case)
        place.recurrences += recurrences
        place.reopened += reopened
    return places


def rank_recurring(
    cases: Sequence[CaseSightings], *, since: datetime, until: datetime, previous: tuple[datetime, datetime],
    resolution: int = DEFAULT_RESOLUTION, gap_s: float = DEFAULT_RECURRENCE_GAP_S, limit: int | None = 20,
) -> list[RecurringPlace]:
    """Rank the places of ``cases`` for the period (pure; see the module docstring for the counts)."""
    before = _places(cases, previous[0], previous[1], resolution, gap_s)
    ranked: list[RecurringPlace] = []
    for (cell, family), place in _places(cases, since, until, resolution, gap_s).items():
        if place.score == 0:
            continue
        old = before.get((cell, family))
        lat, lon = h3.cell_to_latlng(cell)
        ranked.append(RecurringPlace(
            cell=cell, family=family, lat=lat, lon=lon, cases=len(place.cases), recurrences=place.recurrences,
            reopened=place.reopened, score=place.score, previous_score=0 if old is None else old.score,
            unit=_most_common(Counter(c.unit for c in place.cases)),
            grid_id=_most_common(Counter(c.grid_id for c in place.cases))))
    ranked.sort(key=lambda p: (-p.score, -p.cases, p.cell, p.family))
    return ranked if limit is None else ranked[:limit]


def _most_common(counts: Counter[str | None]) -> str | None:
    named = [(n, key) for key, n in counts.items() if key is not None]
    return min(named, key=lambda pair: (-pair[0], pair[1]))[1] if named else None


def recurring_places(
    session: Session, *, since: datetime, until: datetime, previous: tuple[datetime, datetime] | None = None,
    family: str | None = None, unit: str | None = None, resolution: int = DEFAULT_RESOLUTION,
    gap_s: float = DEFAULT_RECURRENCE_GAP_S, limit: int | None = 20,
) -> list[RecurringPlace]:
    """The ranked recurring places of the period, with the trend against ``previous`` (default: the period
    of the same length just before ``since``).

    Raises:
        ValueError: Naive times, ``since`` not before ``until``, or a resolution outside 0..15.
    """
    since, until = require_aware(since, "since"), require_aware(until, "until")
    if not since < until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if not 0 <= resolution <= 15:
        raise ValueError(f"H3 resolution must be 0 to 15, got {resolution}")
    previous = previous or (since - (until - since), since)
    start = min(since, previous[0])
    cases = load_case_sightings(session, since=start, until=until, family=family, unit=unit)
    return rank_recurring(cases, since=since, until=until, previous=previous, resolution=resolution, gap_s=gap_s,
                          limit=limit)
