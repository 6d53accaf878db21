"""Association costs and the optimal assignment of tracks to detections.

After Ultralytics' BOT-SORT (``trackers/utils/matching.py``), AGPL-3.0: IoU costs in float32,
optionally fused with the detection scores, solved by ``lap.lapjv`` with a cost limit exactly as
Ultralytics' ``linear_assignment`` does (so ties and near-ties resolve the same way).
"""

from __future__ import annotations

import lap
import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]


def iou_cost(a_xyxy: npt.NDArray[np.floating], b_xyxy: npt.NDArray[np.floating]) -> Float32Array:
    """1 - IoU of every box in ``a_xyxy`` (Nx4) with every box in ``b_xyxy`` (Mx4), in float32."""
    a = np.ascontiguousarray(a_xyxy, dtype=np.float32).reshape(-1, 4)
    b = np.ascontiguousarray(b_xyxy, dtype=np.float32).reshape(-1, 4)
    ious = np.zeros((len(a), len(b)), dtype=np.float32)
    if len(a) and len(b):
        a_x1, a_y1, a_x2, a_y2 = a.T
        b_x1, b_y1, b_x2, b_y2 = b.T
        inter = (np.minimum(a_x2[:, None], b_x2) - np.maximum(a_x1[:, None], b_x1)).clip(0) * (
            np.minimum(a_y2[:, None], b_y2) - np.maximum(a_y1[:, None], b_y1)).clip(0)
        b_area = (b_x2 - b_x1) * (b_y2 - b_y1)
        a_area = (a_x2 - a_x1) * (a_y2 - a_y1)
        ious = inter / (b_area + a_area[:, None] - inter + 1e-7)
    return np.asarray(1 - ious, dtype=np.float32)


def fuse_score(cost: Float32Array, scores: Float32Array) -> Float32Array:
    """IoU cost weighted by the detections' confidence: ``1 - IoU * score`` (columns are detections)."""
    if cost.size == 0:
        return cost
    return np.asarray(1 - (1 - cost) * scores[None, :], dtype=np.float32)


def linear_assignment(cost: Float32Array, thresh: float) -> tuple[list[tuple[int, int]], IntArray, IntArray]:
    """The cheapest one-to-one matching with no pair above ``thresh``.

    Returns:
        The matched (row, column) pairs in row order, the unmatched rows and the unmatched columns
        (ascending).
    """
    rows, cols = cost.shape
    if cost.size == 0:
        return [], np.arange(rows), np.arange(cols)
    _, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
    matches = [(int(row), int(col)) for row, col in enumerate(x) if col >= 0]
    return matches, np.flatnonzero(x < 0), np.flatnonzero(y < 0)
