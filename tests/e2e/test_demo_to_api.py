"""End to end: the demo patrol clip and its GPX track, processed by the bundled model, served by
uvicorn on 127.0.0.1 and read back over HTTP, as a reviewer's browser would: signed in with a
password, as a user made by ``streetwatch.store.users.create_user``.

The bus fills the demo's picture, so motion cannot tell parked from waiting: one pass files
nothing. A second pass 40 minutes later finds it at the same spot, and position decides (the
digital chalk mark): an overstay, which the reviewer approves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.core.settings import Settings, get_settings
from streetwatch.datasets.demo import (
    DEMO_HEADING_DEG,
    DEMO_SIZE,
    DEMO_SPEED_MPS,
    DEMO_START_LATLON,
    DEMO_START_UTC,
    make_demo_footage,
)
from streetwatch.datasets.synthetic import write_gpx_track
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.users import create_user
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD
from tests.live_server import serve_on_loopback
from tests.pipeline.run_helpers import along_and_cross_track_m, shared_detector

DEMO_SECONDS = 4.0
TRACK_LENGTH_M = DEMO_SPEED_MPS * (DEMO_SECONDS + 1.0)  # the GPX runs one second past the clip
MAX_OFF_ROAD_M = 30.0
JPEG_MAGIC = b"\xff\xd8\xff"


@pytest.fixture(scope="module")
def demo_footage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_demo_footage(tmp_path_factory.mktemp("demo"), seconds=DEMO_SECONDS)


@pytest.fixture
def processed_demo(db_url: str, demo_footage: tuple[Path, Path], tmp_path: Path) -> Settings:
    """The demo processed into a fresh database; the settings the API is then started with."""
    video, gpx = demo_footage
    settings = get_settings(db_url=db_url, evidence_dir=tmp_path / "evidence", sample_fps=3.0,
                            auth_secret=TEST_AUTH_SECRET)
    summary = process_videos([video], settings, gpx, progress=False, detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    assert summary.outcomes[0].violations_by_family == {}, "one pass of a bus that fills the picture files nothing"
    later = tmp_path / "second-pass"
    video2, _ = make_demo_footage(later, seconds=DEMO_SECONDS + 0.5)   # other bytes: another video
    gpx2 = later / "second-pass.gpx"
    write_gpx_track(gpx2, start_utc=DEMO_START_UTC + timedelta(minutes=40), seconds=DEMO_SECONDS + 1.5,
                    start_latlon=DEMO_START_LATLON, heading_deg=DEMO_HEADING_DEG, speed_mps=DEMO_SPEED_MPS, hz=1.0)
    summary = process_videos([video2], settings, gpx2, progress=False, detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    engine = make_engine(db_url)
    with make_session_factory(engine).begin() as session:
        create_user(session, "wang.reviewer", TEST_PASSWORD, [Role.REVIEWER])
    engine.dispose()
    return settings


@pytest.fixture
def api_url(processed_demo: Settings) -> Iterator[str]:
    """The API served by uvicorn in a thread, on a port the OS picked."""
    with serve_on_loopback(create_app(processed_demo)) as url:
        yield url


def get_json(http: httpx.Client, path: str, **params: str | int) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    return response.json()


def test_demo_footage_to_reviewed_violation_over_http(api_url: str) -> None:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        assert get_json(http, "/health") == {"status": "ok", "db": "ok"}
        assert http.get("/violations").status_code == 401  # nothing but health without signing in
        token = http.post("/auth/token", data={"username": "wang.reviewer", "password": TEST_PASSWORD})
        assert token.status_code == 200, token.text
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        observations = get_json(http, "/observations", limit=500)
        assert observations["next_cursor"] is None
        items = observations["items"]
        classes = [o["class_name"] for o in items]
        assert classes.count("person") >= 2, classes
        assert classes.count("bus") == 2, classes   # one per pass

        # Every placed object is beside the road the car drove, between its start and end.
        placed = [o for o in items if o["lat"] is not None]
        assert placed, items
        for obs in placed:
            assert obs["location_status"] in ("geolocated", "camera"), obs
            along, across = along_and_cross_track_m(obs["lat"], obs["lon"], DEMO_START_LATLON,
                                                    DEMO_HEADING_DEG)
            assert abs(across) <= MAX_OFF_ROAD_M, f"{obs['class_name']} {across:.1f} m off the road: {obs}"
            assert -1.0 <= along <= TRACK_LENGTH_M + 1.0, f"{obs['class_name']} {along:.1f} m along: {obs}"

        violations = get_json(http, "/violations")["items"]
        bus = [v for v in violations if v["class_name"] == "bus"]
        assert len(bus) == 1, violations
        violation = bus[0]
        assert (violation["family"], violation["event_code"], violation["status"]) == ("parking", "0508",
                                                                                      "pending")
        assert violation["name_en"] == "illegal parking of motor vehicle"
        # the passes start 40 min apart; the bus's best sightings fall a second either side of that
        assert re.search(r"at the same spot (39|40) min after the first sighting", violation["reason"]), \
            violation["reason"]
        assert violation["seen_at"] is not None and violation["lat"] is not None

        detail = get_json(http, f"/violations/{violation['id']}")
        assert detail["video"]["filename"] == "patrol-demo.mp4"   # the second pass's clip
        for key, expected_size in (("frame_url", DEMO_SIZE), ("crop_url", None)):
            url = str(detail[key])
            image = http.get(url)
            assert image.status_code == 200, url
            assert image.headers["content-type"] == "image/jpeg"
            assert image.content.startswith(JPEG_MAGIC)
            assert hashlib.sha256(image.content).hexdigest() == url.rsplit("/", 1)[1]
            decoded = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
            assert decoded is not None, f"{url} is not a decodable JPEG"
            if expected_size is not None:
                assert (decoded.shape[1], decoded.shape[0]) == expected_size

        # A reviewer decides on what the queue leased them.
        claimed = http.post("/review/claim", json={"n": 50, "lease_minutes": 5})
        assert claimed.status_code == 200, claimed.text
        assert violation["id"] in [item["id"] for item in claimed.json()["items"]]
        decided = http.post(f"/violations/{violation['id']}/decision", json={"action": "approve"})
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "approved"
        assert [(d["action"], d["reviewer"]) for d in decided.json()["decisions"]] == [("approve",
                                                                                        "wang.reviewer")]
        approved = get_json(http, "/violations", status="approved")["items"]
        assert [v["id"] for v in approved] == [violation["id"]]
        pending = get_json(http, "/violations", status="pending")["items"]
        assert violation["id"] not in [v["id"] for v in pending]
