"""The in-memory types that perception works on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded, upright video frame.

    Attributes:
        video_id: The sha256 of the video file the frame came from.
        index: Position of the frame among all decoded frames of the video (0-based).
        pts_s: Presentation time in seconds from the decoder (never ``index / fps``),
            relative to the first frame of the video.
        image: HxWx3 uint8 BGR pixels, already rotated upright per the container's
            rotation metadata.
    """

    video_id: str
    index: int
    pts_s: float
    image: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"Frame.image must be HxWx3, got shape {self.image.shape}")
        if self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image must be uint8, got {self.image.dtype}")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
