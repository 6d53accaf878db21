from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streetwatch.vision.geometry import CameraModel, ObjectSize

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


# --- intrinsics, projection, object boxes, lever arm -------------------------------------------------

F_1080 = (W / 2) / math.tan(math.radians(50.0))  # the focal length hfov 100 deg gives at 1920 px


@pytest.mark.parametrize(
    ("calibrated", "frame"),
    [
        # the same camera described by its field of view and by its focal length
        (CameraModel(fx_px=F_1080), (W, H)),
        (CameraModel(fx_px=F_1080, fy_px=F_1080, cx_px=W / 2, cy_px=H / 2), (W, H)),
        # calibrated at 4K, decoded at 1080p: the intrinsics scale with the frame
        (CameraModel(fx_px=2 * F_1080, cx_px=W, cy_px=H, calibration_width=2 * W, calibration_height=2 * H),
         (W, H)),
    ],
)
def test_calibrated_intrinsics_match_the_field_of_view(calibrated, frame):
    by_fov = CameraModel()
    for x, y in [(W / 2, H - 1), (100.0, 900.0), (1800.0, 700.0)]:
        a, b = by_fov.ground_point(x, y, W, H), calibrated.ground_point(x, y, *frame)
        assert a is not None and b is not None
        assert b.range_m == pytest.approx(a.range_m, rel=1e-9)
        assert b.bearing_offset_deg == pytest.approx(a.bearing_offset_deg, abs=1e-9)


def test_the_principal_point_is_straight_ahead():
    camera = CameraModel(fx_px=1000.0, cx_px=1010.0, cy_px=530.0, pitch_deg=0.0)
    assert camera.bearing_offset_deg(1010.0, W) == pytest.approx(0.0)
    assert camera.ray_bearing_offset_deg(1010.0, 900.0, W, H) == pytest.approx(0.0)
    assert camera.bearing_offset_deg(2010.0, W) == pytest.approx(45.0)  # 1000 px off = one focal length
    assert camera.ground_point(1010.0, 530.0, W, H) is None  # the principal row is the horizon at pitch 0


CAMERAS = [
    CameraModel(),
    CameraModel(pitch_deg=12.0, yaw_offset_deg=-7.0, mount_height_m=2.1),
    CameraModel(fx_px=1200.0, fy_px=1180.0, cx_px=990.0, cy_px=520.0, pitch_deg=3.0),
]


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize(("forward", "right"), [(5.0, 2.0), (20.0, -6.0), (35.0, 9.0), (8.0, 0.0)])
def test_project_inverts_ground_point(camera, forward, right):
    pixel = camera.project(forward, right, -camera.mount_height_m, W, H)
    assert pixel is not None
    ground = camera.ground_point(*pixel, W, H)
    assert ground is not None
    assert (ground.forward_m, ground.right_m) == pytest.approx((forward, right), abs=1e-6)
    # for a ground pixel, the ray's horizontal bearing is the bearing of its ground point
    assert camera.ray_bearing_offset_deg(*pixel, W, H) == pytest.approx(ground.bearing_offset_deg, abs=1e-9)


@given(forward=st.floats(2.0, 70.0), right=st.floats(-30.0, 30.0), pitch=st.floats(-5.0, 20.0),
       yaw=st.floats(-20.0, 20.0))
@settings(max_examples=60, deadline=None)
def test_project_inverts_ground_point_everywhere_ahead(forward, right, pitch, yaw):
    camera = CameraModel(pitch_deg=pitch, yaw_offset_deg=yaw)
    pixel = camera.project(forward, right, -camera.mount_height_m, W, H)
    assume(pixel is not None)
    ground = camera.ground_point(*pixel, W, H)
    assume(ground is not None)  # beyond max_range_m, or at the horizon
    assert (ground.forward_m, ground.right_m) == pytest.approx((forward, right), abs=1e-5)


def test_points_behind_the_lens_do_not_project():
    assert CameraModel().project(-1.0, 0.0, -1.3, W, H) is None
    assert CameraModel(yaw_offset_deg=90.0).project(0.0, -5.0, 0.0, W, H) is None  # behind a sideways camera


@pytest.mark.parametrize(
    ("heading", "expected_en"),
    [
        (0.0, (0.3, 1.0)),       # heading north: forward is north, right is east
        (90.0, (1.0, -0.3)),     # heading east: forward is east, right is south
        (180.0, (-0.3, -1.0)),
        (270.0, (-1.0, 0.3)),
    ],
)
def test_lever_arm_turns_with_the_heading(heading, expected_en):
    camera = CameraModel(lever_forward_m=1.0, lever_right_m=0.3, lever_up_m=0.5)
    assert camera.lever_arm_en(heading) == pytest.approx(expected_en, abs=1e-12)


def test_box_pixels_bound_the_object_and_its_bottom_is_the_near_edge():
    camera = CameraModel()
    car = ObjectSize(4.5, 1.8, 1.5)
    box = camera.box_pixels(15.0, 4.0, car, W, H)
    assert box is not None
    x1, y1, x2, y2 = box
    foot = camera.project(15.0, 4.0, -camera.mount_height_m, W, H)
    assert foot is not None
    assert x1 < foot[0] < x2 and y1 < foot[1] < y2
    # the bottom row is the nearest corner's: flat-ground ranging from it is short of the centre
    near = camera.ground_point((x1 + x2) / 2, y2, W, H)
    assert near is not None and near.range_m < math.hypot(15.0, 4.0) - 1.0
    assert camera.box_pixels(2.0, 4.0, car, W, H) is None  # its rear is behind the lens: being passed
    many = camera.box_pixels_array(np.array([15.0, 2.0]), np.array([4.0, 4.0]), car, W, H)
    assert many[0] == pytest.approx(box) and np.all(np.isnan(many[1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fx_px": 0.0}, "fx_px"),
        ({"fx_px": 1000.0, "fy_px": -1.0}, "fy_px"),
        ({"cx_px": 960.0}, "need fx_px"),
        ({"fx_px": 1000.0, "calibration_width": 1920}, "together"),
        ({"fx_px": 1000.0, "calibration_width": 0, "calibration_height": 1080}, "calibration_width"),
    ],
)
def test_bad_intrinsics_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CameraModel(**kwargs)


@pytest.mark.parametrize("dims", [(-1.0, 1.0, 1.0), (1.0, math.nan, 1.0), (1.0, 1.0, math.inf)])
def test_bad_object_sizes_are_refused(dims):
    with pytest.raises(ValueError, match="must be a finite number of metres"):
        ObjectSize(*dims)
