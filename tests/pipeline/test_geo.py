"""Geodesy helpers against known values and against pyproj's ellipsoidal geodesics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from streetwatch.core.geo import (
    EARTH_MEAN_RADIUS_M,
    destination,
    haversine_m,
    initial_bearing_deg,
    interpolate_angle_deg,
    path_segments,
)

WGS84 = Geod(ellps="WGS84")
LONDON = (51.5074, -0.1278)
PARIS = (48.8566, 2.3522)
SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)


@pytest.mark.parametrize(
    ("start", "end", "expected_m"),
    [
        ((0.0, 0.0), (0.0, 0.0), 0.0),
        ((0.0, 0.0), (1.0, 0.0), EARTH_MEAN_RADIUS_M * math.pi / 180),  # one degree of a meridian
        ((0.0, 0.0), (0.0, 1.0), EARTH_MEAN_RADIUS_M * math.pi / 180),  # one degree of the equator
        ((0.0, 0.0), (0.0, 180.0), EARTH_MEAN_RADIUS_M * math.pi),      # antipodes
        ((10.0, 179.9), (10.0, -179.9), haversine_m(10.0, 0.0, 10.0, 0.2)),  # across the antimeridian
    ],
)
def test_haversine_known_values(
    start: tuple[float, float], end: tuple[float, float], expected_m: float
) -> None:
    assert haversine_m(*start, *end) == pytest.approx(expected_m, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize(
    ("start", "end"), [(LONDON, PARIS), (SHANGHAI, BEIJING), ((0.0, 0.0), (0.001, 0.001))]
)
def test_haversine_agrees_with_ellipsoid_within_half_a_percent(
    start: tuple[float, float], end: tuple[float, float]
) -> None:
    _, _, ellipsoidal_m = WGS84.inv(start[1], start[0], end[1], end[0])
    assert haversine_m(*start, *end) == pytest.approx(ellipsoidal_m, rel=5e-3)


@pytest.mark.parametrize(
    ("end", "expected_deg"),
    [
        ((1.0, 0.0), 0.0),      # north
        ((0.0, 1.0), 90.0),     # east
        ((-1.0, 0.0), 180.0),   # south
        ((0.0, -1.0), 270.0),   # west
        ((0.0, 0.0), 0.0),      # same point
    ],
)
def test_initial_bearing_cardinal_directions(end: tuple[float, float], expected_deg: float) -> None:
    assert initial_bearing_deg(0.0, 0.0, *end) == pytest.approx(expected_deg, abs=1e-9)


@pytest.mark.parametrize(("start", "end"), [(LONDON, PARIS), (SHANGHAI, BEIJING), (PARIS, LONDON)])
def test_initial_bearing_agrees_with_ellipsoid(start: tuple[float, float], end: tuple[float, float]) -> None:
    azimuth, _, _ = WGS84.inv(start[1], start[0], end[1], end[0])
    assert initial_bearing_deg(*start, *end) == pytest.approx(azimuth % 360.0, abs=0.5)


def test_initial_bearing_is_never_360() -> None:
    # a hair west of due north: atan2 gives -1e-14 degrees, which wraps to exactly 360.0 in floats
    bearing = initial_bearing_deg(0.0, 0.0, 1.0, -1e-14)
    assert 0.0 <= bearing < 360.0


@pytest.mark.parametrize(
    ("start", "bearing", "distance_m", "expected"),
    [
        ((0.0, 0.0), 90.0, 111_319.490_793, (0.0, 1.0)),      # one degree of the WGS84 equator
        ((0.0, 0.0), 0.0, 10_001_965.729, (90.0, None)),       # equator to the pole (meridian quadrant)
        ((0.0, 179.5), 90.0, 111_319.490_793, (0.0, -179.5)),  # across the antimeridian
        ((10.0, 20.0), 45.0, 0.0, (10.0, 20.0)),
    ],
)
def test_destination_known_values(
    start: tuple[float, float], bearing: float, distance_m: float, expected: tuple[float, float | None]
) -> None:
    lat, lon = destination(*start, bearing, distance_m)
    assert lat == pytest.approx(expected[0], abs=1e-6)
    if expected[1] is not None:
        assert lon == pytest.approx(expected[1], abs=1e-6)


@pytest.mark.parametrize(
    ("bearing", "distance_m"), [(0.0, 25.0), (137.0, 40.0), (301.5, 1500.0), (90.0, -30.0)]
)
def test_destination_round_trips_through_inverse(bearing: float, distance_m: float) -> None:
    lat, lon = destination(*SHANGHAI, bearing, distance_m)
    azimuth, _, measured_m = WGS84.inv(SHANGHAI[1], SHANGHAI[0], lon, lat)
    assert measured_m == pytest.approx(abs(distance_m), abs=1e-6)
    expected_azimuth = bearing if distance_m >= 0 else (bearing + 180.0) % 360.0
    assert azimuth % 360.0 == pytest.approx(expected_azimuth, abs=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "w", "expected"),
    [
        (0.0, 90.0, 0.5, 45.0),
        (350.0, 10.0, 0.5, 0.0),     # through north, not through south
        (10.0, 350.0, 0.5, 0.0),
        (359.0, 1.0, 0.25, 359.5),
        (90.0, 270.0, 0.5, 180.0),   # exactly opposite: clockwise
        (270.0, 90.0, 0.5, 0.0),
        (30.0, 60.0, 0.0, 30.0),
        (30.0, 60.0, 1.0, 60.0),
        (-10.0, 370.0, 0.5, 0.0),    # inputs outside [0, 360)
    ],
)
def test_interpolate_angle_shortest_way(a: float, b: float, w: float, expected: float) -> None:
    result = interpolate_angle_deg(a, b, w)
    assert 0.0 <= result < 360.0
    assert min(abs(result - expected), 360.0 - abs(result - expected)) == pytest.approx(0.0, abs=1e-9)


def test_path_segments_match_scalar_helpers() -> None:
    rng = np.random.default_rng(7)
    lats = 31.0 + rng.uniform(-0.01, 0.01, 50)
    lons = 121.0 + rng.uniform(-0.01, 0.01, 50)
    lengths, bearings = path_segments(lats, lons)
    assert lengths.shape == bearings.shape == (49,)
    for i in range(49):
        assert lengths[i] == pytest.approx(haversine_m(lats[i], lons[i], lats[i + 1], lons[i + 1]), rel=1e-9)
        assert bearings[i] == pytest.approx(initial_bearing_deg(lats[i], lons[i], lats[i + 1], lons[i + 1]))


@pytest.mark.parametrize(("lats", "lons"), [([1.0, 2.0], [1.0]), ([[1.0, 2.0]], [[1.0, 2.0]])])
def test_path_segments_rejects_bad_shapes(lats: list[float], lons: list[float]) -> None:
    with pytest.raises(ValueError, match="1-D"):
        path_segments(lats, lons)
