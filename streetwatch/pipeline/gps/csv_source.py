"""CSV exports of GPS fixes.

Format: comma-separated, UTF-8 (a BOM is fine), a header row first, one fix per row.
Headers are matched case-insensitively and with surrounding spaces ignored; other columns are
ignored.

=========  ===========================  =====================================================
column     also accepted as             value
=========  ===========================  =====================================================
time       timestamp                    ISO 8601 (``2024-05-01T08:30:00.5+08:00``, ``...Z``) or
                                        UTC epoch seconds (``1714523400.5``). An ISO time
                                        without a zone is taken as UTC.
lat        latitude                     degrees, WGS84
lon        longitude, lng               degrees, WGS84
alt        altitude, ele, elevation     metres (optional)
heading    course                       degrees clockwise from true north (optional)
speed                                   m/s (optional)
hdop                                    horizontal dilution of precision (optional)
fix                                     fix quality, an integer (optional)
=========  ===========================  =====================================================

Empty cells in optional columns mean "not reported". A CSV is written by a program, so a bad
row means a broken export: it raises ``GpsFormatError`` with its line number instead of being
skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from pathlib import Path

from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.errors import GpsFormatError, ParseReport, SkipCounter

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "timestamp"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "longitude", "lng"),
    "alt": ("alt", "altitude", "ele", "elevation"),
    "heading": ("heading", "course"),
    "speed": ("speed",),
    "hdop": ("hdop",),
    "fix": ("fix",),
}
REQUIRED_COLUMNS = ("time", "lat", "lon")
# Epoch seconds reach 1e11 in the year 5138; larger numbers are milliseconds or worse.
_MAX_EPOCH_S = 1e11


def read_csv(path: str | os.PathLike[str]) -> ParseReport:
    """Read a CSV export of GPS fixes (columns in the module docstring).

    Args:
        path: The CSV file.

    Returns:
        The fixes sorted by time (a CSV has no skipped rows: bad rows are errors).

    Raises:
        GpsFormatError: If the file cannot be read, has no header or lacks a required column,
            or any row is malformed (with its line number).
    """
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise GpsFormatError(path, "empty file; expected a header row such as time,lat,lon")
            columns = _column_positions(path, header)
            fixes = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank lines are harmless
                if len(row) != len(header):
                    raise GpsFormatError(
                        path, f"{len(row)} fields, but the header has {len(header)}", reader.line_num
                    )
                try:
                    fixes.append(_row_to_fix(row, columns))
                except ValueError as exc:
                    raise GpsFormatError(path, str(exc), reader.line_num) from None
    except UnicodeDecodeError as exc:
        raise GpsFormatError(path, f"not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise GpsFormatError(path, f"not a valid CSV file: {exc}") from exc
    except OSError as exc:
        raise GpsFormatError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return SkipCounter().report(path, fixes)


def _column_positions(path: str | os.PathLike[str], header: list[str]) -> dict[str, int]:
    """Map each canonical column name to its index in the header."""
    names = [cell.strip().lower() for cell in header]
    positions: dict[str, int] = {}
    for column, aliases in COLUMN_ALIASES.items():
        found = [name for name in names if name in aliases]
        if len(found) > 1:
            raise GpsFormatError(path, f"columns {found} all mean {column!r}; keep one", 1)
        if found:
            positions[column] = names.index(found[0])
    missing = [column for column in REQUIRED_COLUMNS if column not in positions]
    if missing:
        wanted = "; ".join(" or ".join(COLUMN_ALIASES[column]) for column in missing)
        raise GpsFormatError(
            path, f"header lacks required column(s): {wanted}; found {', '.join(names) or 'nothing'}", 1
        )
    return positions


def _row_to_fix(row: list[str], columns: dict[str, int]) -> GpsFix:
    cells = {column: row[index].strip() for column, index in columns.items()}
    optional = {column: cells.get(column, "") for column in ("alt", "heading", "speed", "hdop")}
    return GpsFix(  # its own range checks raise ValueError too, reported with the line
        t=_parse_time(cells["time"]),
        lat=_number("lat", cells["lat"]),
        lon=_number("lon", cells["lon"]),
        alt=_number("alt", optional["alt"]) if optional["alt"] else None,
        heading=_number("heading", optional["heading"]) if optional["heading"] else None,
        speed=_number("speed", optional["speed"]) if optional["speed"] else None,
        fix=_optional_int("fix", cells.get("fix", "")),
        hdop=_number("hdop", optional["hdop"]) if optional["hdop"] else None,
    )


def _number(column: str, text: str) -> float:
    if not text:
        raise ValueError(f"{column} is empty")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} is {text!r}, expected a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{column} is {text!r}, expected a finite number")
    return value


def _optional_int(column: str, text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{column} is {text!r}, expected an integer") from None


def _parse_time(text: str) -> float:
    """ISO 8601 (naive means UTC) or UTC epoch seconds, to UTC epoch seconds."""
    if not text:
        raise ValueError("time is empty")
    try:
        epoch = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(epoch):
            raise ValueError(f"time is {text!r}, expected a finite number of epoch seconds")
        if abs(epoch) >= _MAX_EPOCH_S:
            raise ValueError(f"time is {text!r}: too large for epoch seconds (milliseconds?)")
        return epoch
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time is {text!r}, expected ISO 8601 or UTC epoch seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
