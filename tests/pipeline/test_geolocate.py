"""Single-view geolocation: pose + pixel -> a point on the map, or an honest "don't know".

The expected numbers are worked out by hand for a level camera (pitch 0) with a 90 degree
field of view on a 640x480 frame: the focal length is 320 px, the horizon is row 240, and a
foot point ``d`` pixels below it lies ``mount_height * 320 / d`` metres ahead.
"""

from __future__ import annotations

import math

import pytest

from streetwatch.core.geo import destination, haversine_m, initial_bearing_deg
from streetwatch.core.types import Location, LocationStatus, Pose
from streetwatch.pipeline.geolocate import locate_object
from streetwatch.vision.geometry import CameraModel

WIDTH, HEIGHT = 640, 480
FOCAL_PX = 320.0
HORIZON_ROW = 240.0
CAMERA = CameraModel(hfov_deg=90.0, mount_height_m=1.5, pitch_deg=0.0)
SHANGHAI = (31.2304, 121.4737)


def pose(heading: float | None) -> Pose:
    return Pose(t=1_700_000_000.0, lat=SHANGHAI[0], lon=SHANGHAI[1], heading=heading, speed=4.0)


def box_with_foot(foot_x: float, foot_y: float, half_width: float = 20.0
                  ) -> tuple[float, float, float, float]:
    return (foot_x - half_width, foot_y - 80.0, foot_x + half_width, foot_y)


def row_for_range(range_m: float) -> float:
    return HORIZON_ROW + CAMERA.mount_height_m * FOCAL_PX / range_m


def test_no_pose_means_unknown() -> None:
    location = locate_object(None, CAMERA, box_with_foot(320, 400), WIDTH, HEIGHT)
    assert location == Location(LocationStatus.UNKNOWN)
    assert (location.lat, location.lon, location.bearing_deg, location.range_m) == (None, None, None, None)


def test_no_heading_means_the_camera_position() -> None:
    location = locate_object(pose(None), CAMERA, box_with_foot(320, 400), WIDTH, HEIGHT)
    assert location == Location(LocationStatus.CAMERA, *SHANGHAI)
    assert location.bearing_deg is None and location.range_m is None


@pytest.mark.parametrize("range_m", [3.0, 10.0, 25.0])
@pytest.mark.parametrize("heading", [90.0, 0.0, 180.0, 270.0, 45.0])
def test_an_object_straight_ahead_lies_its_range_along_the_heading(heading: float, range_m: float) -> None:
    location = locate_object(pose(heading), CAMERA, box_with_foot(WIDTH / 2, row_for_range(range_m)),
                             WIDTH, HEIGHT)
    assert location.status is LocationStatus.GEOLOCATED
    assert location.range_m == pytest.approx(range_m, rel=1e-9)
    assert location.bearing_deg == pytest.approx(heading % 360.0, abs=1e-9)
    assert location.lat is not None and location.lon is not None
    expected = destination(*SHANGHAI, heading, range_m)
    assert haversine_m(location.lat, location.lon, *expected) < 0.01
    assert haversine_m(*SHANGHAI, location.lat, location.lon) == pytest.approx(range_m, rel=0.005)
    # haversine bearings are spherical: a few tenths of a degree off the ellipsoid at 45 degrees
    assert initial_bearing_deg(*SHANGHAI, location.lat, location.lon) == pytest.approx(heading, abs=0.3)


def test_driving_east_an_object_ahead_is_east_of_the_car() -> None:
    location = locate_object(pose(90.0), CAMERA, box_with_foot(320, row_for_range(10.0)), WIDTH, HEIGHT)
    assert location.lat == pytest.approx(SHANGHAI[0], abs=1e-6)      # same latitude (within 0.1 m)
    metres_east = haversine_m(SHANGHAI[0], SHANGHAI[1], SHANGHAI[0], location.lon or 0.0)
    assert location.lon is not None and location.lon > SHANGHAI[1]
    assert metres_east == pytest.approx(10.0, rel=0.005)


@pytest.mark.parametrize(("foot_x", "offset_deg"), [
    pytest.param(640.0, 45.0, id="right-edge"),
    pytest.param(480.0, math.degrees(math.atan(0.5)), id="right"),
    pytest.param(160.0, -math.degrees(math.atan(0.5)), id="left"),
])
def test_an_object_off_centre_is_off_the_heading(foot_x: float, offset_deg: float) -> None:
    # Foot on row 272: 32 px below the horizon, 15 m ahead; sideways distance grows with the angle.
    location = locate_object(pose(90.0), CAMERA, box_with_foot(foot_x, 272.0), WIDTH, HEIGHT)
    forward_m = 15.0
    sideways_m = forward_m * (foot_x - WIDTH / 2) / FOCAL_PX
    assert location.status is LocationStatus.GEOLOCATED
    assert location.bearing_deg == pytest.approx(90.0 + offset_deg, abs=1e-9)
    assert location.range_m == pytest.approx(math.hypot(forward_m, sideways_m), rel=1e-9)


@pytest.mark.parametrize(("foot_x", "foot_y", "expected_bearing"), [
    pytest.param(320.0, 200.0, 90.0, id="above-horizon-ahead"),
    pytest.param(320.0, 240.0, 90.0, id="on-horizon"),
    pytest.param(480.0, 100.0, 90.0 + math.degrees(math.atan(0.5)), id="above-horizon-right"),
    pytest.param(320.0, 243.0, 90.0, id="beyond-max-range"),   # 3 px below: 160 m > 80 m
])
def test_no_measurable_range_gives_the_camera_position_with_a_bearing(
    foot_x: float, foot_y: float, expected_bearing: float
) -> None:
    location = locate_object(pose(90.0), CAMERA, box_with_foot(foot_x, foot_y), WIDTH, HEIGHT)
    assert location.status is LocationStatus.CAMERA
    assert (location.lat, location.lon) == SHANGHAI
    assert location.range_m is None
    assert location.bearing_deg == pytest.approx(expected_bearing, abs=1e-9)


def test_bearing_wraps_past_north() -> None:
    location = locate_object(pose(350.0), CAMERA, box_with_foot(480.0, 272.0), WIDTH, HEIGHT)
    assert location.bearing_deg == pytest.approx((350.0 + math.degrees(math.atan(0.5))) % 360.0, abs=1e-9)
    assert 0.0 <= (location.bearing_deg or -1.0) < 360.0
