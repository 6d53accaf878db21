"""Multi-object tracking for a moving camera: BoT-SORT without appearance features, in numpy.

After Ultralytics' BOT-SORT, AGPL-3.0 (ultralytics 8.4.190, ``ultralytics/trackers``): the same
Kalman filter, two-stage association and camera-motion compensation, reimplemented without torch
so that the CPU inference path starts fast. Given the same detections and camera motion it gives
the same tracks and ids as Ultralytics' ``BOTSORT`` (tests/vision/test_tracking.py checks this).

Modules:
    kalman: the constant-velocity Kalman filter of boxes and its camera-motion warp.
    matching: IoU costs and the assignment (``lap.lapjv``).
    botsort: the tracker itself, on plain arrays.
    tracker: :class:`MultiObjectTracker`, for :class:`~streetwatch.vision.detections.Detections`, with its own
        cheap camera-motion estimate.
"""

from streetwatch.vision.tracking.tracker import MultiObjectTracker, TrackerConfig

__all__ = ["MultiObjectTracker", "TrackerConfig"]
