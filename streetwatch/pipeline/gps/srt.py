"""GPS from SRT subtitles: sidecar ``.srt`` files and subtitle streams embedded in the video.

Many Chinese dashcams and DJI cameras write one subtitle cue per second (DJI: per frame) with
the position in it. A cue's start time is the video time of its fix, so the alignment of video
and GPS is read from the data ("verified"); the date/time inside the cue is a *local* wall-clock
time, turned into UTC with a configured time zone (default UTC+08:00, see ``timing``).

Supported cue forms (case-insensitive; ``<font ...>`` and other tags are ignored)::

    # DJI (Mini 2/3, Air 2S, Mavic 3, FPV): bracketed fields, timestamp line
    2023-05-01 12:00:00.123
    [iso: 100] [latitude: 22.543210] [longitude: 113.987654] [rel_alt: 1.200 abs_alt: 18.567]
    # ("[longtitude: ...]" -- DJI's spelling on some firmware -- and "[altitude: ...]" too)

    # DJI (Phantom 3/4, Mavic Pro): GPS(longitude, latitude, third) -- longitude first
    HOME(113.9876,22.5432) 2023.05.01 12:00:00
    GPS(113.9877,22.5433,18) BAROMETER:1.2

    # Chinese dashcams: hemisphere letters before decimal degrees, speed in km/h
    2023/05/01 12:00:00 N22.5432 E113.9876 45km/h
    # ("N:22.5432 E:113.9876", "S"/"W" and "mph" / "m/s" speeds too)

In ``GPS(lon,lat,third)`` a bare integer third value is the satellite count (Phantom 3/4 write
14..16 there while their barometer altitude changes); with a decimal point or an ``M`` suffix
(``GPS(113.9,22.5,18.5M)``) it is the altitude in metres.

Dates: ``YYYY-MM-DD``, ``YYYY/MM/DD`` or ``YYYY.MM.DD``, then ``hh:mm:ss`` with optional
fraction (``.123`` or ``,123``); the ``HOME(...)`` line's date counts. A cue without a date takes
its time from the other cues (or, with none dated, from the video's ``creation_time``).

Not supported: degrees-and-minutes (``N22°32.59'``), positions without a hemisphere letter
outside the DJI forms. A cue with no recognisable position is skipped as malformed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.errors import GpsFormatError, SkipCounter, SkipReason
from streetwatch.pipeline.gps.media import creation_utc, open_media, video_start_s
from streetwatch.pipeline.gps.timing import DEFAULT_LOCAL_TZ, ClockAnchor, GpsReading, local_to_utc

logger = logging.getLogger(__name__)

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_TIMING = re.compile(
    r"^\s*(\d{1,3}):(\d{2}):(\d{2})[,.](\d{1,3})\s*-->\s*(\d{1,3}):(\d{2}):(\d{2})[,.](\d{1,3})"
)
_TAG = re.compile(r"<[^>]*>")
_DATE_TIME = re.compile(
    r"(?P<y>\d{4})[-/.](?P<mo>\d{1,2})[-/.](?P<d>\d{1,2})[ T]+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:[.,](?P<frac>\d{1,6}))?"
)
_DJI_LAT = re.compile(rf"\[\s*lat(?:itude)?\s*:\s*(?P<v>{_NUMBER})", re.IGNORECASE)
_DJI_LON = re.compile(rf"\[\s*(?:longitude|longtitude|lon|lng)\s*:\s*(?P<v>{_NUMBER})", re.IGNORECASE)
_DJI_ALT = re.compile(rf"(?:abs_alt|\[\s*altitude)\s*:\s*(?P<v>{_NUMBER})", re.IGNORECASE)
_DJI_GPS = re.compile(
    rf"GPS\s*\(\s*(?P<lon>{_NUMBER})\s*,\s*(?P<lat>{_NUMBER})\s*(?:,\s*(?P<third>{_NUMBER})\s*(?P<m>M)?\s*)?\)",
    re.IGNORECASE,
)
_HEMI_LAT = re.compile(r"(?<![A-Za-z])(?P<h>[NS])\s*:?\s*(?P<v>\d{1,2}\.\d+)", re.IGNORECASE)
_HEMI_LON = re.compile(r"(?<![A-Za-z])(?P<h>[EW])\s*:?\s*(?P<v>\d{1,3}\.\d+)", re.IGNORECASE)
_SPEED = re.compile(r"(?P<v>\d+(?:\.\d+)?)\s*(?P<unit>km/h|kmh|kph|mph|m/s)", re.IGNORECASE)
_TO_M_PER_S = {"km/h": 1 / 3.6, "kmh": 1 / 3.6, "kph": 1 / 3.6, "mph": 0.44704, "m/s": 1.0}


@dataclass(frozen=True, slots=True)
class SrtCue:
    """One subtitle cue.

    Attributes:
        start_s: Start on the video clock, seconds.
        end_s: End on the video clock, seconds.
        text: The cue's text, tags removed, lines joined with newlines.
        line: Where the cue is: the line of its timing line in a file, or its packet number
            (1-based) in an embedded stream.
    """

    start_s: float
    end_s: float
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class _Position:
    lat: float
    lon: float
    alt: float | None = None
    speed: float | None = None
    satellites: int | None = None


def parse_srt_cues(text: str) -> list[SrtCue]:
    """Split SRT text into cues; the numbering lines are optional, blank lines end a cue."""
    cues: list[SrtCue] = []
    start = end = 0.0
    timing_line = 0
    body: list[str] = []

    def close() -> None:
        if timing_line:
            cues.append(SrtCue(start, end, _TAG.sub("", "\n".join(body)).strip(), timing_line))

    in_body = False
    for number, line in enumerate(text.splitlines(), start=1):
        match = _TIMING.match(line)
        if match:
            close()
            parts = [int(p) for p in match.groups()]
            start = parts[0] * 3600 + parts[1] * 60 + parts[2] + parts[3] / 10 ** len(match[4])
            end = parts[4] * 3600 + parts[5] * 60 + parts[6] + parts[7] / 10 ** len(match[8])
            timing_line, body, in_body = number, [], True
        elif not line.strip():
            in_body = False  # a blank line ends the cue; the next cue's number may follow
        elif in_body:
            body.append(line.strip())
    close()
    return cues


def read_srt(
    path: str | os.PathLike[str],
    tz: dt.tzinfo = DEFAULT_LOCAL_TZ,
    fallback_start_utc: float | Callable[[], float | None] | None = None,
) -> GpsReading:
    """Read a sidecar ``.srt`` file (forms in the module docstring).

    Args:
        path: The SRT file (UTF-8, with or without BOM, or GB18030 as some dashcams write).
        tz: Time zone of the cues' local date/time.
        fallback_start_utc: UTC of video time 0, for files whose cues carry no date at all
            (the video's ``creation_time``), or a function that finds it (called only for such
            files); None to treat such files as undated.

    Returns:
        Fixes timed by the video clock, and one clock anchor per dated cue.

    Raises:
        GpsFormatError: If the file cannot be read, holds no SRT cues, no cue holds a position
            in a supported form, or no cue can be dated.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GpsFormatError(path, f"cannot read file: {exc.strerror or exc}") from exc
    cues = parse_srt_cues(_decode_text(data))
    if not cues:
        raise GpsFormatError(path, "no SRT cues (expected 'hh:mm:ss,mmm --> hh:mm:ss,mmm' timing lines)")
    reading = cues_to_reading(path, cues, tz, fallback_start_utc)
    if not reading.report.fixes:
        skipped = reading.report.skipped
        if skipped.get(SkipReason.NO_DATE):
            raise GpsFormatError(path, "cues hold positions but no date/time, and no fallback start is known")
        example = cues[0].text.replace("\n", " | ")[:80]
        raise GpsFormatError(
            path,
            f"no cue holds a position in a supported form (DJI [latitude: ...], GPS(lon,lat), "
            f"or N22.5 E113.9); first cue {example!r}",
            cues[0].line,
        )
    return reading


def read_srt_stream(
    video_path: str | os.PathLike[str], tz: dt.tzinfo = DEFAULT_LOCAL_TZ
) -> GpsReading | None:
    """Read GPS from a subtitle stream embedded in a video (``mov_text``, ``subrip``, ``ass``).

    The first subtitle stream whose cues hold positions is used; a packet's presentation time,
    relative to the main video stream's start, is the cue's video time.

    Args:
        video_path: The video file.
        tz: Time zone of the cues' local date/time.

    Returns:
        The reading, or None when the file has no subtitle stream with positions (or FFmpeg
        cannot open it). Never raises for the file's content.
    """
    path = Path(video_path)
    with open_media(path) as container:
        if container is None or not container.streams.subtitles:
            return None
        streams = list(container.streams.subtitles)
        offset = video_start_s(container)
        fallback = creation_utc(container)
        cues: dict[int, list[SrtCue]] = {stream.index: [] for stream in streams}
        try:
            for packet in container.demux(*streams):
                if packet.size == 0 or packet.pts is None or packet.time_base is None:
                    continue
                text = _packet_text(bytes(packet), packet.stream.codec_context.name)
                start = float(packet.pts * packet.time_base) - offset
                duration = float(packet.duration * packet.time_base) if packet.duration else 0.0
                stream_cues = cues[packet.stream.index]
                stream_cues.append(SrtCue(start, start + duration, text, len(stream_cues) + 1))
        except Exception as exc:  # a damaged file must not stop processing: no embedded GPS then
            logger.warning("reading subtitle packets of %s failed: %s", path, exc)
    for index, stream_cues in cues.items():
        reading = cues_to_reading(f"{path}#subtitle:{index}", stream_cues, tz, fallback)
        if reading.report.fixes or reading.report.skipped.get(SkipReason.NO_DATE):
            return reading
    return None


def cues_to_reading(
    path: str | os.PathLike[str],
    cues: list[SrtCue],
    tz: dt.tzinfo,
    fallback_start_utc: float | Callable[[], float | None] | None,
) -> GpsReading:
    """Turn cues into fixes on the video clock, with anchors from the dated cues.

    The UTC of video time 0 is the median of ``utc(cue date) - cue start`` over dated cues (a
    rounded or late timestamp does not move it); each fix is placed at that plus its cue start.
    """
    skips = SkipCounter()
    located: list[tuple[SrtCue, _Position]] = []
    anchors: list[ClockAnchor] = []
    for cue in cues:
        if not cue.text:
            continue  # an empty cue clears the screen between two others; nothing to read
        try:
            position = _position(cue.text)
            when = _local_time(cue.text)
        except ValueError as exc:
            skips.skip(SkipReason.MALFORMED, cue.line, f"cue at {cue.start_s:.3f} s: {exc}")
            continue
        if position is None:
            skips.skip(SkipReason.MALFORMED, cue.line, f"cue at {cue.start_s:.3f} s has no position")
            continue
        located.append((cue, position))
        if when is not None:
            anchors.append(ClockAnchor(cue.start_s, local_to_utc(when, tz)))
    if anchors:
        start_utc: float | None = statistics.median(a.utc - a.video_s for a in anchors)
        local_clock = True
    else:
        start_utc = fallback_start_utc() if callable(fallback_start_utc) else fallback_start_utc
        local_clock = start_utc is None
        if start_utc is not None:  # the container's creation time: aligned, from another clock
            anchors = [ClockAnchor(cue.start_s, start_utc + cue.start_s) for cue, _ in located]
    fixes: list[GpsFix] = []
    for cue, position in located:
        if start_utc is None:
            skips.skip(SkipReason.NO_DATE, cue.line, "cue has a position but no date/time")
            continue
        fixes.append(
            GpsFix(
                t=start_utc + cue.start_s, lat=position.lat, lon=position.lon, alt=position.alt,
                speed=position.speed, satellites=position.satellites,
            )
        )
    return GpsReading(skips.report(path, fixes), tuple(anchors), local_clock)


def _position(text: str) -> _Position | None:
    """The position in a cue's text, in the first supported form that matches; None if none."""
    lat_match, lon_match = _DJI_LAT.search(text), _DJI_LON.search(text)
    if lat_match and lon_match:
        alt_match = _DJI_ALT.search(text)
        alt_m = float(alt_match["v"]) if alt_match else None
        return _checked(_Position(float(lat_match["v"]), float(lon_match["v"]), alt_m))
    gps = _DJI_GPS.search(text)
    if gps:
        third = gps["third"]
        altitude: float | None = None
        satellites: int | None = None
        if third is not None and (gps["m"] or "." in third):
            altitude = float(third)
        elif third is not None:
            satellites = int(third)
        return _checked(_Position(float(gps["lat"]), float(gps["lon"]), altitude, satellites=satellites))
    lat_h, lon_h = _HEMI_LAT.search(text), _HEMI_LON.search(text)
    if lat_h and lon_h:
        lat = float(lat_h["v"]) * (-1 if lat_h["h"].upper() == "S" else 1)
        lon = float(lon_h["v"]) * (-1 if lon_h["h"].upper() == "W" else 1)
        speed = _SPEED.search(text)
        metres_per_s = float(speed["v"]) * _TO_M_PER_S[speed["unit"].lower()] if speed else None
        return _checked(_Position(lat, lon, speed=metres_per_s))
    return None


def _checked(position: _Position) -> _Position:
    if not (math.isfinite(position.lat) and -90.0 <= position.lat <= 90.0):
        raise ValueError(f"latitude {position.lat} outside [-90, 90]")
    if not (math.isfinite(position.lon) and -180.0 <= position.lon <= 180.0):
        raise ValueError(f"longitude {position.lon} outside [-180, 180]")
    return position


def _local_time(text: str) -> dt.datetime | None:
    match = _DATE_TIME.search(text)
    if match is None:
        return None
    fraction = match["frac"] or "0"
    try:
        return dt.datetime(
            int(match["y"]), int(match["mo"]), int(match["d"]), int(match["h"]), int(match["mi"]),
            int(match["s"]), round(int(fraction) * 10 ** (6 - len(fraction))),
        )
    except ValueError as exc:
        raise ValueError(f"bad date/time {match[0]!r} ({exc})") from None


def _decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")  # Chinese dashcams' other encoding


def _packet_text(data: bytes, codec: str) -> str:
    if codec == "mov_text" and len(data) >= 2:  # 3GPP timed text: 16-bit length, text, style boxes
        length = int.from_bytes(data[:2], "big")
        data = data[2 : 2 + length]
    text = _decode_text(data)
    if codec in ("ass", "ssa"):  # ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text
        text = text.split(",", 8)[-1].replace("\\N", "\n")
    return _TAG.sub("", text).strip()

