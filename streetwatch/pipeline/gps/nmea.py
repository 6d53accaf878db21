"""NMEA 0183 logs (RMC, GGA, ZDA from any talker: GP, GN, GL, GA, BD...) to GPS fixes.

Every line's ``*HH`` checksum is verified. A corrupt line is common in a long log (a dropped
byte on a serial link), so bad lines are skipped and counted rather than failing the file;
so are void fixes (RMC status ``V``) and GGA sentences with fix quality 0.

RMC gives date, time, position, speed (knots, converted to m/s) and course (the heading).
GGA gives only the time of day, with altitude, HDOP, satellite count and fix quality: a GGA
is merged into the RMC of the same instant, or, with no such RMC, becomes a fix of its own
dated from the nearest RMC or ZDA in the file (crossing midnight either way). A file of GGA
sentences with no date anywhere cannot be placed in time and raises ``GpsFormatError``.

Anything before the ``$`` on a line (a logger's own timestamp) is ignored, as are lines
without ``$`` and sentence types other than RMC, GGA and ZDA.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pynmea2

from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.errors import GpsFormatError, ParseReport, SkipCounter, SkipReason

KNOTS_TO_M_PER_S = 1852.0 / 3600.0
_CHECKSUMMED = re.compile(r"^\$(?P<body>[^*]*)\*(?P<checksum>[0-9A-Fa-f]{2})\s*$")


@dataclass(frozen=True, slots=True)
class _Rmc:
    line: int
    when: dt.datetime
    fix: GpsFix | None  # None for a void RMC: it still dates the GGAs around it


@dataclass(frozen=True, slots=True)
class _Gga:
    line: int
    time_of_day: dt.time
    lat: float
    lon: float
    alt: float | None
    hdop: float | None
    quality: int
    satellites: int | None


@dataclass(frozen=True, slots=True)
class _Zda:
    line: int
    when: dt.datetime


_Record = _Rmc | _Gga | _Zda


def read_nmea(path: str | os.PathLike[str]) -> ParseReport:
    """Read an NMEA 0183 log into GPS fixes.

    Args:
        path: The log file (ASCII text, one sentence per line).

    Returns:
        The fixes sorted by time, and the counts of lines skipped per reason.

    Raises:
        GpsFormatError: If the file cannot be read, or it holds GGA fixes but no sentence in
            it gives a date.
    """
    skips = SkipCounter()
    try:
        with Path(path).open(encoding="ascii", errors="replace") as lines:
            parsed = (_parse_line(number, text, skips) for number, text in enumerate(lines, start=1))
            records = [record for record in parsed if record is not None]
    except OSError as exc:
        raise GpsFormatError(path, f"cannot read file: {exc.strerror or exc}") from exc

    fixes_by_time: dict[dt.datetime, GpsFix] = {}
    void_times: set[dt.datetime] = set()
    for record in records:
        if isinstance(record, _Rmc):
            if record.fix is None:
                void_times.add(record.when)
                skips.times.append(record.when.timestamp())  # logged without a position: dates the log's start
            else:
                fixes_by_time.setdefault(record.when, record.fix)  # a repeated sentence: keep the first

    for record, date_source in zip(records, _nearest_dated(records), strict=True):
        if not isinstance(record, _Gga):
            continue
        if date_source is None:
            skips.skip(SkipReason.NO_DATE, record.line, "GGA time of day, and no RMC or ZDA gives a date")
            continue
        when = _date_time_of_day(record.time_of_day, near=date_source)
        if when in void_times:
            continue  # the RMC of that instant called the fix void; trust it over the GGA
        known = fixes_by_time.get(when)
        if known is None:
            fixes_by_time[when] = GpsFix(
                t=when.timestamp(), lat=record.lat, lon=record.lon,
                alt=record.alt, fix=record.quality, hdop=record.hdop, satellites=record.satellites,
            )
        elif known.fix is None:  # merge the first GGA of that instant only
            fixes_by_time[when] = dataclasses.replace(
                known, alt=record.alt, fix=record.quality, hdop=record.hdop, satellites=record.satellites
            )

    if not fixes_by_time and skips.counts.get(SkipReason.NO_DATE):
        raise GpsFormatError(
            path,
            f"{skips.counts[SkipReason.NO_DATE]} GGA fixes carry only a time of day, and no RMC or ZDA "
            "sentence in the file gives their date",
        )
    return skips.report(path, list(fixes_by_time.values()))


def _parse_line(number: int, text: str, skips: SkipCounter) -> _Record | None:
    """One line to a record; None (counted in ``skips`` when it is a problem) for anything else."""
    dollar = text.find("$")
    if dollar < 0:
        return None
    line = text[dollar:].strip()
    try:
        sentence = pynmea2.parse(line, check=True)
    except pynmea2.ChecksumError:
        reason, detail = _checksum_problem(line)
        skips.skip(reason, number, detail)
        return None
    except pynmea2.SentenceTypeError:
        return None  # a well-formed sentence of a type we do not use
    except pynmea2.ParseError as exc:
        skips.skip(SkipReason.MALFORMED, number, f"not an NMEA sentence ({exc.args[0][0]})")
        return None
    try:
        if isinstance(sentence, pynmea2.RMC):
            return _rmc_record(number, sentence, skips)
        if isinstance(sentence, pynmea2.GGA):
            return _gga_record(number, sentence, skips)
        if isinstance(sentence, pynmea2.ZDA):
            return _zda_record(number, sentence)
    except (ValueError, TypeError) as exc:
        skips.skip(SkipReason.MALFORMED, number, f"{type(sentence).__name__}: {exc}")
    return None


def _rmc_record(number: int, rmc: pynmea2.RMC, skips: SkipCounter) -> _Rmc | None:
    if rmc.status != "A":
        skips.skip(SkipReason.VOID_FIX, number, f"RMC status {rmc.status!r} (void)")
        try:  # a void RMC usually still knows the date and time, which dates the GGAs around it
            return _Rmc(number, _rmc_time(rmc), None)
        except ValueError:
            return None  # a receiver still starting up: empty date and time
    when = _rmc_time(rmc)
    fix = GpsFix(
        t=when.timestamp(),
        lat=_latitude(rmc),
        lon=_longitude(rmc),
        heading=_optional_float(rmc.true_course, "course"),
        speed=_knots_to_m_per_s(rmc.spd_over_grnd),
    )
    return _Rmc(number, when, fix)


def _rmc_time(rmc: pynmea2.RMC) -> dt.datetime:
    date = rmc.datestamp
    if not isinstance(date, dt.date):
        raise ValueError(f"bad date {date!r}, expected DDMMYY")
    return dt.datetime.combine(date, _time_of_day(rmc.timestamp), tzinfo=dt.UTC)


def _zda_record(number: int, zda: pynmea2.ZDA) -> _Zda:
    day, month, year = zda.day, zda.month, zda.year
    if not all(isinstance(part, int) for part in (day, month, year)):
        raise ValueError(f"bad date {day!r}/{month!r}/{year!r}, expected day, month, 4-digit year")
    when = dt.datetime.combine(dt.date(year, month, day), _time_of_day(zda.timestamp), tzinfo=dt.UTC)
    return _Zda(number, when)


def _gga_record(number: int, gga: pynmea2.GGA, skips: SkipCounter) -> _Gga | None:
    quality = gga.gps_qual
    if not isinstance(quality, int):
        raise ValueError(f"bad fix quality {quality!r}")
    if quality == 0:
        skips.skip(SkipReason.NO_FIX, number, "GGA fix quality 0 (no fix)")
        return None
    return _Gga(
        line=number,
        time_of_day=_time_of_day(gga.timestamp),
        lat=_latitude(gga),
        lon=_longitude(gga),
        alt=_optional_float(gga.altitude, "altitude"),
        hdop=_optional_float(gga.horizontal_dil or None, "HDOP"),
        quality=quality,
        satellites=_optional_int(gga.num_sats, "satellite count"),
    )


def _time_of_day(value: object) -> dt.time:
    """The naive UTC time of day of a parsed NMEA timestamp field."""
    # pynmea2 hands back the raw text when a field does not parse; never trust its type
    if not isinstance(value, dt.time):
        raise ValueError(f"bad time of day {value!r}, expected hhmmss[.ss]")
    return value.replace(tzinfo=None)


def _latitude(sentence: pynmea2.RMC | pynmea2.GGA) -> float:
    if not sentence.lat or sentence.lat_dir not in ("N", "S"):
        raise ValueError(f"bad latitude {sentence.lat!r},{sentence.lat_dir!r}")
    return float(sentence.latitude)


def _longitude(sentence: pynmea2.RMC | pynmea2.GGA) -> float:
    if not sentence.lon or sentence.lon_dir not in ("E", "W"):
        raise ValueError(f"bad longitude {sentence.lon!r},{sentence.lon_dir!r}")
    return float(sentence.longitude)


def _optional_float(value: object, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"bad {name} {value!r}") from None


def _optional_int(value: object, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"bad {name} {value!r}") from None


def _knots_to_m_per_s(value: object) -> float | None:
    knots = _optional_float(value, "speed")
    return None if knots is None else knots * KNOTS_TO_M_PER_S


def _checksum_problem(line: str) -> tuple[SkipReason, str]:
    match = _CHECKSUMMED.match(line)
    if match is None:
        return SkipReason.MISSING_CHECKSUM, "NMEA sentence has no *HH checksum"
    expected = functools.reduce(operator.xor, map(ord, match["body"]), 0)
    found = match["checksum"].upper()
    return SkipReason.BAD_CHECKSUM, f"bad NMEA checksum (expected {expected:02X}, got {found})"


def _nearest_dated(records: list[_Record]) -> list[dt.datetime | None]:
    """For each record, the full time of the nearest dated record (RMC or ZDA) in the file.

    The nearest before it wins; records before the first dated one take the first after them.
    """
    nearest: list[dt.datetime | None] = []
    last: dt.datetime | None = None
    for record in records:
        if isinstance(record, _Rmc | _Zda):
            last = record.when
        nearest.append(last)
    first = next((when for when in nearest if when is not None), None)
    return [first if when is None else when for when in nearest]


def _date_time_of_day(time_of_day: dt.time, near: dt.datetime) -> dt.datetime:
    """The instant with this time of day that lies within 12 hours of ``near`` (across midnight)."""
    when = dt.datetime.combine(near.date(), time_of_day, tzinfo=dt.UTC)
    half_day = dt.timedelta(hours=12)
    if when - near > half_day:
        return when - dt.timedelta(days=1)
    if near - when > half_day:
        return when + dt.timedelta(days=1)
    return when
