"""Simulated traffic beside parked cars: is any moving vehicle filed, is every parked one found?

The patrol car drives a straight street in its kerb lane with a dashcam whose pitch and height
the pipeline is *not* told (it self-calibrates, :mod:`streetwatch.vision.calibration`). Around it:

- cars parked at both kerbs;
- traffic in two lanes each way, cars following each other (a gap-keeping car-following model):
  the same direction as the patrol car (ahead of it, overtaking, being overtaken) and oncoming;
- a stop-and-go jam on one stretch (everyone, the patrol car too, crawls and stops);
- a traffic light: the patrol car and the queues in both directions stand for its red phase.

What the dashcam sees: each vehicle is a 3-D box (a car's size +-8 %) projected through the true
camera (pitch and yaw jitter per frame) at 5 fps while within 40 m ahead; boxes get pixel noise,
some are missed. Occlusion and tracker errors are not modelled: a vehicle is one track.

How each track is classified (the pipeline's own functions):
- the image-residual path, simulated: for each pair of sightings the background flow's prediction
  is where a *ground-fixed* object at the vehicle's earlier position would appear from the later
  camera pose, and the residual is how far the vehicle's box is from it (plus point-flow noise);
  these :class:`PairEvidence` go to ``classify_track``. The real flow fit's own failures (no
  texture, parallax at box edges, boxes filling the frame) are not simulated;
- the GPS ground-evidence path: per-sighting flat-ground positions from the noisy GPS pose and the
  self-calibrated camera (as ``pipeline.run``'s ``_ground_evidence``), ``apply_gps_evidence``;
- the lane: the vehicle's median flat-ground offset right of the camera's line of travel
  (``median_lateral_m``, as the pipeline does when it has GPS), ``in_lane``.
Both are reported together (as the pipeline runs them) and the GPS path alone (as if no image
pair could be measured). A vehicle counts as *filed* when its state is ``parked`` (the parking
rule files only those; ``unknown`` ones need an earlier pass).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from pyproj import Transformer

from streetwatch.core.geo import LocalPlane
from streetwatch.core.types import LocationStatus
from streetwatch.datasets.simulated_world import LanePath, SimulationConfig, gps_track
from streetwatch.pipeline.geolocate import locate_object
from streetwatch.vision.calibration import SelfCalibration, choose_camera
from streetwatch.vision.geometry import CameraModel, ObjectSize, median_lateral_m
from streetwatch.vision.motion_state import (
    GpsEvidence,
    MotionEstimate,
    MotionStateConfig,
    PairEvidence,
    apply_gps_evidence,
    classify_track,
    in_lane,
    near_corner_box,
    relabel,
)

STATES = ("parked", "moving", "stopped_in_traffic", "unknown")
TRUTHS = ("parked", "parked_far_kerb", "moving", "stopped_in_traffic")
CAR = ObjectSize(4.5, 1.8, 1.5)           # the taxonomy's car; real cars are this +- size_spread
LANES_EAST = (5.25, 1.75)                 # metres right of the road centre; the patrol car drives the first
LANES_WEST = (-1.75, -5.25)
KERB = 8.5
GPS_MOTION_MAX_RANGE_M = 30.0             # as pipeline.run
TRUE_CAMERA = CameraModel(hfov_deg=100.0, mount_height_m=1.45, pitch_deg=7.5)
CONFIGURED_CAMERA = CameraModel(hfov_deg=100.0)   # the pipeline's defaults: 5 deg, 1.3 m
GPS_NOISE = SimulationConfig()            # GPS noise as in the geolocation simulation


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """One simulated street. The true camera is what the pipeline must find out for itself."""

    seed: int = 7
    street_m: float = 640.0
    true_camera: CameraModel = TRUE_CAMERA
    configured_camera: CameraModel = CONFIGURED_CAMERA
    width: int = 1280
    height: int = 720
    fps: float = 5.0
    dt: float = 0.1
    patrol_speed_mps: float = 9.0
    cruise_mps: tuple[float, float] = (7.0, 13.0)
    vehicles_per_lane: int = 14
    parked_gap_m: tuple[float, float] = (7.0, 30.0)
    jam_m: tuple[float, float] = (180.0, 300.0)
    light_m: float = 470.0
    red_s: tuple[float, float] = (75.0, 105.0)
    max_range_m: float = 40.0
    pitch_jitter_deg: float = 0.5
    yaw_jitter_deg: float = 0.5
    box_noise_px: float = 2.0
    box_noise_frac: float = 0.03
    flow_noise_px: float = 0.5
    flow_noise_frac: float = 0.01
    foe_noise_frac: float = 0.03           # the focus of expansion's error, share of the frame height
    miss_rate: float = 0.1
    size_spread: float = 0.08
    gps: SimulationConfig = GPS_NOISE


@dataclass(slots=True)
class _Vehicle:
    index: int
    lane: float                            # metres right of the centre; parked: its kerb offset
    direction: float                       # +1 east, -1 west, 0 parked
    u: float                               # position along its direction of travel (x for east, -x west)
    cruise: float
    size: ObjectSize
    speed: float = 0.0
    history: list[tuple[float, float]] = dataclasses.field(default_factory=list)   # (t, x)

    def x(self) -> float:
        return self.u if self.direction >= 0 else -self.u


@dataclass(frozen=True, slots=True)
class TrafficReport:
    """The confusion of motion states and the calibration's error."""

    config: TrafficConfig
    confusion: dict[str, Counter[str]]        # truth -> predicted -> tracks (image + GPS)
    confusion_gps_only: dict[str, Counter[str]]
    pitch_error_deg: float
    pitch_sigma_deg: float | None
    height_error_m: float
    height_sigma_m: float | None
    camera_source: str

    @staticmethod
    def _filed_share(confusion: dict[str, Counter[str]]) -> tuple[float, float]:
        moving = [c for truth, c in confusion.items() if not truth.startswith("parked")]
        n_moving = sum(sum(c.values()) for c in moving)
        filed = sum(c["parked"] for c in moving)
        parked = confusion.get("parked", Counter())
        return (100.0 * filed / max(n_moving, 1), 100.0 * parked["parked"] / max(sum(parked.values()), 1))

    @property
    def moving_filed_pct(self) -> float:
        """Share of not-parked vehicles (driving or waiting in a lane) that would be filed."""
        return self._filed_share(self.confusion)[0]

    @property
    def parked_found_pct(self) -> float:
        """Share of the cars parked at the patrol car's kerb found parked."""
        return self._filed_share(self.confusion)[1]

    @property
    def parked_all_found_pct(self) -> float:
        """Share of all parked cars, both kerbs, found parked."""
        rows = [c for truth, c in self.confusion.items() if truth.startswith("parked")]
        return 100.0 * sum(c["parked"] for c in rows) / max(sum(sum(c.values()) for c in rows), 1)

    @property
    def passed(self) -> bool:
        return self.moving_filed_pct <= 5.0 and self.parked_found_pct >= 90.0


def _stop_go(t: float, phase: float) -> float:
    """Jam speed factor: crawl, stop, crawl (a 14 s wave)."""
    return float(np.clip(0.3 + 0.9 * math.sin(2.0 * math.pi * t / 14.0 + phase), 0.0, 1.0)) * 0.3


def _spawn(config: TrafficConfig, rng: np.random.Generator) -> tuple[_Vehicle, list[_Vehicle]]:
    """The patrol car and every other vehicle (parked ones first)."""
    vehicles: list[_Vehicle] = []

    def size() -> ObjectSize:
        k = 1.0 + rng.uniform(-config.size_spread, config.size_spread)
        return ObjectSize(CAR.length_m * k, CAR.width_m * k, CAR.height_m * k)

    for side in (1.0, -1.0):
        x = rng.uniform(0.0, 20.0)
        while x < config.street_m + 40.0:
            if abs(x - config.light_m) > 25.0:   # no parking in the junction
                vehicles.append(_Vehicle(len(vehicles), side * (KERB + rng.uniform(-0.3, 0.3)), 0.0, x, 0.0, size()))
            x += rng.uniform(*config.parked_gap_m)
    patrol = _Vehicle(-1, LANES_EAST[0], 1.0, 0.0, config.patrol_speed_mps, CAR)
    for lane in (*LANES_EAST, *LANES_WEST):
        direction = 1.0 if lane > 0 else -1.0
        start = -200.0 if direction > 0 else -(config.street_m + 250.0)
        u = start + rng.uniform(0.0, 30.0)
        for _ in range(config.vehicles_per_lane):
            if not (lane == LANES_EAST[0] and abs(u) < 12.0):   # leave the patrol car room
                vehicles.append(_Vehicle(len(vehicles), lane, direction, u, rng.uniform(*config.cruise_mps), size()))
            u += rng.uniform(20.0, 70.0)
    return patrol, vehicles


def _desired(config: TrafficConfig, v: _Vehicle, t: float) -> float:
    x = v.x()
    if config.jam_m[0] <= x <= config.jam_m[1]:
        return v.cruise * _stop_go(t, 0.0 if v.direction > 0 else 1.7)
    return v.cruise


def _step(config: TrafficConfig, movers: list[_Vehicle], t: float) -> None:
    """One time step of gap-keeping car following, with the light's stop lines."""
    red = config.red_s[0] <= t <= config.red_s[1]
    for lane in {v.lane for v in movers}:
        queue = sorted((v for v in movers if v.lane == lane), key=lambda v: -v.u)
        leader_u = math.inf
        for v in queue:
            stop_u = (config.light_m - 3.0) if v.direction > 0 else -(config.light_m + 3.0)
            limit = leader_u
            if red and v.u < stop_u:
                limit = min(limit, stop_u + 7.0)
            target = min(_desired(config, v, t), max(0.0, (limit - v.u - 7.0) / 1.2))
            v.speed = min(target, v.speed + 2.5 * config.dt)
            v.u += v.speed * config.dt
            leader_u = v.u - v.size.length_m + 4.5   # the next one keeps its gap behind this one


def run_traffic(config: TrafficConfig | None = None) -> TrafficReport:
    """Simulate the street, classify every vehicle track, calibrate the camera, score."""
    config = config or TrafficConfig()
    rng = np.random.default_rng(config.seed)
    patrol, vehicles = _spawn(config, rng)
    movers = [patrol, *(v for v in vehicles if v.direction != 0.0)]
    times: list[float] = []
    patrol_x: list[float] = []
    t = 0.0
    while patrol.u < config.street_m and t < 600.0:
        for v in movers:
            v.history.append((t, v.x()))
        times.append(t)
        patrol_x.append(patrol.u)
        _step(config, movers, t)
        t += config.dt
    time_arr, patrol_arr = np.array(times), np.array(patrol_x)
    sightings, foci = _observe(config, rng, vehicles, time_arr, patrol_arr)
    calibration = SelfCalibration()
    for focus in foci:
        calibration.add_focus(focus)
    for index, seen in sightings.items():
        for _, box, _ in seen:
            calibration.add_box(index, box, CAR.width_m, config.width, config.height)
    estimate = calibration.estimate(config.configured_camera, config.width, config.height)
    choice = choose_camera(config.configured_camera, (), estimate)
    camera = choice.camera
    foe = (float(np.median([f[0] for f in foci])), float(np.median([f[1] for f in foci]))) if foci else None
    aeqd = f"+proj=aeqd +lat_0={config.gps.origin_lat} +lon_0={config.gps.origin_lon} +ellps=WGS84 +units=m"
    to_latlon = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
    lane = LanePath(np.array([[-300.0, -LANES_EAST[0]], [config.street_m + 300.0, -LANES_EAST[0]]]))
    gps = gps_track(config.gps, rng, lane, time_arr, patrol_arr + 300.0, to_latlon)
    confusion: dict[str, Counter[str]] = {}
    gps_only: dict[str, Counter[str]] = {}
    motion_config = MotionStateConfig()
    for index, seen in sightings.items():
        if len(seen) < 2:
            continue
        vehicle = vehicles[index]
        truth = _truth(vehicle, seen)
        boxes = [(t_s, box) for t_s, box, _ in seen]
        evidence = [pair for a, b in pairwise(seen)
                    if (pair := _pair(config, rng, vehicle, a, b, time_arr, patrol_arr)) is not None]
        lateral = median_lateral_m(camera, [box for _, box in boxes], config.width, config.height)
        image = classify_track(boxes, [relabel(e, motion_config) for e in evidence], config.width, foe,
                               motion_config, vehicle_camera=True, lateral_m=lateral)
        ground = _ground(config, camera, gps, boxes, foe[0] if foe is not None else config.width / 2)
        in_a_lane = in_lane(boxes[len(boxes) // 2][1], config.width, foe, motion_config, lateral)
        blank = MotionEstimate("unknown", 0.0, 0, len(boxes), math.nan, "no image evidence")
        both = apply_gps_evidence(image, ground, in_a_lane) if ground is not None else image
        alone = apply_gps_evidence(blank, ground, in_a_lane) if ground is not None else blank
        confusion.setdefault(truth, Counter())[both.state] += 1
        gps_only.setdefault(truth, Counter())[alone.state] += 1
    truth_cam = config.true_camera
    return TrafficReport(config, confusion, gps_only, camera.pitch_deg - truth_cam.pitch_deg, choice.pitch_sigma_deg,
                         camera.mount_height_m - truth_cam.mount_height_m, choice.mount_height_sigma_m, choice.source)


def _pose(config: TrafficConfig, rng: np.random.Generator) -> CameraModel:
    cam = config.true_camera
    return dataclasses.replace(cam, pitch_deg=cam.pitch_deg + rng.normal(0.0, config.pitch_jitter_deg),
                               yaw_offset_deg=cam.yaw_offset_deg + rng.normal(0.0, config.yaw_jitter_deg))


def _box(config: TrafficConfig, camera: CameraModel, vehicle: _Vehicle, x: float, camera_x: float
         ) -> tuple[float, float, float, float] | None:
    """The vehicle's pixel box from a camera at ``camera_x`` in the patrol lane (length along the road)."""
    return camera.box_pixels(x - camera_x, vehicle.lane - LANES_EAST[0], vehicle.size, config.width, config.height)


def _position(vehicle: _Vehicle, t: float, times: np.ndarray) -> float:
    if vehicle.direction == 0.0:
        return vehicle.u
    k = min(round(t / (times[1] - times[0])), len(vehicle.history) - 1)
    return vehicle.history[k][1]


def _observe(config: TrafficConfig, rng: np.random.Generator, vehicles: list[_Vehicle], times: np.ndarray,
             patrol_x: np.ndarray) -> tuple[dict[int, list[tuple[float, tuple[float, float, float, float], float]]],
                                            list[tuple[float, float]]]:
    """Sightings per vehicle (t, noisy box, camera x) and the foci of expansion of moving frame pairs."""
    step = max(1, round(1.0 / (config.fps * config.dt)))
    sightings: dict[int, list[tuple[float, tuple[float, float, float, float], float]]] = {}
    foci: list[tuple[float, float]] = []
    w, h = config.width, config.height
    for k in range(0, len(times), step):
        t, cam_x = float(times[k]), float(patrol_x[k])
        camera = _pose(config, rng)
        if k >= step and patrol_x[k] - patrol_x[k - step] > 1.0 / config.fps:   # driving > 1 m/s
            far = camera.project(1e6, 0.0, 0.0, w, h)
            if far is not None:
                foci.append((far[0] + rng.normal(0, config.foe_noise_frac * h),
                             far[1] + rng.normal(0, config.foe_noise_frac * h)))
        for v in vehicles:
            x = _position(v, t, times)
            ahead = x - cam_x
            if not (0.0 < ahead < config.max_range_m) or rng.random() < config.miss_rate:
                continue
            box = _box(config, camera, v, x, cam_x)
            if box is None:
                continue
            arr = np.asarray(box)
            clipped = np.clip(arr, 0.0, [w, h, w, h])
            area = (arr[2] - arr[0]) * (arr[3] - arr[1])
            if area <= 0 or (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / area < 0.4 \
                    or clipped[3] - clipped[1] < 12.0:
                continue
            size = np.array([arr[2] - arr[0], arr[3] - arr[1]] * 2)
            noisy = np.clip(clipped + rng.normal(0.0, 1.0, 4) * (config.box_noise_px + config.box_noise_frac * size),
                            0.0, [w, h, w, h])
            sightings.setdefault(v.index, []).append(
                (t, (float(noisy[0]), float(noisy[1]), float(noisy[2]), float(noisy[3])), cam_x))
    return sightings, foci


def _truth(vehicle: _Vehicle, seen: list[tuple[float, tuple[float, float, float, float], float]]) -> str:
    if vehicle.direction == 0.0:   # the kerb on the patrol car's side, or across the road
        return "parked" if vehicle.lane > 0 else "parked_far_kerb"
    xs = [_x_at(vehicle, t) for t, _, _ in seen]
    return "moving" if max(xs) - min(xs) > 1.5 else "stopped_in_traffic"


def _x_at(vehicle: _Vehicle, t: float) -> float:
    dt = vehicle.history[1][0] - vehicle.history[0][0]
    return vehicle.history[min(round(t / dt), len(vehicle.history) - 1)][1]


def _pair(config: TrafficConfig, rng: np.random.Generator, vehicle: _Vehicle,
          a: tuple[float, tuple[float, float, float, float], float],
          b: tuple[float, tuple[float, float, float, float], float], times: np.ndarray,
          patrol_x: np.ndarray) -> PairEvidence | None:
    """One frame pair as the background flow would measure it (see the module docstring)."""
    (t0, _, cam0), (t1, _, cam1) = a, b
    if t1 - t0 > 0.45:   # a missed frame between: the meter measures consecutive frames only
        return None
    camera = config.true_camera
    x0, x1 = _position(vehicle, t0, times), _position(vehicle, t1, times)
    seen0, seen1 = _box(config, camera, vehicle, x0, cam0), _box(config, camera, vehicle, x1, cam1)
    ground = _box(config, camera, vehicle, x0, cam1)   # a ground-fixed object where the vehicle was
    if seen0 is None or seen1 is None or ground is None:
        return None
    b0, b1, g = np.asarray(seen0), np.asarray(seen1), np.asarray(ground)
    diag = float(np.hypot(b1[2] - b1[0], b1[3] - b1[1]))
    dt = t1 - t0
    noise = rng.normal(0.0, config.flow_noise_px + config.flow_noise_frac * diag, 4)
    residual = float(np.mean(np.abs(b1 + noise - g)))   # mean edge offset, as the corner fallback
    predicted = float(np.mean(np.abs(g - b0)))
    return PairEvidence(t0, t1, residual / diag / dt, predicted / diag / dt, abs(cam1 - cam0) > 0.1, 10,
                        "ambiguous", False)


def _ground(config: TrafficConfig, camera: CameraModel, gps: object,
            boxes: list[tuple[float, tuple[float, float, float, float]]], centre_x: float) -> GpsEvidence | None:
    """Per-sighting flat-ground positions of the near outer corner (``near_corner_box``) from the
    noisy GPS pose and the chosen camera, as ``pipeline.run`` places them."""
    placed: list[tuple[float, float, float]] = []
    ranges: list[float] = []
    cameras: list[tuple[float, float]] = []
    plane: LocalPlane | None = None
    for t, box in boxes:
        pose = gps.pose_at(t)   # type: ignore[attr-defined]
        where = locate_object(pose, camera, near_corner_box(box, centre_x), config.width, config.height)
        if (where.status is not LocationStatus.GEOLOCATED or where.lat is None or where.lon is None
                or where.range_m is None or where.range_m > GPS_MOTION_MAX_RANGE_M):
            continue
        plane = plane or LocalPlane(where.lat, where.lon)
        east, north = plane.to_en(where.lat, where.lon)
        placed.append((t, east, north))
        cameras.append(plane.to_en(pose.lat, pose.lon))
        ranges.append(where.range_m)
    if len(placed) < 3:
        return None
    return GpsEvidence(placed, expected_drift_m=max(4.0, 0.2 * float(np.median(ranges))),
                       camera_travel_m=math.dist(cameras[0], cameras[-1]))


def format_traffic_report(report: TrafficReport) -> str:
    """The confusion matrices, the goals and the calibration error as terminal text."""
    c = report.config
    lines = [f"streetwatch motion-state simulation (seed {c.seed}): a {c.street_m:g} m street, parked cars at both "
             f"kerbs, 2 lanes each way, a jam {c.jam_m[0]:g}-{c.jam_m[1]:g} m, a red light at {c.light_m:g} m "
             f"({c.red_s[1] - c.red_s[0]:g} s)"]
    for title, confusion in (("image + GPS (as the pipeline runs)", report.confusion),
                             ("GPS ground evidence + lane proxy alone", report.confusion_gps_only)):
        lines += ["", f"  {title}", f"  {'truth / state':20s}" + "".join(f"{s:>20s}" for s in STATES)]
        for truth in TRUTHS:
            row = confusion.get(truth, Counter())
            lines.append(f"  {truth:20s}" + "".join(f"{row[s]:20d}" for s in STATES))
        moving, parked = TrafficReport._filed_share(confusion)
        lines.append(f"  not-parked vehicles filed: {moving:.1f}% (goal <= 5%); parked at the patrol car's kerb "
                     f"found parked: {parked:.1f}% (goal >= 90%)")
    sigma = lambda v: f"±{v:.2f}" if v is not None else ""  # noqa: E731
    lines += [f"  all parked cars (both kerbs) found parked: {report.parked_all_found_pct:.1f}%; the far kerb's "
              "stand beyond two lanes of oncoming traffic, taken for traffic (in_lane) by design",
              "", f"  camera ({report.camera_source}): pitch error {report.pitch_error_deg:+.2f}° "
                  f"{sigma(report.pitch_sigma_deg)} (true {c.true_camera.pitch_deg:g}°), height error "
                  f"{report.height_error_m:+.3f} m {sigma(report.height_sigma_m)} "
                  f"(true {c.true_camera.mount_height_m:g} m)",
              f"  {'PASSED' if report.passed else 'FAILED'}"]
    return "\n".join(lines)
