"""Image geometry: from a pixel to a bearing and a range on flat ground.

The camera is a pinhole looking forward from ``mount_height_m`` above a flat road, tilted
down by ``pitch_deg`` and turned ``yaw_offset_deg`` from the direction of travel. Camera
axes: x right, y down, z forward. A pixel defines a ray; where that ray meets the ground
is the object's footprint. Pixels at or above the horizon have no footprint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GroundPoint:
    """Where a pixel's ray meets the ground, relative to the camera.

    Attributes:
        forward_m: Distance ahead of the camera along its (yawed) viewing direction.
        right_m: Distance to the right of that direction.
        range_m: Horizontal distance from the camera.
        bearing_offset_deg: Angle from the vehicle's direction of travel, clockwise positive.
    """

    forward_m: float
    right_m: float
    range_m: float
    bearing_offset_deg: float


@dataclass(frozen=True, slots=True)
class CameraModel:
    """A forward-looking dashcam with square pixels and its principal point at the image centre."""

    hfov_deg: float = 100.0
    mount_height_m: float = 1.3
    pitch_deg: float = 5.0
    yaw_offset_deg: float = 0.0
    max_range_m: float = 80.0

    def __post_init__(self) -> None:
        if not 0.0 < self.hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be within (0, 180), got {self.hfov_deg}")
        if self.mount_height_m <= 0.0:
            raise ValueError(f"mount_height_m must be positive, got {self.mount_height_m}")

    def focal_px(self, width: int) -> float:
        return (width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    def bearing_offset_deg(self, x_px: float, width: int) -> float:
        """Angle of a pixel column from the direction of travel (clockwise positive)."""
        return self.yaw_offset_deg + math.degrees(math.atan2(x_px - width / 2.0, self.focal_px(width)))

    def ground_point(self, x_px: float, y_px: float, width: int, height: int) -> GroundPoint | None:
        """Intersect the ray through pixel (x, y) with the ground.

        Returns None for pixels at or above the horizon, or farther than ``max_range_m``
        (where a pixel's error spans tens of metres and flat-ground ranging means nothing).
        """
        f = self.focal_px(width)
        xn = (x_px - width / 2.0) / f
        yn = (y_px - height / 2.0) / f
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
