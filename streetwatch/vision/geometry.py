"""Image geometry: from a pixel to a bearing and a range on flat ground, and back.

The camera is a pinhole looking forward from ``mount_height_m`` above a flat road, tilted
down by ``pitch_deg`` and turned ``yaw_offset_deg`` from the direction of travel. Camera
axes: x right, y down, z forward. A pixel defines a ray; where that ray meets the ground
is the object's footprint. Pixels at or above the horizon have no footprint.

Intrinsics come either from the horizontal field of view (square pixels, principal point at
the image centre) or from a calibration (``fx_px``, ``fy_px``, ``cx_px``, ``cy_px``, measured
at ``calibration_width`` x ``calibration_height`` and scaled to the decoded frame size). Lens
distortion is not modelled: undistort first, or expect bearing errors towards the frame edges.

Vehicle axes (used for the lever arm and ``project``): forward along the direction of travel,
right, up. The lever arm is where the camera sits relative to the GPS antenna.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class GroundPoint:
    """Where a pixel's ray meets the ground, relative to the camera.

    Attributes:
        forward_m: Distance ahead of the camera along the vehicle's direction of travel.
        right_m: Distance to the right of that direction.
        range_m: Horizontal distance from the camera.
        bearing_offset_deg: Angle from the vehicle's direction of travel, clockwise positive.
    """

    forward_m: float
    right_m: float
    range_m: float
    bearing_offset_deg: float


@dataclass(frozen=True, slots=True)
class ObjectSize:
    """Typical size of an upright object class, in metres, its length along the direction of travel
    (a car parked at the kerb is 4.5 m long, 1.8 m wide, 1.5 m high)."""

    length_m: float
    width_m: float
    height_m: float

    def __post_init__(self) -> None:
        for name in ("length_m", "width_m", "height_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number of metres >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class Intrinsics:
    """Pinhole intrinsics for one frame size, in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float


@dataclass(frozen=True, slots=True)
class CameraModel:
    """A forward-looking dashcam in a car.

    Attributes:
        hfov_deg: Horizontal field of view; gives the focal length when no calibration is set.
        mount_height_m: Lens height above the road (flat-ground ranging).
        pitch_deg: Downward tilt of the optical axis.
        yaw_offset_deg: Camera yaw from the direction of travel, clockwise positive.
        max_range_m: Ground points farther than this are refused.
        fx_px: Calibrated horizontal focal length, pixels at the calibration size.
        fy_px: Calibrated vertical focal length; defaults to ``fx_px``.
        cx_px: Calibrated principal point column; defaults to the image centre.
        cy_px: Calibrated principal point row; defaults to the image centre.
        calibration_width: Frame width the calibration was made at; None means the decoded size.
        calibration_height: Frame height the calibration was made at; None means the decoded size.
        lever_forward_m: Camera position ahead of the GPS antenna.
        lever_right_m: Camera position to the right of the GPS antenna.
        lever_up_m: Camera position above the GPS antenna. Kept for 3-D uses; flat-ground
            ranging uses ``mount_height_m``, the camera's own height above the road.
    """

    hfov_deg: float = 100.0
    mount_height_m: float = 1.3
    pitch_deg: float = 5.0
    yaw_offset_deg: float = 0.0
    max_range_m: float = 80.0
    fx_px: float | None = None
    fy_px: float | None = None
    cx_px: float | None = None
    cy_px: float | None = None
    calibration_width: int | None = None
    calibration_height: int | None = None
    lever_forward_m: float = 0.0
    lever_right_m: float = 0.0
    lever_up_m: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be within (0, 180), got {self.hfov_deg}")
        if self.mount_height_m <= 0.0:
            raise ValueError(f"mount_height_m must be positive, got {self.mount_height_m}")
        for name in ("fx_px", "fy_px"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number of pixels, got {value}")
        if self.fx_px is None and any(v is not None for v in (self.fy_px, self.cx_px, self.cy_px)):
            raise ValueError("fy_px, cx_px and cy_px need fx_px: give fx_px too, or none of them "
                             "(then hfov_deg gives the focal length)")
        if (self.calibration_width is None) != (self.calibration_height is None):
            raise ValueError(f"give calibration_width and calibration_height together, got "
                             f"{self.calibration_width} x {self.calibration_height}")
        for name in ("calibration_width", "calibration_height"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive number of pixels, got {value}")

    def intrinsics(self, width: int, height: int) -> Intrinsics:
        """Focal lengths and principal point for a frame of ``width`` x ``height`` pixels."""
        if self.fx_px is None:
            f = (width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)
            return Intrinsics(f, f, width / 2.0, height / 2.0)
        calib_w = self.calibration_width or width
        calib_h = self.calibration_height or height
        sx, sy = width / calib_w, height / calib_h  # a resized frame scales the calibration
        fy = self.fy_px if self.fy_px is not None else self.fx_px
        cx = self.cx_px if self.cx_px is not None else calib_w / 2.0
        cy = self.cy_px if self.cy_px is not None else calib_h / 2.0
        return Intrinsics(self.fx_px * sx, fy * sy, cx * sx, cy * sy)

    def focal_px(self, width: int) -> float:
        """Horizontal focal length in pixels for frames ``width`` pixels wide."""
        return self._horizontal(width)[0]

    def bearing_offset_deg(self, x_px: float, width: int) -> float:
        """Angle of a pixel column from the direction of travel (clockwise positive), pitch ignored."""
        fx, cx = self._horizontal(width)
        return self.yaw_offset_deg + math.degrees(math.atan2(x_px - cx, fx))

    def ray_bearing_offset_deg(self, x_px: float, y_px: float, width: int, height: int) -> float:
        """Horizontal direction of the ray through pixel (x, y), from the direction of travel.

        Unlike ``bearing_offset_deg`` this accounts for the pitch: off the image centre, a
        pitched camera's columns are not vertical planes through the lens. Defined for any
        pixel, above the horizon too.
        """
        k = self.intrinsics(width, height)
        xn, yn = (x_px - k.cx) / k.fx, (y_px - k.cy) / k.fy
        pitch = math.radians(self.pitch_deg)
        forward = math.cos(pitch) - yn * math.sin(pitch)
        return self.yaw_offset_deg + math.degrees(math.atan2(xn, forward))

    def ground_point(self, x_px: float, y_px: float, width: int, height: int) -> GroundPoint | None:
        """Intersect the ray through pixel (x, y) with the ground.

        Returns None for pixels at or above the horizon, or farther than ``max_range_m``
        (where a pixel's error spans tens of metres and flat-ground ranging means nothing).
        """
        k = self.intrinsics(width, height)
        xn, yn = (x_px - k.cx) / k.fx, (y_px - k.cy) / k.fy
        pitch = math.radians(self.pitch_deg)
        # The ray (xn, yn, 1) rotated by the downward pitch, in (forward, right, down) axes.
        forward = math.cos(pitch) - yn * math.sin(pitch)
        down = math.sin(pitch) + yn * math.cos(pitch)
        if down <= 1e-6:
            return None
        scale = self.mount_height_m / down
        fwd_m, right_m = forward * scale, xn * scale
        if fwd_m <= 0.0:
            return None
        yaw = math.radians(self.yaw_offset_deg)
        fwd_m, right_m = (fwd_m * math.cos(yaw) - right_m * math.sin(yaw),
                          fwd_m * math.sin(yaw) + right_m * math.cos(yaw))
        range_m = math.hypot(fwd_m, right_m)
        if range_m > self.max_range_m:
            return None
        return GroundPoint(fwd_m, right_m, range_m, math.degrees(math.atan2(right_m, fwd_m)))

    def project(self, forward_m: float, right_m: float, up_m: float, width: int,
                height: int) -> tuple[float, float] | None:
        """The pixel where a point seen from the camera lands: the inverse of ``ground_point``.

        Args:
            forward_m: Point ahead of the camera, along the direction of travel.
            right_m: Point to the right of the camera.
            up_m: Point above the camera (a point on the road has ``-mount_height_m``).
            width: Frame width in pixels.
            height: Frame height in pixels.

        Returns:
            ``(x_px, y_px)``, possibly outside the frame; None for points behind the lens.
        """
        yaw = math.radians(self.yaw_offset_deg)
        # undo the yaw (transpose of the rotation in ground_point), then the pitch
        fwd = forward_m * math.cos(yaw) + right_m * math.sin(yaw)
        right = -forward_m * math.sin(yaw) + right_m * math.cos(yaw)
        down = -up_m
        pitch = math.radians(self.pitch_deg)
        z = fwd * math.cos(pitch) + down * math.sin(pitch)
        y = -fwd * math.sin(pitch) + down * math.cos(pitch)
        if z <= 1e-6:
            return None
        k = self.intrinsics(width, height)
        return k.cx + k.fx * right / z, k.cy + k.fy * y / z

    def box_pixels(self, forward_m: float, right_m: float, size: ObjectSize, width: int,
                   height: int) -> tuple[float, float, float, float] | None:
        """The pixel box (x1, y1, x2, y2) of an upright object standing on the road.

        Args:
            forward_m: The object's centre ahead of the camera, along the direction of travel.
            right_m: The object's centre to the right of the camera.
            size: The object's size; its length lies along the direction of travel.
            width: Frame width in pixels.
            height: Frame height in pixels.

        Returns:
            The box around its eight projected corners, not clipped to the frame; None when a
            corner is behind the lens (the car is passing it).
        """
        box = self.box_pixels_array(np.array([forward_m]), np.array([right_m]), size, width, height)[0]
        if np.isnan(box[0]):
            return None
        return float(box[0]), float(box[1]), float(box[2]), float(box[3])

    def box_pixels_array(self, forward_m: npt.NDArray[np.float64], right_m: npt.NDArray[np.float64],
                         size: ObjectSize, width: int, height: int) -> npt.NDArray[np.float64]:
        """``box_pixels`` for many object positions at once: an (n, 4) array, NaN rows where None."""
        half_l, half_w = size.length_m / 2.0, size.width_m / 2.0
        corner_f = np.array([-half_l, -half_l, -half_l, -half_l, half_l, half_l, half_l, half_l])
        corner_r = np.array([-half_w, -half_w, half_w, half_w, -half_w, -half_w, half_w, half_w])
        corner_up = np.array([0.0, size.height_m] * 4) - self.mount_height_m
        xs, ys = self.project_array(np.asarray(forward_m, dtype=np.float64)[:, None] + corner_f,
                                    np.asarray(right_m, dtype=np.float64)[:, None] + corner_r,
                                    np.broadcast_to(corner_up, (len(forward_m), 8)), width, height)
        # a NaN corner (behind the lens) makes its whole box NaN
        return np.column_stack([xs.min(axis=1), ys.min(axis=1), xs.max(axis=1), ys.max(axis=1)])

    def project_array(self, forward_m: npt.NDArray[np.float64], right_m: npt.NDArray[np.float64],
                      up_m: npt.NDArray[np.float64], width: int,
                      height: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``project`` for arrays of points (any one shape): (x, y) pixels, NaN behind the lens."""
        yaw, pitch = math.radians(self.yaw_offset_deg), math.radians(self.pitch_deg)
        fwd = forward_m * math.cos(yaw) + right_m * math.sin(yaw)
        right = -forward_m * math.sin(yaw) + right_m * math.cos(yaw)
        down = -np.asarray(up_m, dtype=np.float64)
        z = fwd * math.cos(pitch) + down * math.sin(pitch)
        y = -fwd * math.sin(pitch) + down * math.cos(pitch)
        ahead = z > 1e-6
        z = np.where(ahead, z, np.nan)
        k = self.intrinsics(width, height)
        return k.cx + k.fx * right / z, k.cy + k.fy * y / z

    def foot_rays_array(self, x_px: npt.NDArray[np.float64], y_px: npt.NDArray[np.float64], width: int,
                        height: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """For many pixels at once: ``ray_bearing_offset_deg``, and the ``ground_point`` range (NaN where
        ``ground_point`` gives None)."""
        k = self.intrinsics(width, height)
        xn, yn = (np.asarray(x_px) - k.cx) / k.fx, (np.asarray(y_px) - k.cy) / k.fy
        pitch = math.radians(self.pitch_deg)
        forward = math.cos(pitch) - yn * math.sin(pitch)
        down = math.sin(pitch) + yn * math.cos(pitch)
        bearing = self.yaw_offset_deg + np.degrees(np.arctan2(xn, forward))
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(down > 1e-6, self.mount_height_m / down, np.nan)
        ranges = np.hypot(forward * scale, xn * scale)  # the yaw turns the ground point, not its range
        ranges[~((forward * scale > 0.0) & (ranges <= self.max_range_m))] = np.nan
        return bearing, ranges

    def lever_arm_en(self, heading_deg: float) -> tuple[float, float]:
        """The camera's horizontal offset from the GPS antenna as (east, north) metres.

        Args:
            heading_deg: The vehicle's direction of travel, clockwise from north.
        """
        h = math.radians(heading_deg)
        east = self.lever_forward_m * math.sin(h) + self.lever_right_m * math.cos(h)
        north = self.lever_forward_m * math.cos(h) - self.lever_right_m * math.sin(h)
        return east, north

    def _horizontal(self, width: int) -> tuple[float, float]:
        """(fx, cx) for a frame ``width`` pixels wide; the height does not matter for them."""
        if self.fx_px is None:
            return (width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0), width / 2.0
        calib_w = self.calibration_width or width
        sx = width / calib_w
        cx = self.cx_px if self.cx_px is not None else calib_w / 2.0
        return self.fx_px * sx, cx * sx


def median_lateral_m(camera: CameraModel, boxes: Sequence[tuple[float, float, float, float]], width: int,
                     height: int, max_range_m: float = 30.0) -> float | None:
    """How far right (+) or left (-) of the camera's line of travel an object stands: the median
    over its sightings of the flat-ground point under its box's bottom centre (within
    ``max_range_m``, where ranging is sound). None when no sighting is ranged. Needs no GPS."""
    rights = [g.right_m for x1, _, x2, y2 in boxes
              if (g := camera.ground_point((x1 + x2) / 2.0, y2, width, height)) is not None
              and g.range_m <= max_range_m]
    return float(np.median(rights)) if rights else None


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 when they do not overlap."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
