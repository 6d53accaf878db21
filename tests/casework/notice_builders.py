"""A filed case with a real evidence JPEG, for the notice tests (casework and API)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.case_workflow import file_on_approval
from streetwatch.casework.config import WorkflowConfig
from streetwatch.store.cases import attach_violations, lock_case_areas
from streetwatch.store.evidence import EvidenceStore, encode_jpeg
from streetwatch.store.models import Evidence, Observation, Video, Violation

FILED_AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
POINT = (31.23040, 121.47370)  # inside the sample zones' grid cell on Renmin Rd
BBOX = (220.0, 120.0, 420.0, 260.0)


def frame_image(seed: int) -> np.ndarray:
    """A 640x360 BGR frame: a street-coloured gradient with a car-coloured block where the box is."""
    rng = np.random.default_rng(seed)
    image = np.zeros((360, 640, 3), dtype=np.uint8)
    image[:] = np.linspace(60, 190, 640, dtype=np.uint8)[None, :, None]
    image += rng.integers(0, 20, size=image.shape, dtype=np.uint8)
    x1, y1, x2, y2 = (int(v) for v in BBOX)
    image[y1:y2, x1:x2] = (40, 40, 200)
    return image


def add_filed_case(
    factory: sessionmaker[Session], evidence_dir: Path, config: WorkflowConfig, *, seed: int = 1,
    point: tuple[float, float] = POINT, extra: dict[str, str] | None = None, file: bool = True,
) -> int:
    """One video with one approved car violation at ``point`` whose case is filed at ``FILED_AT``; the case id.

    The evidence frame is a real JPEG, written to ``evidence_dir`` and recorded with its size.
    """
    frame = encode_jpeg(frame_image(seed), quality=85)
    crop = encode_jpeg(frame_image(seed)[120:260, 220:420], quality=85)
    store = EvidenceStore(evidence_dir)
    for image in (frame, crop):
        store.put(image)
    seen = FILED_AT - timedelta(minutes=50)
    with factory.begin() as session:
        video = Video(sha256=hashlib.sha256(f"notice-video-{seed}".encode()).hexdigest(), filename=f"n{seed}.mp4",
                      size_bytes=1, container="mp4", codec="h264", width=640, height=360, duration_s=10.0,
                      status="done")
        session.add(video)
        for image in (frame, crop):
            if session.get(Evidence, image.sha256) is None:
                session.add(Evidence(sha256=image.sha256, media_type=image.media_type, size_bytes=len(image.data),
                                     width=image.width, height=image.height))
        session.flush()
        observation = Observation(
            video_id=video.id, track_id=1, class_name="car", family="parking", confidence=0.9, pts_start_s=1.0,
            pts_end_s=3.0, best_pts_s=2.0, seen_at=seen, location_status="geolocated", lat=point[0], lon=point[1],
            bbox=list(BBOX), track_points=[], frame_sha256=frame.sha256, crop_sha256=crop.sha256)
        violation = Violation(observation=observation, family="parking", class_name="car", event_code="0508",
                              name_zh="机动车乱停放", name_en="illegal parking of motor vehicle",
                              reason="parked in a no-parking zone", rule="parking", rule_version="1",
                              extra=dict(extra or {}), status="approved", seen_at=seen, lat=point[0], lon=point[1])
        session.add(violation)
        session.flush()
        lock_case_areas(session, [violation], config.case_radius_m)
        attach_violations(session, [violation], radius_m=config.case_radius_m)
        case_id = violation.case_id
        assert case_id is not None
        if file:
            file_on_approval(session, case_id, violation.id, "reviewer1", config, now=FILED_AT)
    return case_id


def pdf_text(path: Path) -> str:
    """The text of a PDF as Debian's pdftotext reads it (the test skips without poppler-utils)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian's poppler-utils) is not installed: cannot read the notice's text")
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60)
    return done.stdout.decode("utf-8")
