"""A small, varied database for the API tests, inserted through the ORM.

Rows are spread over every family, review status, location status and video status, at
times that do not follow insertion order (so sorting by time instead of id shows), and
each observation has its own real JPEG frame and crop in the evidence folder. Tests compute
what they expect from the returned :class:`SeedData`, never from hard-coded ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.types import EvidenceImage
from streetwatch.store.evidence import EvidenceStore, encode_jpeg
from streetwatch.store.models import Evidence, Observation, Video, Violation

BASE_TIME = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
BASE_LAT, BASE_LON = 39.90, 116.30
# Detector classes in turn: four violation families plus an evidence-only class.
CLASS_CYCLE = ("car", "umbrella", "overflowing_bin", "shop_sign", "bicycle", "person", "garbage_pile")
LOCATION_CYCLE = ("geolocated", "camera", "geolocated", "unknown")
STATUS_CYCLE = ("pending", "approved", "pending", "rejected")


@dataclass(frozen=True, slots=True)
class SeedVideo:
    id: int
    sha256: str
    filename: str
    status: str
    error: str | None


@dataclass(frozen=True, slots=True)
class SeedObservation:
    id: int
    video_id: int
    class_name: str
    family: str | None
    location_status: str
    lat: float | None
    lon: float | None
    seen_at: datetime | None
    frame_sha256: str
    crop_sha256: str
    violation_id: int | None


@dataclass(frozen=True, slots=True)
class SeedViolation:
    id: int
    observation_id: int
    video_id: int
    family: str
    class_name: str
    status: str
    lat: float | None
    lon: float | None
    seen_at: datetime | None


@dataclass(frozen=True, slots=True)
class SeedData:
    videos: tuple[SeedVideo, ...]
    observations: tuple[SeedObservation, ...]
    violations: tuple[SeedViolation, ...]
    evidence_dir: Path

    def evidence_bytes(self, sha256: str) -> bytes:
        return EvidenceStore(self.evidence_dir).open(sha256)


def _jpeg(index: int, kind: int, width: int, height: int) -> EvidenceImage:
    # A gradient whose colours depend on (index, kind): every image has its own hash.
    rng = np.random.default_rng(index * 2 + kind)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return encode_jpeg(image, quality=80)


def _video(index: int, status: str, start: datetime | None) -> Video:
    return Video(
        sha256=f"{index:02x}" * 32,
        filename=f"patrol_{index}.mp4",
        size_bytes=1_000_000 + index,
        container="mp4",
        codec="h264",
        width=1920,
        height=1080,
        rotation=0,
        duration_s=60.0,
        status=status,
        error="decoder error: truncated file" if status == "failed" else None,
        frames_sampled=300 if status == "done" else 0,
        detections=120 if status == "done" else 0,
        gps_source=f"patrol_{index}.gpx" if start else None,
        gps_fixes=60 if start else 0,
        start_utc=start,
        model_name="streetwatch-v0",
    )


def seed_database(session: Session, evidence_dir: Path, taxonomy: Taxonomy, count: int = 31) -> SeedData:
    """Insert three videos and ``count`` observations (most with a violation); commit.

    Args:
        session: An open session on a migrated database.
        evidence_dir: Where the evidence JPEGs are written (``EvidenceStore`` layout).
        taxonomy: Gives each class its family, event code and names.
        count: How many observations to insert.
    """
    store = EvidenceStore(evidence_dir)
    videos = [
        _video(1, "done", BASE_TIME),
        _video(2, "failed", BASE_TIME + timedelta(hours=3)),
        _video(3, "processing", None),
    ]
    session.add_all(videos)
    session.flush()

    seed_obs: list[SeedObservation] = []
    seed_viol: list[SeedViolation] = []
    for i in range(count):
        video = videos[i % len(videos)]
        spec = taxonomy.lookup(CLASS_CYCLE[i % len(CLASS_CYCLE)])
        assert spec is not None, CLASS_CYCLE[i % len(CLASS_CYCLE)]
        location = LOCATION_CYCLE[i % len(LOCATION_CYCLE)]
        lat, lon = (None, None) if location == "unknown" else (BASE_LAT + 0.001 * i, BASE_LON + 0.002 * i)
        # Times out of id order; the video without GPS time has none.
        seen_at = None if video.start_utc is None else BASE_TIME + timedelta(minutes=10 * ((i * 7) % count))
        frame, crop = _jpeg(i, 0, 48, 32), _jpeg(i, 1, 16, 16)
        for image in (frame, crop):
            store.put(image)
            session.add(
                Evidence(
                    sha256=image.sha256,
                    media_type=image.media_type,
                    size_bytes=len(image.data),
                    width=image.width,
                    height=image.height,
                )
            )
        points = [
            {
                "frame_index": 5 * k,
                "pts_s": 1.0 + k,
                "xyxy": [10.0 + k, 5.0, 30.0 + k, 25.0],
                "confidence": 0.5 + 0.1 * k,
            }
            for k in range(3)
        ]
        obs = Observation(
            video_id=video.id,
            track_id=i + 1,
            class_name=spec.name,
            family=spec.family,
            confidence=0.55 + 0.01 * i,
            pts_start_s=1.0,
            pts_end_s=3.0,
            best_pts_s=2.0,
            seen_at=seen_at,
            location_status=location,
            lat=lat,
            lon=lon,
            bearing_deg=45.0 if location == "geolocated" else None,
            range_m=8.0 if location == "geolocated" else None,
            bbox=[12.0, 5.0, 32.0, 25.0],
            track_points=points,
            frame_sha256=frame.sha256,
            crop_sha256=crop.sha256,
        )
        session.add(obs)
        session.flush()
        violation_id = None
        event = taxonomy.event_for(spec)
        if spec.role == "violation" and event is not None:
            status = STATUS_CYCLE[i % len(STATUS_CYCLE)]
            violation = Violation(
                observation_id=obs.id,
                family=spec.family,
                class_name=spec.name,
                event_code=event.code,
                name_zh=event.name_zh,
                name_en=event.name_en,
                reason=f"{spec.name} seen in a public space",
                rule="taxonomy",
                rule_version="1",
                status=status,
                seen_at=seen_at,
                lat=lat,
                lon=lon,
            )
            session.add(violation)
            session.flush()
            violation_id = violation.id
            seed_viol.append(
                SeedViolation(
                    violation.id, obs.id, video.id, spec.family, spec.name, status, lat, lon, seen_at
                )
            )
        seed_obs.append(
            SeedObservation(
                obs.id,
                video.id,
                spec.name,
                spec.family,
                location,
                lat,
                lon,
                seen_at,
                frame.sha256,
                crop.sha256,
                violation_id,
            )
        )
    session.commit()
    seed_videos = tuple(SeedVideo(v.id, v.sha256, v.filename, v.status, v.error) for v in videos)
    return SeedData(seed_videos, tuple(seed_obs), tuple(seed_viol), Path(evidence_dir))
