"""End to end on a generated clip: two cars parked at the kerb are filed, the traffic driving past is not.

The clip is rendered through the camera model: a street (asphalt, lane marks, a kerb, paving and
two rows of facades) seen from a dashcam driving east at 6 m/s, two parked cars at the kerb
inside a no-parking zone, a car overtaking in the same direction, one driving ahead at the
patrol car's speed and two oncoming. ``process_videos`` runs
everything after detection for real: tracking, the motion meter's background flow, the
self-calibration, geolocation from the GPX track, the zone, the rules, the database.

Detection is scripted (``ScriptedCars``: the projected boxes of the rendered cars, class "car"):
the bundled streetwatch-v0 model does not detect drawn cars (checked: it sees the drawings as
shop signs), and no car photograph ships with the code or its dependencies (ultralytics'
``bus.jpg`` and ``zidane.jpg`` show a bus and people). The detector is the only part faked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import select

from streetwatch.core.geo import destination
from streetwatch.core.settings import get_settings
from streetwatch.datasets import synthetic
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Observation, Video, Violation
from streetwatch.vision.detections import Detections
from streetwatch.vision.geometry import CameraModel, ObjectSize

W, H, FPS, SECONDS = 640, 360, 10.0, 6.0
SPEED = 6.0
START = (31.2304, 121.4737)
START_UTC = datetime(2026, 11, 2, 1, 30, 0, tzinfo=UTC)
CAMERA = CameraModel()          # the pipeline's defaults: what it is told (nothing)
CAR = ObjectSize(4.5, 1.8, 1.5)
GROUND_PX_PER_M = 20
SUPERSAMPLE = 2
NEAR_M = 0.5         # nearest ground rendered (the bonnet hides less than a metre)


@dataclass(frozen=True, slots=True)
class Car:
    name: str
    x0: float            # metres east of the patrol car's start, at t = 0
    right: float         # metres right (south) of its path
    speed: float         # m/s east (negative: oncoming)
    colour: tuple[int, int, int]

    def x(self, t: float) -> float:
        return self.x0 + self.speed * t


CARS = (
    Car("parked_a", 22.0, 3.6, 0.0, (40, 40, 170)),
    Car("parked_b", 34.0, 3.8, 0.0, (180, 180, 180)),
    Car("overtaking", 2.0, -3.5, 10.0, (150, 90, 30)),
    Car("ahead_same_speed", 14.0, 0.0, SPEED, (40, 40, 40)),
    Car("oncoming_a", 60.0, -7.0, -8.0, (30, 140, 200)),
    Car("oncoming_b", 85.0, -7.0, -7.0, (90, 160, 60)),
)


def ground_texture(seed: int = 5) -> npt.NDArray[np.uint8]:
    """A top-down road texture, 260 m x 30 m (x east, y south from -15 m).

    Asphalt at two scales (0.5 m blotches and 5 cm grain, as a camera sees worn asphalt), patches
    and cracks, lane marks, a kerb at 5.5 m right and paving slabs beyond it.
    """
    rng = np.random.default_rng(seed)
    h, w = 30 * GROUND_PX_PER_M, 260 * GROUND_PX_PER_M
    coarse = cv2.resize(rng.normal(0, 1, (h // 10, w // 10)), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1, (h, w))
    img = np.clip(110 + 22 * coarse + 18 * grain, 0, 255).astype(np.uint8)
    for _ in range(400):   # repair patches and stains
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.ellipse(img, (x, y), (int(rng.integers(10, 40)), int(rng.integers(5, 20))), float(rng.uniform(0, 180)),
                    0, 360, int(rng.integers(50, 170)), -1)
    tex = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    for y_m in (-1.75, 1.75):   # lane marks
        y = int((y_m + 15) * GROUND_PX_PER_M)
        for x in range(0, w, 6 * GROUND_PX_PER_M):
            cv2.rectangle(tex, (x, y - 2), (x + 3 * GROUND_PX_PER_M, y + 2), (235, 235, 235), -1)
    kerb = int((5.5 + 15) * GROUND_PX_PER_M)
    slab = GROUND_PX_PER_M * 3 // 4
    tex[kerb:] = (175, 178, 182)
    for x in range(0, w, slab):   # paving slabs
        tex[kerb:, x] = (120, 120, 125)
    for y in range(kerb, h, slab):
        tex[y] = (120, 120, 125)
    tex[kerb:kerb + 6] = (215, 215, 215)
    return tex


def facade_texture(seed: int) -> npt.NDArray[np.uint8]:
    """A row of shop fronts and flats, 260 m long and 12 m high (x along the street, y down from the top)."""
    rng = np.random.default_rng(seed)
    h, w = 12 * GROUND_PX_PER_M, 260 * GROUND_PX_PER_M
    tex = np.zeros((h, w, 3), np.uint8)
    x = 0
    while x < w:   # buildings 8-20 m wide, each its own colour, windows in rows
        bw = int(rng.integers(8, 20)) * GROUND_PX_PER_M
        tex[:, x:x + bw] = rng.integers(90, 220, 3)
        for wy in range(GROUND_PX_PER_M, h - 3 * GROUND_PX_PER_M, 3 * GROUND_PX_PER_M):
            for wx in range(x + GROUND_PX_PER_M // 2, x + bw - GROUND_PX_PER_M, 2 * GROUND_PX_PER_M):
                cv2.rectangle(tex, (wx, wy), (wx + GROUND_PX_PER_M, wy + 3 * GROUND_PX_PER_M // 2),
                              tuple(int(c) for c in rng.integers(20, 90, 3)), -1)
        cv2.rectangle(tex, (x + GROUND_PX_PER_M, h - 3 * GROUND_PX_PER_M), (x + bw - GROUND_PX_PER_M, h - 1),
                      tuple(int(c) for c in rng.integers(30, 200, 3)), -1)   # shop window
        tex[:, x:x + 2] = 40
        x += bw
    return tex


@dataclass(frozen=True, slots=True)
class Scene:
    ground: npt.NDArray[np.uint8]
    facades: tuple[tuple[float, npt.NDArray[np.uint8]], ...]   # (metres right of the path, texture)


def scene() -> Scene:
    return Scene(ground_texture(), ((9.0, facade_texture(6)), (-15.0, facade_texture(7))))


def _warp(texture: npt.NDArray[np.uint8], along_m: tuple[float, float], world_px: list[tuple[float, float]],
          image_px: list[tuple[float, float]]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The columns of ``texture`` between ``along_m`` (metres along the street) warped into the
    supersampled frame by the homography of four point pairs (texture px -> frame px), and its mask.

    Cropping first keeps what lies behind the lens from folding over the horizon.
    """
    x0, x1 = (int(v * GROUND_PX_PER_M) for v in along_m)
    crop = np.ascontiguousarray(texture[:, x0:x1])
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    up = np.diag([SUPERSAMPLE, SUPERSAMPLE, 1.0])
    homography = up @ cv2.getPerspectiveTransform(np.float32(world_px), np.float32(image_px)) @ shift
    size = (W * SUPERSAMPLE, H * SUPERSAMPLE)
    warped = cv2.warpPerspective(crop, homography, size)
    mask = cv2.warpPerspective(np.full(crop.shape[:2], 255, np.uint8), homography, size)
    return warped, mask


def render(t: float, world: Scene) -> npt.NDArray[np.uint8]:
    """The dashcam's frame at ``t``: sky, road, pavement, facades, then the cars, nearest last.

    Rendered at SUPERSAMPLE x the size and averaged down, as a lens low-passes the scene: a direct
    warp of the 5 cm texture to 640 px would alias far rows into a shimmer no camera shows.
    """
    cam_x = SPEED * t
    big = np.empty((H * SUPERSAMPLE, W * SUPERSAMPLE, 3), np.uint8)
    big[:] = (200, 180, 150)
    ground = [(cam_x + f, r) for f, r in ((NEAR_M, -15.0), (NEAR_M, 15.0), (200.0, -15.0), (200.0, 15.0))]
    pix = [CAMERA.project(x - cam_x, r, -CAMERA.mount_height_m, W, H) for x, r in ground]
    span = (cam_x + NEAR_M, cam_x + 200.0)
    warped, mask = _warp(world.ground, span, [(x * GROUND_PX_PER_M, (r + 15) * GROUND_PX_PER_M) for x, r in ground],
                         [p for p in pix if p is not None])
    big[mask > 0] = warped[mask > 0]
    for right, texture in world.facades:
        corners = [(cam_x + f, z) for f, z in ((3.0, 12.0), (200.0, 12.0), (3.0, 0.0), (200.0, 0.0))]
        pix = [CAMERA.project(x - cam_x, right, z - CAMERA.mount_height_m, W, H) for x, z in corners]
        texture_px = [(x * GROUND_PX_PER_M, (12.0 - z) * GROUND_PX_PER_M) for x, z in corners]
        warped, mask = _warp(texture, (cam_x + 3.0, span[1]), texture_px, [p for p in pix if p is not None])
        big[mask > 0] = warped[mask > 0]
    frame = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA)
    for car, box in sorted(boxes_at(t).items(), key=lambda kv: -(kv[1][3])):
        draw_car(frame, box, next(c for c in CARS if c.name == car).colour)
    return frame


def boxes_at(t: float) -> dict[str, tuple[float, float, float, float]]:
    """The cars' projected boxes at ``t``, farthest first, those fully in view and ahead only."""
    out: dict[str, tuple[float, float, float, float]] = {}
    for car in CARS:
        forward = car.x(t) - SPEED * t
        if not 3.0 < forward < 60.0:
            continue
        box = CAMERA.box_pixels(forward, car.right, CAR, W, H)
        if box is None or box[0] < 0 or box[2] > W or box[3] > H or box[2] - box[0] < 8:
            continue
        out[car.name] = box
    return out


def draw_car(frame: npt.NDArray[np.uint8], box: tuple[float, float, float, float], colour: tuple[int, int, int]
             ) -> None:
    x1, y1, x2, y2 = (round(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cv2.rectangle(frame, (x1, y1 + h // 3), (x2, y2 - h // 8), colour, -1)
    cv2.rectangle(frame, (x1 + w // 6, y1), (x2 - w // 6, y1 + h // 3), colour, -1)
    cv2.rectangle(frame, (x1 + w // 5, y1 + h // 12), (x2 - w // 5, y1 + h // 3), (60, 50, 45), -1)
    cv2.rectangle(frame, (x1 + w // 12, y2 - h // 8), (x1 + w // 4, y2), (20, 20, 20), -1)
    cv2.rectangle(frame, (x2 - w // 4, y2 - h // 8), (x2 - w // 12, y2), (20, 20, 20), -1)
    # texture on the body: the flow tracker finds points on cars as on real ones
    for k in range(1, 4):
        cv2.line(frame, (x1 + k * w // 4, y1 + h // 3), (x1 + k * w // 4, y2 - h // 8),
                 tuple(int(c * 0.6) for c in colour), 1)
    cv2.rectangle(frame, (x1 + 2, y1 + h // 2), (x1 + w // 6, y1 + h // 2 + max(2, h // 10)), (30, 30, 220), -1)
    cv2.rectangle(frame, (x2 - w // 6, y1 + h // 2), (x2 - 2, y1 + h // 2 + max(2, h // 10)), (30, 30, 220), -1)


class ScriptedCars:
    """A detector that reports the rendered cars' boxes (see the module docstring for why)."""

    names: ClassVar[dict[int, str]] = {2: "car"}
    model_name = "scripted-cars"

    def __init__(self) -> None:
        self._calls = 0

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        out = []
        for _ in images:
            t = self._calls / 5.0          # sample_fps 5: the n-th sampled frame is at n / 5 s
            self._calls += 1
            boxes = boxes_at(t)
            if not boxes:
                out.append(Detections.empty())
                continue
            xyxy = np.array(list(boxes.values()), dtype=np.float32)
            out.append(Detections(xyxy=xyxy, confidence=np.full(len(xyxy), 0.9, np.float32),
                                     class_id=np.full(len(xyxy), 2)))
        return out


def kerb_zone(path: Path) -> Path:
    """A no-parking zone over the whole road ahead, both directions: only the motion state decides."""
    corners = []
    for along, right in ((-5.0, -12.0), (110.0, -12.0), (110.0, 12.0), (-5.0, 12.0), (-5.0, -12.0)):
        lat, lon = destination(*START, 90.0, along)
        lat, lon = destination(lat, lon, 180.0 if right >= 0 else 0.0, abs(right))
        corners.append([lon, lat])
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"kind": "no_parking", "id": "np-test", "name": "test street"},
        "geometry": {"type": "Polygon", "coordinates": [corners]}}]}), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Run:
    filed: list[tuple[int, float, float, str]]            # track id, lat, lon, motion state
    observed: list[tuple[int, str | None, list[float], str | None]]
    camera_source: str | None
    pitch_deg: float | None
    mount_height_m: float | None
    reasons: list[str]

    def report(self) -> str:
        return "\n".join(str(o) for o in self.observed)


@pytest.fixture(scope="module")
def kerb_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp_path = tmp_path_factory.mktemp("kerb")
    world = scene()
    clip = synthetic.write_video(tmp_path / "kerb.mp4", lambda i, t: render(t, world), FPS,
                                 n_frames=int(SECONDS * FPS))
    synthetic.write_gpx_track(tmp_path / "kerb.gpx", START_UTC, SECONDS + 1, START, 90.0, SPEED)
    db_url = f"sqlite:///{tmp_path / 'sw.db'}"
    settings = get_settings(db_url=db_url, evidence_dir=tmp_path / "evidence", sample_fps=5.0, ocr=False,
                            zones_paths=[kerb_zone(tmp_path / "zones.geojson")], gps_offset_s=0.0)
    summary = process_videos([clip], settings, tmp_path / "kerb.gpx", progress=False, detector=ScriptedCars())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        filed = session.execute(select(Observation.track_id, Observation.lat, Observation.lon,
                                       Observation.motion_state)
                                .join(Violation, Violation.observation_id == Observation.id)).all()
        observed = session.execute(select(Observation.track_id, Observation.motion_state, Observation.bbox,
                                          Observation.motion_reason)).all()
        video = session.scalars(select(Video)).one()
        reasons = list(session.scalars(select(Violation.reason)))
    engine.dispose()
    return Run([tuple(r) for r in filed], [tuple(r) for r in observed],  # type: ignore[misc]
               video.camera_source, video.pitch_deg, video.mount_height_m, reasons)


def test_traffic_driving_past_is_never_filed(kerb_run: Run) -> None:
    """Every car in the zone but the parked two drives: none of them may be filed."""
    assert len(kerb_run.observed) >= 5, kerb_run.report()   # the cars were tracked
    assert sum(state == "moving" for _, state, _, _ in kerb_run.observed) >= 3, kerb_run.report()
    for _, lat, lon, _ in kerb_run.filed:   # whatever is filed stands where a parked car stands
        east = destination_east_m(lat, lon)
        assert any(abs(east - car.x0) < 6.0 for car in CARS if car.speed == 0.0), kerb_run.report()
    assert kerb_run.camera_source in ("default", "estimated")
    assert kerb_run.pitch_deg is not None and kerb_run.mount_height_m is not None


def test_the_two_parked_cars_are_filed_once_each(kerb_run: Run) -> None:
    """Both parked cars, each once, as parked: their ground positions hold while the patrol car drives
    past (the image residual of a car body this close is parallax, see ``apply_gps_evidence``)."""
    assert len(kerb_run.filed) == 2, kerb_run.report()
    east = sorted(destination_east_m(lat, lon) for _, lat, lon, _ in kerb_run.filed)
    assert east[1] - east[0] > 6.0, (east, kerb_run.report())   # one item per car: they stand 12 m apart
    assert all(state == "parked" for *_, state in kerb_run.filed), kerb_run.report()
    for reason in kerb_run.reasons:   # in words a reviewer reads
        assert reason.startswith("car parked for "), reason
        assert "ground position held within" in reason and "m right of the patrol car's path" in reason, reason


def destination_east_m(lat: float, lon: float) -> float:
    return (lon - START[1]) * 111_320.0 * math.cos(math.radians(START[0]))
