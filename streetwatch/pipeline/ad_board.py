"""Standing advertising boards (落地广告) told from signs on walls by where they stand.

The detector knows signs (``shop_sign``, ``projecting_sign``, ``window_ad``, learned on facades)
but not whether a sign hangs on a wall or stands on the pavement, and that is what makes a
standing board: a board whose base stands on the ground, a metre or two tall, in front of a shop.
The camera model tells them apart. Taking the box's bottom edge as a foot on the ground gives a
range, and from the range the height of the box's top. A board standing on the pavement comes out
near, 0.4-2.4 m tall and at most 3 m wide. A sign on a wall does not: its bottom edge hangs above
the road, so taken as a foot it lies above the horizon (no range), or too far (beyond
``MAX_RANGE_M``), and the too-far range makes its top too high. Such a sign keeps its class.

A board found so is re-classed ``ad_board`` (the taxonomy's 0202 落地广告, which stands on the
ground and is placed as such); ``detected_as`` keeps the detector's class and ``board_evidence``
says what the geometry showed, in words, for the reviewer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from streetwatch.core.types import Observation
from streetwatch.vision.geometry import CameraModel

BOARD_CLASS: Final = "ad_board"
SIGN_CLASSES: Final = frozenset({"shop_sign", "projecting_sign", "window_ad"})
MAX_RANGE_M: Final = 20.0             # farther, a foot row is too uncertain to say anything
HEIGHT_M: Final = (0.4, 2.4)          # A-frames and menu boards to roll-up banner stands (易拉宝)
MAX_WIDTH_M: Final = 3.0


@dataclass(frozen=True, slots=True)
class Standing:
    """An object's box read as standing on the ground: its range and its size in metres."""

    range_m: float
    height_m: float
    width_m: float

    def is_board(self) -> bool:
        return (self.range_m <= MAX_RANGE_M and HEIGHT_M[0] <= self.height_m <= HEIGHT_M[1]
                and self.width_m <= MAX_WIDTH_M)

    def describe(self) -> str:
        return (f"stands on the ground {self.range_m:.1f} m from the camera, {self.height_m:.1f} m tall and "
                f"{self.width_m:.1f} m wide (a sign on a wall would not fit the ground)")


def standing(camera: CameraModel, box: tuple[float, float, float, float], width: int, height: int
             ) -> Standing | None:
    """The box read as an object standing on the ground (its foot at the box's bottom-centre), or
    None when the bottom edge is at or above the horizon, or beyond the camera's range."""
    x1, y1, x2, y2 = box
    foot = camera.ground_point((x1 + x2) / 2, y2, width, height)
    if foot is None:
        return None
    k = camera.intrinsics(width, height)
    pitch = math.radians(camera.pitch_deg)

    def ray(row: float) -> tuple[float, float]:
        """Level-forward and downward components of the ray through ``row`` (per unit optical depth)."""
        yn = (row - k.cy) / k.fy
        return math.cos(pitch) - yn * math.sin(pitch), math.sin(pitch) + yn * math.cos(pitch)

    foot_forward, foot_down = ray(y2)
    depth = camera.mount_height_m / foot_down          # optical depth of the foot (ground_point checked > 0)
    level = foot_forward * depth                       # level distance ahead along the camera's axis
    top_forward, top_down = ray(y1)
    if top_forward <= 1e-6:
        return None
    top_height = camera.mount_height_m - top_down * level / top_forward
    return Standing(foot.range_m, top_height, (x2 - x1) / k.fx * depth)


def is_board(observation: Observation) -> bool:
    """Whether :func:`judge_boards` re-classed this observation (a sign found standing on the ground)."""
    return observation.class_name == BOARD_CLASS and "detected_as" in observation.attributes


def judge_boards(observations: Sequence[Observation], camera: CameraModel, width: int, height: int
                 ) -> list[Observation]:
    """The observations with each sign that stands on the ground re-classed as a standing board."""
    out: list[Observation] = []
    for observation in observations:
        found = (standing(camera, observation.best.xyxy, width, height)
                 if observation.class_name in SIGN_CLASSES else None)
        if found is None or not found.is_board():
            out.append(observation)
            continue
        attributes = {**observation.attributes, "detected_as": observation.class_name,
                      "board_evidence": found.describe()}
        out.append(replace(observation, class_name=BOARD_CLASS, attributes=attributes))
    return out
