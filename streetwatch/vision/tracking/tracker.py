"""Multi-object tracking of a video's detections, for a moving camera.

:class:`MultiObjectTracker` feeds ``Detections`` to :class:`~streetwatch.vision.tracking.botsort.BotSort`
and hands back the confirmed ones with ``tracker_id`` set. The camera's own motion between two
sampled frames (a 2x3 affine) comes from the caller, who may already have the background flow
(the pipeline shares it with the motion meter), or else from the tracker's own cheap estimate:
sparse flow of the background at 480 px wide, detections masked out
(:class:`streetwatch.vision.egomotion.BackgroundFlows`).

After Ultralytics' BOT-SORT, AGPL-3.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetwatch.vision.detections import Detections
from streetwatch.vision.egomotion import BackgroundFlows, EgoMotionConfig
from streetwatch.vision.tracking.botsort import BotSort, BotSortParams

GMC_METHODS = ("sparseOptFlow", "none")


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tracker settings. ``lost_track_s`` is converted to frames at the sampling rate.

    Attributes:
        method: "botsort" (the only one).
        gmc_method: How the tracker estimates camera motion itself when the caller gives none:
            "sparseOptFlow" (background sparse flow) or "none" (no compensation).
        track_high_thresh: Detections scoring at least this take part in the first association.
        track_low_thresh: Detections scoring above this (and below the high threshold) in the second.
        new_track_thresh: An unmatched detection starts a track from this score on.
        match_thresh: Cost limit (1 - IoU x score) of the first association.
        lost_track_s: Seconds a lost track is kept for re-finding.
        fuse_score: Weight the IoU by the detection score.
    """

    method: str = "botsort"
    gmc_method: str = "sparseOptFlow"
    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    match_thresh: float = 0.8
    lost_track_s: float = 3.0
    fuse_score: bool = True

    def __post_init__(self) -> None:
        if self.method != "botsort":
            raise ValueError(f"unknown tracker '{self.method}' (known: botsort)")
        if self.gmc_method not in GMC_METHODS:
            raise ValueError(f"unknown gmc_method '{self.gmc_method}' (known: {', '.join(GMC_METHODS)})")


class MultiObjectTracker:
    """Assigns persistent ids to detections across the sampled frames of one video.

    Args:
        sample_fps: Sampled frames per second of video (turns ``lost_track_s`` into frames).
        config: Tracker settings.
    """

    def __init__(self, sample_fps: float, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracker = BotSort(BotSortParams(
            high_thresh=self.config.track_high_thresh,
            low_thresh=self.config.track_low_thresh,
            new_track_thresh=self.config.new_track_thresh,
            match_thresh=self.config.match_thresh,
            max_frames_lost=max(1, round(self.config.lost_track_s * sample_fps)),
            fuse_score=self.config.fuse_score,
        ))
        self._flows = BackgroundFlows(EgoMotionConfig()) if self.config.gmc_method != "none" else None

    @property
    def has_tracks(self) -> bool:
        """Whether any track is alive: only then does the camera's motion into the next frame matter
        (a caller passing ``camera_motion`` may pass the identity otherwise)."""
        return self._tracker.has_tracks

    def update(self, detections: Detections, image: npt.NDArray[np.uint8], *,
               camera_motion: npt.NDArray[np.floating] | None = None) -> Detections:
        """Track one frame's detections; returns the confirmed ones with ``tracker_id`` set.

        The detector's own boxes are kept (not the Kalman-smoothed ones): they are the evidence.

        Args:
            detections: This frame's detections.
            image: This frame (BGR), for the tracker's own camera-motion estimate.
            camera_motion: 2x3 affine from the previous sampled frame's pixels to this frame's;
                when given, the tracker uses it and computes none itself.
        """
        xyxy = np.asarray(detections.xyxy, dtype=np.float32).reshape(-1, 4)
        scores = (np.asarray(detections.confidence, dtype=np.float32) if detections.confidence is not None
                  else np.ones(len(detections), dtype=np.float32))
        warp: npt.NDArray[np.float64] | None
        if camera_motion is not None:
            warp = np.asarray(camera_motion, dtype=np.float64)
            if warp.shape != (2, 3):
                raise ValueError(f"camera_motion must be a 2x3 affine, got shape {warp.shape}")
            if self._flows is not None:
                self._flows.reset()   # its previous frame is stale now
        else:
            warp = self._own_camera_motion(image, xyxy)
        tracks = self._tracker.update(xyxy, scores, warp)
        if not tracks:
            return Detections.empty()
        result = detections[np.array([t.det_index for t in tracks], dtype=int)]
        result.tracker_id = np.array([t.track_id for t in tracks], dtype=int)
        return result

    def _own_camera_motion(self, image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.float32]
                           ) -> npt.NDArray[np.float64] | None:
        """The background's affine motion into this frame; flow only while there are tracks to move."""
        if self._flows is None:
            return None
        boxes = [(float(x1), float(y1), float(x2), float(y2)) for x1, y1, x2, y2 in xyxy]
        flow = self._flows.add(image, boxes)
        return flow.camera_affine() if self.has_tracks else None
