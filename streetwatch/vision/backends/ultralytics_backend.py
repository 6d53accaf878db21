"""Detector backend running an Ultralytics model (PyTorch weights or an export it can load)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import supervision as sv

from streetwatch.vision.detections import Detections
from streetwatch.vision.detector import DetectorError, UltralyticsConfig, WeightsDetector

# Never let Ultralytics reach for the network (fonts, weights, hub, version checks).
os.environ.setdefault("YOLO_OFFLINE", "1")


class UltralyticsDetector(WeightsDetector):
    """Batched inference with ``ultralytics.YOLO``."""

    config: UltralyticsConfig

    def __init__(self, config: UltralyticsConfig) -> None:
        from ultralytics import YOLO

        if not config.weights.exists():
            raise DetectorError(f"detector weights not found: {config.weights}")
        self.config = config
        try:
            self._model = YOLO(str(config.weights), task="detect")
        except Exception as exc:  # Ultralytics raises many kinds; all mean "cannot load these weights"
            raise DetectorError(f"cannot load detector weights {config.weights}: {exc}") from exc
        self._names: dict[int, str] = {int(k): str(v) for k, v in self._model.names.items()}

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        if not images:
            return []
        results = self._model.predict(
            list(images),
            imgsz=self.config.imgsz,
            conf=self.config.conf,
            iou=self.config.iou,
            device=self.config.device,
            batch=self.config.batch_size,
            verbose=False,
            **({"half": True} if self.config.half else {}),
        )
        return [Detections.from_supervision(sv.Detections.from_ultralytics(result)) for result in results]
