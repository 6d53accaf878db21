"""A photo through the pipeline: one frame, the same detector and rules, one observation per object.

A photo is registered, claimed and committed as a video is (:class:`streetwatch.pipeline.run.VideoProcessor`
does that part); this module places it and analyses it.

Where and when (:func:`place_photo`): the EXIF GPS position, and ``GPSImgDirection`` as the direction
the lens pointed when the phone wrote it; the time from ``DateTimeOriginal`` + ``OffsetTimeOriginal``,
else the GPS time stamp, else ``DateTimeOriginal`` in the configured local zone. A photo without
EXIF GPS takes its position from ``--gps`` (or a sidecar with its name) at its EXIF time, or at the
track's start (plus ``--gps-offset``) when it has none; position only, since a track's heading is
the direction of travel, not where a phone pointed. Without either the photo is stored with its
objects' location ``unknown``.

What a single photo can say (:func:`analyse_photo`): what is in it and, with a direction, where each
object stands (flat-ground ranging from a hand-held camera: 1.5 m above the ground, level, the
field of view from the 35 mm-equivalent focal length, or a phone's 26 mm); without a direction only
the photographer's position, with a larger uncertainty. What it cannot say is whether a vehicle
moves or how long it has stood: vehicles get the motion state ``unknown``, so the parking rule
files one only on position across passes (the same vehicle at the same spot on an earlier pass,
photo or video, N minutes before), never from one picture; a no-parking zone alone does not file
a vehicle the photo cannot show parked. Garbage, stalls and ads are judged as in a video.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streetwatch.core.types import Location, LocationStatus, Motion, MotionState, Observation, Pose, TrackPoint
from streetwatch.core.vocab import TimeStatus
from streetwatch.pipeline.ad_board import is_board, judge_boards
from streetwatch.pipeline.ad_scan import AdTextScanner, ad_text_observations
from streetwatch.pipeline.bin_fill import judge_bins
from streetwatch.pipeline.gps.source import GpsOptions, find_sidecar, load_video_gps
from streetwatch.pipeline.observe import Locator, MotionJudge, ObservationBuilder
from streetwatch.pipeline.photo_exif import PhotoExif
from streetwatch.pipeline.photo_ingest import PhotoInfo
from streetwatch.pipeline.rules import RuleContext
from streetwatch.pipeline.triangulate import class_size, locate_track
from streetwatch.store import writes
from streetwatch.store.history import DbSightingHistory
from streetwatch.vision.calibration import CameraChoice
from streetwatch.vision.geometry import CameraModel
from streetwatch.vision.types import Frame

if TYPE_CHECKING:
    from streetwatch.pipeline.run import VideoProcessor

# A hand-held phone: lens height above the ground, and a level view.
HANDHELD_HEIGHT_M = 1.5
HANDHELD_PITCH_DEG = 0.0
# A phone's main camera is about 26 mm (35 mm equivalent): 69 degrees across the long side.
DEFAULT_PHOTO_HFOV_DEG = math.degrees(2.0 * math.atan(36.0 / (2.0 * 26.0)))
# Position only (no direction): the object is somewhere around the photographer, typically this far.
PHOTO_SUBJECT_RANGE_M = 15.0
# A phone's GPS error when the photo does not say (GPSHPositioningError).
PHOTO_GPS_SIGMA_M = 8.0
# EXIF GPS time and camera clock agreeing this closely make the photo's time verified.
CLOCK_AGREEMENT_S = 120.0
SINGLE_PHOTO_MOTION = "one photo cannot show whether it moves or how long it has stood there"


@dataclass(frozen=True, slots=True)
class PhotoPlace:
    """Where and when a photo was taken, and where that came from.

    Attributes:
        pose: The photographer's position (and the lens direction, when known); None: unknown.
        time_utc: When it was taken (UTC epoch seconds); None: unknown.
        time_status: ``verified`` when the time comes from, or agrees with, the GPS time stamp.
        gps_kind: ``exif``, or the kind of the GPS track it was placed on; None without a position.
        gps_source: The source in words (``exif: IMG_0001.HEIC``, a track's label).
        gps_fixes: Fixes used (1 for EXIF).
        gps_dropped: A track's dropped fixes, by reason.
        note: Where position, direction and time came from, in words (stored as the camera note).
    """

    pose: Pose | None
    time_utc: float | None
    time_status: TimeStatus
    gps_kind: str | None = None
    gps_source: str | None = None
    gps_fixes: int = 0
    gps_dropped: dict[str, int] = field(default_factory=dict)
    note: str = ""


def place_photo(photo: PhotoInfo, gps_path: Path | None, options: GpsOptions) -> PhotoPlace:
    """Where and when ``photo`` was taken (the order of sources in the module docstring).

    Raises:
        GpsFormatError: If the ``--gps`` file or a sidecar cannot be read (as for a video).
    """
    exif = photo.exif
    status = _time_status(exif)
    when = _time_words(exif)
    if exif.lat is not None and exif.lon is not None:
        heading = exif.heading_deg
        facing = ("position only: no GPSImgDirection" if heading is None else
                  f"facing {heading:.0f} deg ({'magnetic' if exif.heading_ref == 'M' else 'true'} north)")
        taken = Pose(exif.time_utc or 0.0, exif.lat, exif.lon, heading=heading, alt=exif.alt)
        return PhotoPlace(taken, exif.time_utc, status, "exif", f"exif: {photo.path}", 1,
                          note=f"photo: EXIF GPS position, {facing}; {when}")
    if gps_path is None and find_sidecar(photo.path) is None:
        return PhotoPlace(None, exif.time_utc, status,
                          note=f"photo: no EXIF GPS and no --gps track: location unknown; {when}")
    gps = load_video_gps(photo.path, gps_path, options)
    track, alignment = gps.track, gps.alignment
    time_utc = exif.time_utc
    if time_utc is None and alignment is not None:
        time_utc, status = alignment.start_utc, alignment.status
        when = f"time from the track's start ({alignment.status.value})"
    pose = track.pose_at(time_utc) if track is not None and time_utc is not None else None
    label = gps.discovery.label if gps.discovery is not None else str(gps_path)
    where = ("position from the GPS track, direction unknown" if pose is not None
             else "the GPS track has no position at the photo's time: location unknown")
    return PhotoPlace(None if pose is None else replace(pose, heading=None), time_utc, status,
                      gps.discovery.source if gps.discovery is not None else None, label,
                      len(track) if track is not None else 0, dict(gps.dropped), note=f"photo: {where}; {when}")


def _placed_again(observation: Observation, locate: Locator, width: int, height: int) -> Observation:
    """The observation placed as its (changed) class stands: a standing board on the ground."""
    location, _ = locate(observation.points, observation.best, observation.class_name, width, height)
    return replace(observation, location=location)


def photo_camera(exif: PhotoExif, width: int, height: int, max_range_m: float) -> CameraModel:
    """A hand-held camera with the photo's field of view across its width (portrait pictures too)."""
    long_side = exif.hfov_deg or DEFAULT_PHOTO_HFOV_DEG
    hfov = long_side if width >= height else math.degrees(
        2.0 * math.atan(math.tan(math.radians(long_side) / 2.0) * width / height))
    return CameraModel(hfov_deg=hfov, mount_height_m=HANDHELD_HEIGHT_M, pitch_deg=HANDHELD_PITCH_DEG,
                       max_range_m=max_range_m)


def analyse_photo(processor: VideoProcessor, photo: PhotoInfo, place: PhotoPlace) -> writes.VideoResults:
    """Detect, place and judge the objects of one photo, as the run does for a video's tracks."""
    frame = Frame(video_id=photo.sha256, index=0, pts_s=0.0, image=photo.image)
    height, width = photo.image.shape[:2]
    camera = photo_camera(photo.exif, width, height, processor.camera.max_range_m)
    locate = _locator(processor, place, camera, photo.exif)
    builder = ObservationBuilder(locate, min_frames=1, judge_motion=_single_photo_motion(processor))
    detections = processor._taxonomy_only(processor.detector.detect([frame.image])[0])
    detections.tracker_id = np.arange(1, len(detections) + 1)   # one "track" per detected object
    observations: list[Observation] = [*builder.add(frame, detections), *builder.finish_all()]
    observations = [_placed_again(o, locate, width, height) if is_board(o) else o
                    for o in judge_boards(observations, camera, width, height)]
    if processor.read_text is not None:
        scanner = AdTextScanner(processor.scan_reader, max_width=processor.settings.ocr_scan_width)
        scanner.offer(frame)   # banners and small ads from the OCR's own text regions
        observations.extend(ad_text_observations(scanner.sightings(), locate))
        observations = [processor.read_text(o) for o in observations]
    observations = judge_bins(observations, processor.taxonomy)
    settings = processor.settings
    context = RuleContext(
        processor.taxonomy, zones=processor.zones, permits=processor.permits, params=settings.rules,
        history=DbSightingHistory(processor.sessions, processor.taxonomy,
                                  max_age_s=settings.rules.parking_overstay_window_h * 3600),
        nearby=tuple(observations))
    items = [processor._judge(observation, context) for observation in observations]
    choice = CameraChoice(camera, "default", "default", "default", None, None,
                          f"{place.note}; hand-held camera: {HANDHELD_HEIGHT_M:g} m, level, "
                          f"{camera.hfov_deg:.0f} deg across "
                          f"({'EXIF focal length' if photo.exif.hfov_deg else 'a phone default'})")
    return writes.VideoResults(
        frames_sampled=1, detections=len(detections), gps_source=place.gps_source, gps_fixes=place.gps_fixes,
        gps_offset_s=0.0, gps_kind=place.gps_kind, gps_dropped=place.gps_dropped, time_status=place.time_status,
        start_utc=None if place.time_utc is None else datetime.fromtimestamp(place.time_utc, UTC),
        model_name=processor.detector.model_name, items=items, camera=choice, analysed_s=0.0)


def _locator(processor: VideoProcessor, place: PhotoPlace, camera: CameraModel, exif: PhotoExif) -> Locator:
    """Place an object of the photo: ranged along the lens direction, or the photographer's position."""
    pose = place.pose
    gps_sigma = exif.gps_error_m if exif.gps_error_m is not None else PHOTO_GPS_SIGMA_M
    around = math.hypot(gps_sigma, PHOTO_SUBJECT_RANGE_M)

    def locate(_points: Sequence[TrackPoint], best: TrackPoint, class_name: str,
               width: int, height: int) -> tuple[Location, float | None]:
        if pose is None:
            return Location(LocationStatus.UNKNOWN), place.time_utc
        if pose.heading is None:
            return Location(LocationStatus.CAMERA, pose.lat, pose.lon, uncertainty_m=around), place.time_utc
        location = locate_track([best], [pose], camera, width, height,
                                size=class_size(processor.taxonomy, class_name),
                                on_ground=processor.taxonomy.on_ground(class_name))
        if location.status is LocationStatus.CAMERA:   # no range (a sign on a wall): around the photographer
            location = replace(location, uncertainty_m=around)
        elif location.uncertainty_m is not None and exif.gps_error_m is not None:
            location = replace(location, uncertainty_m=math.hypot(location.uncertainty_m, exif.gps_error_m))
        return location, place.time_utc

    return locate


def _single_photo_motion(processor: VideoProcessor) -> MotionJudge:
    """Vehicles in a photo: motion unknown (never parked on one picture); other objects: no motion state."""
    def judge(_track_id: int, points: Sequence[TrackPoint], class_name: str, _location: Location) -> Motion | None:
        if not points or class_name not in processor.movable:
            return None
        return Motion(MotionState.UNKNOWN, 0.0, 0, 1, SINGLE_PHOTO_MOTION)
    return judge


def _time_status(exif: PhotoExif) -> TimeStatus:
    """Verified when the time is the GPS receiver's, or the camera clock agrees with it."""
    if exif.time_utc is None or exif.gps_time_utc is None:
        return TimeStatus.UNVERIFIED
    return (TimeStatus.VERIFIED if abs(exif.time_utc - exif.gps_time_utc) <= CLOCK_AGREEMENT_S
            else TimeStatus.UNVERIFIED)


def _time_words(exif: PhotoExif) -> str:
    return {"exif_offset": "time from DateTimeOriginal with its UTC offset",
            "gps": "time from the EXIF GPS time stamp",
            "exif_local": "time from DateTimeOriginal in the configured local zone (no offset written)",
            None: "time unknown (no EXIF time)"}[exif.time_source]
