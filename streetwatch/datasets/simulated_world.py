"""The simulated world of :mod:`streetwatch.datasets.simulation`: the scenario, the route, the objects
beside it, the patrol car's drives and its GPS, and what the dashcam sees of each object.

Everything is in a local east/north frame in metres (``route_en``); the GPS fixes are turned to
WGS84 by an exact azimuthal-equidistant projection around ``origin_lat, origin_lon`` (pyproj), an
independent ground truth for the pipeline's own local plane (``streetwatch.core.geo.LocalPlane``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import Taxonomy, load_taxonomy
from streetwatch.core.types import GpsFix, TrackPoint
from streetwatch.pipeline.gps.track import GpsTrack
from streetwatch.pipeline.rays import TriangulationSettings
from streetwatch.vision.geometry import CameraModel, ObjectSize

Vec = npt.NDArray[np.float64]
DEFAULT_ROUTE = ((0.0, 0.0), (420.0, 0.0), (420.0, 260.0), (120.0, 260.0), (120.0, 520.0))
DEFAULT_CAMERA = CameraModel(hfov_deg=100.0, mount_height_m=1.3, pitch_deg=5.0, lever_forward_m=1.0,
                             lever_right_m=0.3, lever_up_m=-0.2)


@dataclass(frozen=True, slots=True)
class ObjectKind:
    """A kind of roadside object: family, class, typical size (m) and distance from the road centre."""

    family: str
    class_name: str
    length_m: float      # along the road
    depth_m: float       # across the road
    height_m: float
    offset_m: tuple[float, float]

    @property
    def size(self) -> ObjectSize:
        """The class's typical size, as the locator is told it (real objects vary around it)."""
        return ObjectSize(self.length_m, self.depth_m, self.height_m)


def _kind(taxonomy: Taxonomy, class_name: str, offset_m: tuple[float, float]) -> ObjectKind:
    """A kind of object whose family and typical size are the taxonomy's."""
    spec, size = taxonomy.classes[class_name], taxonomy.typical_size(class_name)
    if size is None:
        raise ValueError(f"the taxonomy gives class {class_name!r} no size: the simulation needs one")
    return ObjectKind(spec.family, class_name, *size, offset_m)


def _kinds(taxonomy: Taxonomy) -> tuple[ObjectKind, ...]:
    return (_kind(taxonomy, "car", (4.0, 5.0)), _kind(taxonomy, "stall", (6.0, 10.0)),
            _kind(taxonomy, "ad_board", (6.0, 12.0)), _kind(taxonomy, "bin", (5.5, 8.0)))


KINDS = _kinds(load_taxonomy(DEFAULT_TAXONOMY))  # the shipped taxonomy's sizes: what the pipeline is told


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Everything that shapes one simulated run. Defaults: dashcam-typical noise."""

    seed: int = 7
    origin_lat: float = 31.2304
    origin_lon: float = 121.4737
    route_en: tuple[tuple[float, float], ...] = DEFAULT_ROUTE
    passes: int = 3
    objects_per_km: float = 40.0          # per family and per side of the road
    object_spacing_m: float = 15.0        # least distance between two objects of one family
    speed_mps: tuple[float, float] = (5.0, 12.0)
    lane_offset_m: float = 1.75           # the car drives this far right of the road centre
    fps: float = 5.0
    gps_hz: float = 1.0
    gps_sigma_m: float = 2.5              # horizontal RMS of the correlated GPS error
    gps_tau_s: float = 60.0
    gps_white_m: float = 0.3
    yaw_bias_deg: float = 0.5             # camera mounting error, unknown to the locator
    yaw_jitter_deg: float = 1.0
    pitch_jitter_deg: float = 0.7
    box_noise_px: float = 2.0
    box_noise_frac: float = 0.03
    miss_rate: float = 0.15
    id_switch_rate: float = 0.05
    max_range_m: float = 40.0
    camera: CameraModel = DEFAULT_CAMERA
    width: int = 1920
    height: int = 1080
    dedup_radius_m: float = 10.0
    size_spread: float = 0.2              # real sizes are typical +- this share
    use_class_sizes: bool = True          # tell the locator each class's typical size
    triangulation: TriangulationSettings = field(default_factory=TriangulationSettings)

    def __post_init__(self) -> None:
        low, high = self.speed_mps
        spacing, per_km = self.object_spacing_m, self.objects_per_km
        checks = [
            (self.passes >= 1, f"passes must be >= 1, got {self.passes}"),
            (len(self.route_en) >= 2, f"route_en needs >= 2 points (one street), got {len(self.route_en)}"),
            (0.0 < low <= high, f"speed_mps must be 0 < low <= high, got {self.speed_mps}"),
            (self.fps > 0.0 < self.gps_hz, f"fps and gps_hz must be > 0, got {self.fps}, {self.gps_hz}"),
            (0.0 <= self.miss_rate < 1.0, f"miss_rate must be within [0, 1), got {self.miss_rate}"),
            (0.0 <= self.id_switch_rate <= 1.0, f"id_switch_rate not in [0, 1]: {self.id_switch_rate}"),
            (min(self.gps_sigma_m, self.gps_white_m) >= 0.0 and self.gps_tau_s > 0.0,
             "GPS noise must be >= 0 and gps_tau_s > 0"),
            (per_km > 0.0 and 0.0 < spacing < 2000.0 / per_km,
             f"object_spacing_m ({spacing}) must be > 0 and below twice the mean gap 1000 / objects_per_km "
             f"({per_km})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass(frozen=True, slots=True)
class SimObject:
    index: int
    kind: ObjectKind
    centre: Vec                           # east, north
    along: Vec                            # unit vector along the road
    scale: Vec                            # real size / the class's typical size (length, depth, height)


@dataclass(slots=True)
class SimTrack:
    object_index: int
    pass_index: int
    points: list[TrackPoint]
    times: list[float]
    antenna: list[Vec]                    # where the GPS antenna truly was at each sighting


class LanePath:
    """A polyline driven by arc length: position and direction at any distance along it."""

    def __init__(self, vertices: Vec) -> None:
        self.vertices = vertices
        self.lengths = np.hypot(*np.diff(vertices, axis=0).T)
        self.cumulative = np.concatenate([[0.0], np.cumsum(self.lengths)])
        self.total = float(self.cumulative[-1])

    def at(self, s: Vec) -> tuple[Vec, Vec]:
        s = np.clip(s, 0.0, self.total)
        seg = np.clip(np.searchsorted(self.cumulative, s, side="right") - 1, 0, len(self.lengths) - 1)
        direction = (self.vertices[seg + 1] - self.vertices[seg]) / self.lengths[seg][:, None]
        return self.vertices[seg] + direction * (s - self.cumulative[seg])[:, None], direction


def _offset_polyline(vertices: Vec, right_m: float) -> Vec:
    """The polyline moved ``right_m`` to its right (mitred corners)."""
    directions = np.diff(vertices, axis=0)
    directions /= np.hypot(*directions.T)[:, None]
    rights = np.column_stack([directions[:, 1], -directions[:, 0]])
    out = [vertices[0] + rights[0] * right_m]
    for i in range(1, len(vertices) - 1):
        mitre = rights[i - 1] + rights[i]
        out.append(vertices[i] + mitre / np.dot(mitre, rights[i]) * right_m)
    out.append(vertices[-1] + rights[-1] * right_m)
    return np.array(out)


def _round_corners(vertices: Vec, radius_m: float = 9.0, steps: int = 8) -> Vec:
    """Replace each inner corner by a curve (a car turns, it does not pivot)."""
    out = [vertices[0]]
    for a, b, c in zip(vertices[:-2], vertices[1:-1], vertices[2:], strict=True):
        u1, u2 = (b - a) / np.hypot(*(b - a)), (c - b) / np.hypot(*(c - b))
        turn = math.acos(float(np.clip(np.dot(u1, u2), -1.0, 1.0)))
        cut = min(radius_m * math.tan(turn / 2.0), 0.45 * np.hypot(*(b - a)), 0.45 * np.hypot(*(c - b)))
        p1, p2 = b - u1 * cut, b + u2 * cut
        for w in np.linspace(0.0, 1.0, steps):  # quadratic Bezier: close to a circular arc
            out.append((1 - w) ** 2 * p1 + 2 * (1 - w) * w * b + w**2 * p2)
    out.append(vertices[-1])
    return np.array(out)


def place_objects(config: SimulationConfig, rng: np.random.Generator) -> list[SimObject]:
    """Objects along both kerbs, spaced at least ``object_spacing_m`` per family, none in a junction."""
    centreline = LanePath(np.asarray(config.route_en, dtype=np.float64))
    corners = centreline.cumulative[1:-1]
    mean_gap = 1000.0 / config.objects_per_km
    objects: list[SimObject] = []
    for kind in KINDS:
        placed: list[Vec] = []
        for side in (1.0, -1.0):
            s = rng.uniform(0.0, mean_gap)
            while s < centreline.total - 10.0:
                s += rng.uniform(config.object_spacing_m, 2.0 * mean_gap - config.object_spacing_m)
                if s < 10.0 or s > centreline.total - 10.0 or np.any(np.abs(corners - s) < 15.0):
                    continue
                point, direction = centreline.at(np.array([s]))
                right = np.array([direction[0, 1], -direction[0, 0]])
                centre = point[0] + right * side * rng.uniform(*kind.offset_m)
                if all(np.hypot(*(centre - other)) >= config.object_spacing_m for other in placed):
                    placed.append(centre)
                    scale = 1.0 + rng.uniform(-config.size_spread, config.size_spread, 3)
                    objects.append(SimObject(len(objects), kind, centre, direction[0], scale))
    return objects


def drive(config: SimulationConfig, rng: np.random.Generator, pass_index: int,
           t0: float) -> tuple[LanePath, Vec, Vec]:
    """The lane path of one pass and the car's distance along it at a fine time grid."""
    route = np.asarray(config.route_en, dtype=np.float64)
    if pass_index % 2 == 1:
        route = route[::-1]
    lane = LanePath(_round_corners(_offset_polyline(route, config.lane_offset_m)))
    lo, hi = config.speed_mps
    wavelength, phase = rng.uniform(150.0, 300.0), rng.uniform(0.0, 2.0 * math.pi)
    inner = lane.cumulative[1:-1]
    dt, s, t = 0.05, 0.0, t0
    times, distances = [t], [s]
    while s < lane.total:
        cruise = (lo + hi) / 2.0 + (hi - lo) / 2.0 * math.sin(2.0 * math.pi * s / wavelength + phase)
        near_corner = float(np.min(np.abs(inner - s))) if len(inner) else math.inf
        s += min(cruise, lo + 0.2 * near_corner) * dt  # slow to ~5 m/s in the corners
        t += dt
        times.append(t)
        distances.append(s)
    return lane, np.array(times), np.array(distances)


def gps_track(config: SimulationConfig, rng: np.random.Generator, lane: LanePath, times: Vec, distances: Vec,
               to_latlon: Transformer) -> GpsTrack:
    fix_times = np.arange(times[0], times[-1], 1.0 / config.gps_hz)
    truth, _ = lane.at(np.interp(fix_times, times, distances))
    a = math.exp(-1.0 / (config.gps_hz * config.gps_tau_s))
    sigma_axis = config.gps_sigma_m / math.sqrt(2.0)
    error = np.empty_like(truth)
    error[0] = rng.normal(0.0, sigma_axis, 2)
    for k in range(1, len(truth)):  # first-order Gauss-Markov: the error wanders, it does not jump
        error[k] = a * error[k - 1] + math.sqrt(1.0 - a * a) * rng.normal(0.0, sigma_axis, 2)
    noisy = truth + error + rng.normal(0.0, config.gps_white_m / math.sqrt(2.0), truth.shape)
    lons, lats = to_latlon.transform(noisy[:, 0], noisy[:, 1])
    return GpsTrack([GpsFix(float(t), float(la), float(lo))
                     for t, la, lo in zip(fix_times, lats, lons, strict=True)])


def box_corners(obj: SimObject) -> Vec:
    """The object's eight corners: (8, 3) east, north, up."""
    across = np.array([obj.along[1], -obj.along[0]])
    length, depth, height = obj.scale * (obj.kind.length_m, obj.kind.depth_m, obj.kind.height_m)
    corners = []
    for da in (-0.5, 0.5):
        for dc in (-0.5, 0.5):
            foot = obj.centre + obj.along * da * length + across * dc * depth
            corners.extend([(*foot, 0.0), (*foot, height)])
    return np.array(corners)


def observe_pass(config: SimulationConfig, rng: np.random.Generator, objects: Sequence[SimObject],
                  pass_index: int, lane: LanePath, times: Vec, distances: Vec) -> tuple[list[SimTrack], int]:
    """Detections of every object in one pass, as ground-truth tracks; and the number of frames."""
    cam, w, h = config.camera, config.width, config.height
    centres = np.array([o.centre for o in objects])
    corners = np.array([box_corners(o) for o in objects])
    frame_times = np.arange(times[0], times[-1], 1.0 / config.fps)
    antenna, direction = lane.at(np.interp(frame_times, times, distances))
    seen: dict[int, SimTrack] = {}
    for j, t in enumerate(frame_times):
        heading = math.degrees(math.atan2(direction[j, 0], direction[j, 1]))
        lever_e, lever_n = cam.lever_arm_en(heading)
        position = antenna[j] + (lever_e, lever_n)
        near = np.flatnonzero(np.hypot(*(centres - position).T) < config.max_range_m)
        if len(near) == 0:
            continue
        yaw_error = config.yaw_bias_deg + rng.normal(0.0, config.yaw_jitter_deg)
        true_cam = dataclasses.replace(cam, yaw_offset_deg=cam.yaw_offset_deg + yaw_error,
                                       pitch_deg=cam.pitch_deg + rng.normal(0.0, config.pitch_jitter_deg))
        fwd, right = direction[j], np.array([direction[j, 1], -direction[j, 0]])
        rel = corners[near, :, :2] - position  # (objects, 8 corners, east/north)
        up = corners[near, :, 2] - cam.mount_height_m
        xs, ys = true_cam.project_array(rel @ fwd, rel @ right, up, w, h)
        boxes = np.stack([xs.min(axis=1), ys.min(axis=1), xs.max(axis=1), ys.max(axis=1)], axis=1)
        for i, box in zip(near, boxes, strict=True):
            if np.isnan(box[0]):
                continue  # being passed: part of it is behind the lens
            clipped = np.clip(box, 0.0, [w, h, w, h])
            area = (box[2] - box[0]) * (box[3] - box[1])
            visible = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / area
            if visible < 0.4 or clipped[3] - clipped[1] < 12.0 or rng.random() < config.miss_rate:
                continue
            size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
            noisy = clipped + rng.normal(0.0, 1.0, 4) * (config.box_noise_px + config.box_noise_frac * size)
            noisy = np.clip(noisy, 0.0, [w, h, w, h])
            xyxy = (float(noisy[0]), float(noisy[1]), float(noisy[2]), float(noisy[3]))
            point = TrackPoint(j, float(t - times[0]), xyxy, 0.9)
            track = seen.setdefault(int(i), SimTrack(int(i), pass_index, [], [], []))
            track.points.append(point)
            track.times.append(float(t))
            track.antenna.append(antenna[j])
    return list(seen.values()), len(frame_times)


def split_id_switches(tracks: list[SimTrack], rate: float,
                       rng: np.random.Generator) -> tuple[list[SimTrack], int]:
    out: list[SimTrack] = []
    switches = 0
    for t in tracks:
        if len(t.points) >= 4 and rng.random() < rate:
            cut = int(rng.integers(2, len(t.points) - 1))
            out.append(SimTrack(t.object_index, t.pass_index, t.points[:cut], t.times[:cut], t.antenna[:cut]))
            out.append(SimTrack(t.object_index, t.pass_index, t.points[cut:], t.times[cut:], t.antenna[cut:]))
            switches += 1
        else:
            out.append(t)
    return [t for t in out if len(t.points) >= 2], switches  # the pipeline drops one-frame tracks
