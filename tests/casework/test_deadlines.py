"""Working-time arithmetic on the shipped 2026 calendar: weekends, lunch, holidays, adjusted working days."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streetwatch.casework.deadlines import (
    CalendarError,
    TimeLimit,
    WorkingCalendar,
    load_deadlines,
    parse_deadlines,
    parse_holidays,
)
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLE = load_deadlines()
CAL = TABLE.calendar


def local(text: str) -> datetime:
    """'2026-03-02 10:00' in Shanghai time."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


ADD_CASES = [
    # (id, start, working time to add, expected end) -- all Shanghai wall-clock
    ("fills-morning-exactly", "2026-03-02 10:00", "2h", "2026-03-02 12:00"),
    ("over-lunch", "2026-03-02 11:00", "2h", "2026-03-02 14:30"),
    ("start-in-lunch", "2026-03-02 12:30", "1h", "2026-03-02 14:30"),
    ("start-before-work", "2026-03-02 07:00", "1h", "2026-03-02 09:30"),
    ("start-after-work", "2026-03-02 18:00", "1h", "2026-03-03 09:30"),
    ("friday-evening-to-monday", "2026-03-06 17:00", "1h", "2026-03-09 09:00"),
    ("saturday-to-monday", "2026-03-07 10:00", "1h", "2026-03-09 09:30"),
    ("one-day-same-clock-next-day", "2026-03-02 10:00", "1d", "2026-03-03 10:00"),
    ("one-day-friday-to-monday", "2026-03-06 10:00", "1d", "2026-03-09 10:00"),
    ("national-day-break", "2026-09-30 16:00", "4h", "2026-10-08 11:00"),
    ("five-days-over-national-day", "2026-09-30 10:00", "5d", "2026-10-13 10:00"),
    ("adjusted-working-sunday", "2026-09-19 10:00", "1h", "2026-09-20 09:30"),
    ("adjusted-working-saturday", "2026-10-09 17:00", "1h", "2026-10-10 09:00"),
    ("spring-festival-eve-saturday-works", "2026-02-13 17:00", "1h", "2026-02-14 09:00"),
    ("spring-festival-nine-days", "2026-02-14 17:30", "1h", "2026-02-24 09:30"),
    ("labour-day", "2026-04-30 17:00", "1h", "2026-05-06 09:00"),
    ("new-year-from-uncovered-2025", "2025-12-31 17:00", "1h", "2026-01-04 09:00"),
    ("zero-adds-nothing-even-off-hours", "2026-03-07 10:00", "0h", "2026-03-07 10:00"),
    ("half-hour-ends-period", "2026-03-02 17:00", "0.5h", "2026-03-02 17:30"),
]


@pytest.mark.parametrize(("start", "amount", "expected"), [c[1:] for c in ADD_CASES], ids=[c[0] for c in ADD_CASES])
def test_add_working_time(start: str, amount: str, expected: str) -> None:
    limit = timedelta() if amount == "0h" else TimeLimit.parse(amount).as_working_time(CAL)
    end = CAL.add_working_time(local(start), limit)
    assert end.tzinfo is not None and end.utcoffset() == timedelta(0)
    assert end == local(expected), f"{start} + {amount}: got {end.astimezone(SHANGHAI)}"


BETWEEN_CASES = [
    ("same-day-over-lunch", "2026-03-02 10:00", "2026-03-02 14:30", 3.0),
    ("over-weekend", "2026-03-06 17:00", "2026-03-09 09:00", 1.0),
    ("over-national-day", "2026-09-30 16:00", "2026-10-08 11:00", 4.0),
    ("reversed-is-zero", "2026-03-02 14:00", "2026-03-02 10:00", 0.0),
    ("all-off-hours", "2026-03-07 08:00", "2026-03-08 20:00", 0.0),
    ("adjusted-sunday-counts", "2026-09-20 00:00", "2026-09-21 00:00", 7.5),
]


@pytest.mark.parametrize(("start", "end", "hours"), [c[1:] for c in BETWEEN_CASES],
                         ids=[c[0] for c in BETWEEN_CASES])
def test_working_time_between(start: str, end: str, hours: float) -> None:
    assert CAL.working_time_between(local(start), local(end)) == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("day", "working"),
    [("2026-10-01", False), ("2026-10-08", True), ("2026-10-10", True), ("2026-10-11", False),
     ("2026-02-14", True), ("2026-02-23", False), ("2026-03-07", False), ("2026-01-04", True)],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert CAL.is_working_day(datetime.fromisoformat(day).date()) is working


@settings(max_examples=60, deadline=None)
@given(start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20)),
       minutes=st.integers(min_value=0, max_value=60 * 60))
def test_add_then_measure_round_trips(start: datetime, minutes: int) -> None:
    begin = start.replace(tzinfo=UTC)
    amount = timedelta(minutes=minutes)
    assert CAL.working_time_between(begin, CAL.add_working_time(begin, amount)) == amount


def test_deadlines_start_at_dispatch() -> None:
    due = TABLE.deadlines("0502", local("2026-03-06 16:30"))  # 占道经营: handle 2h, close 4h
    assert due.handle_due == local("2026-03-09 09:30")
    assert due.close_due == local("2026-03-09 11:30")
    assert TABLE.limits_for("9999") == TABLE.default
    assert TABLE.extend(local("2026-03-09 09:30"), TimeLimit.parse("1d")) == local("2026-03-10 09:30")


def test_every_taxonomy_event_has_its_own_limits() -> None:
    codes = set(load_taxonomy(DEFAULT_TAXONOMY).events)
    assert codes <= set(TABLE.events), f"no deadline for {sorted(codes - set(TABLE.events))}"


def test_calendar_covers_2026_only() -> None:
    assert CAL.covers(datetime(2026, 6, 1).date()) and not CAL.covers(datetime(2027, 1, 1).date())
    assert CAL.day_length == timedelta(hours=7.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: CAL.add_working_time(datetime(2026, 3, 2, 10), timedelta(hours=1)), "timezone-aware"),
        (lambda: CAL.add_working_time(local("2026-03-02 10:00"), timedelta(hours=-1)), "zero or more"),
        (lambda: TimeLimit.parse("2w"), "'2h' or '1d'"),
        (lambda: TimeLimit.parse("0h"), "positive"),
        (lambda: WorkingCalendar(SHANGHAI, ()), "at least one working period"),
        (lambda: WorkingCalendar(SHANGHAI, ((time(13), time(12)),)), "must end after"),
        (lambda: WorkingCalendar(SHANGHAI, ((time(8), time(12)), (time(11), time(14)))), "not overlap"),
        (lambda: WorkingCalendar(SHANGHAI, ((time(8), time(12)),),
                                 working_weekends=frozenset({datetime(2026, 3, 2).date()})), "Saturdays or Sundays"),
        (lambda: parse_holidays({"year": 2026, "holidays": [{"first": "2026-10-07", "last": "2026-10-01"}]}),
         "before first"),
        (lambda: parse_holidays({"year": 2026, "holidays": [{"first": "2027-01-01", "last": "2027-01-01"}]}),
         "outside year 2026"),
        (lambda: parse_holidays({"year": "2026"}), "'year' must be"),
        (lambda: parse_holidays({"year": 2026, "working_days": [{"date": "Oct 10"}]}), "date like"),
        (lambda: parse_deadlines({"working_hours": ["8:30-12:60"], "default": {"handle": "1h", "close": "2h"}}),
         "valid time"),
        (lambda: parse_deadlines({"working_hours": ["08:30-12:00"], "default": {"handle": "1h"}}),
         "both 'handle' and 'close'"),
        (lambda: parse_deadlines({"working_hours": ["08:30-12:00"],
                                  "default": {"handle": "1h", "close": "2h", "check": "1h"}}), "unknown keys"),
        (lambda: parse_deadlines({"timezone": "Mars/Olympus", "working_hours": ["08:30-12:00"]}),
         "unknown time zone"),
        (lambda: load_deadlines("/nonexistent/deadlines.yaml"), "cannot read"),
    ],
)
def test_config_errors_say_what_is_wrong(call: object, message: str) -> None:
    with pytest.raises((CalendarError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        call()  # type: ignore[operator]
