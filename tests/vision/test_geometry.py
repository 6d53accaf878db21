from __future__ import annotations

import math

import pytest

from vision.geometry import CameraModel

W, H = 1920, 1080


@pytest.mark.parametrize(
    ("camera", "x", "y", "expected_range", "expected_bearing"),
    [
        # centre pixel, camera pitched 5 deg down: the axis meets the ground at h / tan(5 deg)
        (CameraModel(pitch_deg=5.0, mount_height_m=1.3), W / 2, H / 2, 1.3 / math.tan(math.radians(5)), 0.0),
        # doubling the height doubles the range
        (CameraModel(pitch_deg=5.0, mount_height_m=2.6), W / 2, H / 2, 2.6 / math.tan(math.radians(5)), 0.0),
        # yaw offset turns the bearing, not the range
        (CameraModel(pitch_deg=5.0, yaw_offset_deg=90.0), W / 2, H / 2, 1.3 / math.tan(math.radians(5)), 90.0),
    ],
)
def test_ground_point_on_the_optical_axis(camera, x, y, expected_range, expected_bearing):
    point = camera.ground_point(x, y, W, H)
    assert point is not None
    assert point.range_m == pytest.approx(expected_range, rel=1e-6)
    assert point.bearing_offset_deg == pytest.approx(expected_bearing, abs=1e-6)


def test_lower_pixels_are_closer_and_right_pixels_bear_right():
    camera = CameraModel(pitch_deg=5.0)
    near = camera.ground_point(W / 2, H - 1, W, H)
    far = camera.ground_point(W / 2, H / 2 + 10, W, H)
    right = camera.ground_point(W - 1, H - 1, W, H)
    assert near is not None and far is not None and right is not None
    assert near.range_m < far.range_m
    assert right.bearing_offset_deg > 0 and right.right_m > 0


@pytest.mark.parametrize(("pitch", "y"), [(0.0, H / 2), (0.0, 0), (5.0, 0), (5.0, H / 2 - 200)])
def test_pixels_at_or_above_the_horizon_have_no_ground_point(pitch, y):
    assert CameraModel(pitch_deg=pitch).ground_point(W / 2, y, W, H) is None


def test_points_beyond_the_useful_range_are_refused():
    camera = CameraModel(pitch_deg=0.0, max_range_m=50.0)
    # 1 px below the horizon on a 1080p frame is ~ 1.3 m * focal / 1 px away: far beyond 50 m
    assert camera.ground_point(W / 2, H / 2 + 1, W, H) is None


def test_bearing_of_the_frame_edge_is_half_the_field_of_view():
    camera = CameraModel(hfov_deg=100.0)
    assert camera.bearing_offset_deg(W, W) == pytest.approx(50.0)
    assert camera.bearing_offset_deg(0, W) == pytest.approx(-50.0)


@pytest.mark.parametrize(("kwargs", "message"), [({"hfov_deg": 0}, "hfov_deg"), ({"hfov_deg": 180}, "hfov_deg"),
                                                 ({"mount_height_m": 0}, "mount_height_m")])
def test_bad_camera_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CameraModel(**kwargs)
