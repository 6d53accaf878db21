"""KPIs against a hand-computed month: every count and rate worked out on paper (see FIXTURE)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from streetwatch.casework.deadlines import load_deadlines
from streetwatch.casework.kpis import CaseEventRecord, KpiRow, build_cycles, compute_kpis

SH = ZoneInfo("Asia/Shanghai")
SINCE = datetime(2026, 11, 1, tzinfo=SH)
UNTIL = datetime(2026, 12, 1, tzinfo=SH)
CALENDAR = load_deadlines().calendar


def t(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=SH)


# (case, action, time, unit, grid, handle_due, close_due). November 2026: the 2nd is a Monday.
FIXTURE: list[tuple[int, str, str, str, str, str | None, str | None]] = [
    # 1: on time all the way.
    (1, "file", "11-02 09:00", "A", "g1", None, None),
    (1, "dispatch", "11-02 10:00", "A", "g1", "11-02 12:00", "11-02 15:30"),
    (1, "handle", "11-02 11:00", "A", "g1", "11-02 12:00", "11-02 15:30"),
    (1, "check", "11-02 14:00", "A", "g1", "11-02 12:00", "11-02 15:30"),
    (1, "close", "11-02 15:00", "A", "g1", "11-02 12:00", "11-02 15:30"),
    # 2: handled late, closed late.
    (2, "file", "11-03 09:00", "A", "g1", None, None),
    (2, "dispatch", "11-03 10:00", "A", "g1", "11-03 12:00", "11-03 15:30"),
    (2, "handle", "11-03 13:00", "A", "g1", "11-03 12:00", "11-03 15:30"),
    (2, "check", "11-03 16:00", "A", "g1", "11-03 12:00", "11-03 15:30"),
    (2, "close", "11-04 09:00", "A", "g1", "11-03 12:00", "11-03 15:30"),
    # 3: extended, handled in time, check failed (rework), handled again after the deadline; open.
    (3, "file", "11-05 09:00", "A", "g2", None, None),
    (3, "dispatch", "11-05 10:00", "A", "g2", "11-05 12:00", "11-05 15:30"),
    (3, "extend", "11-05 11:00", "A", "g2", "11-05 15:00", "11-05 17:00"),
    (3, "handle", "11-05 14:00", "A", "g2", "11-05 15:00", "11-05 17:00"),
    (3, "rework", "11-05 15:00", "A", "g2", "11-05 15:00", "11-05 17:00"),
    (3, "handle", "11-05 16:00", "A", "g2", "11-05 15:00", "11-05 17:00"),
    # 4: filed to A, dispatched to A, returned, re-dispatched to B (a fresh clock), handled in time.
    (4, "file", "11-06 09:00", "A", "g2", None, None),
    (4, "dispatch", "11-06 10:00", "A", "g2", "11-06 12:00", "11-06 15:30"),
    (4, "return", "11-06 11:00", "A", "g2", None, None),
    (4, "dispatch", "11-06 13:30", "B", "g2", "11-06 15:30", "11-09 09:30"),
    (4, "handle", "11-06 14:30", "B", "g2", "11-06 15:30", "11-09 09:30"),
    # 5: filed in October, dispatched in November, never handled.
    (5, "file", "10-30 09:00", "B", "g1", None, None),
    (5, "dispatch", "11-02 09:00", "B", "g1", "11-02 11:00", "11-02 14:30"),
    # 6: filed, never dispatched.
    (6, "file", "11-20 09:00", "B", "g1", None, None),
    # 7: dispatched on the last evening, handled after the period: not handled in November.
    (7, "file", "11-28 09:00", "A", "g1", None, None),
    (7, "dispatch", "11-30 17:00", "A", "g1", "12-01 09:00", "12-01 11:00"),
    (7, "handle", "12-01 08:50", "A", "g1", "12-01 09:00", "12-01 11:00"),
    # 8: a whole cycle in October (ignored), reopened and filed again in November, all on time.
    (8, "file", "10-12 09:00", "A", "g2", None, None),
    (8, "dispatch", "10-12 10:00", "A", "g2", "10-12 12:00", "10-12 15:30"),
    (8, "handle", "10-12 11:00", "A", "g2", "10-12 12:00", "10-12 15:30"),
    (8, "check", "10-12 11:30", "A", "g2", "10-12 12:00", "10-12 15:30"),
    (8, "close", "10-12 14:00", "A", "g2", "10-12 12:00", "10-12 15:30"),
    (8, "file", "11-16 09:00", "A", "g2", None, None),
    (8, "dispatch", "11-16 10:00", "A", "g2", "11-16 12:00", "11-16 15:30"),
    (8, "handle", "11-16 11:00", "A", "g2", "11-16 12:00", "11-16 15:30"),
    (8, "check", "11-16 11:30", "A", "g2", "11-16 12:00", "11-16 15:30"),
    (8, "close", "11-16 12:00", "A", "g2", "11-16 12:00", "11-16 15:30"),
]


def events() -> list[CaseEventRecord]:
    # Shuffled on purpose (reversed): the KPIs must order events themselves.
    return [
        CaseEventRecord(id=i, case_id=case, action=action, at=t(at), unit=unit, grid_id=grid,
                        handle_due=t(hd) if hd else None, close_due=t(cd) if cd else None)
        for i, (case, action, at, unit, grid, hd, cd) in reversed(list(enumerate(FIXTURE, start=1)))
    ]


# Worked out by hand from FIXTURE (see the comments there):
# F filed in Nov: 1,2,3,4,6,7,8'  D first dispatched in Nov: 1,2,3,4,5,7,8'
# H standing handling: 1,2,3,4,8'  on time: 1,4,8'  C closed: 1,2,8'  on time: 1,8'
# E ever handled: 1,2,3,4,8'  R reworked: 3  X extended: 3
# handling hours (from the last dispatch): 1, 3, 6, 1, 1 -> 2.4; working hours 1, 2, 4.5, 1, 1 -> 1.9
TOTAL = KpiRow(key=None, filed=7, dispatched=7, handled=5, handled_on_time=3, closed=3, closed_on_time=2,
               ever_handled=5, reworked=1, extended=1, avg_handling_hours=2.4, avg_handling_working_hours=1.9)
BY_UNIT = [
    KpiRow(key="A", filed=5, dispatched=5, handled=4, handled_on_time=2, closed=3, closed_on_time=2,
           ever_handled=4, reworked=1, extended=1, avg_handling_hours=11 / 4, avg_handling_working_hours=8.5 / 4),
    KpiRow(key="B", filed=2, dispatched=2, handled=1, handled_on_time=1, closed=0, closed_on_time=0,
           ever_handled=1, reworked=0, extended=0, avg_handling_hours=1.0, avg_handling_working_hours=1.0),
]
BY_GRID = [
    KpiRow(key="g1", filed=4, dispatched=4, handled=2, handled_on_time=1, closed=2, closed_on_time=1,
           ever_handled=2, reworked=0, extended=0, avg_handling_hours=2.0, avg_handling_working_hours=1.5),
    KpiRow(key="g2", filed=3, dispatched=3, handled=3, handled_on_time=2, closed=1, closed_on_time=1,
           ever_handled=3, reworked=1, extended=1, avg_handling_hours=8 / 3, avg_handling_working_hours=6.5 / 3),
]


def assert_rows(got: list[KpiRow], expected: list[KpiRow]) -> None:
    assert [r.key for r in got] == [r.key for r in expected]
    for g, e in zip(got, expected, strict=True):
        for name in ("filed", "dispatched", "handled", "handled_on_time", "closed", "closed_on_time",
                     "ever_handled", "reworked", "extended"):
            assert getattr(g, name) == getattr(e, name), f"{e.key}: {name}"
        for name in ("avg_handling_hours", "avg_handling_working_hours"):
            assert getattr(g, name) == pytest.approx(getattr(e, name)), f"{e.key}: {name}"


def test_total() -> None:
    assert_rows(compute_kpis(events(), since=SINCE, until=UNTIL, calendar=CALENDAR), [TOTAL])


def test_by_unit() -> None:
    assert_rows(compute_kpis(events(), since=SINCE, until=UNTIL, group_by="unit", calendar=CALENDAR), BY_UNIT)


def test_by_grid() -> None:
    assert_rows(compute_kpis(events(), since=SINCE, until=UNTIL, group_by="grid", calendar=CALENDAR), BY_GRID)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("disposal_rate", 5 / 7), ("on_time_disposal_rate", 3 / 7), ("closure_rate", 3 / 7),
     ("on_time_closure_rate", 2 / 7), ("rework_rate", 1 / 5), ("extension_rate", 1 / 7)],
)
def test_rates(rate: str, expected: float) -> None:
    row = compute_kpis(events(), since=SINCE, until=UNTIL)[0]
    assert getattr(row, rate) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [({"unit": "B"}, BY_UNIT[1:]), ({"grid_id": "g2"}, BY_GRID[1:]), ({"unit": "nobody"}, [])],
)
def test_filters(filters: dict[str, str], expected: list[KpiRow]) -> None:
    group = "unit" if "unit" in filters else "grid"
    rows = compute_kpis(events(), since=SINCE, until=UNTIL, group_by=group, calendar=CALENDAR,  # type: ignore[arg-type]
                        **filters)
    assert_rows(rows, expected)


def test_an_empty_period_has_one_total_row_with_no_rates() -> None:
    rows = compute_kpis(events(), since=datetime(2027, 1, 1, tzinfo=SH), until=datetime(2027, 2, 1, tzinfo=SH))
    assert len(rows) == 1 and rows[0].dispatched == 0
    assert all(v is None for v in rows[0].rates().values()) and rows[0].avg_handling_hours is None


def test_the_report_does_not_see_the_future() -> None:
    """November seen from mid-month: case 2's late close (11-04) counts, case 8's second cycle does not exist."""
    row = compute_kpis(events(), since=SINCE, until=t("11-10 00:00"))[0]
    assert (row.filed, row.dispatched, row.closed) == (4, 5, 2)


def test_cycles_split_at_each_filing() -> None:
    cycles = [c for c in build_cycles(events(), UNTIL) if c.case_id == 8]
    assert [c.filed_at for c in cycles] == [t("10-12 09:00"), t("11-16 09:00")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"since": UNTIL, "until": SINCE}, "must be before"),
     ({"since": datetime(2026, 11, 1), "until": UNTIL}, "timezone-aware")],
)
def test_bad_periods(kwargs: dict[str, datetime], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_kpis([], since=kwargs["since"], until=kwargs["until"])
