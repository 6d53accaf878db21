"""BoT-SORT without appearance features: the association logic, on plain arrays.

After Ultralytics' BOT-SORT (``trackers/bot_sort.py``, ``byte_tracker.py``, ``basetrack.py``,
``utils/stracks.py`` of ultralytics 8.4.190), AGPL-3.0. Same algorithm, same order of operations,
same float32/float64 conversions, so that the tracks and their ids come out identical to
Ultralytics' ``BOTSORT`` (``with_reid=False``) given the same detections and camera motion:

1. Detections are split by score: high (``>= high_thresh``) and low (between the thresholds).
2. Confirmed and lost tracks are predicted one step (Kalman), then all tracks, unconfirmed ones
   included, are moved by the camera motion (GMC).
3. First association: confirmed and lost tracks with the high detections, by IoU fused with
   the detection score, cost limit ``match_thresh``. A lost track that matches is re-found.
4. Second association: tracks still unmatched and currently tracked, with the low detections,
   by plain IoU (cost limit 0.5); tracks left over become lost.
5. Unconfirmed tracks (born last frame) with the high detections left (cost limit 0.7); an
   unmatched unconfirmed track is removed.
6. High detections left start tracks if their score reaches ``new_track_thresh``; they are
   confirmed at their second match (at once on the very first frame).
7. Lost tracks older than ``max_frames_lost`` are removed; of two tracks overlapping by IoU
   above 0.85 (tracked vs. lost) the younger one is dropped.

Ultralytics' quirks are kept on purpose (they decide ids): a track removed for age stays in the
lost pool for one more frame and can still be re-found then; unconfirmed tracks are moved by the
camera motion but not predicted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from streetwatch.vision.tracking import kalman
from streetwatch.vision.tracking.matching import fuse_score, iou_cost, linear_assignment

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
REMOVED_MEMORY = 1000   # removed tracks remembered (Ultralytics' removed_stracks buffer)
DUPLICATE_IOU_COST = 0.15


class TrackState(IntEnum):
    """Life cycle of a track."""

    NEW = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


@dataclass(frozen=True, slots=True)
class BotSortParams:
    """Thresholds of the association (Ultralytics' ``botsort.yaml`` keys).

    Attributes:
        high_thresh: Detections scoring at least this take part in the first association.
        low_thresh: Detections scoring above this (and below ``high_thresh``) in the second.
        new_track_thresh: An unmatched high detection starts a track from this score on.
        match_thresh: Cost limit (1 - IoU x score) of the first association.
        max_frames_lost: Frames a lost track is kept for re-finding.
        fuse_score: Weight the IoU by the detection score in the first and third associations.
    """

    high_thresh: float = 0.25
    low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    match_thresh: float = 0.8
    max_frames_lost: int = 30
    fuse_score: bool = True


class Candidates:
    """One frame's detections of one score band, as the tracker reads them.

    Ultralytics' conversions are reproduced exactly: centre/size in float32 from the float32
    corners, the top-left corner computed in float64 and stored in float32, the observed box
    (cx, cy, w, h) recomputed from that in float32.
    """

    def __init__(self, xywh: Float32Array, scores: Float32Array, index: npt.NDArray[np.intp]) -> None:
        wide = xywh.astype(np.float64)
        tlwh = np.concatenate([wide[:, :2] - wide[:, 2:] / 2, wide[:, 2:]], axis=1).astype(np.float32)
        self.measurement = tlwh.copy()
        self.measurement[:, :2] += self.measurement[:, 2:] / 2
        self.xyxy = tlwh.copy()
        self.xyxy[:, 2:] += self.xyxy[:, :2]
        self.scores = scores
        self.index = index   # row of each candidate in the frame's full detection list

    def __len__(self) -> int:
        return len(self.scores)

    def subset(self, rows: npt.NDArray[np.intp] | list[int]) -> Candidates:
        """The candidates at ``rows``, in that order."""
        picked = Candidates.__new__(Candidates)
        picked.measurement, picked.xyxy = self.measurement[rows], self.xyxy[rows]
        picked.scores, picked.index = self.scores[rows], self.index[rows]
        return picked


class Track:
    """One object's Kalman state and life cycle.

    Attributes:
        track_id: Persistent id (1, 2, ... per tracker).
        mean: Kalman state (cx, cy, w, h and their velocities).
        covariance: 8x8 covariance of ``mean``.
        state: Tracked, lost or removed.
        is_activated: Confirmed (matched twice, or born on the first frame).
        frame_id: Last frame it was matched in.
        start_frame: Frame it was born in.
        det_index: Row of its last matched detection in that frame's detection list.
    """

    __slots__ = ("covariance", "det_index", "frame_id", "is_activated", "mean", "start_frame", "state", "track_id")

    def __init__(self, track_id: int, candidates: Candidates, row: int, frame_id: int) -> None:
        self.track_id = track_id
        self.mean, self.covariance = kalman.initiate(candidates.measurement[row])
        self.state = TrackState.TRACKED
        self.is_activated = frame_id == 1
        self.frame_id = self.start_frame = frame_id
        self.det_index = int(candidates.index[row])

    def observe(self, candidates: Candidates, row: int, frame_id: int) -> None:
        """Correct the state with a matched detection; the track is (again) tracked and confirmed."""
        self.mean, self.covariance = kalman.update(self.mean, self.covariance, candidates.measurement[row])
        self.state = TrackState.TRACKED
        self.is_activated = True
        self.frame_id = frame_id
        self.det_index = int(candidates.index[row])

    @property
    def xyxy(self) -> FloatArray:
        """The Kalman box, corners (x1, y1, x2, y2)."""
        return boxes_xyxy([self])[0]

    def __repr__(self) -> str:
        return f"Track({self.track_id}, {self.state.name}, frames {self.start_frame}-{self.frame_id})"


def boxes_xyxy(tracks: list[Track]) -> FloatArray:
    """The tracks' Kalman boxes as corners, Nx4."""
    if not tracks:
        return np.zeros((0, 4))
    box = np.array([t.mean[:4] for t in tracks])
    box[:, :2] -= box[:, 2:] / 2
    box[:, 2:] += box[:, :2]
    return box


def joint(a: list[Track], b: list[Track]) -> list[Track]:
    """``a`` then the tracks of ``b`` whose ids are not in ``a``."""
    ids = {t.track_id for t in a}
    return a + [t for t in b if t.track_id not in ids]


def without(a: list[Track], ids: set[int]) -> list[Track]:
    """The tracks of ``a`` whose ids are not in ``ids``."""
    return [t for t in a if t.track_id not in ids]


class BotSort:
    """Tracks of one video: feed every sampled frame's detections, in order, to :meth:`update`."""

    def __init__(self, params: BotSortParams | None = None) -> None:
        self.params = params or BotSortParams()
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self._removed_ids: deque[int] = deque(maxlen=REMOVED_MEMORY)
        self.frame_id = 0
        self._last_id = 0

    @property
    def has_tracks(self) -> bool:
        """Whether any track is alive (tracked, unconfirmed or lost): only then does camera motion matter."""
        return bool(self.tracked or self.lost)

    def update(self, xyxy: Float32Array, scores: Float32Array, camera_motion: FloatArray | None) -> list[Track]:
        """Track one frame.

        Args:
            xyxy: The frame's detections, Nx4 corners (float32).
            scores: Their confidences (float32).
            camera_motion: 2x3 affine from the previous frame's pixels to this frame's, or None
                (no compensation).

        Returns:
            The confirmed tracks matched in this frame (``det_index`` says to which detection).
        """
        self.frame_id += 1
        activated: list[Track] = []
        refound: list[Track] = []
        lost: list[Track] = []
        removed: list[Track] = []
        high, low = self._candidates(xyxy, scores)

        unconfirmed = [t for t in self.tracked if not t.is_activated]
        pool = joint([t for t in self.tracked if t.is_activated], self.lost)
        self._predict(pool)
        if camera_motion is not None:
            self._warp(pool, camera_motion)
            self._warp(unconfirmed, camera_motion)

        # 1. confirmed and lost tracks with the high detections
        matches, u_track, u_high = linear_assignment(self._cost(pool, high), self.params.match_thresh)
        for it, idet in matches:
            (activated if pool[it].state == TrackState.TRACKED else refound).append(pool[it])
            pool[it].observe(high, idet, self.frame_id)
        # 2. tracks still tracked with the low detections, by IoU alone
        remaining = [pool[i] for i in u_track if pool[i].state == TrackState.TRACKED]
        unmatched: npt.NDArray[np.intp] | range = range(len(remaining))
        if remaining and len(low):
            matches, unmatched, _ = linear_assignment(iou_cost(boxes_xyxy(remaining), low.xyxy), 0.5)
            for it, idet in matches:
                activated.append(remaining[it])
                remaining[it].observe(low, idet, self.frame_id)
        for it in unmatched:
            remaining[it].state = TrackState.LOST
            lost.append(remaining[it])
        # 3. unconfirmed tracks with the high detections left
        left = high.subset(u_high)
        new_rows: npt.NDArray[np.intp] | range = range(len(left))
        if unconfirmed:
            matches, u_unconfirmed, new_rows = linear_assignment(self._cost(unconfirmed, left), 0.7)
            for it, idet in matches:
                unconfirmed[it].observe(left, idet, self.frame_id)
                activated.append(unconfirmed[it])
            for it in u_unconfirmed:
                unconfirmed[it].state = TrackState.REMOVED
                removed.append(unconfirmed[it])
        # 4. new tracks
        for row in new_rows:
            if left.scores[row] < self.params.new_track_thresh:
                continue
            self._last_id += 1
            activated.append(Track(self._last_id, left, int(row), self.frame_id))
        # 5. lost too long
        for track in self.lost:
            if self.frame_id - track.frame_id > self.params.max_frames_lost:
                track.state = TrackState.REMOVED
                removed.append(track)

        self._merge(activated, refound, lost, removed)
        return [t for t in self.tracked if t.is_activated]

    def _candidates(self, xyxy: Float32Array, scores: Float32Array) -> tuple[Candidates, Candidates]:
        """The high- and low-score detections; boxes without area are dropped."""
        xywh = np.empty_like(xyxy)
        xywh[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) / 2
        xywh[:, 1] = (xyxy[:, 1] + xyxy[:, 3]) / 2
        xywh[:, 2] = xyxy[:, 2] - xyxy[:, 0]
        xywh[:, 3] = xyxy[:, 3] - xyxy[:, 1]
        valid = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        high = valid & (scores >= self.params.high_thresh)
        low = valid & (scores > self.params.low_thresh) & (scores < self.params.high_thresh)
        return (Candidates(xywh[high], scores[high], np.flatnonzero(high)),
                Candidates(xywh[low], scores[low], np.flatnonzero(low)))

    def _cost(self, tracks: list[Track], candidates: Candidates) -> npt.NDArray[np.float32]:
        cost = iou_cost(boxes_xyxy(tracks), candidates.xyxy)
        return fuse_score(cost, candidates.scores) if self.params.fuse_score else cost

    @staticmethod
    def _predict(tracks: list[Track]) -> None:
        """One Kalman step for all ``tracks``; a track not currently tracked keeps its size (no size velocity)."""
        if not tracks:
            return
        mean = np.asarray([t.mean for t in tracks])
        covariance = np.asarray([t.covariance for t in tracks])
        for i, track in enumerate(tracks):
            if track.state != TrackState.TRACKED:
                mean[i][6] = 0
                mean[i][7] = 0
        mean, covariance = kalman.multi_predict(mean, covariance)
        for track, m, c in zip(tracks, mean, covariance, strict=True):
            track.mean, track.covariance = m, c

    @staticmethod
    def _warp(tracks: list[Track], affine: FloatArray) -> None:
        if not tracks:
            return
        mean, covariance = kalman.multi_warp(np.asarray([t.mean for t in tracks]),
                                             np.asarray([t.covariance for t in tracks]), affine)
        for track, m, c in zip(tracks, mean, covariance, strict=True):
            track.mean, track.covariance = m, c

    def _merge(self, activated: list[Track], refound: list[Track], lost: list[Track], removed: list[Track]) -> None:
        """End-of-frame bookkeeping of the pools (Ultralytics' ``merge_track_pools``)."""
        tracked = [t for t in self.tracked if t.state == TrackState.TRACKED]
        tracked = joint(joint(tracked, activated), refound)
        still_lost = without(self.lost, {t.track_id for t in tracked}) + lost
        # This frame's removals join the memory only below: a lost track removed now lingers one frame.
        still_lost = without(still_lost, set(self._removed_ids))
        self.tracked, self.lost = remove_duplicates(tracked, still_lost)
        self._removed_ids.extend(t.track_id for t in removed)


def remove_duplicates(a: list[Track], b: list[Track]) -> tuple[list[Track], list[Track]]:
    """Of each pair of tracks (one from each list) overlapping by IoU > 0.85, drop the younger one."""
    if not a or not b:
        return a, b
    pairs = np.where(iou_cost(boxes_xyxy(a), boxes_xyxy(b)) < DUPLICATE_IOU_COST)
    drop_a: set[int] = set()
    drop_b: set[int] = set()
    for p, q in zip(*pairs, strict=True):
        if a[p].frame_id - a[p].start_frame > b[q].frame_id - b[q].start_frame:
            drop_b.add(int(q))
        else:
            drop_a.add(int(p))
    return ([t for i, t in enumerate(a) if i not in drop_a], [t for i, t in enumerate(b) if i not in drop_b])
