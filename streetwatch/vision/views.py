"""Whether two frames show the same view: the camera stood still between them (a fixed camera, a
patrol car waiting at a light) or moved on.

A 96x54 grey thumbnail per frame is all it keeps, so the test costs one resize per frame compared.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

THUMBNAIL: Final = (96, 54)
# The same view: the 90th percentile of the absolute grey differences of two thumbnails is at most
# this. Measured on the real street clips, frames 2 s apart: fixed cameras 1-7 (traffic passing
# included), dashcams in slow traffic 48-60, moving faster 70-94, handheld 66-134 (grey levels of 255).
SAME_VIEW_DIFF: Final = 10.0


def thumbnail(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A 96x54 grey thumbnail of a BGR (or grey) frame, for :func:`view_difference`."""
    small = cv2.resize(image, THUMBNAIL, interpolation=cv2.INTER_AREA)
    return np.asarray(small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def view_difference(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """How far two thumbnails show different views: the 90th percentile of their absolute grey
    differences. Traffic crossing a fixed view changes only a small part of it; a moving camera changes
    most pixels, and even in a dark or flat scene its textured tenth (the percentile errs towards
    "changed")."""
    return float(np.percentile(np.abs(a.astype(np.int16) - b.astype(np.int16)), 90))


def same_view(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], max_difference: float = SAME_VIEW_DIFF) -> bool:
    """Whether two thumbnails show the same view (see :data:`SAME_VIEW_DIFF`)."""
    return view_difference(a, b) <= max_difference
