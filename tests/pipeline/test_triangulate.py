"""Multi-view geolocation: rays projected from known points by the camera model, then solved back."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from streetwatch.core.geo import LocalPlane, haversine_m
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.core.types import LocationStatus, Pose, TrackPoint
from streetwatch.pipeline.geolocate import locate_object
from streetwatch.pipeline.triangulate import (
    EstimateMethod,
    TriangulationSettings,
    class_size,
    estimate_track,
    locate_track,
)
from streetwatch.vision.geometry import CameraModel, ObjectSize

W, H = 1920, 1080
PLANE = LocalPlane(31.2304, 121.4737)
CAR = ObjectSize(4.5, 1.8, 1.5)
CAMERAS = {
    "default": CameraModel(),
    "lever arm + yaw": CameraModel(lever_forward_m=1.2, lever_right_m=-0.4, yaw_offset_deg=4.0,
                                   pitch_deg=8.0),
    "calibrated": CameraModel(fx_px=1100.0, fy_px=1090.0, cx_px=980.0, cy_px=550.0, mount_height_m=1.6),
}


def drive_past(obj_en: tuple[float, float], heading: float, camera: CameraModel, *, step_m: float = 1.0,
               frames: int = 45, size: ObjectSize | None = None, start_m: float = 0.0,
               height_m: float = 0.0) -> tuple[list[TrackPoint], list[Pose | None]]:
    """A car driving straight along ``heading`` from the origin, seeing a point ``height_m`` above the
    ground (or a box on it) at ``obj_en``.

    Keeps only frames where the whole box is inside the picture, as a detector would report it.
    """
    h = math.radians(heading)
    forward_axis, right_axis = np.array([math.sin(h), math.cos(h)]), np.array([math.cos(h), -math.sin(h)])
    points: list[TrackPoint] = []
    poses: list[Pose | None] = []
    for i in range(frames):
        antenna = forward_axis * (start_m + i * step_m)
        rel = np.asarray(obj_en) - antenna - camera.lever_arm_en(heading)
        forward, right = float(rel @ forward_axis), float(rel @ right_axis)
        if size is None:
            up = height_m - camera.mount_height_m
            foot = camera.project(forward, right, up, W, H) if forward > 1.0 else None
            box = None if foot is None else (foot[0] - 20.0, foot[1] - 60.0, foot[0] + 20.0, foot[1])
        else:
            box = camera.box_pixels(forward, right, size, W, H)
        if box is None or box[0] <= 1 or box[1] <= 1 or box[2] >= W - 1 or box[3] >= H - 1:
            continue
        lat, lon = PLANE.to_latlon(*antenna)
        t = 1_700_000_000.0 + i * 0.2
        points.append(TrackPoint(i, i * 0.2, box, 0.9))
        poses.append(Pose(t, lat, lon, heading, speed=step_m / 0.2))
    return points, poses


def error_m(location, obj_en: tuple[float, float]) -> float:
    assert location.lat is not None and location.lon is not None
    return math.dist(PLANE.to_en(location.lat, location.lon), obj_en)


def ahead_of(heading: float, forward: float, right: float) -> tuple[float, float]:
    h = math.radians(heading)
    return (forward * math.sin(h) + right * math.cos(h), forward * math.cos(h) - right * math.sin(h))


@pytest.mark.parametrize("camera_name", sorted(CAMERAS))
@pytest.mark.parametrize("heading", [0.0, 73.0, 250.0])
@pytest.mark.parametrize("right", [4.0, -7.5])
def test_exact_rays_recover_the_point(camera_name, heading, right):
    camera = CAMERAS[camera_name]
    obj = ahead_of(heading, 32.0, right)
    points, poses = drive_past(obj, heading, camera)
    estimate = estimate_track(points, poses, camera, W, H)
    assert estimate.method is EstimateMethod.TRIANGULATED
    assert error_m(estimate.location, obj) < 0.1
    assert estimate.location.status is LocationStatus.GEOLOCATED
    assert estimate.location.n_views == len(points) == estimate.n_views > 10
    assert estimate.n_inliers == len(points)
    # many crossing rays: the uncertainty is mostly the absolute GPS error, which no view removes
    gps_sigma = TriangulationSettings().gps_sigma_m
    assert estimate.location.uncertainty_m is not None
    assert gps_sigma <= estimate.location.uncertainty_m < gps_sigma + 0.5
    assert locate_track(points, poses, camera, W, H) == estimate.location


def test_a_known_object_size_moves_the_box_bottom_to_the_object_centre():
    camera = CAMERAS["lever arm + yaw"]
    obj = ahead_of(120.0, 30.0, 4.0)
    points, poses = drive_past(obj, 120.0, camera, size=CAR)
    sized = locate_track(points, poses, camera, W, H, size=CAR)
    unsized = locate_track(points, poses, camera, W, H)
    assert error_m(sized, obj) < 0.1
    assert error_m(unsized, obj) > 1.0  # the box bottom is the car's near corner, not its centre


def test_noisy_sightings_stay_within_bounds():
    """Pixel, heading and position noise of a dashcam; no GPS bias (that is the simulation's job)."""
    rng = np.random.default_rng(3)
    camera = CameraModel(lever_forward_m=1.0)
    multi, single = [], []
    for _ in range(40):
        heading = float(rng.uniform(0.0, 360.0))
        side = float(rng.choice([-1, 1]) * rng.uniform(3.0, 10.0))
        obj = ahead_of(heading, float(rng.uniform(25.0, 35.0)), side)
        points, poses = drive_past(obj, heading, camera, step_m=float(rng.uniform(1.0, 2.4)))
        noisy_points, noisy_poses = [], []
        for point, pose in zip(points, poses, strict=True):
            assert pose is not None
            box = np.asarray(point.xyxy) + rng.normal(0.0, 2.0, 4)
            east, north = np.asarray(PLANE.to_en(pose.lat, pose.lon)) + rng.normal(0.0, 0.2, 2)
            lat, lon = PLANE.to_latlon(east, north)
            noisy_points.append(dataclasses.replace(point, xyxy=tuple(box)))
            heading = pose.heading + rng.normal(0.0, 1.0)
            noisy_poses.append(dataclasses.replace(pose, lat=lat, lon=lon, heading=heading))
        multi.append(error_m(locate_track(noisy_points, noisy_poses, camera, W, H), obj))
        nearest = int(np.argmax([p.xyxy[3] for p in noisy_points]))
        best = locate_object(noisy_poses[nearest], camera, noisy_points[nearest].xyxy, W, H)
        single.append(error_m(best, obj))
    assert np.median(multi) < 0.5
    assert np.percentile(multi, 90) < 1.0
    assert np.median(multi) < np.median(single)


def test_a_wild_sighting_does_not_drag_the_result():
    camera = CameraModel()
    obj = ahead_of(10.0, 30.0, 5.0)
    points, poses = drive_past(obj, 10.0, camera)
    x1, y1, x2, y2 = points[5].xyxy
    slipped = (x1 - 400.0, y1 - 50.0, x2 - 400.0, y2 - 50.0)  # the tracker slipped onto something else
    points[5] = dataclasses.replace(points[5], xyxy=slipped)
    estimate = estimate_track(points, poses, camera, W, H)
    assert estimate.method is EstimateMethod.TRIANGULATED
    assert estimate.n_inliers == len(points) - 1
    assert error_m(estimate.location, obj) < 0.2


@pytest.mark.parametrize(
    ("case", "step_m", "frames", "start_m"),
    [
        ("two sightings", 1.0, 2, 10.0),
        ("car standing still", 0.0, 30, 10.0),
        ("barely moving", 0.1, 20, 10.0),
    ],
)
def test_short_tracks_fall_back_to_flat_ground(case, step_m, frames, start_m):
    camera = CameraModel()
    obj = ahead_of(45.0, 30.0, 4.0)
    points, poses = drive_past(obj, 45.0, camera, step_m=step_m, frames=frames, start_m=start_m)
    assert points, case
    estimate = estimate_track(points, poses, camera, W, H)
    assert estimate.method is EstimateMethod.FLAT_GROUND, case
    assert error_m(estimate.location, obj) < 0.05, case  # exact feet on flat ground: exact ranges
    # ranging a single view at ~20 m is less sure than crossing rays
    assert estimate.location.uncertainty_m is not None
    assert estimate.location.uncertainty_m > TriangulationSettings().gps_sigma_m + 0.1


def test_without_any_pose_the_location_is_unknown():
    points, _ = drive_past((5.0, 30.0), 0.0, CameraModel())
    location = locate_track(points, [None] * len(points), CameraModel(), W, H)
    assert location.status is LocationStatus.UNKNOWN
    assert location.lat is None and location.n_views == 0
    assert locate_track([], [], CameraModel(), W, H).status is LocationStatus.UNKNOWN


def test_sightings_without_a_pose_are_left_out():
    camera = CameraModel()
    obj = (5.0, 30.0)
    points, poses = drive_past(obj, 0.0, camera)
    holes = [None if i % 3 == 0 else pose for i, pose in enumerate(poses)]
    location = locate_track(points, holes, camera, W, H)
    assert location.n_views == sum(pose is not None for pose in holes) < len(points)
    assert error_m(location, obj) < 0.1


def test_without_headings_only_the_camera_position_is_known():
    points, poses = drive_past((5.0, 30.0), 0.0, CameraModel())
    still = [dataclasses.replace(pose, heading=None) for pose in poses if pose is not None]
    location = locate_track(points, still, CameraModel(), W, H)
    assert location.status is LocationStatus.CAMERA
    assert (location.lat, location.lon) == (still[-1].lat, still[-1].lon)


def test_boxes_above_the_horizon_give_only_a_bearing():
    camera = CameraModel(pitch_deg=0.0)
    pose = Pose(0.0, *PLANE.to_latlon(0.0, 0.0), heading=90.0)
    sign = TrackPoint(0, 0.0, (1200.0, 100.0, 1300.0, 400.0), 0.8)  # a shop sign up on a wall
    location = locate_track([sign, dataclasses.replace(sign, frame_index=1)], [pose, pose], camera, W, H)
    assert location.status is LocationStatus.CAMERA
    assert location.bearing_deg == pytest.approx(90.0 + camera.ray_bearing_offset_deg(1250.0, 400.0, W, H))


def test_points_and_poses_must_pair_up():
    points, poses = drive_past((5.0, 30.0), 0.0, CameraModel())
    with pytest.raises(ValueError, match=r"one pose per track point, got \d+ points and \d+ poses"):
        locate_track(points, poses[:-1], CameraModel(), W, H)


def test_smoothing_the_heading_over_the_track_beats_one_second_chords():
    rng = np.random.default_rng(11)
    camera = CameraModel()
    obj = ahead_of(30.0, 30.0, 5.0)
    points, poses = drive_past(obj, 30.0, camera, step_m=1.6)
    # a 1 Hz receiver's heading: one error per second (five frames), a few degrees each
    per_second = rng.normal(0.0, 3.0, len(poses) // 5 + 1)
    shaky = [dataclasses.replace(p, heading=p.heading + per_second[i // 5]) for i, p in enumerate(poses) if p]
    smoothed = error_m(locate_track(points, shaky, camera, W, H), obj)
    raw = error_m(locate_track(points, shaky, camera, W, H, TriangulationSettings(heading_window_s=0.0)), obj)
    assert smoothed < 0.3 < raw


@pytest.mark.parametrize(("lat0", "lon0"),
                         [(31.2304, 121.4737), (59.9, 10.7), (-33.9, 151.2), (0.0, 179.9995)])
def test_local_plane_round_trips_and_measures_metres(lat0, lon0):
    plane = LocalPlane(lat0, lon0)
    for east, north in [(0.0, 0.0), (120.0, -80.0), (-300.0, 250.0)]:
        lat, lon = plane.to_latlon(east, north)
        assert plane.to_en(lat, lon) == pytest.approx((east, north), abs=1e-6)
        assert haversine_m(lat0, lon0, lat, lon) == pytest.approx(math.hypot(east, north), rel=5e-3, abs=1e-6)


def test_signs_off_the_ground_are_placed_by_crossing_rays_alone():
    camera = CameraModel()
    obj = ahead_of(200.0, 30.0, 7.0)
    lifted, poses = drive_past(obj, 200.0, camera, height_m=3.0)  # a sign on a wall, 3 m up
    assert error_m(locate_track(lifted, poses, camera, W, H, on_ground=False), obj) < 0.1
    # with two views there is nothing to cross: the camera's position and a bearing, not a guess
    short = locate_track(lifted[:2], poses[:2], camera, W, H, on_ground=False)
    assert short.status is LocationStatus.CAMERA and short.bearing_deg is not None


def test_typical_sizes_name_taxonomy_classes():
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
    sized = {name for name in taxonomy.classes if class_size(taxonomy, name) is not None}
    assert sized <= set(taxonomy.classes), sized - set(taxonomy.classes)
    assert {"car", "stall", "umbrella", "bin", "ad_board"} <= sized
    assert class_size(taxonomy, "car") == ObjectSize(4.5, 1.8, 1.5)
