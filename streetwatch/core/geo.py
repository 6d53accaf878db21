"""Small, pure geodesy helpers shared by the GPS track and geolocation.

Angles are degrees, distances metres, coordinates WGS84 latitude/longitude. Bearings are
clockwise from true north in [0, 360). Distances and bearings use the spherical (haversine)
model, which is accurate to about 0.5 % and fast enough to run per frame; ``destination``
uses the WGS84 ellipsoid through pyproj because it places objects on the map.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import numpy.typing as npt
from pyproj import Geod

EARTH_MEAN_RADIUS_M = 6_371_008.8  # IUGG mean radius: the best sphere for haversine distances
_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694_379_990_14e-3


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points on a spherical Earth.

    Args:
        lat1: Latitude of the first point, degrees.
        lon1: Longitude of the first point, degrees.
        lat2: Latitude of the second point, degrees.
        lon2: Longitude of the second point, degrees.

    Returns:
        The distance in metres.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    # min() guards asin against rounding just above 1 for antipodal points
    return 2.0 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def initial_bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing of the great circle from the first point towards the second.

    Args:
        lat1: Latitude of the start, degrees.
        lon1: Longitude of the start, degrees.
        lat2: Latitude of the target, degrees.
        lon2: Longitude of the target, degrees.

    Returns:
        Degrees clockwise from true north, in [0, 360). 0 when the points coincide.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_lambda = math.radians(lon2 - lon1)
    x = math.sin(d_lambda) * math.cos(phi2)
    y = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(d_lambda)
    return _wrap_360(math.degrees(math.atan2(x, y)))


def _wrap_360(angle_deg: float) -> float:
    wrapped = angle_deg % 360.0
    # a tiny negative angle wraps to 360.0 exactly in floating point; keep the range half-open
    return 0.0 if wrapped >= 360.0 else wrapped


@cache
def _wgs84() -> Geod:
    return Geod(ellps="WGS84")


def destination(lat: float, lon: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point reached by travelling a distance along a bearing on the WGS84 ellipsoid.

    Args:
        lat: Latitude of the start, degrees.
        lon: Longitude of the start, degrees.
        bearing_deg: Direction of travel, degrees clockwise from true north.
        distance_m: Distance along the ground (geodesic), metres; negative travels backwards.

    Returns:
        ``(lat, lon)`` of the destination in degrees, longitude in [-180, 180].
    """
    lon2, lat2, _back_azimuth = _wgs84().fwd(lon, lat, bearing_deg, distance_m)
    return float(lat2), float(lon2)


def interpolate_angle_deg(a: float, b: float, w: float) -> float:
    """Interpolate between two angles the shortest way round the circle.

    Args:
        a: The angle at ``w == 0``, degrees.
        b: The angle at ``w == 1``, degrees.
        w: The weight of ``b``, usually in [0, 1].

    Returns:
        The interpolated angle in [0, 360). When ``a`` and ``b`` are exactly opposite, the
        turn is taken clockwise.
    """
    delta = (b - a + 180.0) % 360.0 - 180.0  # signed shortest turn from a to b, in [-180, 180)
    if delta == -180.0:
        delta = 180.0
    return _wrap_360(a + w * delta)


def path_segments(
    lats: npt.ArrayLike, lons: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Length and initial bearing of every segment of a path, vectorised.

    Gives the same numbers as ``haversine_m`` and ``initial_bearing_deg`` applied to each pair
    of consecutive points, for a whole GPS track at once.

    Args:
        lats: Latitudes of the path's points, degrees, shape (n,).
        lons: Longitudes of the path's points, degrees, shape (n,).

    Returns:
        ``(lengths_m, bearings_deg)``, each of shape (n - 1,); empty for fewer than two points.

    Raises:
        ValueError: If ``lats`` and ``lons`` are not 1-D arrays of the same length.
    """
    phi = np.radians(np.asarray(lats, dtype=np.float64))
    lam = np.radians(np.asarray(lons, dtype=np.float64))
    if phi.ndim != 1 or phi.shape != lam.shape:
        raise ValueError(f"lats and lons must be 1-D and of one length, got shapes {phi.shape}, {lam.shape}")
    phi1, phi2 = phi[:-1], phi[1:]
    d_lambda = np.diff(lam)
    a = np.sin(np.diff(phi) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(d_lambda / 2) ** 2
    lengths = 2.0 * EARTH_MEAN_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    x = np.sin(d_lambda) * np.cos(phi2)
    y = np.cos(phi1) * np.sin(phi2) - np.sin(phi1) * np.cos(phi2) * np.cos(d_lambda)
    bearings = np.degrees(np.arctan2(x, y)) % 360.0
    bearings[bearings >= 360.0] = 0.0  # see _wrap_360
    return lengths, bearings


class LocalPlane:
    """The local metric plane: metres east and north of one point (WGS84 radii of curvature there).

    Accurate to millimetres over the few hundred metres a track spans; over the few kilometres a
    batch of sightings to match spans, as exact as the equirectangular step it replaced there.
    Every local east/north computation (triangulation, case matching) uses it.
    """

    __slots__ = ("lat0", "lon0", "m_per_deg_east", "m_per_deg_north")

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        phi = math.radians(lat0)
        w = 1.0 - _WGS84_E2 * math.sin(phi) ** 2
        meridional = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
        prime_vertical = _WGS84_A / math.sqrt(w)
        self.m_per_deg_north = math.radians(1.0) * meridional
        self.m_per_deg_east = math.radians(1.0) * prime_vertical * math.cos(phi)

    def to_en(self, lat: float, lon: float) -> tuple[float, float]:
        d_lon = (lon - self.lon0 + 180.0) % 360.0 - 180.0  # across the antimeridian too
        return d_lon * self.m_per_deg_east, (lat - self.lat0) * self.m_per_deg_north

    def to_latlon(self, east: float, north: float) -> tuple[float, float]:
        lon = self.lon0 + east / self.m_per_deg_east
        lon = (lon + 180.0) % 360.0 - 180.0
        return self.lat0 + north / self.m_per_deg_north, lon
