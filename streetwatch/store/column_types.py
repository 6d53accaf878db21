"""Column types shared by every table: aware UTC datetimes and vocabulary enums.

Both are ``TypeDecorator``s over the column types the migrations created (``DateTime(timezone=True)``
and ``String(n)``), so the schema and the stored values are what they were; only what Python
gets back changes: an aware UTC ``datetime`` on every backend (SQLite keeps no offset), and a
member of the column's :mod:`streetwatch.core.vocab` enum.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (UTC), SQLite included.

    A naive datetime written to it is taken to be UTC already (the house convention), an aware
    one is converted to UTC first, so SQLite, which stores the wall-clock text without an offset,
    keeps every row in one zone and compares them correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        return as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is taken to be UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The times a query or a period may name: any footage, deadline or report fits, and converting a
# time between zones or adding a period to it stays inside Python's years 1..9999 (at the ends of
# that range a zone's offset alone overflows; PostgreSQL and SQLite would then disagree anyway).
MIN_SUPPORTED_TIME: Final = datetime(1900, 1, 1, tzinfo=UTC)
MAX_SUPPORTED_TIME: Final = datetime(3000, 1, 1, tzinfo=UTC)


def check_time_range(value: datetime) -> datetime:
    """``value`` unchanged (naive stays naive) if it lies in the supported range, taken as UTC when naive.

    Raises:
        ValueError: ``value`` is before ``MIN_SUPPORTED_TIME`` or not before ``MAX_SUPPORTED_TIME``.
    """
    try:
        in_range = MIN_SUPPORTED_TIME <= as_utc(value) < MAX_SUPPORTED_TIME
    except OverflowError:  # year 1 at +05:00 is before year 1 in UTC, year 9999 at -05:00 after 9999
        in_range = False
    if not in_range:
        raise ValueError(f"{value.isoformat()} is outside the supported times: from "
                         f"{MIN_SUPPORTED_TIME:%Y-%m-%d} up to {MAX_SUPPORTED_TIME:%Y-%m-%d} (UTC)")
    return value


def require_aware(value: datetime, what: str = "times") -> datetime:
    """``value`` in UTC, refusing a naive one: for inputs that must say their zone (a period, a clock).

    Raises:
        ValueError: ``value`` is naive.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class StrEnumType(TypeDecorator[StrEnum]):
    """A ``String(length)`` column that holds the values of one :class:`StrEnum` and nothing else.

    Writing (or comparing with) a value that is not one of the enum's raises ``ValueError`` naming
    the column's vocabulary; reading an unknown value back from the database raises the same,
    rather than handing the logic a string it does not know.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def _member(self, value: Any) -> StrEnum:
        try:
            return self.enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in self.enum)
            raise ValueError(f"{value!r} is not a {self.enum.__name__} (one of: {allowed})") from None

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self._member(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self._member(value)

    @property
    def python_type(self) -> type[StrEnum]:
        return self.enum

