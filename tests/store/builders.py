"""Synthetic, real inputs for the store tests: small JPEGs and in-memory pipeline objects."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np

from streetwatch.core.types import (
    EvidenceImage,
    Location,
    LocationStatus,
    Observation,
    TrackPoint,
    Violation,
)
from streetwatch.store.evidence import encode_jpeg
from streetwatch.store.writes import VideoMeta, VideoResults

GEOLOCATED = Location(LocationStatus.GEOLOCATED, lat=31.2304, lon=121.4737, bearing_deg=87.5, range_m=6.25)
CAMERA_ONLY = Location(LocationStatus.CAMERA, lat=31.2310, lon=121.4741)
NOWHERE = Location(LocationStatus.UNKNOWN)


def video_meta(name: str = "patrol-0001.mp4") -> VideoMeta:
    """Metadata of a made-up video whose sha256 is derived from its name."""
    return VideoMeta(
        sha256=hashlib.sha256(name.encode()).hexdigest(), filename=name, size_bytes=12_345_678,
        container="mov,mp4,m4a,3gp,3g2,mj2", codec="h264", width=1920, height=1080, rotation=0,
        duration_s=61.5,
    )


def jpeg(seed: int, height: int = 24, width: int = 32) -> EvidenceImage:
    """A small real JPEG of random pixels; different seeds give different bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return encode_jpeg(pixels, quality=85)


def observation(
    track_id: int,
    *,
    seed: int | None = None,
    frame: EvidenceImage | None = None,
    location: Location = GEOLOCATED,
    time_utc: float | None = 1_767_000_000.25,
    class_name: str = "car",
) -> Observation:
    """An observation seen in three sampled frames, with its own crop (and frame unless given)."""
    seed = track_id if seed is None else seed
    points = tuple(
        TrackPoint(frame_index=10 * track_id + i, pts_s=1.5 * track_id + 0.5 * i,
                   xyxy=(10.0 + i, 20.0, 110.0 + i, 220.5), confidence=0.5 + 0.1 * i)
        for i in range(3)
    )
    return Observation(
        track_id=track_id, class_name=class_name, confidence=0.7, points=points, best=points[1],
        time_utc=time_utc, location=location,
        frame=frame if frame is not None else jpeg(1000 + seed, 48, 64), crop=jpeg(2000 + seed),
    )


def violation(family: str = "parking", event_code: str = "0508") -> Violation:
    return Violation(family=family, event_code=event_code, name_zh="机动车乱停放",
                     name_en="illegal parking of motor vehicle", reason="parked on the pavement for 40 s",
                     rule="parking.pavement", rule_version="2", extra={"zone": "pavement-17"})


def results(items: list[tuple[Observation, Violation | None]]) -> VideoResults:
    return VideoResults(
        frames_sampled=123, detections=456, gps_source="patrol-0001.gpx", gps_fixes=61, gps_offset_s=-1.5,
        start_utc=datetime(2025, 12, 29, 9, 20, tzinfo=UTC), model_name="yolo11n-streetwatch", items=items,
    )
