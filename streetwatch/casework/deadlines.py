"""Working-time arithmetic and the time limits (时限) of the case workflow.

A :class:`WorkingCalendar` knows the working periods of a day (e.g. 08:30-12:00 and
13:30-17:30, Asia/Shanghai), which dates are public holidays and which weekend dates are
adjusted working days (调休上班). A date is a working day when it is an adjusted working
day, or a Monday-Friday that is not a holiday.

A :class:`DeadlineTable` gives each event code two limits in working time, counted from
dispatch (派遣): ``handle`` (处置) and ``close`` (结案). ``"2h"`` is two working hours;
``"1d"`` is one working day, i.e. as many working hours as the calendar's full day (so
dispatched at 10:00, "1d" falls due at 10:00 on the next working day).

Rules of the arithmetic (the tests hold a table of them):

- Time outside working periods does not count: a case dispatched on Saturday starts its
  clock at the first working minute after (Monday 08:30, or an adjusted Saturday's 08:30).
- A deadline that uses up a period exactly falls at the period's end (12:00, not 13:30).
- All times in and out are timezone-aware; results are UTC.
- Dates outside the years a calendar covers count weekends only (holidays of unknown years
  cannot be guessed); :meth:`WorkingCalendar.covers` says whether a date is covered.

Config files: ``models/workflow/deadlines.yaml`` and the holiday files it lists (see their comments).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from streetwatch.core.errors import BadInputError
from streetwatch.core.resources import ASSETS_DIR
from streetwatch.store.column_types import require_aware

MODELS_WORKFLOW_DIR: Final = ASSETS_DIR / "workflow"
DEFAULT_DEADLINES_PATH: Final = MODELS_WORKFLOW_DIR / "deadlines.yaml"
_MAX_DAYS: Final = 3660  # a limit needing more calendar days than this is a config error
_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hd])\s*$")


class CalendarError(BadInputError, ValueError):
    """A calendar or deadline config that cannot be used (bad period, date, limit, file)."""


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Working days and hours in one time zone.

    Attributes:
        timezone: Where the working hours are wall-clock times.
        periods: Working periods of a day, ``(start, end)``, sorted, not overlapping.
        holidays: Dates off (holiday breaks, weekend days inside them included).
        working_weekends: Saturdays/Sundays that are working days (调休上班).
        years: The years whose holidays are known (empty: weekends only, everywhere).
    """

    timezone: ZoneInfo
    periods: tuple[tuple[time, time], ...]
    holidays: frozenset[date] = frozenset()
    working_weekends: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not self.periods:
            raise CalendarError("a working calendar needs at least one working period, got none")
        previous_end: time | None = None
        for start, end in self.periods:
            if not start < end:
                raise CalendarError(f"working period {start:%H:%M}-{end:%H:%M} must end after it starts")
            if previous_end is not None and start < previous_end:
                raise CalendarError(f"working periods must be in order and not overlap: {start:%H:%M} "
                                    f"starts before the previous period ends at {previous_end:%H:%M}")
            previous_end = end
        both = self.holidays & self.working_weekends
        if both:
            raise CalendarError(f"dates both holidays and adjusted working days: "
                                f"{', '.join(d.isoformat() for d in sorted(both))}")
        weekdays = sorted(d for d in self.working_weekends if d.weekday() < 5)
        if weekdays:
            raise CalendarError(f"adjusted working days must be Saturdays or Sundays, got weekdays: "
                                f"{', '.join(f'{d.isoformat()} ({d:%a})' for d in weekdays)}")

    @property
    def day_length(self) -> timedelta:
        """The working time of one full working day (7.5 h for 08:30-12:00 + 13:30-17:30)."""
        return sum((_span(start, end) for start, end in self.periods), timedelta())

    def covers(self, day: date) -> bool:
        """Whether the holidays of ``day``'s year are known."""
        return day.year in self.years

    def is_working_day(self, day: date) -> bool:
        """A Monday-Friday that is no holiday, or an adjusted working weekend day."""
        if day in self.working_weekends:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def _periods_utc(self, day: date) -> list[tuple[datetime, datetime]]:
        # Through UTC so that a DST change inside a period is measured correctly.
        return [(datetime.combine(day, start, self.timezone).astimezone(UTC),
                 datetime.combine(day, end, self.timezone).astimezone(UTC)) for start, end in self.periods]

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The moment ``amount`` of working time after ``start`` (UTC).

        Raises:
            ValueError: ``start`` is naive or ``amount`` is negative.
            CalendarError: No working time for ``_MAX_DAYS`` days (a calendar of holidays only).
        """
        start = require_aware(start, "start")
        if amount < timedelta():
            raise ValueError(f"working time to add must be zero or more, got {amount}")
        if amount == timedelta():
            return start
        remaining = amount
        day = start.astimezone(self.timezone).date()
        for _ in range(_MAX_DAYS):
            if self.is_working_day(day):
                for period_start, period_end in self._periods_utc(day):
                    if start >= period_end:
                        continue
                    begin = max(start, period_start)
                    available = period_end - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            day += timedelta(days=1)
        raise CalendarError(f"no {amount} of working time within {_MAX_DAYS} days after {start.isoformat()}")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end`` (zero when ``end`` is not after ``start``)."""
        start = require_aware(start, "start")
        end = require_aware(end, "end")
        total = timedelta()
        if end <= start:
            return total
        day = start.astimezone(self.timezone).date()
        last = end.astimezone(self.timezone).date()
        while day <= last:
            if self.is_working_day(day):
                for period_start, period_end in self._periods_utc(day):
                    overlap = min(end, period_end) - max(start, period_start)
                    if overlap > timedelta():
                        total += overlap
            day += timedelta(days=1)
        return total


def _span(start: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """A time limit in working time: ``amount`` working hours (``unit="h"``) or days (``"d"``)."""

    amount: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in ("h", "d"):
            raise CalendarError(f"time limit unit must be 'h' (working hours) or 'd' (working days), "
                                f"got {self.unit!r}")
        if not self.amount > 0:
            raise CalendarError(f"time limit must be positive, got {self.amount:g}{self.unit}")

    @classmethod
    def parse(cls, text: object, where: str = "time limit") -> TimeLimit:
        """Parse ``"2h"`` (working hours) or ``"1d"`` / ``"1.5d"`` (working days)."""
        match = _AMOUNT.match(str(text)) if isinstance(text, str | int | float) else None
        if match is None:
            raise CalendarError(f"{where}: expected a working time like '2h' or '1d', got {text!r}")
        return cls(float(match.group(1)), match.group(2))

    def as_working_time(self, calendar: WorkingCalendar) -> timedelta:
        """The limit as working time on ``calendar`` (days are full working days)."""
        if self.unit == "h":
            return timedelta(hours=self.amount)
        return calendar.day_length * self.amount

    def __str__(self) -> str:
        return f"{self.amount:g}{self.unit}"


@dataclass(frozen=True, slots=True)
class EventLimits:
    """The handling and closing limits of one event code, from dispatch."""

    handle: TimeLimit
    close: TimeLimit


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When a dispatched case must be handled and closed (UTC)."""

    handle_due: datetime
    close_due: datetime


@dataclass(frozen=True, slots=True)
class DeadlineTable:
    """Time limits per event code on a working calendar."""

    calendar: WorkingCalendar
    default: EventLimits
    events: Mapping[str, EventLimits] = field(default_factory=dict)

    def limits_for(self, event_code: str) -> EventLimits:
        """The limits of ``event_code``, or the default ones."""
        return self.events.get(event_code, self.default)

    def deadlines(self, event_code: str, dispatched_at: datetime) -> Deadlines:
        """When a case of ``event_code`` dispatched at ``dispatched_at`` is due (the SLA clock)."""
        limits = self.limits_for(event_code)
        add = self.calendar.add_working_time
        return Deadlines(handle_due=add(dispatched_at, limits.handle.as_working_time(self.calendar)),
                         close_due=add(dispatched_at, limits.close.as_working_time(self.calendar)))

    def extend(self, due: datetime, by: TimeLimit) -> datetime:
        """A deadline pushed back by ``by`` working time (延期)."""
        return self.calendar.add_working_time(due, by.as_working_time(self.calendar))


# --- loading ----------------------------------------------------------------------------------

def parse_period(text: object, where: str = "working_hours") -> tuple[time, time]:
    """Parse ``"08:30-12:00"``."""
    match = _PERIOD.match(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(f"{where}: expected a period like '08:30-12:00', got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise CalendarError(f"{where}: {text!r} is not a valid time of day ({exc})") from None


def _date(value: object, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarError(f"{where}: expected a date like 2026-10-01, got {value!r}")


def _mapping(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CalendarError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return raw


def _list(raw: object, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CalendarError(f"{where}: expected a list, got {type(raw).__name__}")
    return raw


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalendarError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path} is not valid YAML: {exc}") from None


@dataclass(frozen=True, slots=True)
class HolidayFile:
    """The contents of one holiday file: a year's days off and adjusted working days."""

    year: int
    holidays: frozenset[date]
    working_days: frozenset[date]


def parse_holidays(raw: object, source: str = "holidays") -> HolidayFile:
    """Parse a holiday file's contents (see ``models/workflow/holidays-2026.yaml``)."""
    top = _mapping(raw, source)
    year = top.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise CalendarError(f"{source}: 'year' must be a year like 2026, got {year!r}")
    days_off: set[date] = set()
    for i, item in enumerate(_list(top.get("holidays"), f"{source}: holidays")):
        where = f"{source}: holidays[{i}]"
        entry = _mapping(item, where)
        first, last = _date(entry.get("first"), f"{where}.first"), _date(entry.get("last"), f"{where}.last")
        if last < first:
            raise CalendarError(f"{where}: last ({last}) is before first ({first})")
        days_off.update(first + timedelta(days=k) for k in range((last - first).days + 1))
    working = {_date(_mapping(item, f"{source}: working_days[{i}]").get("date"), f"{source}: working_days[{i}]")
               for i, item in enumerate(_list(top.get("working_days"), f"{source}: working_days"))}
    outside = sorted(d for d in days_off | working if d.year != year)
    if outside:
        raise CalendarError(f"{source}: dates outside year {year}: {', '.join(map(str, outside))}")
    return HolidayFile(year, frozenset(days_off), frozenset(working))


def parse_deadlines(raw: object, source: str = "deadlines", base_dir: Path | None = None) -> DeadlineTable:
    """Parse a deadlines config (see ``models/workflow/deadlines.yaml``).

    Args:
        raw: The parsed YAML.
        source: Named in error messages.
        base_dir: Where the listed holiday calendars are; None reads none.

    Raises:
        CalendarError: Anything malformed, with where it is.
    """
    top = _mapping(raw, source)
    try:
        zone = ZoneInfo(str(top.get("timezone", "Asia/Shanghai")))
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"{source}: unknown time zone {top.get('timezone')!r}") from None
    periods = tuple(parse_period(p, f"{source}: working_hours[{i}]")
                    for i, p in enumerate(_list(top.get("working_hours"), f"{source}: working_hours")))
    files = [parse_holidays(_read_yaml(base_dir / str(name)), str(base_dir / str(name)))
             for name in _list(top.get("calendars"), f"{source}: calendars")] if base_dir is not None else []
    calendar = WorkingCalendar(
        timezone=zone, periods=periods,
        holidays=frozenset(d for f in files for d in f.holidays),
        working_weekends=frozenset(d for f in files for d in f.working_days),
        years=frozenset(f.year for f in files),
    )
    default = _limits(top.get("default"), f"{source}: default")
    events = {str(code): _limits(value, f"{source}: events[{code!r}]")
              for code, value in _mapping(top.get("events") or {}, f"{source}: events").items()}
    return DeadlineTable(calendar=calendar, default=default, events=events)


def _limits(raw: object, where: str) -> EventLimits:
    entry = _mapping(raw, where)
    unknown = sorted(set(entry) - {"handle", "close"})
    if unknown:
        raise CalendarError(f"{where}: unknown keys {unknown}; expected 'handle' and 'close'")
    if "handle" not in entry or "close" not in entry:
        raise CalendarError(f"{where}: needs both 'handle' and 'close', got {sorted(entry)}")
    return EventLimits(TimeLimit.parse(entry["handle"], f"{where}.handle"),
                       TimeLimit.parse(entry["close"], f"{where}.close"))


def load_deadlines(path: Path | str = DEFAULT_DEADLINES_PATH) -> DeadlineTable:
    """Read a deadlines file and the holiday calendars it lists (relative to it)."""
    path = Path(path)
    return parse_deadlines(_read_yaml(path), str(path), base_dir=path.parent)
