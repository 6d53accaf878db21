"""Finding a video's GPS without being told: an override, a sidecar file, or data in the video.

``discover_gps(video)`` looks, in this order, at:

1. the override (``--gps FILE``): a GPS file (``.gpx .nmea .nmea0183 .log .txt .csv .srt``), a
   raw GoPro payload (``.raw .gpmf .bin``), or another video whose embedded GPS to use (the
   front camera's clip for the rear camera's);
2. a sidecar beside the video with the same stem (case-insensitive): ``.gpx``, ``.nmea``,
   ``.csv``, ``.srt``, in that order;
3. GPS embedded in the video: a 70mai ``GPS `` box (cheapest: box headers only), a subtitle
   stream with positions, a GoPro GPMF stream.

A video with none of these has no GPS: ``None``, not an error. A broken override or sidecar
raises ``GpsFormatError`` (the operator put it there; silently ignoring it would hide the
problem), while embedded data never raises: at worst it is reported with no usable fixes.

``load_video_gps`` does the whole job for the run: discovery, quality gating
(``quality.gate_fixes``), the track (no position across a gap or an impossible jump), and the
time alignment (``timing.estimate_offset``, from the log's first record: ``timing.log_start``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from streetwatch.core.vocab import TimeStatus
from streetwatch.pipeline.gps.dashcam_boxes import read_70mai_gps
from streetwatch.pipeline.gps.errors import GpsFormatError, ParseReport
from streetwatch.pipeline.gps.gpmf import read_gpmf_raw, read_gpmf_stream
from streetwatch.pipeline.gps.loader import NMEA_SUFFIXES, read_gps_file, require_fixes
from streetwatch.pipeline.gps.media import VIDEO_SUFFIXES, creation_utc, open_media
from streetwatch.pipeline.gps.quality import gate_fixes
from streetwatch.pipeline.gps.srt import read_srt, read_srt_stream
from streetwatch.pipeline.gps.timing import (
    DEFAULT_LOCAL_TZ,
    GpsReading,
    TimeAlignment,
    estimate_offset,
    log_start,
)
from streetwatch.pipeline.gps.track import GpsTrack

logger = logging.getLogger(__name__)

Origin = Literal["override", "sidecar", "embedded"]
SIDECAR_SUFFIXES = (".gpx", ".nmea", ".csv", ".srt")
GPMF_RAW_SUFFIXES = frozenset({".raw", ".gpmf", ".bin"})


class GpsSource(Protocol):
    """One kind of GPS source: a name, and a reader that returns None when it finds nothing."""

    @property
    def name(self) -> str:
        """Short name recorded with the video: ``gpmf``, ``70mai``, ``srt-stream``..."""
        ...

    def read(self, path: Path, tz: dt.tzinfo) -> GpsReading | None:
        """Read GPS from ``path``; None when this source is absent (never for a broken one)."""
        ...


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    reader: Callable[[Path, dt.tzinfo], GpsReading | None]

    def read(self, path: Path, tz: dt.tzinfo) -> GpsReading | None:
        return self.reader(path, tz)


def _srt_file(path: Path, tz: dt.tzinfo) -> GpsReading:
    return read_srt(path, tz, fallback_start_utc=lambda: _video_creation_beside(path))


GPS_FILE = _Source("gps-file", lambda path, _tz: GpsReading(read_gps_file(path)))
"""GPX, NMEA and CSV files (``loader.read_gps_file``); discoveries name the format instead."""
SRT_FILE = _Source("srt", _srt_file)
GPMF_RAW = _Source("gpmf-raw", lambda path, _tz: read_gpmf_raw(path))
EMBEDDED_SOURCES: tuple[GpsSource, ...] = (
    _Source("70mai", read_70mai_gps),
    _Source("srt-stream", read_srt_stream),
    _Source("gpmf", lambda path, _tz: read_gpmf_stream(path)),
)
"""Readers of GPS inside a video, cheapest first."""


@dataclass(frozen=True, slots=True)
class GpsDiscovery:
    """Which GPS source a video got, and what was read from it.

    Attributes:
        origin: ``override``, ``sidecar`` or ``embedded``.
        source: The kind of source, at most 16 characters: ``gpx``, ``nmea``, ``csv``, ``srt``,
            ``gpmf-raw`` (files); ``70mai``, ``srt-stream``, ``gpmf`` (embedded).
        path: The file read (the video itself for embedded GPS).
        reading: The fixes, skips and clock anchors.
    """

    origin: Origin
    source: str
    path: Path
    reading: GpsReading

    @property
    def report(self) -> ParseReport:
        """The parser's report: fixes and skipped records."""
        return self.reading.report

    @property
    def label(self) -> str:
        """For the video's record, e.g. ``embedded gpmf: /footage/GH010001.MP4``."""
        return f"{self.origin} {self.source}: {self.path}"


def discover_gps(
    video_path: Path, override: Path | None = None, *, tz: dt.tzinfo = DEFAULT_LOCAL_TZ
) -> GpsDiscovery | None:
    """Find and read a video's GPS (order and rules in the module docstring).

    Args:
        video_path: The video.
        override: A GPS source named by the operator; when given, nothing else is looked at.
        tz: Time zone of sources that write local wall-clock time (SRT, 70mai).

    Returns:
        The discovery, or None when the video has no GPS anywhere. An embedded source may come
        back without usable fixes (a GoPro without a lock); its report says why.

    Raises:
        GpsFormatError: If the override or a sidecar cannot be read, or yields no usable fix.
    """
    if override is not None:
        return _checked(_read_override(Path(override), tz))
    sidecar = find_sidecar(video_path)
    if sidecar is not None:
        return _checked(_read_file("sidecar", sidecar, tz))
    return _embedded(video_path, "embedded", tz)


def find_sidecar(video_path: Path) -> Path | None:
    """A GPS file beside the video with its stem, any case (``CLIP.MP4`` -> ``clip.srt``)."""
    folder = video_path.parent
    try:
        names = sorted(p for p in folder.iterdir() if p.is_file() and p != video_path)
    except OSError:
        return None
    stem = video_path.stem.lower()
    for suffix in SIDECAR_SUFFIXES:
        for candidate in names:
            if candidate.stem.lower() == stem and candidate.suffix.lower() == suffix:
                return candidate
    return None


@dataclass(frozen=True, slots=True)
class GpsOptions:
    """How to read and judge GPS; the run builds it from settings.

    Attributes:
        tz: Time zone of local wall-clock sources (``timing.parse_timezone`` reads settings).
        configured_offset_s: Seconds from the first fix to the video's start for separate GPS
            files; None when not configured (the video's time is then "unverified").
        max_gap_s: Fixes further apart bound a gap without positions.
        max_hdop: Quality gate: highest HDOP kept.
        min_satellites: Quality gate: fewest satellites kept.
        max_speed_mps: Quality gate: fastest plausible vehicle.
    """

    tz: dt.tzinfo = DEFAULT_LOCAL_TZ
    configured_offset_s: float | None = None
    max_gap_s: float = 5.0
    max_hdop: float = 5.0
    min_satellites: int = 4
    max_speed_mps: float = 70.0


@dataclass(frozen=True, slots=True)
class VideoGps:
    """A video's GPS, ready for the run.

    Attributes:
        discovery: Where the GPS came from; None when the video has none.
        track: The gated fixes as a track; None without usable fixes.
        dropped: Fixes dropped per reason: the quality gate's (``null_island``, ``hdop``,
            ``satellites``, ``speed``, always present) and the parser's skips (``void_fix``,
            ``bad_checksum``..., when any). Empty without GPS.
        alignment: Where video time 0 lies in UTC; None without GPS.
    """

    discovery: GpsDiscovery | None
    track: GpsTrack | None
    dropped: dict[str, int] = field(default_factory=dict)
    alignment: TimeAlignment | None = None

    @property
    def time_status(self) -> TimeStatus:
        """The alignment's status; ``unverified`` without GPS."""
        return self.alignment.status if self.alignment is not None else TimeStatus.UNVERIFIED


def load_video_gps(
    video_path: Path, override: Path | None = None, options: GpsOptions | None = None
) -> VideoGps:
    """Discover, gate, track and align a video's GPS in one call.

    Args:
        video_path: The video.
        override: The operator's GPS source (``--gps``), if any.
        options: Time zone, configured offset, gap and quality thresholds.

    Returns:
        The discovery, the gated track, the drop counts and the time alignment.

    Raises:
        GpsFormatError: As ``discover_gps``.
    """
    options = options or GpsOptions()
    discovery = discover_gps(video_path, override, tz=options.tz)
    if discovery is None:
        return VideoGps(None, None)
    kept, dropped = gate_fixes(
        discovery.report.fixes, options.max_hdop, options.min_satellites, options.max_speed_mps
    )
    dropped.update({str(reason): count for reason, count in discovery.report.skipped.items() if count})
    track = (GpsTrack(kept, max_gap_s=options.max_gap_s, source=discovery.label, max_speed_mps=options.max_speed_mps)
             if kept else None)
    anchors = discovery.reading.anchors
    alignment = None
    if anchors or track is not None:
        # The log's first record, not its first good fix: bad fixes at the start must not move the video.
        start = (log_start(discovery.report.record_times(), track.start, options.max_gap_s)
                 if track is not None else None)
        alignment = estimate_offset(anchors, start, options.configured_offset_s)
        if track is not None and start is not None and start < track.start and not anchors:
            alignment = dataclasses.replace(alignment, detail=f"{alignment.detail}; the log's first "
                                            f"{track.start - start:.1f} s held no usable fix")
    if any(dropped.values()):
        logger.info("%s: GPS fixes dropped: %s", video_path, dropped)
    return VideoGps(discovery, track, dropped, alignment)


def _read_override(path: Path, tz: dt.tzinfo) -> GpsDiscovery:
    if not path.exists():
        raise GpsFormatError(path, "no such file (given as the GPS override)")
    if not path.is_file():
        raise GpsFormatError(path, "not a regular file (given as the GPS override)")
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        found = _embedded(path, "override", tz)
        if found is None:
            raise GpsFormatError(
                path, "no GPS embedded in this video (looked for a 70mai GPS box, a subtitle stream "
                "with positions, a GoPro GPMF stream)"
            )
        return found
    return _read_file("override", path, tz)


def _read_file(origin: Origin, path: Path, tz: dt.tzinfo) -> GpsDiscovery:
    suffix = path.suffix.lower()
    source = SRT_FILE if suffix == ".srt" else GPMF_RAW if suffix in GPMF_RAW_SUFFIXES else GPS_FILE
    reading = source.read(path, tz)
    assert reading is not None  # file readers raise instead
    kind = source.name
    if source is GPS_FILE:
        kind = "nmea" if suffix in NMEA_SUFFIXES else suffix.lstrip(".")
    return GpsDiscovery(origin, kind, path, reading)


def _embedded(video_path: Path, origin: Origin, tz: dt.tzinfo) -> GpsDiscovery | None:
    first: GpsDiscovery | None = None
    for source in EMBEDDED_SOURCES:
        reading = source.read(video_path, tz)
        if reading is None:
            continue
        found = GpsDiscovery(origin, source.name, video_path, reading)
        if reading.report.fixes:
            return found
        first = first or found  # found but unusable: keep looking for a better one
    if first is not None:
        logger.warning(
            "%s: %s GPS found but no usable fix (%s)",
            video_path, first.source, first.report.describe_skipped() or "no records",
        )
    return first


def _checked(discovery: GpsDiscovery) -> GpsDiscovery:
    require_fixes(discovery.report, discovery.path)
    return discovery


def _video_creation_beside(srt: Path) -> float | None:
    """The ``creation_time`` of a video with the SRT's stem, for SRT files without dates."""
    for candidate in sorted(srt.parent.iterdir()):
        if candidate.stem == srt.stem and candidate.suffix.lower() in VIDEO_SUFFIXES:
            with open_media(candidate) as container:
                if container is not None:
                    return creation_utc(container)
    return None
