"""Everything the monthly report (通报) shows, gathered from the store in one place.

:func:`build_monthly_report` reads one month: the KPIs overall, per unit and per grid (the same
``compute_kpis`` on the same events as ``GET /kpis`` for the month's bounds, so the report's
figures are the API's), the KPIs per family, the last six months' trend, the top recurring
places (:mod:`streetwatch.casework.hotspots`, against the previous month), the worst overdue
cases and, when a coverage source is given, the patrol coverage per grid.

Coverage is measured elsewhere (road segments patrolled per grid); the report takes it as plain
rows from any :class:`CoverageSource`. Without one, the report says that no coverage data was
supplied.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.casework.case_workflow import kpi_events
from streetwatch.casework.deadlines import WorkingCalendar
from streetwatch.casework.hotspots import RecurringPlace, recurring_places
from streetwatch.casework.kpis import CaseEventRecord, KpiRow, compute_kpis
from streetwatch.casework.report import MonthlyReport, month_bounds
from streetwatch.core.vocab import CaseStatus
from streetwatch.store.models import Case, utcnow

TREND_MONTHS = 6
TOP_RECURRING = 10
TOP_OVERDUE = 10


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """Patrol coverage of one grid in the period (measured by the coverage module, not here).

    Attributes:
        grid_id: The grid (网格).
        patrolled: Cells or road segments patrolled at least once.
        total: Cells or road segments in the grid.
        share_covered: patrolled / total, 0..1.
        last_patrolled: The last patrol through the grid, if any.
    """

    grid_id: str
    patrolled: int
    total: int
    share_covered: float
    last_patrolled: datetime | None


class CoverageSource(Protocol):
    """Anything that tells the patrol coverage per grid of a period."""

    def __call__(self, since: datetime, until: datetime) -> list[CoverageRow]: ...


@dataclass(frozen=True, slots=True)
class OverdueCase:
    """A case past its closing deadline and not closed at the report's cut-off."""

    case_id: int
    family: str
    event_code: str
    unit: str | None
    grid_id: str | None
    status: str
    close_due: datetime
    overdue_days: float


@dataclass(frozen=True, slots=True)
class MonthTrend:
    """One month of the trend: its total KPI row."""

    month: str
    total: KpiRow


@dataclass(frozen=True, slots=True)
class MonthlyReportPack:
    """The monthly report and its sections beyond the KPI tables.

    Attributes:
        report: The month's KPIs (overall, per unit, per grid).
        by_family: KPI rows per violation family (key: the family).
        trend: The last :data:`TREND_MONTHS` months, oldest first, ending with this one.
        recurring: The top recurring places, trend against the previous month.
        overdue: The worst overdue cases, most overdue first.
        coverage: Patrol coverage per grid, or None when no coverage data was supplied.
        as_of: The cut-off for "overdue" (the month's end, or now for the current month).
    """

    report: MonthlyReport
    by_family: list[KpiRow]
    trend: list[MonthTrend]
    recurring: list[RecurringPlace]
    overdue: list[OverdueCase]
    coverage: list[CoverageRow] | None
    as_of: datetime


def month_kpis(session: Session, month: str, calendar: WorkingCalendar,
               now: datetime | None = None) -> MonthlyReport:
    """The KPIs of one month, exactly as ``GET /kpis?since=<month start>&until=<month end>`` computes them."""
    since, until = month_bounds(month, calendar.timezone)
    events = kpi_events(session, since, until)
    common: dict[str, Any] = {"since": since, "until": until, "calendar": calendar}
    return MonthlyReport(month=month, since=since, until=until, total=compute_kpis(events, **common)[0],
                         by_unit=compute_kpis(events, group_by="unit", **common),
                         by_grid=compute_kpis(events, group_by="grid", **common), generated_at=now or utcnow())


def _shift_month(month: str, delta: int) -> str:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def kpis_by_family(session: Session, events: list[CaseEventRecord], *, since: datetime, until: datetime,
                   calendar: WorkingCalendar) -> list[KpiRow]:
    """One KPI row per family (key: the family), for the cases the events belong to."""
    ids = sorted({e.case_id for e in events})
    family_of: dict[int, str] = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        family_of.update((i, f) for i, f in session.execute(select(Case.id, Case.family).where(Case.id.in_(chunk))))
    grouped: dict[str, list[CaseEventRecord]] = defaultdict(list)
    for event in events:
        grouped[family_of.get(event.case_id, "?")].append(event)
    rows = []
    for family in sorted(grouped):
        row = compute_kpis(grouped[family], since=since, until=until, calendar=calendar)[0]
        if row.filed or row.dispatched:
            rows.append(replace(row, key=family))
    return rows


def overdue_cases(session: Session, as_of: datetime, limit: int = TOP_OVERDUE) -> list[OverdueCase]:
    """Cases whose closing deadline passed before ``as_of`` and that were not closed by then, most overdue first."""
    query = (select(Case).where(Case.close_due.is_not(None), Case.close_due < as_of,
                                (Case.closed_at.is_(None)) | (Case.closed_at >= as_of) |
                                (Case.status != CaseStatus.CLOSED.value))
             .order_by(Case.close_due, Case.id).limit(limit))
    out = []
    for case in session.scalars(query):
        assert case.close_due is not None  # filtered
        out.append(OverdueCase(case_id=case.id, family=case.family, event_code=case.event_code, unit=case.unit,
                               grid_id=case.grid_id, status=str(case.status), close_due=case.close_due,
                               overdue_days=(as_of - case.close_due) / timedelta(days=1)))
    return out


def build_monthly_report(
    session: Session, month: str, calendar: WorkingCalendar, *, coverage: CoverageSource | None = None,
    now: datetime | None = None,
) -> MonthlyReportPack:
    """Read everything the monthly report shows (see the module docstring).

    Raises:
        ValueError: Not a ``YYYY-MM`` month in the supported range.
    """
    now = now or utcnow()
    report = month_kpis(session, month, calendar, now)
    events = kpi_events(session, report.since, report.until)
    by_family = kpis_by_family(session, events, since=report.since, until=report.until, calendar=calendar)
    trend = []
    for back in range(TREND_MONTHS - 1, 0, -1):
        earlier = _shift_month(month, -back)
        try:
            trend.append(MonthTrend(earlier, month_kpis(session, earlier, calendar, now).total))
        except ValueError:  # before the supported range
            continue
    trend.append(MonthTrend(month, report.total))
    try:
        previous: tuple[datetime, datetime] | None = month_bounds(_shift_month(month, -1), calendar.timezone)
    except ValueError:  # the first supported month: the 31 days before it
        previous = None
    recurring = recurring_places(session, since=report.since, until=report.until, previous=previous,
                                 limit=TOP_RECURRING)
    as_of = min(report.until, now)
    return MonthlyReportPack(
        report=report, by_family=by_family, trend=trend, recurring=recurring, overdue=overdue_cases(session, as_of),
        coverage=None if coverage is None else coverage(report.since, report.until), as_of=as_of)
