"""Multi-object tracking for a moving camera.

Wraps Ultralytics' BoT-SORT: Kalman-filtered boxes matched by IoU, with global motion
compensation (sparse optical flow) so that the car's own motion does not break tracks.
Detections go in and come back with ``tracker_id`` set; detections the tracker did not
confirm are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import supervision as sv


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tracker settings. ``lost_track_s`` is converted to frames at the sampling rate."""

    method: str = "botsort"
    gmc_method: str = "sparseOptFlow"
    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    match_thresh: float = 0.8
    lost_track_s: float = 3.0
    fuse_score: bool = True


class _BoxesView:
    """The columnar, boolean-indexable view of detections that Ultralytics' trackers read."""

    def __init__(self, xyxy: npt.NDArray[np.float32], conf: npt.NDArray[np.float32],
                 cls: npt.NDArray[np.float32]) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        xywh = np.empty_like(xyxy)
        xywh[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) / 2
        xywh[:, 1] = (xyxy[:, 1] + xyxy[:, 3]) / 2
        xywh[:, 2] = xyxy[:, 2] - xyxy[:, 0]
        xywh[:, 3] = xyxy[:, 3] - xyxy[:, 1]
        self.xywh = xywh

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.int_]) -> _BoxesView:
        return _BoxesView(self.xyxy[index], self.conf[index], self.cls[index])


class MultiObjectTracker:
    """Assigns persistent ids to detections across the sampled frames of one video."""

    def __init__(self, sample_fps: float, config: TrackerConfig | None = None) -> None:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        self.config = config or TrackerConfig()
        args = IterableSimpleNamespace(
            tracker_type=self.config.method,
            track_high_thresh=self.config.track_high_thresh,
            track_low_thresh=self.config.track_low_thresh,
            new_track_thresh=self.config.new_track_thresh,
            track_buffer=max(1, round(self.config.lost_track_s * sample_fps)),
            match_thresh=self.config.match_thresh,
            fuse_score=self.config.fuse_score,
            gmc_method=self.config.gmc_method,
            proximity_thresh=0.5,
            appearance_thresh=0.8,
            with_reid=False,
            model="auto",
            device="cpu",
        )
        if self.config.method == "botsort":
            self._tracker: BYTETracker = BOTSORT(args)
        elif self.config.method == "bytetrack":
            self._tracker = BYTETracker(args)
        else:
            raise ValueError(f"unknown tracker '{self.config.method}' (known: botsort, bytetrack)")

    def update(self, detections: sv.Detections, image: npt.NDArray[np.uint8]) -> sv.Detections:
        """Track one frame's detections; returns the confirmed ones with ``tracker_id`` set."""
        conf = (detections.confidence if detections.confidence is not None
                else np.ones(len(detections), dtype=np.float32))
        boxes = _BoxesView(detections.xyxy.astype(np.float32), conf.astype(np.float32),
                           detections.class_id.astype(np.float32) if detections.class_id is not None
                           else np.zeros(len(detections), dtype=np.float32))
        tracked = self._tracker.update(boxes, image)
        if len(tracked) == 0:
            return sv.Detections.empty()
        # Rows: x1, y1, x2, y2, track_id, score, cls, index into the input detections.
        index = tracked[:, 7].astype(int)
        result = detections[index]
        assert isinstance(result, sv.Detections)  # integer-array indexing returns Detections
        # `result` keeps the detector's own boxes (not the Kalman-smoothed ones) as evidence.
        result.tracker_id = tracked[:, 4].astype(int)
        return result
