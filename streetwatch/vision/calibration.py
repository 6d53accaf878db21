"""A dashcam that calibrates itself: pitch from the horizon, mounting height from vehicle widths.

Why: flat-ground ranging needs the camera's pitch and height above the road. Few users measure
them, and a dashcam's mount is bumped and re-aimed; a wrong pitch of 2 degrees moves a car 10 m
away by a metre or more. The footage itself tells both.

How:
- **Pitch.** Driving straight on a flat road, the background flows out of the focus of expansion
  (the image of the direction of travel), which lies on the horizon. The median row of the
  per-frame-pair foci is the horizon row ``y_h``; a pinhole tilted down by ``p`` puts the horizon
  at ``y_h = cy - fy tan p``, so ``p = atan((cy - y_h) / fy)``.
- **Height.** A vehicle seen from behind or ahead (its box near the focus of expansion's column)
  shows its width ``W`` (the taxonomy's typical width) across ``w`` pixels at the depth of its
  near face, whose bottom edge is the box's foot row ``y``. For a ground point at normalised row
  ``yn = (y - cy) / fy`` the camera-axis depth is ``z = h / (sin p + yn cos p)``, and
  ``w = fx W / z``, so ``h = fx W (sin p + yn cos p) / w``. Each track gives the median of its
  sightings (sightings of one vehicle are not independent); the estimate is the median over tracks.

Uncertainties are the standard error of the median (1.25 x 1.4826 x MAD / sqrt(n)), plus a
floor for what the data cannot show (slopes, a road that bends), and for the height the pitch's
uncertainty carried through. An estimate is *confident* when it has enough samples and a small
uncertainty; otherwise the configured or default camera is used (see :func:`choose_camera`).

Not handled: camera roll, lens distortion, footage that never drives straight (a handheld walk:
the foci scatter and the pitch stays unconfident), a camera that is re-aimed within a video.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streetwatch.vision.geometry import CameraModel

Box = tuple[float, float, float, float]
CameraSource = Literal["configured", "estimated", "default"]

MEDIAN_SE = 1.25 * 1.4826   # standard error of a median, per MAD / sqrt(n), for normal samples
MAX_FOCI = 3000              # foci kept (10 min of frame pairs at 5 fps): memory stays bounded
MAX_SIGHTINGS_PER_TRACK = 30
MAX_TRACKS = 2000


@dataclass(frozen=True, slots=True)
class CalibrationConfig:
    """When an estimate is trusted, and which vehicle boxes it uses.

    Attributes:
        min_foci: Frame pairs with a focus of expansion needed for a pitch.
        max_pitch_sigma_deg: A pitch less certain than this is not used.
        pitch_floor_deg: Uncertainty no amount of footage removes (road slope, bends).
        min_height_tracks: Vehicle tracks seen end-on needed for a height.
        max_height_sigma_m: A height less certain than this is not used.
        height_floor_m: Uncertainty floor of the height (vehicle widths differ from the typical).
        centre_band: A box counts as end-on when its centre is within this many box widths of the
            focus of expansion's column (a vehicle within ~1 m of the camera's line of travel:
            its side adds little to its box width).
        min_box_px: Narrower boxes are too coarse to measure a width.
        aspect_range: Width / height range of end-on vehicle boxes (a car from behind ~1.2).
        edge_px: Boxes this close to the frame edge are cut, not measured.
    """

    min_foci: int = 15
    max_pitch_sigma_deg: float = 1.0
    pitch_floor_deg: float = 0.3
    min_height_tracks: int = 3
    max_height_sigma_m: float = 0.25
    height_floor_m: float = 0.05
    centre_band: float = 0.6
    min_box_px: float = 16.0
    aspect_range: tuple[float, float] = (0.6, 2.0)
    edge_px: float = 2.0


@dataclass(frozen=True, slots=True)
class CalibrationEstimate:
    """What the footage says about the camera; None where it says too little.

    Attributes:
        pitch_deg: Downward tilt, or None without enough foci.
        pitch_sigma_deg: Its one-sigma uncertainty.
        horizon_row_px: The median focus-of-expansion row.
        mount_height_m: Lens height above the road, or None without enough end-on vehicles.
        mount_height_sigma_m: Its one-sigma uncertainty.
        foci: Frame pairs with a focus of expansion.
        height_tracks: Vehicle tracks that measured the height.
        config: The thresholds the estimate is judged by.
    """

    pitch_deg: float | None
    pitch_sigma_deg: float | None
    horizon_row_px: float | None
    mount_height_m: float | None
    mount_height_sigma_m: float | None
    foci: int
    height_tracks: int
    config: CalibrationConfig = CalibrationConfig()

    @property
    def pitch_confident(self) -> bool:
        return (self.pitch_deg is not None and self.pitch_sigma_deg is not None
                and self.foci >= self.config.min_foci and self.pitch_sigma_deg <= self.config.max_pitch_sigma_deg)

    @property
    def height_confident(self) -> bool:
        return (self.mount_height_m is not None and self.mount_height_sigma_m is not None
                and self.height_tracks >= self.config.min_height_tracks
                and self.mount_height_sigma_m <= self.config.max_height_sigma_m)


@dataclass(frozen=True, slots=True)
class CameraChoice:
    """The camera a video was located with, and where its pitch and height came from.

    Attributes:
        camera: The camera model used.
        source: ``configured`` when every value used was set by the user, ``estimated`` when any
            came from the footage, ``default`` otherwise.
        pitch_source: Where the pitch came from.
        height_source: Where the mounting height came from.
        pitch_sigma_deg: The pitch's uncertainty when estimated, else None (unknown).
        mount_height_sigma_m: The height's uncertainty when estimated, else None.
        note: One line for a person: what was estimated from how much, and what was not, and why.
    """

    camera: CameraModel
    source: CameraSource
    pitch_source: CameraSource
    height_source: CameraSource
    pitch_sigma_deg: float | None
    mount_height_sigma_m: float | None
    note: str


def pitch_from_horizon(horizon_row_px: float, camera: CameraModel, width: int, height: int) -> float:
    """The downward pitch (degrees) that puts the horizon at ``horizon_row_px``."""
    k = camera.intrinsics(width, height)
    return math.degrees(math.atan2(k.cy - horizon_row_px, k.fy))


def height_from_width(box: Box, width_m: float, pitch_deg: float, camera: CameraModel, width: int,
                      height: int) -> float | None:
    """The lens height (m) at which an end-on object ``width_m`` wide standing at the box's foot row
    spans the box's width; None for a foot row at or above the horizon."""
    k = camera.intrinsics(width, height)
    box_w = box[2] - box[0]
    if box_w <= 0.0:
        return None
    pitch = math.radians(pitch_deg)
    yn = (box[3] - k.cy) / k.fy
    down = math.sin(pitch) + yn * math.cos(pitch)
    if down <= 1e-6:
        return None
    return k.fx * width_m * down / box_w


def _robust(values: Iterable[float]) -> tuple[float, float, int]:
    """(median, standard error of the median, n)."""
    arr = np.asarray(list(values), dtype=np.float64)
    median = float(np.median(arr))
    mad = float(np.median(np.abs(arr - median)))
    return median, MEDIAN_SE * mad / math.sqrt(len(arr)), len(arr)


class SelfCalibration:
    """Gathers the evidence of one video: foci of expansion and end-on vehicle boxes.

    Args:
        config: Thresholds.
    """

    def __init__(self, config: CalibrationConfig | None = None) -> None:
        self.config = config or CalibrationConfig()
        self._foci: list[tuple[float, float]] = []
        self._boxes: dict[Hashable, list[tuple[Box, float]]] = {}
        self._size = (0, 0)

    def add_focus(self, focus_xy: tuple[float, float]) -> None:
        """One frame pair's focus of expansion (original pixels)."""
        if len(self._foci) < MAX_FOCI:
            self._foci.append((float(focus_xy[0]), float(focus_xy[1])))

    def add_box(self, key: Hashable, box: Box, width_m: float, frame_width: int, frame_height: int) -> None:
        """One sighting of a vehicle of typical width ``width_m``; ``key`` names its track."""
        self._size = (frame_width, frame_height)
        if key not in self._boxes and len(self._boxes) >= MAX_TRACKS:
            return
        sightings = self._boxes.setdefault(key, [])
        if len(sightings) < MAX_SIGHTINGS_PER_TRACK:
            sightings.append((box, width_m))

    def estimate(self, camera: CameraModel, width: int | None = None, height: int | None = None) -> CalibrationEstimate:
        """The estimate from everything gathered so far, for frames of ``width`` x ``height``."""
        width, height = width or self._size[0], height or self._size[1]
        cfg = self.config
        inside = [(x, y) for x, y in self._foci if 0.0 <= x <= width and 0.0 <= y <= height]
        if not inside or width <= 0 or height <= 0:
            return CalibrationEstimate(None, None, None, None, None, len(inside), 0, cfg)
        foe_x = float(np.median([x for x, _ in inside]))
        row, row_se, n = _robust(y for _, y in inside)
        pitch = pitch_from_horizon(row, camera, width, height)
        spread = abs(pitch_from_horizon(row - row_se, camera, width, height) - pitch)
        pitch_sigma = math.hypot(spread, cfg.pitch_floor_deg)
        per_track: list[float] = []
        slopes: list[float] = []
        for sightings in self._boxes.values():
            heights = [h for box, w_m in sightings if self._end_on(box, foe_x, width, height)
                       and (h := height_from_width(box, w_m, pitch, camera, width, height)) is not None]
            if heights:
                h_track = float(np.median(heights))
                per_track.append(h_track)
                # d h / d pitch at this track's rows: the pitch's uncertainty carried into the height
                up = [h for box, w_m in sightings if self._end_on(box, foe_x, width, height)
                      and (h := height_from_width(box, w_m, pitch + 0.1, camera, width, height)) is not None]
                if up:
                    slopes.append((float(np.median(up)) - h_track) / 0.1)
        if not per_track:
            return CalibrationEstimate(pitch, pitch_sigma, row, None, None, n, 0, cfg)
        mount, mount_se, tracks = _robust(per_track)
        carried = abs(float(np.median(slopes))) * pitch_sigma if slopes else 0.0
        mount_sigma = math.sqrt(mount_se**2 + carried**2 + cfg.height_floor_m**2)
        return CalibrationEstimate(pitch, pitch_sigma, row, mount, mount_sigma, n, tracks, cfg)

    def _end_on(self, box: Box, foe_x: float, width: int, height: int) -> bool:
        cfg = self.config
        box_w, box_h = box[2] - box[0], box[3] - box[1]
        if box_w < cfg.min_box_px or box_h <= 0.0:
            return False
        edge = cfg.edge_px
        if box[0] < edge or box[1] < edge or box[2] > width - edge or box[3] > height - edge:
            return False
        low, high = cfg.aspect_range
        return low <= box_w / box_h <= high and abs((box[0] + box[2]) / 2.0 - foe_x) <= cfg.centre_band * box_w


def choose_camera(configured: CameraModel, explicit: Iterable[str], estimate: CalibrationEstimate | None
                  ) -> CameraChoice:
    """The camera to locate a video's objects with.

    A value the user set (``explicit`` names the settings given) is always used; otherwise a
    confident estimate; otherwise the default. The height is only estimated with a pitch that is
    itself estimated or configured; a height measured under a default pitch would be that guess too.

    Args:
        configured: The camera from the settings (user values and defaults).
        explicit: Names of the camera settings the user set (``CameraSettings.model_fields_set``).
        estimate: The footage's estimate, or None (not measured).
    """
    given = set(explicit)
    pitch_source: CameraSource = "configured" if "pitch_deg" in given else "default"
    height_source: CameraSource = "configured" if "mount_height_m" in given else "default"
    camera = configured
    pitch_sigma = height_sigma = None
    notes: list[str] = []
    if estimate is not None and pitch_source == "default":
        if estimate.pitch_confident and estimate.pitch_deg is not None:
            camera = dataclasses.replace(camera, pitch_deg=round(estimate.pitch_deg, 2))
            pitch_source, pitch_sigma = "estimated", estimate.pitch_sigma_deg
            notes.append(f"pitch {estimate.pitch_deg:.1f}±{estimate.pitch_sigma_deg:.1f}° from the horizon "
                         f"row {estimate.horizon_row_px:.0f} px ({estimate.foci} frame pairs)")
        else:
            notes.append(f"pitch default: {estimate.foci} frame pairs with a focus of expansion"
                         + (f", ±{estimate.pitch_sigma_deg:.1f}°" if estimate.pitch_sigma_deg is not None else ""))
    if estimate is not None and height_source == "default":
        if pitch_source == "estimated" and estimate.height_confident and estimate.mount_height_m is not None:
            camera = dataclasses.replace(camera, mount_height_m=round(estimate.mount_height_m, 3))
            height_source, height_sigma = "estimated", estimate.mount_height_sigma_m
            notes.append(f"height {estimate.mount_height_m:.2f}±{estimate.mount_height_sigma_m:.2f} m from "
                         f"{estimate.height_tracks} vehicles seen end-on")
        else:
            if pitch_source == "configured":
                why = "the height is measured only under an estimated pitch"
            elif pitch_source != "estimated":
                why = "no estimated pitch"
            else:
                why = f"{estimate.height_tracks} vehicles seen end-on" + (
                    f", ±{estimate.mount_height_sigma_m:.2f} m" if estimate.mount_height_sigma_m is not None else "")
            notes.append(f"height default: {why}")
    sources = {pitch_source, height_source}
    source: CameraSource = ("estimated" if "estimated" in sources
                            else "configured" if sources == {"configured"} else "default")
    if not notes:
        notes.append("pitch and height as configured" if source == "configured" else "not estimated")
    return CameraChoice(camera, source, pitch_source, height_source, pitch_sigma, height_sigma, "; ".join(notes))
