"""Case KPIs as digital urban management reports them (pure: computed from case events).

The unit of counting is a **cycle**: one filing of a case and what followed it, up to the
next filing (a closed case seen again reopens and is filed again: a new cycle). Each cycle
belongs to a 责任单位 (the unit of its last dispatch, else the unit it was filed to) and a
网格 (the grid it was filed in). Only events before ``until`` count: a report for a period is
the same whenever it is run after the period ends.

For a period ``since <= t < until``:

- **filed** F: cycles filed in the period.
- **dispatched** D: cycles first dispatched in the period.
- **handled** H: cycles in D whose latest handling stands, i.e. has no rework after it.
  Handled **on time**: that handling came at or before the handling deadline then in force
  (extensions included).
- **closed** C: cycles in F closed before ``until``; **on time** at or before the closing deadline.
- **ever handled** E: cycles in D handled at least once (reworked ones too).
- **reworked** R: cycles in D with at least one rework (核查不通过). **extended** X: cycles in D
  with at least one extension.

Rates (None when the denominator is 0):

==================  ===============================  =====================
KPI                 field                            formula
==================  ===============================  =====================
处置率               ``disposal_rate``                 H / D
按期处置率           ``on_time_disposal_rate``         H on time / D
结案率               ``closure_rate``                  C / F
按期结案率           ``on_time_closure_rate``          C on time / F
返工率               ``rework_rate``                   R / E
延期率               ``extension_rate``                X / D
平均处置时长         ``avg_handling_hours``            mean over H of (handled - dispatched)
==================  ===============================  =====================

"handled - dispatched" runs from the last dispatch before the standing handling (a return and
re-dispatch restarts it, a rework does not); ``avg_handling_working_hours`` is the same in
working hours of a :class:`~streetwatch.casework.deadlines.WorkingCalendar`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from streetwatch.casework.deadlines import WorkingCalendar
from streetwatch.casework.states import CaseAction
from streetwatch.store.column_types import require_aware

GroupBy = Literal["unit", "grid"]


@dataclass(frozen=True, slots=True)
class CaseEventRecord:
    """One stored case transition, as the KPIs need it.

    Attributes:
        id: The event's id: orders events of the same instant.
        case_id: The case.
        action: A :class:`~streetwatch.casework.states.CaseAction` value.
        at: When (timezone-aware).
        unit: The case's responsible unit after the event.
        grid_id: The case's grid after the event.
        handle_due: The handling deadline in force after the event (None before dispatch).
        close_due: The closing deadline in force after the event.
    """

    id: int
    case_id: int
    action: str
    at: datetime
    unit: str | None = None
    grid_id: str | None = None
    handle_due: datetime | None = None
    close_due: datetime | None = None


@dataclass(slots=True)
class CaseCycle:
    """One filing of a case and what followed, as of the report's end."""

    case_id: int
    filed_at: datetime
    unit: str | None
    grid_id: str | None
    first_dispatch_at: datetime | None = None
    last_dispatch_at: datetime | None = None
    handled_at: datetime | None = None        # the standing handling; None if none or reworked since
    handled_from: datetime | None = None      # the dispatch the standing handling answers
    handled_on_time: bool = False
    ever_handled: bool = False
    reworked: bool = False
    extended: bool = False
    closed_at: datetime | None = None
    closed_on_time: bool = False


@dataclass(frozen=True, slots=True)
class KpiRow:
    """Counts and rates of one group (a unit, a grid, or everything when ``key`` is None)."""

    key: str | None
    filed: int = 0
    dispatched: int = 0
    handled: int = 0
    handled_on_time: int = 0
    closed: int = 0
    closed_on_time: int = 0
    ever_handled: int = 0
    reworked: int = 0
    extended: int = 0
    avg_handling_hours: float | None = None
    avg_handling_working_hours: float | None = None

    @property
    def disposal_rate(self) -> float | None:
        """处置率 = handled / dispatched."""
        return _rate(self.handled, self.dispatched)

    @property
    def on_time_disposal_rate(self) -> float | None:
        """按期处置率 = handled on time / dispatched."""
        return _rate(self.handled_on_time, self.dispatched)

    @property
    def closure_rate(self) -> float | None:
        """结案率 = closed / filed."""
        return _rate(self.closed, self.filed)

    @property
    def on_time_closure_rate(self) -> float | None:
        """按期结案率 = closed on time / filed."""
        return _rate(self.closed_on_time, self.filed)

    @property
    def rework_rate(self) -> float | None:
        """返工率 = reworked / ever handled."""
        return _rate(self.reworked, self.ever_handled)

    @property
    def extension_rate(self) -> float | None:
        """延期率 = extended / dispatched."""
        return _rate(self.extended, self.dispatched)

    def rates(self) -> dict[str, float | None]:
        """Every rate by its field name."""
        return {name: getattr(self, name) for name in RATE_NAMES}


RATE_NAMES = ("disposal_rate", "on_time_disposal_rate", "closure_rate", "on_time_closure_rate",
              "rework_rate", "extension_rate")
COUNT_NAMES = ("filed", "dispatched", "handled", "handled_on_time", "closed", "closed_on_time",
               "ever_handled", "reworked", "extended")


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def build_cycles(events: Iterable[CaseEventRecord], until: datetime) -> list[CaseCycle]:
    """Group events (of any cases, in any order) into cycles, using only events before ``until``."""
    require_aware(until, "until")
    by_case: dict[int, list[CaseEventRecord]] = defaultdict(list)
    for event in events:
        require_aware(event.at, f"event {event.id} time")
        if event.at < until:
            by_case[event.case_id].append(event)
    cycles: list[CaseCycle] = []
    for case_id in sorted(by_case):
        cycle: CaseCycle | None = None
        for event in sorted(by_case[case_id], key=lambda e: (e.at, e.id)):
            if event.action == CaseAction.FILE:
                cycle = CaseCycle(case_id, event.at, event.unit, event.grid_id)
                cycles.append(cycle)
            elif cycle is not None:  # events before any filing belong to no cycle
                _apply(cycle, event)
    return cycles


def _apply(cycle: CaseCycle, event: CaseEventRecord) -> None:
    action = event.action
    if action == CaseAction.DISPATCH:
        if cycle.first_dispatch_at is None:
            cycle.first_dispatch_at = event.at
        cycle.last_dispatch_at = event.at
        cycle.unit = event.unit if event.unit is not None else cycle.unit
    elif action == CaseAction.HANDLE:
        cycle.ever_handled = True
        cycle.handled_at = event.at
        cycle.handled_from = cycle.last_dispatch_at
        cycle.handled_on_time = event.handle_due is not None and event.at <= event.handle_due
    elif action == CaseAction.REWORK:
        cycle.reworked = True
        cycle.handled_at, cycle.handled_from, cycle.handled_on_time = None, None, False
    elif action == CaseAction.EXTEND:
        cycle.extended = True
    elif action == CaseAction.CLOSE:
        cycle.closed_at = event.at
        cycle.closed_on_time = event.close_due is not None and event.at <= event.close_due


@dataclass(slots=True)
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    handling: list[timedelta] = field(default_factory=list)
    handling_working: list[timedelta] = field(default_factory=list)


def _hours(spans: list[timedelta]) -> float | None:
    return None if not spans else sum(s.total_seconds() for s in spans) / len(spans) / 3600.0


def compute_kpis(
    events: Iterable[CaseEventRecord],
    *,
    since: datetime,
    until: datetime,
    group_by: GroupBy | None = None,
    unit: str | None = None,
    grid_id: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[KpiRow]:
    """KPIs of the period ``since <= t < until`` (see the module docstring for each formula).

    Args:
        events: Case events; those of cases with no filing or dispatch in the period are ignored.
        since: Start of the period (inclusive, timezone-aware).
        until: End of the period (exclusive); later events are not seen.
        group_by: One row per unit or per grid (sorted by key, None last); None: one total row.
        unit: Only cycles of this unit.
        grid_id: Only cycles of this grid.
        calendar: For the average handling time in working hours (left None without it).

    Returns:
        The rows; with ``group_by=None`` exactly one (key None), even when nothing happened.

    Raises:
        ValueError: Naive times, or ``since`` not before ``until``.
    """
    require_aware(since, "since")
    require_aware(until, "until")
    if not since < until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    tallies: dict[str | None, _Tally] = defaultdict(_Tally)
    if group_by is None:
        tallies[None] = _Tally()
    for cycle in build_cycles(events, until):
        if (unit is not None and cycle.unit != unit) or (grid_id is not None and cycle.grid_id != grid_id):
            continue
        filed = since <= cycle.filed_at < until
        dispatched = cycle.first_dispatch_at is not None and since <= cycle.first_dispatch_at < until
        if not (filed or dispatched):
            continue
        key = None if group_by is None else (cycle.unit if group_by == "unit" else cycle.grid_id)
        tally = tallies[key]
        counts = tally.counts
        if filed:
            counts["filed"] += 1
            counts["closed"] += cycle.closed_at is not None
            counts["closed_on_time"] += cycle.closed_at is not None and cycle.closed_on_time
        if dispatched:
            counts["dispatched"] += 1
            counts["ever_handled"] += cycle.ever_handled
            counts["reworked"] += cycle.reworked
            counts["extended"] += cycle.extended
            if cycle.handled_at is not None:
                counts["handled"] += 1
                counts["handled_on_time"] += cycle.handled_on_time
                start = cycle.handled_from or cycle.first_dispatch_at
                assert start is not None  # dispatched
                tally.handling.append(cycle.handled_at - start)
                if calendar is not None:
                    tally.handling_working.append(calendar.working_time_between(start, cycle.handled_at))
    rows = [KpiRow(key=key, **t.counts, avg_handling_hours=_hours(t.handling),
                   avg_handling_working_hours=_hours(t.handling_working)) for key, t in tallies.items()]
    return sorted(rows, key=lambda r: (r.key is None, r.key or ""))
