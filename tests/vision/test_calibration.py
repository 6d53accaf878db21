"""Self-calibration on synthetic geometry: a known pitch and height, projected, must come back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streetwatch.vision.calibration import (
    CalibrationEstimate,
    SelfCalibration,
    choose_camera,
    height_from_width,
    pitch_from_horizon,
)
from streetwatch.vision.geometry import CameraModel, ObjectSize

W, H = 1280, 720
CAR = ObjectSize(4.5, 1.8, 1.5)


def _world(pitch: float, mount: float, seed: int = 0, *, noise_px: float = 1.5, foe_noise_px: float = 6.0,
           tracks: int = 12) -> SelfCalibration:
    """Foci of expansion near the horizon and cars ahead (same lane, adjacent lanes, parked at the kerb)."""
    rng = np.random.default_rng(seed)
    truth = CameraModel(pitch_deg=pitch, mount_height_m=mount)
    horizon = truth.project(1e6, 0.0, 0.0, W, H)
    assert horizon is not None
    calib = SelfCalibration()
    for _ in range(60):
        calib.add_focus((horizon[0] + rng.normal(0, foe_noise_px), horizon[1] + rng.normal(0, foe_noise_px)))
    lateral = [0.0, 0.3, -0.4, 3.5, -3.5, 5.0]   # the same lane, the next lanes, the kerb
    for track in range(tracks):
        right = lateral[track % len(lateral)] + rng.normal(0, 0.2)
        scale = 1.0 + rng.uniform(-0.08, 0.08)   # real cars are a little wider or narrower
        size = ObjectSize(CAR.length_m * scale, CAR.width_m * scale, CAR.height_m * scale)
        for forward in np.linspace(8.0, 35.0, 8) + rng.uniform(0, 3):
            box = truth.box_pixels(forward + size.length_m / 2, right, size, W, H)
            assert box is not None
            noisy = tuple(float(v) for v in np.asarray(box) + rng.normal(0, noise_px, 4))
            calib.add_box(track, noisy, CAR.width_m, W, H)  # type: ignore[arg-type]
    return calib


@pytest.mark.parametrize(("pitch", "mount"), [(5.0, 1.3), (2.0, 1.2), (9.0, 1.6), (12.0, 2.2), (-1.0, 1.4)])
def test_known_pitch_and_height_are_recovered(pitch: float, mount: float) -> None:
    estimate = _world(pitch, mount).estimate(CameraModel(), W, H)
    assert estimate.pitch_confident and estimate.height_confident
    assert estimate.pitch_deg == pytest.approx(pitch, abs=0.3)
    assert estimate.mount_height_m == pytest.approx(mount, rel=0.06)
    # the stated uncertainty covers the error (within three sigma)
    assert abs(estimate.mount_height_m - mount) <= 3 * estimate.mount_height_sigma_m  # type: ignore[operator]


def test_single_formulas_invert_the_projection() -> None:
    camera = CameraModel(pitch_deg=6.0, mount_height_m=1.5)
    horizon = camera.project(1e7, 0.0, 0.0, W, H)
    assert horizon is not None
    assert pitch_from_horizon(horizon[1], camera, W, H) == pytest.approx(6.0, abs=1e-3)
    box = camera.box_pixels(20.0, 0.0, CAR, W, H)
    assert box is not None
    # within 1 %: a pitched camera sees the roof corners a little wider than the foot corners
    assert height_from_width(box, CAR.width_m, 6.0, camera, W, H) == pytest.approx(1.5, rel=0.015)
    assert height_from_width((0, 0, 10, 300), 1.8, 6.0, camera, W, H) is None  # foot above the horizon


def test_kerbside_cars_seen_obliquely_are_not_used() -> None:
    """Only boxes near the focus column measure the height: a parked car's box shows its side too."""
    calib = SelfCalibration()
    camera = CameraModel(pitch_deg=5.0, mount_height_m=1.3)
    horizon = camera.project(1e6, 0.0, 0.0, W, H)
    assert horizon is not None
    for _ in range(30):
        calib.add_focus(horizon)
    for track in range(5):
        box = camera.box_pixels(12.0 + 3 * track, 4.0, CAR, W, H)
        assert box is not None
        calib.add_box(track, box, CAR.width_m, W, H)
    estimate = calib.estimate(camera, W, H)
    assert estimate.pitch_confident
    assert estimate.height_tracks == 0 and not estimate.height_confident


def test_scattered_foci_leave_the_pitch_unconfident() -> None:
    """A handheld walk: foci everywhere; the pitch is too uncertain to use."""
    rng = np.random.default_rng(3)
    calib = SelfCalibration()
    for _ in range(20):
        calib.add_focus((rng.uniform(0, W), rng.uniform(0, H)))
    estimate = calib.estimate(CameraModel(), W, H)
    assert not estimate.pitch_confident
    choice = choose_camera(CameraModel(), set(), estimate)
    assert choice.source == "default" and choice.camera == CameraModel()


def test_choose_camera_prefers_what_the_user_set() -> None:
    estimate = _world(8.0, 1.7).estimate(CameraModel(), W, H)
    configured = CameraModel(pitch_deg=4.0)
    choice = choose_camera(configured, {"pitch_deg"}, estimate)
    assert choice.pitch_source == "configured" and choice.camera.pitch_deg == 4.0
    assert choice.height_source == "default" and choice.camera.mount_height_m == configured.mount_height_m
    both = choose_camera(CameraModel(), {"pitch_deg", "mount_height_m"}, estimate)
    assert both.source == "configured"
    estimated = choose_camera(CameraModel(), set(), estimate)
    assert estimated.source == "estimated" and estimated.pitch_source == estimated.height_source == "estimated"
    assert estimated.camera.pitch_deg == pytest.approx(8.0, abs=0.3)
    assert estimated.camera.mount_height_m == pytest.approx(1.7, rel=0.06)
    assert estimated.pitch_sigma_deg is not None and estimated.mount_height_sigma_m is not None


def test_too_little_evidence_keeps_the_default() -> None:
    empty = SelfCalibration().estimate(CameraModel(), W, H)
    assert empty == CalibrationEstimate(None, None, None, None, None, 0, 0)
    choice = choose_camera(CameraModel(), set(), empty)
    assert choice.source == "default"
    few = _world(5.0, 1.3, tracks=2).estimate(CameraModel(), W, H)
    assert few.pitch_confident and not few.height_confident
    assert choose_camera(CameraModel(), set(), few).height_source == "default"
    assert dataclasses.replace(CameraModel(), pitch_deg=round(few.pitch_deg or 0, 2)) == \
        choose_camera(CameraModel(), set(), few).camera
