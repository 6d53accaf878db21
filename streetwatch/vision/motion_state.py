"""Is a tracked vehicle parked, moving, or stopped in traffic? Read from the footage itself.

Why: without this, every car a patrol car passes becomes an "illegal parking" item. The test is
relative motion: between two sampled frames the camera's own motion (``egomotion``) predicts where
a piece of the stationary world should go. A parked car goes there (residual ~ 0 relative to its
size); a car driving with the patrol car stays put while the background flows; an oncoming or
crossing car moves otherwise. Residuals are in box diagonals per second, so near and far,
5 fps and 8 fps footage share thresholds.

Two cases cannot be decided by motion and say so in ``reason``:
- the camera is (nearly) stationary, or the vehicle sits where the background barely moves (far
  ahead, near the focus of expansion): a still vehicle may be parked or waiting. Only dwell
  decides: still for ``min_dwell_s`` or more is parked, less is ``unknown``.
- still relative to the ground, yet parked or queued? The image position is the proxy: a foot
  point low and near the road's centre line (the focus of expansion, else the image centre) is in
  a travel lane ahead -> ``stopped_in_traffic``; toward the edges (kerb side) -> ``parked``.

GPS-derived ground positions per sighting, when available, can override (``apply_gps_evidence``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

import numpy as np

from streetwatch.vision.egomotion import (
    Box,
    EgoMotion,
    PointFlow,
    points_in_boxes,
)

State = Literal["parked", "moving", "stopped_in_traffic", "unknown"]
PairKind = Literal["still", "moving", "ambiguous"]
K = TypeVar("K", bound=Hashable)  # a track key: the tracker id, or anything hashable
MOVABLE_CLASSES = frozenset({"car", "bus", "truck", "motorcycle", "bicycle"})


@dataclass(frozen=True, slots=True)
class MotionStateConfig:
    """Decision thresholds. Rates are in box diagonals per second.

    Attributes:
        still_rate: Residual below this: the vehicle moved with the ground in that pair.
        moving_rate: Residual above this: it moved relative to the ground.
        informative_rate: The background must move at least this fast at the vehicle for a still
            pair to prove anything (a car driving with us would then show a residual this big).
        min_object_points: Fewer tracked points inside the box: use the box corners instead.
        box_shrink: Share of the box trimmed on each side before taking its points (background leak).
        moving_share: This share of pairs moving (and at least one) -> moving.
        parked_share: This share of the decisive pairs still-and-informative -> parked/stopped.
            A short track with no moving pair at all needs one informative pair more than
            ``min_informative_pairs`` and half the decisive pairs (a walk of two seconds past a
            parked car gives a handful of pairs, some blurred into "ambiguous").
        min_informative_pairs: Fewer still-and-informative pairs cannot prove parked.
        min_dwell_s: Still this long with no informative pair (stationary camera) -> parked.
        lane_half_width: Foot point within this share of the frame width of the centre line, and
            below it, is in a travel lane ahead.
        ring: Background points within this share of the box size around it correct the
            homography's prediction locally (parallax); 0 = global homography only.
        lane_right_m: With a ground position: a vehicle at most this far right of the camera's line
            of travel is in a travel lane (the patrol car drives the kerb lane: farther right is the
            kerb). Used instead of the image proxy when the lateral offset is known.
        lane_left_m: ... and at most this far left (the lanes each way of a wide street: in China the
            left side is traffic, the far kerb is patrolled on the way back).
    """

    still_rate: float = 0.12
    moving_rate: float = 0.30
    informative_rate: float = 0.30
    min_object_points: int = 4
    box_shrink: float = 0.15
    moving_share: float = 0.4
    parked_share: float = 0.75
    min_informative_pairs: int = 2
    min_dwell_s: float = 45.0
    lane_half_width: float = 0.12
    ring: float = 0.5
    lane_right_m: float = 1.5
    lane_left_m: float = 12.0


@dataclass(frozen=True, slots=True)
class PairEvidence:
    """One track between two consecutive sampled frames.

    Attributes:
        t0: Time of the first sighting (s).
        t1: Time of the second sighting (s).
        residual_rate: Median |observed - predicted| point motion, box diagonals per second.
        predicted_rate: Median predicted (background) motion at the vehicle, box diagonals per second.
        camera_moving: Whether the camera itself moved in this pair.
        n_points: Points inside the box used (0 = box corners were used).
        kind: still / moving / ambiguous by the thresholds.
        informative: A still pair where the background moved enough to tell.
    """

    t0: float
    t1: float
    residual_rate: float
    predicted_rate: float
    camera_moving: bool
    n_points: int
    kind: PairKind
    informative: bool


@dataclass(frozen=True, slots=True)
class MotionEstimate:
    """The motion state of one track.

    Attributes:
        state: parked, moving, stopped_in_traffic or unknown.
        score: Confidence in ``state``, 0..1 (0 for unknown).
        stationary_sightings: Sightings that belong to a still pair.
        total_sightings: Sightings of the track.
        median_residual_px_norm: Median residual over the pairs, in box diagonals per second.
        reason: Why, in words (shown to reviewers).
        ground_summary: When the ground positions (GPS) decided a still state, what they showed, in
            words ("its ground position held within 0.3 m over 14 sightings while the patrol car
            drove 16 m"); None when the image decided.
    """

    state: State
    score: float
    stationary_sightings: int
    total_sightings: int
    median_residual_px_norm: float
    reason: str
    ground_summary: str | None = None


@dataclass(frozen=True, slots=True)
class GpsEvidence:
    """Ground positions of one track's sightings (from triangulation with GPS), local metres.

    Attributes:
        positions: (t, east_m, north_m) per sighting.
        expected_drift_m: Spread a still object shows from GPS and triangulation error alone.
        camera_travel_m: How far the camera itself moved between the first and the last placed
            sighting (metres), None when unknown. Needed before the ground can overrule the image:
            a car driving with a camera whose GPS froze would also stay put on the ground.
    """

    positions: Sequence[tuple[float, float, float]]
    expected_drift_m: float = 4.0
    camera_travel_m: float | None = None


def _diag(box: Box) -> float:
    return max(1.0, float(np.hypot(box[2] - box[0], box[3] - box[1])))


def shrunk(box: Box, share: float) -> Box:
    dx, dy = share * (box[2] - box[0]), share * (box[3] - box[1])
    return box[0] + dx, box[1] + dy, box[2] - dx, box[3] - dy


def pair_evidence(ego: EgoMotion, box0: Box, box1: Box, object_flow: PointFlow,
                  config: MotionStateConfig) -> PairEvidence:
    """Compare a vehicle's own motion with the background's prediction at its position.

    Args:
        ego: Background motion of the frame pair.
        box0: The vehicle's box in the first frame (original px).
        box1: Its box in the second frame.
        object_flow: Point correspondences of the frame pair inside detection boxes (any).
        config: Thresholds.
    """
    dt = max(ego.dt, 1e-3)
    diag = _diag(box0)
    inside = points_in_boxes(object_flow.start, [shrunk(box0, config.box_shrink)])
    correction = ego.local_correction(box0, config.ring) if config.ring > 0 else np.zeros(2)
    if inside.sum() >= config.min_object_points:
        start, end = object_flow.start[inside], object_flow.end[inside]
        predicted = ego.predict(start) + correction
        residual = float(np.median(np.linalg.norm(end - predicted, axis=1)))
        predicted_move = float(np.median(np.linalg.norm(predicted - start, axis=1)))
        n_points = int(inside.sum())
    else:  # too few corners (small, far, textureless): the box corners, noisier
        corners0 = np.array([[box0[0], box0[1]], [box0[2], box0[1]], [box0[0], box0[3]], [box0[2], box0[3]]], float)
        corners1 = np.array([[box1[0], box1[1]], [box1[2], box1[1]], [box1[0], box1[3]], [box1[2], box1[3]]], float)
        predicted = ego.predict(corners0) + correction
        residual = float(np.mean(np.linalg.norm(corners1 - predicted, axis=1)))
        predicted_move = float(np.mean(np.linalg.norm(predicted - corners0, axis=1)))
        n_points = 0
    residual_rate, predicted_rate = residual / diag / dt, predicted_move / diag / dt
    return relabel(PairEvidence(ego.t0, ego.t1, residual_rate, predicted_rate, ego.camera_moving, n_points,
                                "ambiguous", False), config)


def relabel(evidence: PairEvidence, config: MotionStateConfig) -> PairEvidence:
    """The pair's kind and informativeness under ``config`` (the rates are measured once)."""
    kind: PairKind = ("still" if evidence.residual_rate < config.still_rate
                      else "moving" if evidence.residual_rate > config.moving_rate else "ambiguous")
    informative = kind == "still" and evidence.predicted_rate >= config.informative_rate
    return replace(evidence, kind=kind, informative=informative)


def _longest_still_s(evidence: Sequence[PairEvidence]) -> float:
    """Longest run of back-to-back still pairs, in seconds."""
    best = run = 0.0
    last_t1: float | None = None
    for e in evidence:
        if e.kind != "still":
            run, last_t1 = 0.0, None
            continue
        run = run + (e.t1 - e.t0) if last_t1 is not None and abs(e.t0 - last_t1) < 1e-6 else e.t1 - e.t0
        last_t1 = e.t1
        best = max(best, run)
    return best


def in_travel_lane(box: Box, frame_width: int, centre: tuple[float, float] | None,
                   config: MotionStateConfig) -> bool:
    """Whether a box's foot point is low and near the road's centre line (a lane ahead)."""
    cx = centre[0] if centre is not None else frame_width / 2
    foot_x, foot_y = (box[0] + box[2]) / 2, box[3]
    below = centre is None or foot_y > centre[1]
    return below and abs(foot_x - cx) < config.lane_half_width * frame_width


def in_lane(box: Box, frame_width: int, centre: tuple[float, float] | None, config: MotionStateConfig,
            lateral_m: float | None = None) -> bool:
    """In a travel lane: by the lateral offset from the camera's line of travel when it is known
    (ground geometry), by the box's image position (:func:`in_travel_lane`) otherwise."""
    if lateral_m is not None and math.isfinite(lateral_m):
        return -config.lane_left_m <= lateral_m <= config.lane_right_m
    return in_travel_lane(box, frame_width, centre, config)


def classify_track(sightings: Sequence[tuple[float, Box]], evidence: Sequence[PairEvidence], frame_width: int,
                   foe_xy: tuple[float, float] | None, config: MotionStateConfig | None = None,
                   unmeasured_pairs: int = 0, vehicle_camera: bool = False,
                   lateral_m: float | None = None) -> MotionEstimate:
    """Decide a track's state from its per-pair evidence.

    Args:
        sightings: (pts_s, box) of the track, in time order.
        evidence: One entry per consecutive pair of sightings that could be measured.
        frame_width: Original frame width (pixels), for the lane proxy.
        foe_xy: Median focus of expansion of the video (or None: the image centre is used).
        config: Thresholds.
        unmeasured_pairs: Pairs skipped because no background could be fitted (named in the reason).
        vehicle_camera: The camera moved at some point of the video (dashcam, not CCTV): a long
            still spell then happened while the patrol car stood, and the lane proxy applies to it.
        lateral_m: The vehicle's offset right of the camera's line of travel (metres), when ranged:
            decides the lane instead of the image proxy.
    """
    config = config or MotionStateConfig()
    evidence = [relabel(e, config) for e in evidence]
    n = len(sightings)
    if not evidence:
        why = f"; {unmeasured_pairs} pair(s) without visible background" if unmeasured_pairs else ""
        return MotionEstimate("unknown", 0.0, 0, n, float("nan"), f"{n} sighting(s), no measurable frame pair{why}")
    residual = float(np.median([e.residual_rate for e in evidence]))
    still_times = {t for e in evidence if e.kind == "still" for t in (e.t0, e.t1)}
    n_still = sum(1 for t, _ in sightings if t in still_times)
    n_moving = sum(e.kind == "moving" for e in evidence)
    n_informative = sum(e.informative for e in evidence)
    decisive = n_informative + n_moving + sum(e.kind == "ambiguous" for e in evidence)
    counts = f"{len(evidence)} pairs: {n_informative} still vs moving background, {n_moving} moving"
    if unmeasured_pairs:
        counts += f", {unmeasured_pairs} without visible background"

    def result(state: State, score: float, why: str) -> MotionEstimate:
        return MotionEstimate(state, round(float(np.clip(score, 0.0, 1.0)), 3), n_still, n, residual,
                              f"{why} ({counts}; median residual {residual:.2f} box/s)")

    if n_moving >= 1 and n_moving >= config.moving_share * len(evidence):
        return result("moving", n_moving / len(evidence), "moves relative to the background")
    never_moved = (n_moving == 0 and n_informative >= config.min_informative_pairs + 1
                   and n_informative >= decisive / 2)
    if n_informative >= config.min_informative_pairs and (n_informative >= config.parked_share * decisive
                                                          or never_moved):
        score = n_informative / decisive * min(1.0, n_informative / 4)
        mid_box = sightings[n // 2][1]
        if in_lane(mid_box, frame_width, foe_xy, config, lateral_m):
            return result("stopped_in_traffic", score, "moves with the ground while the camera moves, "
                                                       "in a travel lane ahead (image-position proxy)")
        return result("parked", score, "moves with the ground while the camera moves, at the road side")
    dwell = _longest_still_s(evidence)
    if dwell >= config.min_dwell_s:
        score = 0.5 + 0.5 * min(1.0, dwell / (2 * config.min_dwell_s))
        if vehicle_camera and in_lane(sightings[n // 2][1], frame_width, foe_xy, config, lateral_m):
            return result("stopped_in_traffic", score, f"still for {dwell:.0f} s while the camera stood too, in a "
                                                       "travel lane ahead (image-position proxy)")
        return result("parked", score, f"still for {dwell:.0f} s (>= {config.min_dwell_s:.0f} s dwell)")
    if n_still and not n_informative:
        camera_moved = sum(e.camera_moving for e in evidence) > len(evidence) / 2
        where = ("the background at it barely moves (far ahead, or moving with the camera)" if camera_moved
                 else "the camera is stationary")
        return result("unknown", 0.0, f"still in the image for {dwell:.1f} s but {where}: parked and waiting look "
                                      f"alike; dwell < {config.min_dwell_s:.0f} s")
    return result("unknown", 0.0, "evidence too weak or mixed")


def near_corner_box(box: Box, centre_x: float) -> Box:
    """A zero-width box at the near outer bottom corner of a vehicle seen obliquely, for ground positions.

    Why: the bottom-centre of the box of a car beside the road is no point of the car: the box
    spans from its far inner corner to its near outer one, and that span widens as the car comes
    closer, so its flat-ground position slides sideways while the car stands still (0.36 m passing
    a car 3.6 m right of the path from 30 m to 8 m; more on a turn or a wider angle). The
    near outer corner (the right edge of a box right of the road's centre line, the left edge left
    of it) stays the same point of the car; the box's bottom row is that corner's row. A box across
    the centre line (a car ahead) keeps its bottom-centre, the middle of its rear.
    """
    x1, y1, x2, y2 = box
    if x1 > centre_x:
        return x2, y1, x2, y2
    if x2 < centre_x:
        return x1, y1, x1, y2
    return box


GROUND_STILL_MIN_SIGHTINGS = 8
GROUND_STILL_MIN_SPAN_S = 2.0


def _ground_proves_still(gps: GpsEvidence, spread: float, span_s: float) -> bool:
    """Whether the ground positions alone prove a vehicle stood still (see :func:`apply_gps_evidence`)."""
    return (gps.camera_travel_m is not None and len(gps.positions) >= GROUND_STILL_MIN_SIGHTINGS
            and span_s >= GROUND_STILL_MIN_SPAN_S and spread <= gps.expected_drift_m / 2
            and gps.camera_travel_m >= 3 * gps.expected_drift_m)


def apply_gps_evidence(estimate: MotionEstimate, gps: GpsEvidence, in_lane: bool = False) -> MotionEstimate:
    """Let ground positions from GPS triangulation override the image-only estimate.

    A travel well beyond GPS/triangulation error over the track means it drove; a travel within
    it over a few sightings means it stood still (then the lane proxy still separates parked from
    stopped in traffic). Fewer than 3 positions leave the estimate as it is.

    The travel is the distance between the median position of the first third of the sightings
    and that of the last third: single ranging outliers (a pitch jolt, a box cut short, a GPS
    heading gone wild at walking pace) move a median little, a vehicle that drives moves both.

    The ground overrules an image verdict of "moving" only when it is strong: at least
    ``GROUND_STILL_MIN_SIGHTINGS`` placed sightings over ``GROUND_STILL_MIN_SPAN_S`` seconds that stay
    within half the expected drift while the camera itself travelled three times that drift. The
    image residual of a car body close to a passing camera is parallax (its points stand above the
    ground plane the background fit follows); the ground positions of its sightings have none.
    """
    if len(gps.positions) < 3:
        return estimate
    ordered = sorted(gps.positions)
    third = max(1, len(ordered) // 3)
    first = np.median(np.array([(e, n) for _, e, n in ordered[:third]], float), axis=0)
    last = np.median(np.array([(e, n) for _, e, n in ordered[-third:]], float), axis=0)
    spread = float(np.linalg.norm(last - first))
    span_s = max(t for t, _, _ in gps.positions) - min(t for t, _, _ in gps.positions)
    if spread > 3 * gps.expected_drift_m:
        return replace(estimate, state="moving", score=max(estimate.score, 0.8),
                       reason=f"GPS: ground position moved {spread:.1f} m over {span_s:.1f} s; " + estimate.reason)
    if estimate.state == "moving" and _ground_proves_still(gps, spread, span_s):
        state_: State = "stopped_in_traffic" if in_lane else "parked"
        held = (f"its ground position held within {spread:.1f} m over {len(gps.positions)} sightings while the "
                f"patrol car drove {gps.camera_travel_m:.0f} m")
        return replace(estimate, state=state_, score=0.7, ground_summary=held,
                       reason=f"GPS: {held} in {span_s:.1f} s; the image residual is read as parallax of a body "
                              f"standing above the road. Image: " + estimate.reason)
    if spread <= gps.expected_drift_m and estimate.state in ("unknown", "parked", "stopped_in_traffic"):
        state: State = "stopped_in_traffic" if in_lane else "parked"
        if estimate.state == "unknown" and span_s < 5.0:
            return estimate  # too short to trust the ground positions alone
        return replace(estimate, state=state, score=max(estimate.score, 0.7),
                       ground_summary=(f"its ground position held within {spread:.1f} m over {span_s:.0f} s"
                                       if estimate.state == "unknown" else estimate.ground_summary),
                       reason=f"GPS: ground positions within {spread:.1f} m over {span_s:.1f} s; " + estimate.reason)
    return estimate
