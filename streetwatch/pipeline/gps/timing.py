"""Tying the video clock to the GPS clock: anchors, local time, and the alignment of a video.

A frame is placed on the map by its UTC time, ``start_utc + pts_s``. How well ``start_utc`` is
known depends on where the GPS came from:

===============  ================================================================================
status           meaning
===============  ================================================================================
``verified``     The GPS came from the recording itself (an SRT cue, a GoPro GPMF payload, a
                 70mai ``GPS `` record), so every fix carries its video time: the offset between
                 video and GPS is read from the data, not assumed.
``configured``   A separate GPS file (GPX, NMEA, CSV) with an offset taken from the settings.
``unverified``   A separate GPS file and no configured offset: the video is assumed to start at
                 the first fix, which is a guess; such a video is flagged "time unverified".
===============  ================================================================================

"The first fix" of a separate file is the first record of the log (:func:`log_start`), not the
first fix the quality gate kept: a receiver still without a lock logs (0, 0), void fixes, huge
HDOP or wandering positions for its first seconds (a cold start: 30-60 s), and starting the video
at the first *good* fix instead would shift every object by that long times the car's speed.

"Verified" is about the alignment of frames and fixes. Cameras that stamp their data with a
local wall-clock time (Chinese dashcams, DJI, 70mai file names) need a UTC offset to turn it into
UTC; that offset is configured (default UTC+08:00, China Standard Time) and a wrong one moves the
absolute time by whole hours without moving any frame relative to its position.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streetwatch.core.types import GpsFix
from streetwatch.core.vocab import TimeStatus
from streetwatch.pipeline.gps.errors import ParseReport, SkipCounter

DEFAULT_LOCAL_TZ: dt.tzinfo = dt.timezone(dt.timedelta(hours=8), "UTC+08:00")
"""The UTC offset assumed for cameras that write local time: China Standard Time, UTC+08:00."""

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*(?P<sign>[+-])(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?$")


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    """One instant seen on both clocks: a video time and the GPS/camera time of the same record.

    Attributes:
        video_s: Seconds from the start of the video (the cue start, the payload's PTS).
        utc: UTC epoch seconds the record itself gives for that instant.
    """

    video_s: float
    utc: float


@dataclass(frozen=True, slots=True)
class GpsReading:
    """What one GPS source produced: the parser's report, and the clock anchors it saw.

    Attributes:
        report: The fixes (UTC epoch seconds) and the records skipped.
        anchors: Video-time / UTC pairs from the same recording; empty for separate GPS files.
        local_clock: The source writes local wall-clock time, converted to UTC with the
            configured time zone (so its absolute time is only as right as that setting).
    """

    report: ParseReport
    anchors: tuple[ClockAnchor, ...] = ()
    local_clock: bool = False


@dataclass(frozen=True, slots=True)
class TimeAlignment:
    """Where pts 0 of a video lies on the UTC clock, and how that is known.

    Attributes:
        start_utc: UTC epoch seconds of video time 0; a frame at ``pts_s`` is at
            ``start_utc + pts_s``.
        offset_s: ``start_utc`` minus the time of the GPS log's first record (0.0 without fixes): how
            long after the GPS track the video starts.
        status: ``verified``, ``configured`` or ``unverified`` (see the module docstring).
        detail: How the alignment was obtained, in words, for logs and the video's record.
    """

    start_utc: float
    offset_s: float
    status: TimeStatus
    detail: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_utc) and math.isfinite(self.offset_s)):
            raise ValueError(f"start_utc and offset_s must be finite, got {self.start_utc}, {self.offset_s}")


def estimate_offset(
    anchors: Sequence[ClockAnchor],
    track_start: float | None,
    configured_offset_s: float | None = None,
) -> TimeAlignment:
    """Align a video with its GPS: from anchors when there are any, else from configuration.

    With anchors, ``start_utc`` is the median of ``utc - video_s`` (robust to a few records with
    a late or rounded timestamp) and the status is ``verified``; the spread of those differences
    is reported in ``detail``. Without anchors, a configured offset gives
    ``track_start + configured_offset_s`` (``configured``); with neither, the video is taken to
    start at the first fix (``unverified``).

    Args:
        anchors: Clock anchors from the source (``GpsReading.anchors``).
        track_start: UTC epoch seconds of the GPS log's start (:func:`log_start`: its first record,
            usable or not), or None when there is none.
        configured_offset_s: Seconds from the first fix to the video's start, from settings;
            None when the operator configured nothing.

    Returns:
        The alignment.

    Raises:
        ValueError: With neither anchors nor a track start there is nothing to align to; or a
            number is not finite.
    """
    if configured_offset_s is not None and not math.isfinite(configured_offset_s):
        raise ValueError(f"configured_offset_s must be finite, got {configured_offset_s}")
    if anchors:
        differences = [anchor.utc - anchor.video_s for anchor in anchors]
        if not all(math.isfinite(d) for d in differences):
            raise ValueError("clock anchors must have finite times")
        start_utc = statistics.median(differences)
        spread = max(differences) - min(differences)
        detail = (
            f"read from {len(anchors)} video/GPS time pair(s) in the recording "
            f"(spread {spread:.3f} s)"
        )
        offset = 0.0 if track_start is None else start_utc - track_start
        return TimeAlignment(start_utc, offset, TimeStatus.VERIFIED, detail)
    if track_start is None:
        raise ValueError("cannot align a video without clock anchors or any GPS fix")
    if configured_offset_s is not None:
        return TimeAlignment(
            track_start + configured_offset_s,
            configured_offset_s,
            TimeStatus.CONFIGURED,
            f"configured offset {configured_offset_s:+.3f} s from the first GPS fix",
        )
    return TimeAlignment(
        track_start, 0.0, TimeStatus.UNVERIFIED, "assumed to start at the first GPS fix (time unverified)"
    )


def log_start(record_times: Sequence[float], first_usable: float, max_step_s: float) -> float:
    """When a GPS log began: its first record, even an unusable one, if the log ran on from it.

    Walks back from the first usable fix over the earlier records (fixes the quality gate
    dropped, void fixes with a time) as long as each is at most ``max_step_s`` before the next,
    so a record with a wild time (a receiver's clock still at 1980, a stray line) is not taken
    for the start.

    Args:
        record_times: UTC epoch seconds of every record read (``ParseReport.record_times``).
        first_usable: Time of the first fix the track kept.
        max_step_s: Longest spacing of records in one continuous log (the track's ``max_gap_s``).

    Returns:
        The log's start, at most ``first_usable``.
    """
    start = first_usable
    for t in sorted((t for t in record_times if math.isfinite(t) and t < first_usable), reverse=True):
        if start - t > max_step_s:
            break
        start = t
    return start


def anchored_reading(
    path: str | os.PathLike[str],
    pairs: Sequence[tuple[GpsFix, float]],
    skips: SkipCounter,
    *,
    local_clock: bool,
) -> GpsReading:
    """Re-time fixes onto the video clock, keeping their own times as clock anchors.

    Each fix was recorded at a known video time. Its own timestamp may be rounded to the second
    or come from a clock that jumps; the median offset of all pairs is steadier, so every fix
    gets ``t = median(fix.t - video_s) + video_s``.

    Args:
        path: What was read, for the report.
        pairs: ``(fix, video time of the fix)`` for every usable fix.
        skips: The drops counted while reading.
        local_clock: Whether the fix times came from a local wall clock.

    Returns:
        The re-timed report (fixes sorted by time) and one anchor per fix.
    """
    anchors = tuple(ClockAnchor(video_s, fix.t) for fix, video_s in pairs)
    if not anchors:
        return GpsReading(skips.report(path, []), (), local_clock)
    start = statistics.median(anchor.utc - anchor.video_s for anchor in anchors)
    fixes = [dataclasses.replace(fix, t=start + video_s) for fix, video_s in pairs]
    return GpsReading(skips.report(path, fixes), anchors, local_clock)


def parse_timezone(text: str) -> dt.tzinfo:
    """A time zone from settings text: ``+08:00``, ``UTC+8``, ``-0330``, ``UTC`` or an IANA name.

    Args:
        text: The setting.

    Returns:
        A fixed offset, UTC, or a ``ZoneInfo`` (which follows daylight saving time).

    Raises:
        ValueError: If the text is none of those.
    """
    cleaned = text.strip()
    if cleaned.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    match = _OFFSET.match(cleaned.upper())
    if match:
        hours, minutes = int(match["hours"]), int(match["minutes"] or 0)
        if hours > 14 or minutes >= 60:
            raise ValueError(f"UTC offset {text!r} is out of range (at most +-14:00)")
        sign = -1 if match["sign"] == "-" else 1
        return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {text!r}; expected a UTC offset such as +08:00 "
            "or a name such as Asia/Shanghai"
        ) from None


def local_to_utc(when: dt.datetime, tz: dt.tzinfo) -> float:
    """UTC epoch seconds of a naive local wall-clock time in ``tz``."""
    return when.replace(tzinfo=tz).timestamp()
