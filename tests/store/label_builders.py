"""Rows for the label tests: one video, two evidence frames, three detections and a pending violation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from streetwatch.store.models import Evidence, Observation, Video, Violation

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
MODEL = "streetwatch-v1"
FRAME_W, FRAME_H = 640, 360
CAR_BOX = (100.0, 50.0, 300.0, 200.0)
PERSON_BOX = (400.0, 80.0, 450.0, 250.0)
BUS_BOX = (20.0, 10.0, 600.0, 340.0)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LabelScene:
    """Ids of the rows: ``car`` and ``person`` share frame one, ``bus`` is alone on frame two."""

    video_id: int
    frame_one: str
    frame_two: str
    car: int
    person: int
    bus: int
    car_violation: int


def add_scene(factory: sessionmaker[Session], name: str = "labels") -> LabelScene:
    """Insert the scene (committed); the car's violation is pending and unleased."""
    with factory.begin() as session:
        video = Video(sha256=sha(name), filename=f"{name}.mp4", size_bytes=1, container="mp4", codec="h264",
                      width=FRAME_W, height=FRAME_H, duration_s=10.0, status="done", model_name=MODEL)
        frames = [Evidence(sha256=sha(f"{name}-frame-{i}"), media_type="image/jpeg", size_bytes=1, width=FRAME_W,
                           height=FRAME_H) for i in (1, 2)]
        crop = Evidence(sha256=sha(f"{name}-crop"), media_type="image/jpeg", size_bytes=1, width=8, height=8)
        session.add_all([video, *frames, crop])
        session.flush()

        def detection(track: int, class_name: str, box: tuple[float, ...], frame: Evidence) -> Observation:
            return Observation(video_id=video.id, track_id=track, class_name=class_name, family=None, confidence=0.8,
                               pts_start_s=1.0, pts_end_s=2.0, best_pts_s=1.5 + track, seen_at=T0,
                               location_status="unknown", bbox=list(box), track_points=[],
                               frame_sha256=frame.sha256, crop_sha256=crop.sha256)

        car = detection(1, "car", CAR_BOX, frames[0])
        person = detection(2, "person", PERSON_BOX, frames[0])
        bus = detection(3, "bus", BUS_BOX, frames[1])
        violation = Violation(observation=car, family="parking", class_name="car", event_code="0508",
                              name_zh="机动车乱停放", name_en="illegal parking", reason="seen", rule="test",
                              rule_version="1", extra={}, status="pending", seen_at=T0)
        session.add_all([car, person, bus, violation])
        session.flush()
        return LabelScene(video.id, frames[0].sha256, frames[1].sha256, car.id, person.id, bus.id, violation.id)
