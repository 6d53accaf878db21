"""Motion state while the footage streams: one frame pair at a time, two grey frames in memory.

:func:`streetwatch.vision.motion_state.estimate_motion_states` measures a whole clip at once;
the pipeline cannot hold an hour of frames, so :class:`MotionMeter` does the same measurement
frame by frame (each new sampled frame against the previous one) and decides a track's state
when the track ends, from the evidence gathered for it and the video's focus of expansion so far.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from streetwatch.vision.egomotion import (
    BackgroundFlow,
    Box,
    EgoMotionConfig,
    PointFlow,
    box_mask,
    fit_egomotion,
    to_gray_scaled,
    track_boxes_guided,
    track_points,
)
from streetwatch.vision.motion_state import (
    GpsEvidence,
    MotionEstimate,
    MotionStateConfig,
    PairEvidence,
    apply_gps_evidence,
    classify_track,
    in_lane,
    pair_evidence,
    shrunk,
)

K = TypeVar("K", bound=Hashable)  # a track key: the tracker id, or anything hashable
FOE_MEMORY = 600   # frame pairs whose focus of expansion is remembered (2 min at 5 fps)


@dataclass(frozen=True, slots=True)
class _Sampled(Generic[K]):
    pts_s: float
    gray: npt.NDArray[np.uint8]
    scale: float
    shape: tuple[int, int]
    tracked: Mapping[K, Box]
    others: Sequence[Box]
    background: BackgroundFlow | None   # the shared flow into this frame, when the caller gave one


class MotionMeter(Generic[K]):
    """Measures every tracked movable object against the background, frame pair by frame pair.

    Args:
        config: Decision thresholds.
        ego_config: Background-flow settings.
        on_focus: Called with every frame pair's focus of expansion (original pixels), e.g. to
            find the horizon (:class:`streetwatch.vision.calibration.SelfCalibration`).
    """

    def __init__(self, config: MotionStateConfig | None = None, ego_config: EgoMotionConfig | None = None,
                 on_focus: Callable[[tuple[float, float]], None] | None = None) -> None:
        self.config = config or MotionStateConfig()
        self._on_focus = on_focus
        self.ego_config = ego_config or EgoMotionConfig()
        self._previous: _Sampled[K] | None = None
        self._evidence: dict[K, list[PairEvidence]] = {}
        self._unmeasured: dict[K, int] = {}
        self._foes: deque[tuple[float, float]] = deque(maxlen=FOE_MEMORY)
        self._camera_moved = 0
        self._pairs = 0
        self._width = 0

    def update(self, pts_s: float, image: npt.NDArray[np.uint8], tracked: Mapping[K, Box],
               others: Sequence[Box] = (), background: BackgroundFlow | None = None) -> None:
        """Add one sampled frame: ``tracked`` are the movable objects' boxes by track id, ``others``
        every other detection (kept out of the background).

        ``background``, when given, is this frame's shared :class:`BackgroundFlow` from the previous
        sampled frame (made with this meter's ``ego_config``, all detections of both frames masked
        out: ``others`` must then include the ``tracked`` boxes). The meter takes its grey frame and
        background points from it instead of computing them (same values: the results do not change).
        """
        self._width = int(image.shape[1])
        if not tracked:   # nothing to measure: no flow is computed (fixed cameras on empty streets cost ~0)
            self._previous = None
            return
        if background is not None:
            if background.config != self.ego_config:
                raise ValueError("the shared background flow was made with other settings than this meter's")
            gray, scale = background.frame.gray, background.frame.scale
        else:
            gray, scale = to_gray_scaled(image, self.ego_config.max_width)
        here = _Sampled(pts_s, gray, scale, (int(image.shape[0]), int(image.shape[1])), dict(tracked), tuple(others),
                        background)
        before, self._previous = self._previous, here
        if before is None:
            return
        both = [k for k in before.tracked if k in here.tracked]
        if not both:
            return
        self._measure(before, here, both)

    def _measure(self, a: _Sampled[K], b: _Sampled[K], both: list[K]) -> None:
        ego_config = self.ego_config
        shared = b.background
        if shared is not None and shared.previous is not None and shared.previous.gray is a.gray:
            background = shared.points   # computed once for the pair, maybe already by the tracker
        else:
            mask_boxes = [*a.tracked.values(), *b.tracked.values(), *a.others, *b.others]
            bg_mask = box_mask(a.gray.shape[:2], mask_boxes, a.scale, ego_config.box_margin, inside=False)
            p0, p1 = track_points(a.gray, b.gray, bg_mask, ego_config.max_corners, ego_config.min_distance,
                                  ego_config.fb_max_px)
            background = PointFlow(p0 / a.scale, p1 / a.scale)
        # the boxes are already masked out of the flow: fit it as estimate_egomotion does a given flow
        ego = fit_egomotion(background, a.pts_s, b.pts_s, a.shape[1], 1.0, ego_config)
        if ego.foe_xy is not None:
            self._foes.append(ego.foe_xy)
            if self._on_focus is not None:
                self._on_focus(ego.foe_xy)
        if not ego.ok:   # no background to compare with (boxes fill the frame, featureless scene)
            for k in both:
                self._unmeasured[k] = self._unmeasured.get(k, 0) + 1
            return
        self._pairs += 1
        self._camera_moved += int(ego.camera_moving)
        shrink = self.config.box_shrink
        flows = track_boxes_guided(a.gray, b.gray, [(shrunk(a.tracked[k], shrink), shrunk(b.tracked[k], shrink))
                                                    for k in both], a.scale, fb_max_px=ego_config.fb_max_px)
        for k, object_flow in zip(both, flows, strict=True):
            self._evidence.setdefault(k, []).append(
                pair_evidence(ego, a.tracked[k], b.tracked[k], object_flow, self.config))

    @property
    def focus_of_expansion(self) -> tuple[float, float] | None:
        """Median focus of expansion of the video so far, or None (too few radial-flow pairs)."""
        if len(self._foes) < 3:
            return None
        xs, ys = zip(*self._foes, strict=True)
        return float(np.median(xs)), float(np.median(ys))

    @property
    def camera_moved_share(self) -> float:
        """Share of measured frame pairs in which the camera itself moved."""
        return self._camera_moved / self._pairs if self._pairs else 0.0

    def estimate(self, key: K, sightings: Sequence[tuple[float, Box]],
                 gps: GpsEvidence | None = None, lateral_m: float | None = None) -> MotionEstimate:
        """The state of track ``key`` from its (pts_s, box) sightings and the evidence measured so far;
        ``lateral_m`` (its offset right of the camera's line of travel, when ranged) decides the lane."""
        ordered = sorted(sightings, key=lambda s: s[0])
        foe = self.focus_of_expansion
        estimate = classify_track(ordered, self._evidence.get(key, ()), self._width, foe, self.config,
                                  self._unmeasured.get(key, 0), vehicle_camera=self.camera_moved_share >= 0.1,
                                  lateral_m=lateral_m)
        if gps is not None and ordered:
            lane = in_lane(ordered[len(ordered) // 2][1], self._width, foe, self.config, lateral_m)
            estimate = apply_gps_evidence(estimate, gps, lane)
        return estimate

    def forget(self, key: K) -> None:
        """Drop a finished track's evidence (memory stays bounded on long footage)."""
        self._evidence.pop(key, None)
        self._unmeasured.pop(key, None)


def estimate_motion_states(
    frames: Sequence[tuple[float, npt.NDArray[np.uint8]]],
    tracks: Mapping[K, Sequence[tuple[float, Box]]],
    *,
    other_boxes: Mapping[float, Sequence[Box]] | None = None,
    gps: Mapping[K, GpsEvidence] | None = None,
    config: MotionStateConfig | None = None,
    ego_config: EgoMotionConfig | None = None,
) -> dict[K, MotionEstimate]:
    """Motion state of every track of a short clip held in memory (tests, evaluation).

    Args:
        frames: (pts_s, BGR image) of the sampled frames, in time order.
        tracks: Per track, its sightings (pts_s, xyxy box in original px), pts matching ``frames``.
        other_boxes: Per frame time, more boxes to keep out of the background (people, untracked).
        gps: Optional per-track ground positions that can override the image evidence.
        config: Decision thresholds.
        ego_config: Background-flow settings.
    """
    meter: MotionMeter[K] = MotionMeter(config, ego_config)
    for pts_s, image in frames:
        here = {key: box for key, seq in tracks.items() for t, box in seq if abs(t - pts_s) < 1e-3}
        meter.update(pts_s, image, here, (other_boxes or {}).get(pts_s, ()))
    return {key: meter.estimate(key, seq, (gps or {}).get(key)) for key, seq in tracks.items()}
