"""The in-memory types that flow through the pipeline.

Frozen, slotted dataclasses: cheap to create by the thousand, impossible to mutate by
accident. Times on the GPS clock are UTC epoch seconds (floats); times on the video
clock are presentation times in seconds from the first frame (``pts_s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streetwatch.core.vocab import LocationStatus, MotionState


@dataclass(frozen=True, slots=True)
class GpsFix:
    """One position report from a GPS receiver.

    Attributes:
        t: UTC epoch seconds.
        lat: Latitude in degrees (WGS84).
        lon: Longitude in degrees (WGS84).
        alt: Altitude in metres, if reported.
        heading: Course over ground in degrees clockwise from true north, if reported.
        speed: Ground speed in m/s, if reported.
        fix: Fix quality as reported (NMEA GGA quality, or 2/3 for 2D/3D), if any.
        hdop: Horizontal dilution of precision, if reported.
        satellites: Number of satellites used in the fix, if reported.
    """

    t: float
    lat: float
    lon: float
    alt: float | None = None
    heading: float | None = None
    speed: float | None = None
    fix: int | None = None
    hdop: float | None = None
    satellites: int | None = None

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude must be within [-90, 90], got {self.lat}")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude must be within [-180, 180], got {self.lon}")


@dataclass(frozen=True, slots=True)
class Pose:
    """Where the camera was and where it pointed at one instant.

    Attributes:
        t: UTC epoch seconds.
        lat: Latitude in degrees.
        lon: Longitude in degrees.
        heading: Direction of travel in degrees clockwise from north; None when the
            vehicle is not moving and no receiver heading is known.
        speed: Ground speed in m/s, if known.
        alt: Altitude in metres, if known.
    """

    t: float
    lat: float
    lon: float
    heading: float | None
    speed: float | None = None
    alt: float | None = None


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One sighting of a tracked object in one sampled frame."""

    frame_index: int
    pts_s: float
    xyxy: tuple[float, float, float, float]
    confidence: float


@dataclass(frozen=True, slots=True)
class Location:
    """A position on the ground, or the reason there is none."""

    status: LocationStatus
    lat: float | None = None
    lon: float | None = None
    bearing_deg: float | None = None    # from the camera to the object, clockwise from north
    range_m: float | None = None        # from the camera to the object, along the ground
    uncertainty_m: float | None = None  # ~1-sigma horizontal radius (DRMS) of the position, if estimated
    n_views: int = 1                    # sightings (frames) the position was estimated from

    def __post_init__(self) -> None:
        has_point = self.lat is not None and self.lon is not None
        if (self.status is LocationStatus.UNKNOWN) == has_point:
            raise ValueError(f"location status {self.status} does not match lat/lon {self.lat}, {self.lon}")


@dataclass(frozen=True, slots=True)
class EvidenceImage:
    """An encoded image kept as evidence, addressed by the sha256 of its bytes."""

    sha256: str
    data: bytes
    media_type: str = "image/jpeg"
    width: int = 0
    height: int = 0


@dataclass(frozen=True, slots=True)
class Motion:
    """The motion state of one tracked object, with the evidence for it.

    Attributes:
        state: parked, moving, stopped in traffic, or unknown (motion cannot tell).
        score: Confidence in ``state``, 0..1 (0 for unknown).
        stationary_sightings: Sightings in which it stood still against the background.
        total_sightings: All its sightings.
        reason: The evidence in words, for the reviewer.
        lateral_offset_m: Its distance right (+) or left (-) of the patrol car's path, when placed.
        ground_summary: What its GPS ground positions showed, in words, when they decided a still
            state; None when the image decided.
    """

    state: MotionState
    score: float
    stationary_sightings: int
    total_sightings: int
    reason: str
    lateral_offset_m: float | None = None
    ground_summary: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """One object seen in one video, tracked through time and placed on the map.

    Attributes:
        track_id: The tracker's id for the object within its video.
        class_name: Detector class, as named in ``models/taxonomy.yaml``.
        confidence: The best detection confidence along the track.
        points: Every sighting of the object, in time order.
        best: The sighting chosen as evidence (largest, most confident box).
        time_utc: UTC epoch seconds of the best sighting, if the video is tied to GPS time.
        location: Where the object is.
        frame: The full evidence frame (JPEG).
        crop: The object cut out of the evidence frame, with a margin (JPEG).
        motion: For movable objects (vehicles): parked or moving, and why; None for the rest.
        attributes: What later stages add (e.g. the candidate a rule held back, its priority).
    """

    track_id: int
    class_name: str
    confidence: float
    points: tuple[TrackPoint, ...]
    best: TrackPoint
    time_utc: float | None
    location: Location
    frame: EvidenceImage
    crop: EvidenceImage
    motion: Motion | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def pts_start_s(self) -> float:
        return self.points[0].pts_s

    @property
    def pts_end_s(self) -> float:
        return self.points[-1].pts_s


@dataclass(frozen=True, slots=True)
class Violation:
    """An observation that a rule judged to be a violation, with the rule's reason."""

    family: str
    event_code: str
    name_zh: str
    name_en: str
    reason: str
    rule: str = "taxonomy"
    rule_version: str = "1"
    extra: dict[str, str] = field(default_factory=dict)
    # How much a reviewer's look is worth, 0..1 (streetwatch.pipeline.rules.priority); the queue
    # serves the highest first, and a family's threshold keeps the weakest out of it.
    priority: float = 0.5
    priority_reason: str = ""   # its parts in words, shown to the reviewer beside the reason
