"""Sight rays: a track's sightings as bearing rays with ranges in the local plane, and the error
model that weighs them (the thresholds and errors of :mod:`streetwatch.pipeline.triangulate`).

Each sighting is a ray from where the camera was (GPS antenna + lever arm) in the direction
``heading + pixel bearing``, with a flat-ground range from the box bottom and, when the class's
typical size is known, a range from the box height, combined by their error models. The
direction of travel is re-derived from the positions over a few seconds where the car drives
straight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetwatch.core.geo import LocalPlane
from streetwatch.core.types import Pose, TrackPoint
from streetwatch.vision.geometry import CameraModel, ObjectSize

Vec = npt.NDArray[np.float64]
EDGE_PX = 1.0  # a box this close to the frame edge is cut by it
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

@dataclass(frozen=True, slots=True)
class Rays:
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


def build_rays(headed: Sequence[tuple[TrackPoint, Pose]], camera: CameraModel, width: int, height: int,
                plane: LocalPlane, settings: TriangulationSettings, on_ground: bool) -> Rays:
    antenna = np.array([plane.to_en(pose.lat, pose.lon) for _, pose in headed])
    times = np.array([pose.t for _, pose in headed])
    given = np.array([pose.heading for _, pose in headed], dtype=np.float64)
    headings = smoothed_headings(times, antenna, given, settings)
    origin = antenna + np.array([camera.lever_arm_en(float(h)) for h in headings])
    boxes = np.array([point.xyxy for point, _ in headed], dtype=np.float64)
    feet = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]])
    bearing_ok = (boxes[:, 0] > EDGE_PX) & (boxes[:, 2] < width - EDGE_PX)
    range_ok = (boxes[:, 3] < height - EDGE_PX) & on_ground
    empty = np.empty(0)
    raw = Rays(origin, headings, boxes, feet, empty, empty, empty, bearing_ok, range_ok, empty)
    return with_feet(raw, feet, camera, width, height, settings)


def with_feet(rays: Rays, feet: Vec, camera: CameraModel, width: int, height: int,
               settings: TriangulationSettings, size_range: Vec | None = None,
               size_sigma: Vec | None = None) -> Rays:
    """The rays through the given foot pixels: bearings from the columns, ranges from the rows (flat
    ground) and, when given, from the box heights (known size), combined by their error models."""
    offsets, ranges = camera.foot_rays_array(feet[:, 0], feet[:, 1], width, height)
    bearings = rays.heading_deg + offsets
    ranges[~rays.range_ok] = np.nan
    sigmas = range_sigma(ranges, camera, camera.intrinsics(width, height).fy, settings)
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
    return Rays(rays.origin, rays.heading_deg, rays.boxes, feet, direction, ranges, sigmas, rays.bearing_ok,
                 rays.range_ok, bearings)


def size_cues(rays: Rays, point: Vec, camera: CameraModel, size: ObjectSize, width: int, height: int,
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
    height_ok = rays.range_ok & (boxes[:, 1] > EDGE_PX) & (measured_height > 1.0)
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


def smoothed_headings(times: Vec, antenna: Vec, headings: Vec, settings: TriangulationSettings) -> Vec:
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


def range_sigma(range_m: Vec, camera: CameraModel, fy: float,
                 settings: TriangulationSettings) -> Vec:
    """Flat-ground range error: an angle error below the horizon times r^2 / h, plus the footprint."""
    angle = math.hypot(math.radians(settings.pitch_sigma_deg), settings.pixel_sigma_px / fy)
    return np.hypot(range_m**2 / camera.mount_height_m * angle, settings.footprint_sigma_m)
