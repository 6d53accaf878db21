"""Place a stationary object on the map from every frame of its track.

The car moves, so successive sightings of one object look at it from different places: each
sighting is a bearing ray from where the camera was (GPS antenna + lever arm) in the direction
``heading + pixel bearing``. Where the rays cross is the object. Each sighting also gives a
flat-ground range (the box bottom, the camera height and pitch), accurate near the car and
poor far away; it enters as a soft prior along the ray, weighted by a range-error model.

The solve runs in a local east/north tangent plane (metres) around the first pose: a 2-D
weighted least-squares intersection with iterative reweighting (Cauchy) so that a few bad
sightings (a heading glitch in a turn, a box cut by the frame edge, a tracker slip) do not
drag the answer. When the track is too short to triangulate (too little distance travelled
or too small a change of bearing) the position is the robust centre of the per-frame
flat-ground points instead.

The rays, their ranges and their error model are built in :mod:`streetwatch.pipeline.rays`
(the heading between two 1 Hz fixes carries their noise over ~10 m, so where the car drives
straight the direction of travel is re-derived from the positions over a few seconds).

A box's bottom-centre is not the object's centre: the bottom edge is its nearest corner, and
a long object seen at an angle (a parked car) has its box centre off its middle. Given the
class's typical ``ObjectSize``, the expected offset of the box from the centre's own pixel is
predicted at the current estimate and taken off the measured boxes, and the solve repeated;
the box height then also gives a range (error linear in the range, where flat ground's grows
with its square), combined with the flat-ground range by their error models.

Assumes the object does not move during its track: stalls, parked cars, signs, bins. A
moving object's rays do not meet at one point; the robust weights then keep the frames that
agree best, and the uncertainty grows with the residuals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from streetwatch.core.geo import LocalPlane
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.types import Location, LocationStatus, Pose, TrackPoint
from streetwatch.pipeline.rays import (
    DEFAULT_SETTINGS,
    Rays,
    TriangulationSettings,
    build_rays,
    size_cues,
    with_feet,
)
from streetwatch.vision.geometry import CameraModel, ObjectSize

Vec = npt.NDArray[np.float64]
_RELAXATION = 0.6  # damping of the object-size correction rounds



def class_size(taxonomy: Taxonomy, class_name: str) -> ObjectSize | None:
    """The typical size ``models/taxonomy.yaml`` gives a class, or None (classes of no fixed size, wall signs)."""
    size = taxonomy.typical_size(class_name)
    return None if size is None else ObjectSize(*size)


class EstimateMethod(StrEnum):
    """How a track's position was obtained."""

    TRIANGULATED = "triangulated"  # intersecting bearing rays from several camera positions
    FLAT_GROUND = "flat_ground"    # robust centre of the per-frame flat-ground points
    CAMERA = "camera"              # camera position only: no heading, or no measurable range
    UNKNOWN = "unknown"            # no pose for any sighting


@dataclass(frozen=True, slots=True)
class TrackEstimate:
    """A track's position with how it was found.

    Attributes:
        location: The position (status GEOLOCATED, CAMERA or UNKNOWN).
        method: How it was obtained.
        n_views: Sightings with a pose and heading.
        n_inliers: Sightings that agree with the position.
        baseline_m: Distance between the farthest camera positions.
        spread_deg: Change of bearing to the object across the sightings.
    """

    location: Location
    method: EstimateMethod
    n_views: int = 0
    n_inliers: int = 0
    baseline_m: float = 0.0
    spread_deg: float = 0.0


def locate_track(
    points: Sequence[TrackPoint],
    poses: Sequence[Pose | None],
    camera: CameraModel,
    width: int,
    height: int,
    settings: TriangulationSettings = DEFAULT_SETTINGS,
    size: ObjectSize | None = None,
    on_ground: bool = True,
) -> Location:
    """Estimate where a stationary object stands from all the sightings of its track.

    Args:
        points: The track's sightings, in any order.
        poses: The camera's pose for each sighting (same length), None where GPS has none.
        camera: How the camera sits in the car (intrinsics, height, pitch, yaw, lever arm).
        width: Frame width in pixels.
        height: Frame height in pixels.
        settings: Thresholds and error model.
        size: The object class's typical size (see :func:`class_size`), to correct for the box
            bottom being its near edge; None takes the box bottom centre as the object's foot.
        on_ground: Whether the object stands on the road or pavement. Signs on walls and
            banners do not: their box bottom says nothing about their range, so only crossing
            rays place them (a track too short to triangulate gives the camera position).

    Returns:
        A GEOLOCATED location with ``uncertainty_m`` (about 1 sigma, radial) and ``n_views``;
        CAMERA (the camera's position) when no sighting has a heading or a measurable
        position; UNKNOWN when no sighting has a pose.

    Raises:
        ValueError: If ``points`` and ``poses`` differ in length.
    """
    return estimate_track(points, poses, camera, width, height, settings, size, on_ground).location


def estimate_track(
    points: Sequence[TrackPoint],
    poses: Sequence[Pose | None],
    camera: CameraModel,
    width: int,
    height: int,
    settings: TriangulationSettings = DEFAULT_SETTINGS,
    size: ObjectSize | None = None,
    on_ground: bool = True,
) -> TrackEstimate:
    """``locate_track`` with the method and the geometry that decided it (for diagnostics)."""
    if len(points) != len(poses):
        raise ValueError(f"need one pose per track point, got {len(points)} points and {len(poses)} poses")
    posed = [(p, q) for p, q in zip(points, poses, strict=True) if q is not None]
    if not posed:
        return TrackEstimate(Location(LocationStatus.UNKNOWN, n_views=0), EstimateMethod.UNKNOWN)
    headed = [(p, q) for p, q in posed if q.heading is not None]
    if not headed:
        last = posed[-1][1]
        return TrackEstimate(Location(LocationStatus.CAMERA, last.lat, last.lon, n_views=len(posed)),
                             EstimateMethod.CAMERA, n_views=len(posed))
    plane = LocalPlane(headed[0][1].lat, headed[0][1].lon)
    rays = build_rays(headed, camera, width, height, plane, settings, on_ground)
    trusted = rays.bearings_deg[rays.bearing_ok] if rays.bearing_ok.any() else rays.bearings_deg
    geometry = _Geometry(len(headed), _diameter(rays.origin), _spread_deg(trusted))
    method = EstimateMethod.FLAT_GROUND
    if (int(rays.bearing_ok.sum()) >= settings.min_views and geometry.baseline_m >= settings.min_baseline_m
            and geometry.spread_deg >= settings.min_spread_deg):
        method = EstimateMethod.TRIANGULATED
    solution = _solve_track(rays, method, camera, settings)
    if solution is None and method is EstimateMethod.TRIANGULATED:
        method = EstimateMethod.FLAT_GROUND
        solution = _solve_track(rays, method, camera, settings)
    if solution is not None and size is not None and on_ground:
        rays, solution = _refine_for_size(rays, solution, method, camera, size, width, height, settings)
    if solution is None:
        # no frame gives a range: the camera's position and the bearing are all there is
        i = len(headed) - 1
        lat, lon = plane.to_latlon(*rays.origin[i])
        location = Location(LocationStatus.CAMERA, lat, lon, bearing_deg=float(rays.bearings_deg[i] % 360.0),
                            n_views=len(headed))
        return TrackEstimate(location, EstimateMethod.CAMERA, geometry.n_views, 0, geometry.baseline_m,
                             geometry.spread_deg)
    return _geolocated(plane, rays, solution, method, settings, geometry)


def _refine_for_size(rays: Rays, solution: _Solution, method: EstimateMethod, camera: CameraModel,
                     size: ObjectSize, width: int, height: int,
                     settings: TriangulationSettings) -> tuple[Rays, _Solution]:
    """Take the offsets a box of ``size`` shows off the measured boxes, re-solve, until it settles."""
    probe = solution.point
    for _ in range(settings.size_iterations):
        feet, size_range, size_sigma = size_cues(rays, probe, camera, size, width, height, settings)
        corrected = with_feet(rays, feet, camera, width, height, settings, size_range, size_sigma)
        better = _solve_track(corrected, method, camera, settings, start=solution.point)
        if better is None:
            break
        step = better.point - probe
        rays, solution = corrected, better
        if float(np.hypot(*step)) < 0.01:
            break
        # plain rounds overshoot and oscillate (error x -0.6 per round); damped, they settle in a few
        probe = probe + _RELAXATION * step
    return rays, solution


def _solve_track(rays: Rays, method: EstimateMethod, camera: CameraModel, settings: TriangulationSettings,
                 start: Vec | None = None) -> _Solution | None:
    if method is EstimateMethod.TRIANGULATED:
        return _triangulate(rays, camera, settings, start)
    return _flat_ground(rays, settings)


@dataclass(frozen=True, slots=True)
class _Geometry:
    n_views: int
    baseline_m: float
    spread_deg: float


@dataclass(frozen=True, slots=True)
class _Solution:
    point: Vec       # (2,) east, north
    cov: Vec         # (2, 2)
    inliers: npt.NDArray[np.bool_]       # (n,) over all rays


def _diameter(xy: Vec) -> float:
    """Distance between the two farthest points (two sweeps: exact for a path that does not turn back)."""
    far = xy[int(np.argmax(np.hypot(*(xy - xy[0]).T)))]
    return float(np.max(np.hypot(*(xy - far).T)))


def _spread_deg(bearings: Vec) -> float:
    if len(bearings) == 0:
        return 0.0
    relative = (bearings - bearings[0] + 180.0) % 360.0 - 180.0
    return float(relative.max() - relative.min())


def _triangulate(rays: Rays, camera: CameraModel, settings: TriangulationSettings,
                 start: Vec | None = None) -> _Solution | None:
    """Robust weighted least squares of the ray crossings, with flat-ground ranges as priors.

    Minimises sum w_perp (n.(p-c))^2 + w_along (d.(p-c) - r)^2 over p (n the ray's normal, d its
    direction, c its origin, r its range): a 2x2 linear system per reweighting round.
    """
    keep = rays.bearing_ok
    origin, direction = rays.origin[keep], rays.direction[keep]
    normal = np.column_stack([direction[:, 1], -direction[:, 0]])
    has_range = np.isfinite(rays.range_m[keep]) & settings.use_range_prior
    ranges = np.where(has_range, rays.range_m[keep], 0.0)
    sigma_along = np.where(has_range, rays.range_sigma_m[keep], np.inf)
    sigma_theta, sigma_rel = math.radians(settings.bearing_sigma_deg), settings.relative_position_sigma_m
    # the parts of the normal equations that do not change between rounds
    perp_outer, along_outer = _outer_products(normal), _outer_products(direction)
    perp_rhs = normal * np.sum(normal * origin, axis=1)[:, None]
    along_rhs = direction * (np.sum(direction * origin, axis=1) + ranges)[:, None]

    def information(w_perp: Vec, w_along: Vec) -> Vec:
        a, b, c = w_perp @ perp_outer + w_along @ along_outer
        return np.array([[a, b], [b, c]])

    def solve(w_perp: Vec, w_along: Vec) -> Vec | None:
        info = information(w_perp, w_along)
        if not _well_conditioned(info, 1e10):
            return None
        r0, r1 = w_perp @ perp_rhs + w_along @ along_rhs
        (a, b), (_, c) = info
        det = a * c - b * b
        return np.array([(c * r0 - b * r1) / det, (a * r1 - b * r0) / det])

    def residuals(p: Vec) -> tuple[Vec, ...]:
        offset = p - origin
        along = np.sum(offset * direction, axis=1)
        # a bearing error moves the ray sideways in proportion to the distance along it
        sigma_perp = np.hypot(sigma_theta * np.maximum(np.abs(along), 1.0), sigma_rel)
        r_perp = np.sum(offset * normal, axis=1)
        r_along = np.where(has_range, along - ranges, 0.0)
        return along, r_perp, sigma_perp, r_along

    if start is None:
        # the robust flat-ground centre when there is one, else the plain crossing of the rays
        flat = _flat_ground(rays, settings)
        start = flat.point if flat is not None else solve(np.ones(len(origin)), np.zeros(len(origin)))
    point = start
    if point is None:
        return None
    for _ in range(settings.iterations):
        along, r_perp, sigma_perp, r_along = residuals(point)
        z = np.hypot(r_perp / sigma_perp, r_along / sigma_along)
        robust = 1.0 / (1.0 + (z / settings.cauchy_scale) ** 2)
        robust[along <= 0.0] = 0.0  # the object cannot be behind the camera that saw it
        new = solve(robust / sigma_perp**2, robust / sigma_along**2)
        if new is None:
            return None
        moved = float(np.hypot(*(new - point)))
        point = new
        if moved < 1e-4:
            break
    along, r_perp, sigma_perp, r_along = residuals(point)
    inliers = (np.hypot(r_perp / sigma_perp, r_along / sigma_along) < settings.outlier_sigmas) & (along > 0.0)
    if inliers.sum() < settings.min_views or np.min(along[inliers]) > camera.max_range_m:
        return None
    w_perp, w_along = inliers / sigma_perp**2, inliers / sigma_along**2
    info = information(w_perp, w_along)
    if not _well_conditioned(info, 1e8):
        return None
    cov: Vec = np.linalg.inv(info).astype(np.float64)
    chi2 = float(np.sum(w_perp * r_perp**2 + w_along * r_along**2))
    dof = int(inliers.sum() + (inliers & has_range).sum()) - 2
    if dof > 0:
        cov = cov * max(1.0, chi2 / dof)  # residuals larger than the model says: trust the residuals
    full = np.zeros(len(rays.origin), dtype=bool)
    full[np.flatnonzero(keep)[inliers]] = True
    return _Solution(point, cov, full)


def _outer_products(v: Vec) -> Vec:
    """Each row's outer product with itself as (xx, xy, yy)."""
    return np.column_stack([v[:, 0] ** 2, v[:, 0] * v[:, 1], v[:, 1] ** 2])


def _well_conditioned(info: Vec, limit: float) -> bool:
    """Whether a symmetric 2x2 information matrix is finite and its condition number below ``limit``."""
    if not np.all(np.isfinite(info)):
        return False
    half_trace = (info[0, 0] + info[1, 1]) / 2.0
    spread = math.hypot((info[0, 0] - info[1, 1]) / 2.0, info[0, 1])
    smallest, largest = half_trace - spread, half_trace + spread
    return smallest > 0.0 and largest < limit * smallest


def _flat_ground(rays: Rays, settings: TriangulationSettings) -> _Solution | None:
    """Robust centre of the per-frame ground points, weighted by their range-error model."""
    has_range = np.isfinite(rays.range_m)
    if not has_range.any():
        return None
    ranges = rays.range_m[has_range]
    ground = rays.origin[has_range] + rays.direction[has_range] * ranges[:, None]
    sigma_along = rays.range_sigma_m[has_range]
    sigma_theta, sigma_rel = math.radians(settings.bearing_sigma_deg), settings.relative_position_sigma_m
    sigma_perp = np.hypot(sigma_theta * ranges, sigma_rel)
    sigma = np.hypot(sigma_along, sigma_perp)
    centre = np.median(ground, axis=0)
    distance = np.hypot(*(ground - centre).T)
    inliers = distance <= np.maximum(settings.outlier_sigmas * sigma, 1.0)
    if not inliers.any():
        inliers = np.ones(len(ground), dtype=bool)
    weights = inliers / sigma**2
    centre = (ground * weights[:, None]).sum(axis=0) / weights.sum()
    # one frame's error model at the best range: the frames share the pitch and footprint errors
    best = int(np.argmin(np.where(inliers, sigma, np.inf)))
    variance = (sigma_along[best] ** 2 + sigma_perp[best] ** 2) / 2.0
    full = np.zeros(len(rays.origin), dtype=bool)
    full[np.flatnonzero(has_range)[inliers]] = True
    return _Solution(centre, np.eye(2) * variance, full)


def _geolocated(plane: LocalPlane, rays: Rays, solution: _Solution, method: EstimateMethod,
                settings: TriangulationSettings, geometry: _Geometry) -> TrackEstimate:
    point, cov, inliers = solution.point, solution.cov, solution.inliers
    lat, lon = plane.to_latlon(float(point[0]), float(point[1]))
    # report the bearing and range from the nearest camera position that agrees with the result
    offsets = point - rays.origin
    distances = np.hypot(*offsets.T)
    nearest = int(np.argmin(np.where(inliers, distances, np.inf)))
    bearing = math.degrees(math.atan2(offsets[nearest, 0], offsets[nearest, 1])) % 360.0
    uncertainty = math.sqrt(float(np.trace(cov)) + settings.gps_sigma_m**2)
    range_m = float(distances[nearest])
    location = Location(LocationStatus.GEOLOCATED, lat, lon, bearing_deg=bearing, range_m=range_m,
                        uncertainty_m=uncertainty, n_views=geometry.n_views)
    return TrackEstimate(location, method, geometry.n_views, int(inliers.sum()), geometry.baseline_m,
                         geometry.spread_deg)
