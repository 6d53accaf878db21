"""GPX 1.0 / 1.1 files to GPS fixes, through gpxpy.

Track points are read; a file without any falls back to route points, then to waypoints.
Every point must have a ``<time>``: a point without one (or with one gpxpy cannot parse, which
it reports as none) cannot be matched to video, so the file is rejected with the point's place.
Times without a zone are taken as UTC.

Optional per-point data that is read when present: ``<ele>`` (altitude), ``<hdop>``,
``<fix>`` (``2d``/``3d``; ``none`` drops the point as a void fix), ``<speed>`` and ``<course>``
(GPX 1.0), and ``speed`` / ``course`` elements inside ``<extensions>`` (Garmin's
TrackPointExtension and similar).
"""

from __future__ import annotations

import datetime as dt
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gpxpy
import gpxpy.gpx

from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.errors import GpsFormatError, ParseReport, SkipCounter, SkipReason

_FIX_TYPES = {"2d": 2, "3d": 3}


def read_gpx(path: str | os.PathLike[str]) -> ParseReport:
    """Read a GPX file into GPS fixes.

    Args:
        path: The GPX file.

    Returns:
        The fixes sorted by time; points with ``<fix>none</fix>`` are counted as void fixes.

    Raises:
        GpsFormatError: If the file cannot be read, is not XML or not GPX, holds no points,
            or a point has no time or an invalid value.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GpsFormatError(path, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GpsFormatError(path, f"not UTF-8 text (byte {exc.start}): not a GPX file") from None
    try:
        document = gpxpy.parse(text)
    except gpxpy.gpx.GPXXMLSyntaxException as exc:
        raise GpsFormatError(path, f"not valid XML: {exc.__cause__ or exc}") from exc
    except (gpxpy.gpx.GPXException, ValueError) as exc:
        raise GpsFormatError(path, f"not a valid GPX document: {exc}") from exc

    points = list(_points(document))
    if not points:
        raise GpsFormatError(path, "no track points, route points or waypoints in the GPX document")
    skips = SkipCounter()
    fixes: list[GpsFix] = []
    for where, point in points:
        if point.time is None:
            raise GpsFormatError(
                path, f"{where} has no usable <time> (missing, or not ISO 8601); every point needs one"
            )
        if point.type_of_gpx_fix == "none":
            skips.skip(SkipReason.VOID_FIX, None, f"{where}: <fix>none</fix>", t=_utc_seconds(point.time))
            continue
        try:
            fixes.append(_fix(point))
        except ValueError as exc:
            raise GpsFormatError(path, f"{where}: {exc}") from exc
    return skips.report(path, fixes)


def _points(document: gpxpy.gpx.GPX) -> Iterator[tuple[str, Any]]:
    """Every point with a human place name, from tracks, else routes, else waypoints."""
    if any(segment.points for track in document.tracks for segment in track.segments):
        for t, track in enumerate(document.tracks, start=1):
            for s, segment in enumerate(track.segments, start=1):
                for p, point in enumerate(segment.points, start=1):
                    yield f"track {t} segment {s} point {p}", point
    elif any(route.points for route in document.routes):
        for r, route in enumerate(document.routes, start=1):
            for p, route_point in enumerate(route.points, start=1):
                yield f"route {r} point {p}", route_point
    else:
        for w, waypoint in enumerate(document.waypoints, start=1):
            yield f"waypoint {w}", waypoint


def _utc_seconds(when: dt.datetime) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # GPX times are UTC by the standard; a missing Z is sloppiness
    return when.timestamp()


def _fix(point: Any) -> GpsFix:
    speed = getattr(point, "speed", None)
    course = getattr(point, "course", None)
    if speed is None or course is None:
        extra_speed, extra_course = _speed_course_from_extensions(point.extensions)
        speed = extra_speed if speed is None else speed
        course = extra_course if course is None else course
    return GpsFix(
        t=_utc_seconds(point.time),
        lat=float(point.latitude),
        lon=float(point.longitude),
        alt=None if point.elevation is None else float(point.elevation),
        heading=None if course is None else float(course) % 360.0,
        speed=None if speed is None else float(speed),
        fix=_FIX_TYPES.get(point.type_of_gpx_fix or ""),
        hdop=None if point.horizontal_dilution is None else float(point.horizontal_dilution),
    )


def _speed_course_from_extensions(extensions: list[ET.Element]) -> tuple[float | None, float | None]:
    speed: float | None = None
    course: float | None = None
    for extension in extensions:
        for element in extension.iter():
            if not isinstance(element.tag, str):  # comments and processing instructions
                continue
            name = element.tag.rsplit("}", 1)[-1].lower()  # namespaces differ between vendors
            text = (element.text or "").strip()
            if not text:
                continue
            if name == "speed" and speed is None:
                speed = _extension_float(name, text)
            elif name == "course" and course is None:
                course = _extension_float(name, text)
    return speed, course


def _extension_float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"extension <{name}> is {text!r}, expected a number") from None
