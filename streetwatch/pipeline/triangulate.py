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

The heading between two 1 Hz fixes carries their noise over ~10 m (degrees); where the car
drives straight, the direction of travel is re-derived from a line fitted to the track's
positions over a few seconds.

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

from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.types import Location, LocationStatus, Pose, TrackPoint
from streetwatch.vision.geometry import CameraModel, ObjectSize

Vec = npt.NDArray[np.float64]
_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694_379_990_14e-3
_EDGE_PX = 1.0  # a box this close to the frame edge is cut by it
_RELAXATION = 0.6  # damping of the object-size correction rounds
_POINT = ObjectSize(0.0, 0.0, 0.0)  # its box is the pixel of its foot


@dataclass(frozen=True, slots=True)
class TriangulationSettings:
    """Thresholds and error model of the multi-view solve.

    Attributes:
        min_views: Fewest usable sightings to triangulate.
        min_baseline_m: Fewest metres between the camera positions of the sightings.
        min_spread_deg: Smallest change of bearing to the object across the sightings.
        bearing_sigma_deg: One sighting's bearing error (heading, box centre, vibration).
        pitch_sigma_deg: Pitch error (the car pitching, the road not flat): the main
            flat-ground range error, which grows with the square of the range.
        pixel_sigma_px: Error of the box bottom row.
        footprint_sigma_m: The box bottom is the object's near edge, not its centre.
        relative_position_sigma_m: GPS jitter between the frames of one track.
        gps_sigma_m: Absolute GPS error (horizontal RMS). More views do not shrink it, so it
            is added to every uncertainty.
        use_range_prior: Add the flat-ground ranges as soft priors to the triangulation.
        cauchy_scale: Residuals (in sigmas) beyond this are down-weighted.
        outlier_sigmas: Sightings off by more than this many sigmas at the end are outliers.
        iterations: Reweighting rounds.
        heading_window_s: Half-width of the time window for re-deriving the direction of
            travel from the positions; 0 keeps the poses' headings.
        heading_min_travel_m: Least distance travelled within the window to re-derive it.
        heading_max_off_line_m: Largest RMS distance of the window's positions from a straight
            line (more means a turn: the pose's heading stays).
        size_iterations: Rounds of the object-size correction (when a size is given).
        size_sigma_frac: How much real objects differ from their class's typical size.
    """

    min_views: int = 3
    min_baseline_m: float = 4.0
    min_spread_deg: float = 6.0
    bearing_sigma_deg: float = 1.5
    pitch_sigma_deg: float = 1.0
    pixel_sigma_px: float = 3.0
    footprint_sigma_m: float = 0.5
    relative_position_sigma_m: float = 0.3
    gps_sigma_m: float = 2.5
    use_range_prior: bool = True
    cauchy_scale: float = 2.5
    outlier_sigmas: float = 4.0
    iterations: int = 12
    heading_window_s: float = 2.0
    heading_min_travel_m: float = 8.0
    heading_max_off_line_m: float = 0.8
    size_iterations: int = 8
    size_sigma_frac: float = 0.15


DEFAULT_SETTINGS = TriangulationSettings()

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


@dataclass(frozen=True, slots=True)
class _Rays:
    """Usable sightings in the local plane (east, north metres), one row each."""

    origin: Vec      # (n, 2) camera positions
    heading_deg: Vec  # (n,) direction of travel
    boxes: Vec       # (n, 4) boxes as detected
    foot_px: Vec     # (n, 2) the pixel taken as the object's foot (measured, or corrected for its size)
    direction: Vec   # (n, 2) unit bearing vectors
    range_m: Vec     # (n,) range along the ray, NaN where unmeasurable
    range_sigma_m: Vec  # (n,) its error model
    bearing_ok: npt.NDArray[np.bool_]    # (n,) box not cut left/right: its centre is the object's
    range_ok: npt.NDArray[np.bool_]      # (n,) box not cut at the bottom: it shows the foot
    bearings_deg: Vec


class LocalPlane:
    """An east/north tangent plane in metres around one point (WGS84 radii of curvature there).

    Accurate to millimetres over the few hundred metres a track spans.
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
    rays = _build_rays(headed, camera, width, height, plane, settings, on_ground)
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


def _refine_for_size(rays: _Rays, solution: _Solution, method: EstimateMethod, camera: CameraModel,
                     size: ObjectSize, width: int, height: int,
                     settings: TriangulationSettings) -> tuple[_Rays, _Solution]:
    """Take the offsets a box of ``size`` shows off the measured boxes, re-solve, until it settles."""
    probe = solution.point
    for _ in range(settings.size_iterations):
        feet, size_range, size_sigma = _size_cues(rays, probe, camera, size, width, height, settings)
        corrected = _with_feet(rays, feet, camera, width, height, settings, size_range, size_sigma)
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


def _solve_track(rays: _Rays, method: EstimateMethod, camera: CameraModel, settings: TriangulationSettings,
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


def _build_rays(headed: Sequence[tuple[TrackPoint, Pose]], camera: CameraModel, width: int, height: int,
                plane: LocalPlane, settings: TriangulationSettings, on_ground: bool) -> _Rays:
    antenna = np.array([plane.to_en(pose.lat, pose.lon) for _, pose in headed])
    times = np.array([pose.t for _, pose in headed])
    given = np.array([pose.heading for _, pose in headed], dtype=np.float64)
    headings = _smoothed_headings(times, antenna, given, settings)
    origin = antenna + np.array([camera.lever_arm_en(float(h)) for h in headings])
    boxes = np.array([point.xyxy for point, _ in headed], dtype=np.float64)
    feet = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]])
    bearing_ok = (boxes[:, 0] > _EDGE_PX) & (boxes[:, 2] < width - _EDGE_PX)
    range_ok = (boxes[:, 3] < height - _EDGE_PX) & on_ground
    empty = np.empty(0)
    raw = _Rays(origin, headings, boxes, feet, empty, empty, empty, bearing_ok, range_ok, empty)
    return _with_feet(raw, feet, camera, width, height, settings)


def _with_feet(rays: _Rays, feet: Vec, camera: CameraModel, width: int, height: int,
               settings: TriangulationSettings, size_range: Vec | None = None,
               size_sigma: Vec | None = None) -> _Rays:
    """The rays through the given foot pixels: bearings from the columns, ranges from the rows (flat
    ground) and, when given, from the box heights (known size), combined by their error models."""
    offsets, ranges = camera.foot_rays_array(feet[:, 0], feet[:, 1], width, height)
    bearings = rays.heading_deg + offsets
    ranges[~rays.range_ok] = np.nan
    sigmas = _range_sigma(ranges, camera, camera.intrinsics(width, height).fy, settings)
    if size_range is not None and size_sigma is not None:
        # inverse-variance mean of the two ranges where both exist, else whichever exists
        w_ground = np.where(np.isfinite(ranges), 1.0 / sigmas**2, 0.0)
        w_size = np.where(np.isfinite(size_range), 1.0 / size_sigma**2, 0.0)
        total = w_ground + w_size
        with np.errstate(invalid="ignore", divide="ignore"):
            ranges = (np.nan_to_num(ranges) * w_ground + np.nan_to_num(size_range) * w_size) / total
            sigmas = 1.0 / np.sqrt(total)
        ranges[total == 0.0] = np.nan
    rad = np.radians(bearings)
    direction = np.column_stack([np.sin(rad), np.cos(rad)])
    return _Rays(rays.origin, rays.heading_deg, rays.boxes, feet, direction, ranges, sigmas, rays.bearing_ok,
                 rays.range_ok, bearings)


def _size_cues(rays: _Rays, point: Vec, camera: CameraModel, size: ObjectSize, width: int, height: int,
               settings: TriangulationSettings) -> tuple[Vec, Vec, Vec]:
    """What an object of ``size`` centred at ``point`` tells about each sighting.

    Returns:
        The measured feet minus the offset such a box shows from its centre's pixel; the range
        at which such a box would be as tall as the measured one (NaN where a box is cut at the
        top or bottom); and that range's error.
    """
    boxes = rays.boxes
    feet = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]])
    size_range = np.full(len(feet), np.nan)
    rad = np.radians(rays.heading_deg)
    offset = point - rays.origin
    forward = offset[:, 0] * np.sin(rad) + offset[:, 1] * np.cos(rad)
    right = offset[:, 0] * np.cos(rad) - offset[:, 1] * np.sin(rad)
    measured_height = boxes[:, 3] - boxes[:, 1]
    height_ok = rays.range_ok & (boxes[:, 1] > _EDGE_PX) & (measured_height > 1.0)
    predicted = camera.box_pixels_array(forward, right, size, width, height)
    centre = camera.box_pixels_array(forward, right, _POINT, width, height)[:, 2:]  # the centre's foot pixel
    known = np.isfinite(predicted[:, 0]) & np.isfinite(centre[:, 0])  # else the car is passing it
    clipped = np.clip(predicted, 0.0, [width, height, width, height])  # as the detector's box is
    shift = np.column_stack([(clipped[:, 0] + clipped[:, 2]) / 2.0 - centre[:, 0],
                             clipped[:, 3] - centre[:, 1]])
    feet[known] -= shift[known]
    usable = known & height_ok & (size.height_m > 0.0)
    # an object's image height scales as one over its distance
    scaled = np.hypot(forward, right) * (predicted[:, 3] - predicted[:, 1]) / measured_height
    size_range[usable] = scaled[usable]
    relative = np.hypot(settings.size_sigma_frac, settings.pixel_sigma_px * math.sqrt(2.0) / measured_height)
    return feet, size_range, np.nan_to_num(size_range, nan=1.0) * relative


def _smoothed_headings(times: Vec, antenna: Vec, headings: Vec, settings: TriangulationSettings) -> Vec:
    """Direction of travel from a straight-line fit of the positions within a few seconds of each sighting.

    A heading from two consecutive 1 Hz fixes carries their noise over ~10 m: degrees. Over a
    longer straight stretch the same noise matters less. Where the positions within the window do
    not lie on a line (a turn) or barely move (a stop), the pose's own heading stays.
    """
    if settings.heading_window_s <= 0.0 or len(times) < 3:
        return headings
    order = np.argsort(times, kind="stable")
    t, xy = times[order] - times.min(), antenna[order]
    # windowed least squares from running sums: O(n) for a track of any length
    def running(values: Vec) -> Vec:
        return np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])

    sums = [running(v) for v in (np.ones_like(t), t, t * t, xy, xy * t[:, None], xy * xy)]
    lo = np.searchsorted(t, t - settings.heading_window_s, side="left")
    hi = np.searchsorted(t, t + settings.heading_window_s, side="right")
    n, s_t, s_tt, s_x, s_tx, s_xx = (total[hi] - total[lo] for total in sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_t, mean_x = s_t / n, s_x / n[:, None]
        var_t = s_tt / n - mean_t**2
        cov_tx = s_tx / n[:, None] - mean_t[:, None] * mean_x
        velocity = cov_tx / var_t[:, None]  # least-squares slope of east and north against time
        off_line = np.sum(s_xx / n[:, None] - mean_x**2 - velocity * cov_tx, axis=1)
        travelled = np.hypot(*velocity.T) * (t[hi - 1] - t[lo])
        usable = ((n >= 3) & (var_t > 1e-9) & (travelled >= settings.heading_min_travel_m)
                  & (np.sqrt(np.maximum(off_line, 0.0)) <= settings.heading_max_off_line_m))
    out = headings.copy()
    out[order[usable]] = np.degrees(np.arctan2(velocity[usable, 0], velocity[usable, 1])) % 360.0
    return out


def _diameter(xy: Vec) -> float:
    """Distance between the two farthest points (two sweeps: exact for a path that does not turn back)."""
    far = xy[int(np.argmax(np.hypot(*(xy - xy[0]).T)))]
    return float(np.max(np.hypot(*(xy - far).T)))


def _spread_deg(bearings: Vec) -> float:
    if len(bearings) == 0:
        return 0.0
    relative = (bearings - bearings[0] + 180.0) % 360.0 - 180.0
    return float(relative.max() - relative.min())


def _range_sigma(range_m: Vec, camera: CameraModel, fy: float,
                 settings: TriangulationSettings) -> Vec:
    """Flat-ground range error: an angle error below the horizon times r^2 / h, plus the footprint."""
    angle = math.hypot(math.radians(settings.pitch_sigma_deg), settings.pixel_sigma_px / fy)
    return np.hypot(range_m**2 / camera.mount_height_m * angle, settings.footprint_sigma_m)


def _triangulate(rays: _Rays, camera: CameraModel, settings: TriangulationSettings,
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


def _flat_ground(rays: _Rays, settings: TriangulationSettings) -> _Solution | None:
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


def _geolocated(plane: LocalPlane, rays: _Rays, solution: _Solution, method: EstimateMethod,
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
