"""Tests of the background-flow fit and the motion-state decision.

Synthetic scenes are generated: a textured background moved by a known camera motion, one patch
moving with it (parked), one patch keeping its place in the image (a car driving with the camera),
one moving against it. Real footage: the Beijing traffic clips must yield no parked vehicle.
"""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from streetwatch.vision.egomotion import Box, EgoMotionConfig, PointFlow, estimate_egomotion, fit_egomotion
from streetwatch.vision.geometry import CameraModel, ObjectSize
from streetwatch.vision.motion_meter import estimate_motion_states
from streetwatch.vision.motion_state import (
    GpsEvidence,
    MotionEstimate,
    MotionStateConfig,
    PairEvidence,
    apply_gps_evidence,
    classify_track,
    in_travel_lane,
    near_corner_box,
)

W, H = 480, 360
Image = npt.NDArray[np.uint8]


def texture(shape: tuple[int, int], seed: int) -> Image:
    """Blurred noise: corners everywhere, like asphalt and facades."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (shape[0] // 4, shape[1] // 4), dtype=np.uint8)
    big = cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.asarray(cv2.cvtColor(cv2.GaussianBlur(big, (3, 3), 0), cv2.COLOR_GRAY2BGR), np.uint8)


def camera_step(dx: float, scale: float) -> npt.NDArray[np.float64]:
    """Homography of one camera step: a zoom about the image centre (forward motion) and a pan."""
    c = np.array([[1, 0, W / 2], [0, 1, H / 2], [0, 0, 1]], float)
    s = np.diag([scale, scale, 1.0])
    t = np.array([[1, 0, dx], [0, 1, 0], [0, 0, 1]], float)
    return np.asarray(t @ c @ s @ np.linalg.inv(c), np.float64)


def warp(image: Image, h: npt.NDArray[np.float64]) -> Image:
    return np.asarray(cv2.warpPerspective(image, h, (W, H), borderMode=cv2.BORDER_REFLECT), np.uint8)


def warp_box(h: npt.NDArray[np.float64], box: Box) -> Box:
    pts = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]], float)
    moved = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), h).reshape(-1, 2)
    return float(moved[:, 0].min()), float(moved[:, 1].min()), float(moved[:, 0].max()), float(moved[:, 1].max())


def moving_camera_scene(n: int = 6, dx: float = -10.0, scale: float = 1.02
                        ) -> tuple[list[tuple[float, Image]], dict[str, list[tuple[float, Box]]]]:
    """Frames of a camera panning/advancing over a textured world, and three tracks.

    ``parked`` is painted into the world (moves with it); ``with_camera`` is pasted at a fixed
    image position; ``oncoming`` is pasted moving 8 px a frame against the pan.
    """
    world = texture((H, W), 1)
    world[150:210, 60:140] = texture((60, 80), 2)  # parked car: part of the world
    car = texture((50, 70), 3)
    car2 = texture((40, 60), 4)
    frames: list[tuple[float, Image]] = []
    tracks: dict[str, list[tuple[float, Box]]] = {"parked": [], "with_camera": [], "oncoming": []}
    h_acc = np.eye(3)
    for k in range(n):
        t = 0.2 * k
        image = warp(world, h_acc)
        image[260:310, 200:270] = car
        x = 330 + 8 * k
        image[40:80, x:x + 60] = car2
        frames.append((t, image))
        tracks["parked"].append((t, warp_box(h_acc, (60, 150, 140, 210))))
        tracks["with_camera"].append((t, (200.0, 260.0, 270.0, 310.0)))
        tracks["oncoming"].append((t, (float(x), 40.0, float(x + 60), 80.0)))
        h_acc = camera_step(dx, scale) @ h_acc
    return frames, tracks


def test_egomotion_recovers_known_pan() -> None:
    world = texture((H, W), 5)
    h = camera_step(-10.0, 1.0)
    moved = warp(world, h)
    ego = estimate_egomotion(world, moved, 0.0, 0.2)
    assert ego.ok and ego.camera_moving
    np.testing.assert_allclose(ego.predict(np.array([[240.0, 180.0]])), [[230.0, 180.0]], atol=0.5)


def test_egomotion_stationary_camera_and_masking() -> None:
    world = texture((H, W), 6)
    still = world.copy()
    still[100:150, 100:180] = texture((50, 80), 7)  # something changed inside a masked box
    ego = estimate_egomotion(world, still, 0.0, 0.2, exclude_boxes=[(95.0, 95.0, 185.0, 155.0)])
    assert ego.ok and not ego.camera_moving
    assert ego.median_flow_px < 0.3


def test_focus_of_expansion_for_forward_motion() -> None:
    world = texture((H, W), 8)
    ego = estimate_egomotion(world, warp(world, camera_step(0.0, 1.05)), 0.0, 0.2)
    assert ego.foe_xy is not None
    assert abs(ego.foe_xy[0] - W / 2) < 10 and abs(ego.foe_xy[1] - H / 2) < 10


def test_precomputed_flow_is_accepted() -> None:
    rng = np.random.default_rng(0)
    start = rng.uniform([0, 0], [W, H], (200, 2))
    ego = fit_egomotion(PointFlow(start, start + np.array([5.0, 0.0])), 0.0, 0.2, W, 1.0, EgoMotionConfig())
    assert ego.ok and ego.camera_moving
    np.testing.assert_allclose(ego.predict(np.array([[10.0, 10.0]])), [[15.0, 10.0]], atol=1e-6)


def test_no_background_gives_no_fit() -> None:
    ego = fit_egomotion(PointFlow(np.zeros((5, 2)), np.ones((5, 2))), 0.0, 0.2, W, 1.0)
    assert not ego.ok


@pytest.mark.parametrize(("dx", "scale"), [(-10.0, 1.0), (-10.0, 1.02), (0.0, 1.08)])
def test_moving_camera_separates_parked_from_moving(dx: float, scale: float) -> None:
    frames, tracks = moving_camera_scene(dx=dx, scale=scale)
    result = estimate_motion_states(frames, tracks)
    assert result["parked"].state == "parked", result["parked"].reason
    assert result["with_camera"].state == "moving", result["with_camera"].reason
    assert result["oncoming"].state == "moving", result["oncoming"].reason
    assert result["parked"].stationary_sightings == result["parked"].total_sightings == len(frames)
    assert 0.0 < result["parked"].score <= 1.0


def _stationary_scene(times: list[float]) -> tuple[list[tuple[float, Image]], dict[str, list[tuple[float, Box]]]]:
    world = texture((H, W), 9)
    world[200:260, 100:190] = texture((60, 90), 10)
    rng = np.random.default_rng(1)
    frames = [(t, np.clip(world.astype(int) + rng.integers(-2, 3, world.shape), 0, 255).astype(np.uint8))
              for t in times]  # sensor noise
    return frames, {"still_car": [(t, (100.0, 200.0, 190.0, 260.0)) for t in times]}


def test_stationary_camera_short_dwell_is_unknown() -> None:
    frames, tracks = _stationary_scene([0.2 * k for k in range(10)])
    estimate = estimate_motion_states(frames, tracks)["still_car"]
    assert estimate.state == "unknown"
    assert "stationary" in estimate.reason and "dwell" in estimate.reason


def test_stationary_camera_long_dwell_is_parked() -> None:
    frames, tracks = _stationary_scene([10.0 * k for k in range(7)])  # sparse sightings over 60 s
    estimate = estimate_motion_states(frames, tracks)["still_car"]
    assert estimate.state == "parked", estimate.reason
    assert "dwell" in estimate.reason


def test_single_sighting_is_unknown() -> None:
    frames, tracks = _stationary_scene([0.0, 0.2])
    estimate = estimate_motion_states(frames[:1], {"x": tracks["still_car"][:1]})["x"]
    assert estimate.state == "unknown" and estimate.total_sightings == 1


@pytest.mark.parametrize(("box", "expected"), [
    ((220.0, 250.0, 260.0, 330.0), True),   # low, on the centre line: a lane ahead
    ((10.0, 250.0, 90.0, 330.0), False),    # toward the kerb side
    ((220.0, 60.0, 260.0, 100.0), False),   # above the focus of expansion
])
def test_travel_lane_proxy(box: Box, expected: bool) -> None:
    assert in_travel_lane(box, W, (W / 2, H / 2), MotionStateConfig()) is expected


@pytest.mark.parametrize(("spread_m", "state", "expected"), [
    (30.0, "parked", "moving"),     # drove 30 m: GPS overrides the image
    (1.0, "unknown", "parked"),     # within GPS error over 20 s: still
    (10.0, "unknown", "unknown"),   # in between: no override
])
def test_gps_evidence_overrides(spread_m: float, state: str, expected: str) -> None:
    base = MotionEstimate(state, 0.5, 3, 5, 0.1, "image")  # type: ignore[arg-type]
    gps = GpsEvidence([(0.0, 0.0, 0.0), (10.0, spread_m / 2, 0.0), (20.0, spread_m, 0.0)])
    assert apply_gps_evidence(base, gps).state == expected


def _held(n: int, span_s: float, spread_m: float, camera_travel_m: float | None) -> GpsEvidence:
    """``n`` ground positions over ``span_s`` seconds, drifting ``spread_m`` east in all."""
    return GpsEvidence([(span_s * k / (n - 1), spread_m * k / (n - 1), 0.0) for k in range(n)],
                       camera_travel_m=camera_travel_m)


@pytest.mark.parametrize(("gps", "in_lane", "expected"), [
    (_held(12, 3.0, 0.5, 20.0), False, "parked"),              # held while the patrol car drove 20 m
    (_held(12, 3.0, 0.5, 20.0), True, "stopped_in_traffic"),   # ... in a travel lane
    (_held(12, 3.0, 0.5, None), False, "moving"),              # camera travel unknown
    (_held(12, 3.0, 0.5, 2.0), False, "moving"),               # GPS frozen (or the car stood): proves nothing
    (_held(5, 3.0, 0.5, 20.0), False, "moving"),               # too few sightings
    (_held(12, 1.0, 0.5, 20.0), False, "moving"),              # too short
    (_held(12, 3.0, 3.0, 20.0), False, "moving"),              # more than half the expected drift
])
def test_ground_overrules_an_image_moving_verdict_only_when_strong(gps: GpsEvidence, in_lane: bool,
                                                                   expected: str) -> None:
    """A car body beside a passing camera shows parallax in the image; its ground positions do not."""
    image = MotionEstimate("moving", 0.6, 0, 12, 0.3, "moves relative to the background")
    out = apply_gps_evidence(image, gps, in_lane)
    assert out.state == expected, out.reason
    if expected != "moving":
        assert "while the patrol car drove 20 m" in out.reason and out.reason.endswith(image.reason)


@pytest.mark.parametrize(("box", "centre_x", "expected"), [
    ((400.0, 100.0, 600.0, 200.0), 320.0, (600.0, 100.0, 600.0, 200.0)),   # right of the road's centre
    ((10.0, 100.0, 200.0, 200.0), 320.0, (10.0, 100.0, 10.0, 200.0)),      # left of it
    ((280.0, 100.0, 360.0, 200.0), 320.0, (280.0, 100.0, 360.0, 200.0)),   # across it: a car ahead
])
def test_near_corner_box(box: Box, centre_x: float, expected: Box) -> None:
    assert near_corner_box(box, centre_x) == expected


def test_near_corner_keeps_a_parked_car_still_on_the_ground() -> None:
    """Passing a parked car, the ground point of its box's bottom-centre slides sideways; its near corner does not."""
    camera, car = CameraModel(), ObjectSize(4.5, 1.8, 1.5)
    lateral: dict[str, list[float]] = {"centre": [], "corner": []}
    for forward in (30.0, 20.0, 12.0, 8.0):
        box = camera.box_pixels(forward, 3.6, car, 1280, 720)
        assert box is not None
        for name, foot in (("centre", box), ("corner", near_corner_box(box, 640.0))):
            ground = camera.ground_point((foot[0] + foot[2]) / 2, foot[3], 1280, 720)
            assert ground is not None
            lateral[name].append(ground.right_m)
    assert np.ptp(lateral["corner"]) < 0.1 and np.ptp(lateral["corner"]) < np.ptp(lateral["centre"]) / 3, lateral


def test_still_vehicle_in_lane_ahead_is_stopped_in_traffic() -> None:
    """Forward motion (zoom about the centre): a world-fixed patch low on the centre line is queued traffic."""
    world = texture((H, W), 11)
    world[250:300, 210:270] = texture((50, 60), 12)
    frames: list[tuple[float, Image]] = []
    boxes: list[tuple[float, Box]] = []
    h_acc = np.eye(3)
    for k in range(6):
        frames.append((0.2 * k, warp(world, h_acc)))
        boxes.append((0.2 * k, warp_box(h_acc, (210, 250, 270, 300))))
        h_acc = camera_step(0.0, 1.08) @ h_acc
    estimate = estimate_motion_states(frames, {"queued": boxes})["queued"]
    assert estimate.state == "stopped_in_traffic", estimate.reason


@pytest.mark.parametrize(("vehicle_camera", "box", "expected"), [
    (False, (220.0, 250.0, 260.0, 330.0), "parked"),              # CCTV: the lane proxy means nothing
    (True, (220.0, 250.0, 260.0, 330.0), "stopped_in_traffic"),   # patrol car waiting behind it
    (True, (10.0, 250.0, 90.0, 330.0), "parked"),                 # patrol car waiting beside a kerb-side car
])
def test_long_dwell_uses_lane_proxy_only_for_vehicle_cameras(vehicle_camera: bool, box: Box, expected: str) -> None:
    times = [2.0 * k for k in range(31)]
    evidence = [PairEvidence(t0, t1, 0.01, 0.0, False, 20, "still", False) for t0, t1 in pairwise(times)]
    sightings = [(t, box) for t in times]
    estimate = classify_track(sightings, evidence, W, (W / 2, H / 2), vehicle_camera=vehicle_camera)
    assert estimate.state == expected, estimate.reason


@pytest.mark.parametrize(("residuals", "expected"), [
    ((0.05, 0.05, 0.05, 0.2, 0.2), "parked"),     # a short walk past a parked car: 3 followed the ground, none moved
    ((0.05, 0.05, 0.05, 0.2, 0.2, 0.5), "unknown"),   # ... but one pair moved against it: mixed
    ((0.05, 0.05, 0.2, 0.2, 0.2), "unknown"),     # 2 of 5: too few
    ((0.05, 0.05, 0.05, 0.2, 0.2, 0.2, 0.2), "unknown"),   # 3 of 7: less than half the decisive pairs
])
def test_a_short_track_that_never_moved(residuals: tuple[float, ...], expected: str) -> None:
    """Pairs with the background moving fast at the car (0.6 box/s); the residual decides each pair's kind."""
    times = [0.2 * k for k in range(len(residuals) + 1)]
    evidence = [PairEvidence(t0, t1, r, 0.6, True, 20, "ambiguous", False)
                for (t0, t1), r in zip(pairwise(times), residuals, strict=True)]
    box = (10.0, 250.0, 90.0, 330.0)   # kerb side
    estimate = classify_track([(t, box) for t in times], evidence, W, (W / 2, H / 2), vehicle_camera=True)
    assert estimate.state == expected, estimate.reason
