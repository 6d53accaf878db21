"""GPS that dashcam makers store in a box of their own at the top level of the MP4.

70mai (Xiaomi) dashcams write a top-level ``GPS `` box after ``moov``: a run of 36-byte records,
one per second of video, little-endian, laid out as below (reversed from the maker's files,
matching mzdun/dashcam-gps, MIT):

======  =====  =============================================================================
offset  bytes  field
======  =====  =============================================================================
0       4      record present: 1, or 0 where the written records end (the rest is padding)
4       4      fix: 1, or 0 when the receiver had no position that second (a void fix)
8       4      second of the clip the record belongs to (its video time)
12      4      speed in metres per hour (105330 = 105.3 km/h)
16      1      ``N`` or ``S``
17      4      latitude as DDMM.mmm x 1000 (``5211435`` = 52 deg 11.435 min)
21      1      ``E`` or ``W``
22      4      longitude as DDDMM.mmm x 1000
26      10     unknown (zero in every sample seen)
======  =====  =============================================================================

Records with other flag values, a hemisphere letter that is not one of the two, minutes of 60
or more, or a second beyond ``MAX_CLIP_SECONDS`` are skipped as malformed (the stripped sample
files hold many such damaged boxes).

The records carry no date: a clip's start is the local wall-clock time in its file name
(``NO20191130-120156-000121.MP4``: normal clip started 2019-11-30 12:01:56), turned into UTC
with the configured time zone. Each fix is at ``start + second``, so its video time is known
exactly ("verified" alignment; absolute time only as right as the camera clock and time zone).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.errors import SkipCounter, SkipReason
from streetwatch.pipeline.gps.timing import DEFAULT_LOCAL_TZ, GpsReading, anchored_reading, local_to_utc

SEVENTY_MAI_BOX = "GPS "
RECORD_BYTES = 36
_RECORD = struct.Struct("<IIIIcIcI10x")
_FILE_NAME = re.compile(r"^[A-Za-z]{2}(?P<date>\d{8})-(?P<time>\d{6})-")
MAX_CLIP_SECONDS = 6 * 3600  # 70mai clips last minutes; a larger second is a damaged record
_MAX_BOX_BYTES = 64 << 20  # a day of records is 3 MB; more than this is a damaged size field


@dataclass(frozen=True, slots=True)
class Box:
    """A top-level ISO-BMFF box.

    Attributes:
        type: Four-character type (``moov``, ``GPS ``...).
        offset: Where the box starts in the file.
        size: Declared size including the header.
        header: Header length (8, or 16 with a 64-bit size).
    """

    type: str
    offset: int
    size: int
    header: int


def top_level_boxes(path: str | os.PathLike[str]) -> list[Box]:
    """The file's top-level boxes, stopping at the first bytes that are not a box header.

    A box whose declared size runs past the end of the file is listed (its content is cut off).
    """
    file = Path(path)
    size = file.stat().st_size
    boxes: list[Box] = []
    with file.open("rb") as stream:
        offset = 0
        while offset + 8 <= size:
            stream.seek(offset)
            head = stream.read(16)
            box_size, raw_type = struct.unpack(">I4s", head[:8])
            header = 8
            if box_size == 1 and len(head) == 16:
                box_size, header = struct.unpack(">Q", head[8:16])[0], 16
            elif box_size == 0:  # "to the end of the file"
                box_size = size - offset
            if box_size < header or not all(32 <= ch < 127 for ch in raw_type):
                break
            boxes.append(Box(raw_type.decode("ascii"), offset, box_size, header))
            offset += box_size
    return boxes


def clip_start_local(path: str | os.PathLike[str]) -> dt.datetime | None:
    """The local start time in a 70mai clip's file name, or None if the name has none."""
    match = _FILE_NAME.match(Path(path).name)
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match["date"] + match["time"], "%Y%m%d%H%M%S")
    except ValueError:
        return None


def read_70mai_gps(path: str | os.PathLike[str], tz: dt.tzinfo = DEFAULT_LOCAL_TZ) -> GpsReading | None:
    """Read the 70mai ``GPS `` box of a clip.

    Args:
        path: The MP4 file.
        tz: Time zone of the clock that named the file.

    Returns:
        None when the file has no ``GPS `` box at its top level (or cannot be read). Otherwise
        the reading: fixes on the video clock with one anchor each; void, malformed and cut-off
        records are counted as skipped, and with no date in the file name every record is
        skipped as undated. Never raises for the file's content.
    """
    try:
        box = next((b for b in top_level_boxes(path) if b.type == SEVENTY_MAI_BOX), None)
        if box is None:
            return None
        with Path(path).open("rb") as stream:
            stream.seek(box.offset + box.header)
            payload = stream.read(min(box.size - box.header, _MAX_BOX_BYTES))
    except OSError:
        return None
    skips = SkipCounter()
    start = clip_start_local(path)
    pairs: list[tuple[GpsFix, float]] = []
    for number, record in enumerate(_records(payload, skips), start=1):
        second, fix = record
        if start is None:
            skips.skip(SkipReason.NO_DATE, None, f"record {number}: the file name has no start time")
            continue
        t = local_to_utc(start, tz) + second
        pairs.append((GpsFix(t=t, lat=fix.lat, lon=fix.lon, speed=fix.speed), float(second)))
    return anchored_reading(f"{path}#{SEVENTY_MAI_BOX.strip()}", pairs, skips, local_clock=True)


@dataclass(frozen=True, slots=True)
class _Position:
    lat: float
    lon: float
    speed: float


def _records(payload: bytes, skips: SkipCounter) -> Iterator[tuple[int, _Position]]:
    """(second, position) for each usable record; drops are counted in ``skips``."""
    for number, offset in enumerate(range(0, len(payload), RECORD_BYTES), start=1):
        chunk = payload[offset : offset + RECORD_BYTES]
        if len(chunk) < RECORD_BYTES:
            if chunk.strip(b"\x00"):
                skips.skip(SkipReason.MALFORMED, None, f"record {number}: cut off after {len(chunk)} bytes")
            return
        present, has_fix, second, speed, ns, lat, ew, lon = _RECORD.unpack(chunk)
        if present == 0:
            return  # the written records end here; the rest of the box is padding
        where = f"record {number}"
        if present != 1 or has_fix not in (0, 1):
            skips.skip(SkipReason.MALFORMED, None, f"{where}: flags {present}, {has_fix}, expected 1 and 0/1")
            continue
        if not has_fix:
            skips.skip(SkipReason.VOID_FIX, None, f"{where}: no fix that second")
            continue
        if second > MAX_CLIP_SECONDS:
            skips.skip(SkipReason.MALFORMED, None, f"{where}: clip second {second} > {MAX_CLIP_SECONDS}")
            continue
        try:
            latitude, longitude = _coordinate(lat, ns, b"NS", 90), _coordinate(lon, ew, b"EW", 180)
            position = _Position(latitude, longitude, speed / 3600)
        except ValueError as exc:
            skips.skip(SkipReason.MALFORMED, None, f"{where}: {exc}")
            continue
        yield second, position


def _coordinate(value: int, hemisphere: bytes, letters: bytes, limit: int) -> float:
    """DDMM.mmm x 1000 and a hemisphere letter to signed decimal degrees."""
    if hemisphere not in (letters[:1], letters[1:]):
        raise ValueError(f"hemisphere {hemisphere!r}, expected {letters[:1]!r} or {letters[1:]!r}")
    degrees, thousandths_of_minutes = divmod(value, 100_000)
    minutes = thousandths_of_minutes / 1000
    if minutes >= 60 or degrees + minutes / 60 > limit:
        raise ValueError(f"coordinate {value} is not DDMM.mmm x 1000 within {limit} degrees")
    sign = -1 if hemisphere == letters[1:] else 1
    return sign * (degrees + minutes / 60)
