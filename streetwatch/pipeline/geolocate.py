"""Place an object on the map from one sighting: the camera's pose, offset by the object's
bearing (its pixel column and the field of view) and range (the bottom of its box, the
camera height and pitch, flat ground).

This single-view estimate is the fallback; multi-view triangulation along a track belongs
behind the same ``Location`` type.
"""

from __future__ import annotations

from collections.abc import Sequence

from streetwatch.core.geo import destination
from streetwatch.core.types import Location, LocationStatus, Pose
from streetwatch.vision.geometry import CameraModel


def locate_object(
    pose: Pose | None,
    camera: CameraModel,
    xyxy: Sequence[float],
    width: int,
    height: int,
) -> Location:
    """Estimate where the object in box ``xyxy`` (pixels of a ``width`` x ``height`` frame) stands.

    Args:
        pose: The camera's pose when the frame was taken, or None when GPS has no position
            for that time (no track, or inside a gap).
        camera: How the camera sits in the car.
        xyxy: The object's box.
        width: Frame width in pixels.
        height: Frame height in pixels.

    Returns:
        A geolocated position; the camera's own position when the object's range cannot be
        measured (box bottom above the horizon, or beyond the camera's useful range, or no
        heading); or "unknown" without a pose. Never a made-up point.
    """
    if pose is None:
        return Location(LocationStatus.UNKNOWN)
    x1, _y1, x2, y2 = (float(v) for v in xyxy)
    foot_x = (x1 + x2) / 2.0
    if pose.heading is None:
        return Location(LocationStatus.CAMERA, pose.lat, pose.lon)
    ground = camera.ground_point(foot_x, y2, width, height)
    if ground is None:
        bearing = (pose.heading + camera.bearing_offset_deg(foot_x, width)) % 360.0
        return Location(LocationStatus.CAMERA, pose.lat, pose.lon, bearing_deg=bearing)
    bearing = (pose.heading + ground.bearing_offset_deg) % 360.0
    lat, lon = destination(pose.lat, pose.lon, bearing, ground.range_m)
    return Location(LocationStatus.GEOLOCATED, lat, lon, bearing_deg=bearing, range_m=ground.range_m)
