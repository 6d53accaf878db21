"""One frame's detections, as the footage pipeline passes them from detector to tracker to observer.

The fields and their meaning are ``supervision.Detections``' (boxes ``xyxy`` in pixels, ``confidence``,
``class_id``, ``tracker_id`` and per-box ``data``), and so is indexing by an integer array or a
boolean mask. The pipeline carries its own small type rather than supervision's because importing
``supervision`` costs about 0.7 s of a 2 s start-up budget (its annotators import scipy.interpolate)
for a container of four arrays. Code that uses supervision's datasets or metrics converts at its
edge: :meth:`Detections.to_supervision` and :meth:`Detections.from_supervision`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import supervision as sv

__all__ = ["Detections"]

Index = int | slice | npt.NDArray[np.integer[Any]] | npt.NDArray[np.bool_] | list[int]


@dataclass(eq=False, slots=True)
class Detections:
    """Boxes found in one image, with what is known of each (every array has one row per box).

    Attributes:
        xyxy: ``(N, 4)`` float boxes ``x1, y1, x2, y2`` in the image's pixels.
        confidence: ``(N,)`` detector scores, or None when unknown.
        class_id: ``(N,)`` the model's class ids, or None.
        tracker_id: ``(N,)`` track ids once tracked, else None.
        data: Further per-box arrays by name (the pipeline sets ``class_name``).
    """

    xyxy: npt.NDArray[np.floating[Any]]
    confidence: npt.NDArray[np.floating[Any]] | None = None
    class_id: npt.NDArray[np.integer[Any]] | None = None
    tracker_id: npt.NDArray[np.integer[Any]] | None = None
    data: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        rows = len(self.xyxy)
        for name, values in (("confidence", self.confidence), ("class_id", self.class_id),
                             ("tracker_id", self.tracker_id), *self.data.items()):
            if values is not None and len(values) != rows:
                raise ValueError(f"Detections.{name} has {len(values)} rows for {rows} boxes")

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Index) -> Detections:
        """The detections picked by an integer array, a boolean mask, a slice or one position
        (always a Detections, also for one position)."""
        if isinstance(index, int):
            index = [index]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=None if self.confidence is None else self.confidence[index],
            class_id=None if self.class_id is None else self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={name: values[index] for name, values in self.data.items()},
        )

    @classmethod
    def empty(cls) -> Detections:
        """No boxes (the arrays exist, with no rows)."""
        return cls(xyxy=np.empty((0, 4), np.float32), confidence=np.empty(0, np.float32),
                   class_id=np.empty(0, int))

    def class_names(self, default: str = "") -> npt.NDArray[np.str_]:
        """``data["class_name"]``, or ``default`` for every box when the detector set none."""
        names = self.data.get("class_name")
        return np.asarray(names, dtype=str) if names is not None else np.full(len(self), default)

    def to_supervision(self) -> sv.Detections:
        """The same boxes as ``supervision.Detections`` (for supervision's datasets and metrics)."""
        import supervision as sv

        return sv.Detections(xyxy=self.xyxy, confidence=self.confidence, class_id=self.class_id,
                             tracker_id=self.tracker_id, data=dict(self.data))

    @classmethod
    def from_supervision(cls, detections: sv.Detections) -> Detections:
        """The boxes of a ``supervision.Detections``."""
        data: Mapping[str, Any] = detections.data or {}
        return cls(xyxy=np.asarray(detections.xyxy, dtype=np.float32), confidence=detections.confidence,
                   class_id=detections.class_id, tracker_id=detections.tracker_id,
                   data={name: np.asarray(values) for name, values in data.items()})
