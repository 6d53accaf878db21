"""The camera's own image motion between two sampled frames, from the background alone.

Why: a patrol car's dashcam sees the whole world flow past. Whether a vehicle is parked can only
be read against that flow: a parked car moves *with* the background, a car driving with the
patrol car stays put while the background flows. This module estimates the background flow.

How: sparse optical flow (Shi-Tomasi corners + pyramidal Lucas-Kanade, forward-backward checked)
on the frame scaled down to at most ``max_width`` pixels (speed), with detection boxes masked out
so that other vehicles do not pull the fit; then a RANSAC homography of the background points.
A homography is exact for a rotating camera and for one plane (the road), and a good local
approximation elsewhere; the focus of expansion is fitted separately for forward motion.

Precomputed correspondences (e.g. codec motion vectors) can replace the LK step: pass ``flow``.

The tracker's camera-motion compensation needs the same background flow as the motion meter:
:class:`BackgroundFlows` makes each sampled frame's grey image once and its flow from the previous
frame at most once (:class:`BackgroundFlow`), and :func:`fit_camera_affine` turns it into the 2x3
affine the tracker moves its tracks by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class EgoMotionConfig:
    """Settings of the background flow fit.

    Attributes:
        max_width: Frames wider than this are scaled down before flow (pixels).
        max_corners: Background corners to track per frame pair.
        min_distance: Minimum spacing of corners, in scaled pixels.
        box_margin: Detection boxes are grown by this share of their size before masking.
        fb_max_px: Forward-backward LK disagreement above this (scaled px) drops a point.
        ransac_px: RANSAC inlier threshold of the homography, in scaled pixels.
        min_points: Fewer background points than this: no fit (``ok`` false). Close-up views where
            detection boxes cover the frame land here: no background, no verdict.
        min_inlier_share: A fit whose RANSAC inliers are fewer than this share is not trusted either.
        moving_flow_share: The camera counts as moving when the fitted background motion moves the
            corners of the area covered by background points by more than this share of the frame
            width per second (0.02 = 2 % of the width per second). A camera on a pole shows
            compression noise only (~0.1 px); a slow walk or drive shows several percent.
    """

    max_width: int = 480
    max_corners: int = 400
    min_distance: int = 8
    box_margin: float = 0.05
    fb_max_px: float = 1.0
    ransac_px: float = 2.0
    min_points: int = 20
    min_inlier_share: float = 0.5
    moving_flow_share: float = 0.02


@dataclass(frozen=True, slots=True)
class PointFlow:
    """Point correspondences between two frames, in original-image pixels.

    Attributes:
        start: Nx2 positions in the first frame.
        end: Nx2 positions in the second frame.
    """

    start: FloatArray
    end: FloatArray

    def __post_init__(self) -> None:
        if self.start.shape != self.end.shape or self.start.ndim != 2 or self.start.shape[1] != 2:
            raise ValueError(f"PointFlow expects two Nx2 arrays of equal shape, got {self.start.shape} "
                             f"and {self.end.shape}")

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def select(self, keep: npt.NDArray[np.bool_]) -> PointFlow:
        """The correspondences where ``keep`` is true."""
        return PointFlow(self.start[keep], self.end[keep])


@dataclass(frozen=True, slots=True)
class EgoMotion:
    """The camera's image motion from time ``t0`` to ``t1``.

    Attributes:
        t0: Time of the first frame (s).
        t1: Time of the second frame (s).
        homography: 3x3, maps first-frame pixels to second-frame pixels (original resolution);
            identity when ``ok`` is false.
        ok: Whether enough background points were found for a fit.
        n_points: Background points used.
        n_inliers: RANSAC inliers of the homography.
        median_flow_px: Median background point displacement (original pixels).
        image_width: Width of the original frame (pixels), for normalising.
        camera_moving: The fitted background motion is above the threshold (the camera itself moves).
        foe_xy: Focus of expansion in the first frame (pixels), when the flow is mostly radial.
        background: The background correspondences the fit used (original pixels).
    """

    t0: float
    t1: float
    homography: FloatArray
    ok: bool
    n_points: int
    n_inliers: int
    median_flow_px: float
    image_width: int
    camera_moving: bool
    foe_xy: tuple[float, float] | None
    background: PointFlow

    @property
    def dt(self) -> float:
        """Time between the frames (s)."""
        return self.t1 - self.t0

    def local_correction(self, box: Box, ring: float, min_points: int = 6) -> FloatArray:
        """Median background motion left over by the homography around ``box`` (a 2-vector).

        Why: a homography is exact for one plane only. A parked car close to a walking camera
        moves like the ground next to it, not like the far background that dominates the fit
        (parallax); the ground in a ring around the box shows that offset. Zero when the ring
        has too few points.
        """
        grown = (box[0] - ring * (box[2] - box[0]), box[1] - ring * (box[3] - box[1]),
                 box[2] + ring * (box[2] - box[0]), box[3] + ring * (box[3] - box[1]))
        near = points_in_boxes(self.background.start, [grown])
        if near.sum() < min_points:
            return np.zeros(2)
        left = self.background.end[near] - self.predict(self.background.start[near])
        return np.asarray(np.median(left, axis=0), np.float64)

    def predict(self, points: FloatArray) -> FloatArray:
        """Where background at ``points`` (Nx2, first frame) appears in the second frame."""
        if len(points) == 0:
            return points.copy()
        moved = cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), self.homography)
        return np.asarray(moved.reshape(-1, 2), dtype=np.float64)


def to_gray_scaled(image: npt.NDArray[np.uint8], max_width: int) -> tuple[npt.NDArray[np.uint8], float]:
    """Grey image scaled to at most ``max_width`` wide, and the scale (scaled px per original px)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    scale = min(1.0, max_width / gray.shape[1])
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(gray), scale


def box_mask(shape: tuple[int, int], boxes: Sequence[Box], scale: float, margin: float,
             inside: bool) -> npt.NDArray[np.uint8]:
    """A uint8 mask (255 = use) of a scaled frame: outside all boxes, or inside any (``inside``)."""
    mask = np.zeros(shape, np.uint8) if inside else np.full(shape, 255, np.uint8)
    for x1, y1, x2, y2 in boxes:
        mx, my = margin * (x2 - x1), margin * (y2 - y1)
        p1 = (int(max(0, (x1 - mx) * scale)), int(max(0, (y1 - my) * scale)))
        p2 = (int(min(shape[1] - 1, (x2 + mx) * scale)), int(min(shape[0] - 1, (y2 + my) * scale)))
        cv2.rectangle(mask, p1, p2, 255 if inside else 0, thickness=-1)
    return mask


def track_points(gray0: npt.NDArray[np.uint8], gray1: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8],
                 max_corners: int, min_distance: int, fb_max_px: float) -> tuple[FloatArray, FloatArray]:
    """Corners in ``mask`` of ``gray0`` and where LK finds them in ``gray1`` (scaled px), FB-checked."""
    corners = cv2.goodFeaturesToTrack(gray0, maxCorners=max_corners, qualityLevel=0.01,
                                      minDistance=min_distance, mask=mask, blockSize=5)
    if corners is None or len(corners) == 0:
        empty = np.zeros((0, 2), np.float64)
        return empty, empty
    p0 = corners.astype(np.float32)
    lk = {"winSize": (21, 21), "maxLevel": 3,
          "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(gray0, gray1, p0, None, **lk)  # type: ignore[call-overload]
    back, st2, _ = cv2.calcOpticalFlowPyrLK(gray1, gray0, p1, None, **lk)  # type: ignore[call-overload]
    fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < fb_max_px)
    return p0.reshape(-1, 2)[good].astype(np.float64), p1.reshape(-1, 2)[good].astype(np.float64)


@dataclass(frozen=True, slots=True)
class GreyFrame:
    """A sampled frame in grey at flow resolution: made once per frame, shared by all flow users.

    Attributes:
        gray: The grey image, scaled to at most ``max_width`` wide.
        scale: Scaled px per original px.
    """

    gray: npt.NDArray[np.uint8]
    scale: float

    @classmethod
    def of(cls, image: npt.NDArray[np.uint8], max_width: int) -> GreyFrame:
        """``image`` (BGR or grey, original resolution) in grey, scaled to at most ``max_width`` wide."""
        gray, scale = to_gray_scaled(image, max_width)
        return cls(gray, scale)


class BackgroundFlow:
    """One sampled frame at flow resolution, and the background's sparse flow into it from the previous one.

    Why: the tracker's camera-motion compensation and the motion meter both need the background
    flow between the same two grey frames with the detections masked out. Whoever asks first
    computes it (on first use, then cached); the other gets it for free, and a frame pair that
    nobody asks about costs only its grey frame.

    Args:
        frame: This frame.
        previous: The previous sampled frame, or None on the first one.
        exclude_boxes: Detection boxes of both frames (x1, y1, x2, y2, original px) to mask out,
            grown by ``config.box_margin``.
        config: Flow settings; ``frame`` and ``previous`` are scaled to its ``max_width``.
    """

    def __init__(self, frame: GreyFrame, previous: GreyFrame | None, exclude_boxes: Sequence[Box],
                 config: EgoMotionConfig) -> None:
        self.frame, self.previous, self.config = frame, previous, config
        self.exclude_boxes = tuple(exclude_boxes)
        self._points: PointFlow | None = None
        self._affine: FloatArray | None = None

    @property
    def points(self) -> PointFlow:
        """Background correspondences, previous frame -> this frame, in original pixels (none on a first frame).

        The same points :func:`estimate_egomotion` tracks: Shi-Tomasi corners outside the boxes,
        pyramidal LK, forward-backward checked.
        """
        if self._points is None:
            self._points = PointFlow(np.zeros((0, 2)), np.zeros((0, 2)))
            if self.previous is not None:
                before, config = self.previous, self.config
                mask = box_mask(before.gray.shape[:2], self.exclude_boxes, before.scale, config.box_margin,
                                inside=False)
                p0, p1 = track_points(before.gray, self.frame.gray, mask, config.max_corners, config.min_distance,
                                      config.fb_max_px)
                self._points = PointFlow(p0 / before.scale, p1 / before.scale)
        return self._points

    def camera_affine(self) -> FloatArray:
        """The camera's image motion as a 2x3 affine, previous-frame pixels -> this frame's (see
        :func:`fit_camera_affine`); identity on a first frame."""
        if self._affine is None:
            self._affine = fit_camera_affine(self.points, self.frame.scale, self.config)
        return self._affine.copy()


class BackgroundFlows:
    """Consecutive sampled frames in, each frame's :class:`BackgroundFlow` (from the frame before) out.

    Args:
        config: Flow settings.
    """

    def __init__(self, config: EgoMotionConfig | None = None) -> None:
        self.config = config or EgoMotionConfig()
        self._previous: tuple[GreyFrame, tuple[Box, ...]] | None = None

    def add(self, image: npt.NDArray[np.uint8], boxes: Sequence[Box]) -> BackgroundFlow:
        """The next sampled frame and its detections' boxes (original px); its flow from the previous frame."""
        frame = GreyFrame.of(image, self.config.max_width)
        previous, previous_boxes = self._previous if self._previous is not None else (None, ())
        self._previous = (frame, tuple(boxes))
        return BackgroundFlow(frame, previous, [*previous_boxes, *boxes], self.config)

    def reset(self) -> None:
        """Forget the previous frame: the next one starts afresh (no flow into it)."""
        self._previous = None


def fit_camera_affine(flow: PointFlow, scale: float, config: EgoMotionConfig | None = None) -> FloatArray:
    """The camera's image motion as a 2x3 similarity (turn, zoom, shift) fitted to background points.

    What Ultralytics' GMC fits for its tracker (``cv2.estimateAffinePartial2D`` with RANSAC), but
    on background points only and at flow resolution. Identity when there are fewer than
    ``config.min_points`` points or no fit is found: the tracker then relies on its own motion model.

    Args:
        flow: Background correspondences, original pixels.
        scale: Scaled px per original px at which they were measured (sets the RANSAC tolerance,
            ``config.ransac_px`` scaled px).
        config: Thresholds.
    """
    config = config or EgoMotionConfig()
    if len(flow) < config.min_points:
        return np.eye(2, 3)
    affine, _ = cv2.estimateAffinePartial2D(flow.start, flow.end, method=cv2.RANSAC,
                                            ransacReprojThreshold=config.ransac_px / scale)
    return np.eye(2, 3) if affine is None else np.asarray(affine, np.float64)


def track_boxes_guided(gray0: npt.NDArray[np.uint8], gray1: npt.NDArray[np.uint8],
                       box_pairs: Sequence[tuple[Box, Box]], scale: float, max_per_box: int = 150,
                       fb_max_px: float = 1.0) -> list[PointFlow]:
    """Corners inside each first box tracked into ``gray1``, seeded by the box's own motion.

    Why: plain pyramidal LK on a small box is dominated at the coarse levels by the surrounding
    background and then follows it, which makes a moving car look parked. Seeding each point
    with the tracker's box motion (shift and size change) and refining with a shallow pyramid
    keeps the points on the object; the refinement still corrects a jittery box. One corner
    search and one LK call serve all boxes (speed).

    Args:
        gray0: First frame, grey, scaled by ``scale``.
        gray1: Second frame, same scale.
        box_pairs: (box in the first frame, box in the second), original pixels, per object.
        scale: Scaled px per original px.
        max_per_box: Corners kept per box (strongest first).
        fb_max_px: Forward-backward disagreement above this (scaled px) drops a point.

    Returns:
        Per object, its correspondences in original pixels (possibly empty).
    """
    empty = PointFlow(np.zeros((0, 2)), np.zeros((0, 2)))
    if not box_pairs:
        return []
    mask = box_mask(gray0.shape[:2], [b0 for b0, _ in box_pairs], scale, 0.0, inside=True)
    corners = cv2.goodFeaturesToTrack(gray0, maxCorners=max_per_box * len(box_pairs), qualityLevel=0.001,
                                      minDistance=3, mask=mask, blockSize=5)
    if corners is None or len(corners) == 0:
        return [empty for _ in box_pairs]
    found = corners.reshape(-1, 2).astype(np.float64) / scale
    starts, guesses, owners = [], [], []
    for n, (box0, box1) in enumerate(box_pairs):
        p0 = found[points_in_boxes(found, [box0])][:max_per_box]
        c0 = np.array([(box0[0] + box0[2]) / 2, (box0[1] + box0[3]) / 2])
        c1 = np.array([(box1[0] + box1[2]) / 2, (box1[1] + box1[3]) / 2])
        size = np.sqrt(max(1e-6, (box1[2] - box1[0]) * (box1[3] - box1[1]))
                       / max(1e-6, (box0[2] - box0[0]) * (box0[3] - box0[1])))
        starts.append(p0)
        guesses.append(c1 + (p0 - c0) * size)
        owners.append(np.full(len(p0), n))
    p0s = (np.concatenate(starts) * scale).astype(np.float32).reshape(-1, 1, 2)
    guess = (np.concatenate(guesses) * scale).astype(np.float32).reshape(-1, 1, 2)
    owner = np.concatenate(owners)
    if len(p0s) == 0:
        return [empty for _ in box_pairs]
    lk = {"winSize": (15, 15), "maxLevel": 2,
          "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)}
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(gray0, gray1, p0s, guess, flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                                          **lk)  # type: ignore[call-overload]
    back, st2, _ = cv2.calcOpticalFlowPyrLK(gray1, gray0, p1, p0s.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                                            **lk)  # type: ignore[call-overload]
    fb = np.linalg.norm((back - p0s).reshape(-1, 2), axis=1)
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < fb_max_px)
    a, b = p0s.reshape(-1, 2).astype(np.float64) / scale, p1.reshape(-1, 2).astype(np.float64) / scale
    return [PointFlow(a[good & (owner == n)], b[good & (owner == n)]) for n in range(len(box_pairs))]


def focus_of_expansion(flow: PointFlow, min_flow_px: float = 0.5) -> tuple[float, float] | None:
    """Least-squares point that the flow lines radiate from; None when the flow is not radial.

    Each flow vector defines a line through its start point; the FOE minimises the squared
    distances to all lines. Rejected (None) when the lines do not meet well (pure pan/shake).
    """
    d = flow.end - flow.start
    norm = np.linalg.norm(d, axis=1)
    keep = norm > min_flow_px
    if keep.sum() < 8:
        return None
    n = np.stack([-d[keep, 1], d[keep, 0]], axis=1) / norm[keep, None]  # line normals
    b = (n * flow.start[keep]).sum(axis=1)
    sol, *_ = np.linalg.lstsq(n, b, rcond=None)
    rms = float(np.sqrt(np.mean((n @ sol - b) ** 2)))
    # Radial flow: lines pass within a few percent of the frame of one point.
    span = float(np.ptp(flow.start[:, 0])) + 1.0
    if rms > 0.05 * span:
        return None
    return float(sol[0]), float(sol[1])


def fit_egomotion(flow: PointFlow, t0: float, t1: float, image_width: int, scale: float,
                  config: EgoMotionConfig | None = None) -> EgoMotion:
    """Fit the camera's image motion to background correspondences (original pixels).

    Args:
        flow: Background correspondences (detections already excluded).
        t0: Time of the first frame (s).
        t1: Time of the second frame (s).
        image_width: Original frame width (pixels).
        scale: Scaled px per original px at which the flow was measured (sets the RANSAC tolerance).
        config: Thresholds.
    """
    config = config or EgoMotionConfig()
    identity = np.eye(3)
    if len(flow) < config.min_points:
        median = float(np.median(np.linalg.norm(flow.end - flow.start, axis=1))) if len(flow) else 0.0
        return EgoMotion(t0, t1, identity, False, len(flow), 0, median, image_width, False, None, flow)
    h, inliers = cv2.findHomography(flow.start, flow.end, cv2.RANSAC, config.ransac_px / scale)
    if h is None:
        h, inliers = identity, np.zeros((len(flow), 1), np.uint8)
    n_in = int(inliers.sum())
    median = float(np.median(np.linalg.norm(flow.end - flow.start, axis=1)))
    if n_in < config.min_inlier_share * len(flow):
        return EgoMotion(t0, t1, identity, False, len(flow), n_in, median, image_width, False, None, flow)
    # How far the fitted motion moves the corners of the area the points cover: a forward-moving
    # camera barely moves far points (a median would miss it) but expands the frame's edges.
    lo, hi = flow.start.min(axis=0), flow.start.max(axis=0)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]]], np.float64)
    moved = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), np.asarray(h, np.float64)).reshape(-1, 2)
    camera_px = float(np.mean(np.linalg.norm(moved - corners, axis=1)))
    rate = camera_px / image_width / max(t1 - t0, 1e-3)
    moving = rate > config.moving_flow_share
    foe = focus_of_expansion(flow.select(inliers.ravel() == 1)) if moving else None
    return EgoMotion(t0, t1, np.asarray(h, np.float64), True, len(flow), n_in, median, image_width, moving, foe,
                     flow)


def estimate_egomotion(image0: npt.NDArray[np.uint8], image1: npt.NDArray[np.uint8], t0: float, t1: float,
                       exclude_boxes: Sequence[Box] = (), config: EgoMotionConfig | None = None,
                       flow: PointFlow | None = None) -> EgoMotion:
    """The camera's image motion between two frames, from the background outside ``exclude_boxes``.

    Args:
        image0: First frame, BGR or grey, original resolution.
        image1: Second frame.
        t0: Time of the first frame (s, PTS).
        t1: Time of the second frame.
        exclude_boxes: Detection boxes (x1, y1, x2, y2, original px) of both frames to mask out.
        config: Settings.
        flow: Precomputed correspondences in original pixels (e.g. from codec motion vectors);
            skips the LK step. Points inside ``exclude_boxes`` are dropped.
    """
    config = config or EgoMotionConfig()
    width = int(image0.shape[1])
    if flow is not None:
        keep = ~points_in_boxes(flow.start, exclude_boxes, config.box_margin)
        return fit_egomotion(flow.select(keep), t0, t1, width, 1.0, config)
    g0, scale = to_gray_scaled(image0, config.max_width)
    g1, _ = to_gray_scaled(image1, config.max_width)
    mask = box_mask(g0.shape[:2], exclude_boxes, scale, config.box_margin, inside=False)
    p0, p1 = track_points(g0, g1, mask, config.max_corners, config.min_distance, config.fb_max_px)
    return fit_egomotion(PointFlow(p0 / scale, p1 / scale), t0, t1, width, scale, config)


def points_in_boxes(points: FloatArray, boxes: Sequence[Box], margin: float = 0.0) -> npt.NDArray[np.bool_]:
    """Whether each point (Nx2) lies in any of the boxes (grown by ``margin`` of their size)."""
    inside = np.zeros(len(points), bool)
    for x1, y1, x2, y2 in boxes:
        mx, my = margin * (x2 - x1), margin * (y2 - y1)
        inside |= ((points[:, 0] >= x1 - mx) & (points[:, 0] <= x2 + mx)
                   & (points[:, 1] >= y1 - my) & (points[:, 1] <= y2 + my))
    return inside
