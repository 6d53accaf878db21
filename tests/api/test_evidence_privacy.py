"""Images that leave are blurred: the evidence route by role, /evidence/{sha256}/blurred, the blur cache, purged
images, and the acceptance check on a real frame with a face and a plate (CenterFace finds no face and OCR reads
no plate in the blurred export, while both are found in the raw frame)."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from streetwatch.store.blurred import blur_cache_dir
from streetwatch.store.evidence import EvidenceStore, encode_jpeg
from streetwatch.store.models import Case, Evidence, Violation
from streetwatch.vision.blur import BLUR_VERSION
from streetwatch.vision.faces import DEFAULT_FACE_THRESHOLD, FaceDetector
from streetwatch.vision.ocr import TextReader
from streetwatch.vision.plates import find_plates, read_plate
from tests.api.auth_support import UNIT_A, TestUser
from tests.api.seed import SeedData

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CCPD = DATA / "plates_and_text" / "ccpd_plates.csv"


def _routed_frame(session: Session, seed: SeedData) -> str:
    """The frame of a seeded violation, routed to unit A (so the unit's dispatcher may see it)."""
    violation = session.get(Violation, seed.violations[0].id)
    assert violation is not None
    case = Case(family=violation.family, event_code=violation.event_code, status="open", lat=39.9, lon=116.3,
                h3_cell="8a31aa5a0a6ffff", sightings=0, recurrence_count=0, unit=UNIT_A)
    session.add(case)
    session.flush()
    violation.case_id = case.id
    session.commit()
    return violation.observation.frame_sha256


def test_roles_without_raw_access_get_the_blurred_copy(client: TestClient, session: Session, seed: SeedData,
                                                      users: dict[str, TestUser]) -> None:
    sha = _routed_frame(session, seed)
    raw = seed.evidence_bytes(sha)
    served: dict[str, bytes] = {}
    for name in ("reviewer", "supervisor", "admin", "dispatcher", "field_inspector"):
        response = client.get(f"/evidence/{sha}", headers=users[name].headers())
        assert response.status_code == 200, (name, response.text)
        served[name] = response.content
        blurred = name in ("dispatcher", "field_inspector")
        assert response.headers["etag"] == (f'"{sha}-blur-v{BLUR_VERSION}"' if blurred else f'"{sha}"'), name
        assert "private" in response.headers["cache-control"]
    assert served["reviewer"] == served["supervisor"] == served["admin"] == raw
    assert served["dispatcher"] == served["field_inspector"] != raw
    decoded = cv2.imdecode(np.frombuffer(served["dispatcher"], np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == original.shape  # the same picture, re-encoded
    # /blurred is the same copy for any role, from the content-addressed cache.
    for name in ("reviewer", "dispatcher"):
        again = client.get(f"/evidence/{sha}/blurred", headers=users[name].headers())
        assert again.status_code == 200 and again.content == served["dispatcher"]
    cached = list(blur_cache_dir(EvidenceStore(seed.evidence_dir)).glob(f"*/*/{sha}-*.jpg"))
    assert [p.name for p in cached] == [f"{sha}-{hashlib.sha256(served['dispatcher']).hexdigest()}.jpg"]
    # Raw evidence stays sealed: the file under the hash is untouched.
    assert EvidenceStore(seed.evidence_dir).read_verified(sha) == raw


def test_a_damaged_cached_copy_is_made_again(client: TestClient, seed: SeedData) -> None:
    sha = seed.observations[3].frame_sha256
    first = client.get(f"/evidence/{sha}/blurred").content
    [cached] = blur_cache_dir(EvidenceStore(seed.evidence_dir)).glob(f"*/*/{sha}-*.jpg")
    cached.write_bytes(b"tampered")
    assert client.get(f"/evidence/{sha}/blurred").content == first


def test_tampered_raw_evidence_is_not_blurred_either(client: TestClient, seed: SeedData) -> None:
    sha = seed.observations[4].frame_sha256
    EvidenceStore(seed.evidence_dir).path_for(sha).write_bytes(b"\xff\xd8\xff not the image")
    response = client.get(f"/evidence/{sha}/blurred")
    assert response.status_code == 409 and "integrity" in response.json()["detail"]


def test_purged_evidence_is_gone(client: TestClient, session: Session, seed: SeedData) -> None:
    sha = seed.observations[5].frame_sha256
    row = session.get(Evidence, sha)
    assert row is not None
    row.purged_at = datetime(2026, 11, 1, tzinfo=UTC)
    session.commit()
    for path in (f"/evidence/{sha}", f"/evidence/{sha}/blurred"):
        response = client.get(path)
        assert response.status_code == 410 and "retention" in response.json()["detail"]


# --- acceptance: a real frame with a face and a plate --------------------------------------------------------------

def _frame_with_face_and_plate() -> tuple[np.ndarray, str]:
    """A CCPD roadside-parking photo (a car, its plate in the file name) beside Ultralytics' bus photo (people)."""
    import ultralytics

    if not CCPD.is_file():
        pytest.skip(f"the shared data set is absent ({CCPD})")
    row = next(csv.DictReader(CCPD.open(encoding="utf-8")))
    car = cv2.imread(str(DATA / "plates_and_text" / "ccpd_whole_car" / row["file"]))
    people = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    people = cv2.resize(people, (round(people.shape[1] * car.shape[0] / people.shape[0]), car.shape[0]))
    return np.ascontiguousarray(np.hstack([car, people])), row["plate_text"]


@pytest.mark.slow
def test_blurred_export_shows_no_face_and_no_plate(client: TestClient, session: Session, seed: SeedData) -> None:
    frame, plate_text = _frame_with_face_and_plate()
    image = encode_jpeg(frame, 92)
    EvidenceStore(seed.evidence_dir).put(image)
    session.add(Evidence(sha256=image.sha256, media_type=image.media_type, size_bytes=len(image.data),
                         width=image.width, height=image.height))
    session.commit()

    raw = client.get(f"/evidence/{image.sha256}")
    export = client.get(f"/evidence/{image.sha256}/blurred")
    assert raw.status_code == export.status_code == 200
    assert raw.content == image.data
    raw_frame = cv2.imdecode(np.frombuffer(raw.content, np.uint8), cv2.IMREAD_COLOR)
    blurred = cv2.imdecode(np.frombuffer(export.content, np.uint8), cv2.IMREAD_COLOR)

    faces, reader = FaceDetector(), TextReader()
    assert len(faces.detect(raw_frame, DEFAULT_FACE_THRESHOLD)) >= 2  # the people by the bus
    reading = read_plate(reader, raw_frame)
    assert reading is not None and reading.plate.text == plate_text

    assert faces.detect(blurred, DEFAULT_FACE_THRESHOLD) == []
    assert read_plate(reader, blurred) is None
    assert not [line.text for line in reader.read(blurred) if find_plates(line.text)]
