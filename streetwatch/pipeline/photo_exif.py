"""What a photo's EXIF says about where, when and how it was taken.

Phones and cameras write the position (``GPSLatitude``/``GPSLongitude`` with their N/S, E/W refs),
often the direction the lens pointed (``GPSImgDirection``, true or magnetic north), the receiver's
own error estimate (``GPSHPositioningError``), the UTC time of the fix (``GPSDateStamp`` +
``GPSTimeStamp``), the local time the picture was taken (``DateTimeOriginal``) with its offset from
UTC (``OffsetTimeOriginal``, EXIF 2.31), and the 35 mm-equivalent focal length (the field of view).

Read with Pillow's ``Image.getexif()``; a value that is missing, malformed or impossible (a
latitude past 90, a direction past 360, a date that does not exist) is left out, never guessed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from PIL import ExifTags, Image

TimeSource = Literal["exif_offset", "gps", "exif_local"]

# GPS IFD tags (EXIF 2.32, section 4.6.6).
_LAT_REF, _LAT, _LON_REF, _LON, _ALT_REF, _ALT = 1, 2, 3, 4, 5, 6
_GPS_TIME, _IMG_DIRECTION_REF, _IMG_DIRECTION, _GPS_DATE, _H_ERROR = 7, 16, 17, 29, 31
# Exif IFD tags.
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _FOCAL_35MM = 36867, 36881, 41989
# A 35 mm frame is 36 mm wide.
_FILM_WIDTH_MM = 36.0


@dataclass(frozen=True, slots=True)
class PhotoExif:
    """Where, when and with what field of view a photo was taken, as far as its EXIF says.

    Attributes:
        lat: Latitude in degrees (WGS84), None without a usable GPS position.
        lon: Longitude in degrees.
        alt: Altitude in metres, if written.
        heading_deg: The direction the lens pointed, degrees clockwise from north (``GPSImgDirection``).
        heading_ref: ``T`` (true north) or ``M`` (magnetic north: off by the local declination,
            a few degrees in China).
        gps_error_m: The receiver's horizontal error estimate (``GPSHPositioningError``), if written.
        time_utc: When the photo was taken (UTC epoch seconds), None when unknown.
        time_source: Where ``time_utc`` came from: ``exif_offset`` (DateTimeOriginal with its
            OffsetTimeOriginal), ``gps`` (the fix's GPS time stamp) or ``exif_local``
            (DateTimeOriginal without an offset, read in the configured local time zone).
        gps_time_utc: The GPS time stamp itself, when written (to check the camera clock against).
        hfov_deg: Horizontal field of view from the 35 mm-equivalent focal length (landscape), if written.
    """

    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    heading_deg: float | None = None
    heading_ref: str | None = None
    gps_error_m: float | None = None
    time_utc: float | None = None
    time_source: TimeSource | None = None
    gps_time_utc: float | None = None
    hfov_deg: float | None = None

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None


def read_exif(image: Image.Image, local_tz: dt.tzinfo) -> PhotoExif:
    """Read position, direction, time and field of view from an opened image's EXIF.

    Args:
        image: The image as Pillow opened it (JPEG, HEIC through pillow-heif, PNG with an eXIf chunk).
        local_tz: The zone of a DateTimeOriginal written without an offset.

    Returns:
        What the EXIF holds; every field None when it holds nothing usable (never raises for bad EXIF).
    """
    try:
        exif = image.getexif()
        gps: Mapping[int, Any] = exif.get_ifd(ExifTags.IFD.GPSInfo)
        main: Mapping[int, Any] = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # corrupt EXIF must not cost the picture: it is then a photo without metadata
        return PhotoExif()
    lat = _coordinate(gps.get(_LAT), gps.get(_LAT_REF), "NS", 90.0)
    lon = _coordinate(gps.get(_LON), gps.get(_LON_REF), "EW", 180.0)
    if lat is None or lon is None or (abs(lat) < 1e-6 and abs(lon) < 1e-6):   # (0, 0): no fix
        lat = lon = None
    heading = _number(gps.get(_IMG_DIRECTION))
    if heading is not None and not 0.0 <= heading <= 360.0:
        heading = None
    ref = str(gps.get(_IMG_DIRECTION_REF, "T")).strip().upper()[:1] or "T"
    gps_time = _gps_time(gps.get(_GPS_DATE), gps.get(_GPS_TIME))
    time_utc, source = _taken_at(main.get(_DATETIME_ORIGINAL), main.get(_OFFSET_TIME_ORIGINAL), gps_time, local_tz)
    altitude = _number(gps.get(_ALT))
    if altitude is not None and gps.get(_ALT_REF) in (1, b"\x01"):
        altitude = -altitude
    error = _number(gps.get(_H_ERROR))
    return PhotoExif(
        lat=lat, lon=lon, alt=altitude if lat is not None else None,
        heading_deg=None if heading is None or lat is None else heading % 360.0,
        heading_ref=ref if heading is not None and lat is not None else None,
        gps_error_m=error if error is not None and error >= 0 and lat is not None else None,
        time_utc=time_utc, time_source=source, gps_time_utc=gps_time,
        hfov_deg=_hfov(main.get(_FOCAL_35MM)))


def _number(value: Any) -> float | None:
    """A rational or number as a finite float (None for anything else, and for 0/0)."""
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _coordinate(value: Any, ref: Any, refs: str, limit: float) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals and N/S or E/W reference."""
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(v) for v in value]
    if any(p is None or p < 0 for p in parts):
        return None
    degrees = sum(p / 60.0**i for i, p in enumerate(parts) if p is not None)
    side = (ref.decode("ascii", "ignore") if isinstance(ref, bytes) else str(ref or "")).strip().upper()[:1]
    if side not in refs:
        return None
    signed = -degrees if side == refs[1] else degrees
    return signed if abs(signed) <= limit else None


def _gps_time(date: Any, hms: Any) -> float | None:
    """UTC epoch seconds from GPSDateStamp (``YYYY:MM:DD``) and GPSTimeStamp (h, m, s rationals)."""
    if not isinstance(date, str) or not isinstance(hms, tuple | list) or len(hms) != 3:
        return None
    parts = [_number(v) for v in hms]
    try:
        day = dt.datetime.strptime(date.strip().rstrip("\x00"), "%Y:%m:%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    if any(p is None for p in parts):
        return None
    h, m, s = (float(p) for p in parts if p is not None)
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        return None
    return day.timestamp() + h * 3600.0 + m * 60.0 + s


def _taken_at(original: Any, offset: Any, gps_time: float | None,
              local_tz: dt.tzinfo) -> tuple[float | None, TimeSource | None]:
    """When the picture was taken: DateTimeOriginal with its offset, else the GPS time stamp, else
    DateTimeOriginal in the local zone."""
    local = None
    if isinstance(original, str):
        try:
            local = dt.datetime.strptime(original.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            local = None
    zone = _offset(offset)
    if local is not None and zone is not None:
        return local.replace(tzinfo=zone).timestamp(), "exif_offset"
    if gps_time is not None:
        return gps_time, "gps"
    if local is not None:
        return local.replace(tzinfo=local_tz).timestamp(), "exif_local"
    return None, None


def _offset(value: Any) -> dt.timezone | None:
    """``+08:00`` -> UTC+8 (None for anything else)."""
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("\x00")
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":" or not (text[1:3] + text[4:]).isdigit():
        return None
    minutes = int(text[1:3]) * 60 + int(text[4:])
    if minutes > 14 * 60:
        return None
    return dt.timezone(dt.timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _hfov(focal_35mm: Any) -> float | None:
    """The landscape horizontal field of view of a 35 mm-equivalent focal length."""
    focal = _number(focal_35mm)
    if focal is None or not 8.0 <= focal <= 1200.0:
        return None
    return math.degrees(2.0 * math.atan(_FILM_WIDTH_MM / (2.0 * focal)))
