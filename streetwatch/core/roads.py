"""The city's road network and the matching of a patrol car's GPS track to it.

A road network file is a GeoJSON FeatureCollection of LineString (or MultiLineString) features in
WGS84 [longitude, latitude] order, one feature per road segment, with the properties

* ``id`` (required, unique): the segment's id, e.g. ``"renmin-rd-1"``;
* ``name``: the road's name (人民路); ``road_class``: e.g. ``primary``, ``secondary``, ``residential``
  (the stale-after days of ``models/workflow/coverage.yaml`` are per class);
* ``road_chief``: the road's responsible person (路长); ``unit``: its responsible unit (责任单位).

An OSM extract exported as GeoJSON (``osmium export``, GeoPandas ``to_file``) has this shape once its
``highway`` tag is renamed ``road_class``. Every problem in a file is a :class:`RoadNetworkError`
naming the file, the feature and what was expected.

Matching (:meth:`RoadNetwork.passes`): each GPS sample is put on the nearest segment within
``match_m`` metres whose direction agrees with the car's (within 45 degrees, either way along the
road), so a car crossing a road at a junction does not count as driving it. Consecutive samples on
one segment are one pass; a pass counts when the car drove at least ``min_pass_m`` along the segment
(or half of a shorter segment). Distances are measured in a transverse Mercator projection centred
on the network.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, shape
from shapely.strtree import STRtree

from streetwatch.core.errors import ConfigurationError
from streetwatch.core.geo import haversine_m
from streetwatch.core.zones import local_metric_transformer

DEFAULT_MATCH_M = 20.0
DEFAULT_MIN_PASS_M = 30.0
# The car's direction and the road's may differ this much (degrees, either way along the road).
MAX_HEADING_DIFF_DEG = 45.0
# Below this distance between the samples around a point, the car stands: its direction is unknown.
MIN_MOVE_M = 2.0
# The road's direction at a point is taken over this far either side of it.
ROAD_WINDOW_M = 5.0


class RoadNetworkError(ConfigurationError, ValueError):
    """A road network file is missing, malformed or describes an impossible segment."""


@dataclass(frozen=True, slots=True)
class RoadSegment:
    """One segment of the road network.

    Attributes:
        id: Unique id from the file.
        name: The road's name ("" when the file has none).
        road_class: e.g. ``primary``, ``residential`` (``unclassified`` when the file has none).
        road_chief: The responsible person (路长), if configured.
        unit: The responsible unit (责任单位), if configured.
        coords: The line's vertices as (lon, lat) pairs.
        length_m: Its length in metres.
    """

    id: str
    name: str
    road_class: str
    road_chief: str | None
    unit: str | None
    coords: tuple[tuple[float, float], ...]
    length_m: float


@dataclass(frozen=True, slots=True)
class TrackSample:
    """Where the car was at ``t`` (UTC epoch seconds)."""

    t: float
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class SegmentPass:
    """The car drove along a segment from ``entered_t`` to ``left_t`` (UTC epoch seconds), ``covered_m`` of it."""

    segment_id: str
    entered_t: float
    left_t: float
    covered_m: float


class RoadNetwork:
    """Road segments with a spatial index in metres, for matching GPS samples.

    Args:
        segments: The segments; ids must be unique.
        match_m: A sample farther than this from every segment is on no road.
        min_pass_m: A pass must drive at least this far along its segment (or half a shorter segment).
    """

    def __init__(self, segments: Sequence[RoadSegment], match_m: float = DEFAULT_MATCH_M,
                 min_pass_m: float = DEFAULT_MIN_PASS_M) -> None:
        if not segments:
            raise RoadNetworkError("a road network needs at least one segment")
        if not (match_m > 0 and min_pass_m >= 0):
            raise ValueError(f"need match_m > 0 and min_pass_m >= 0, got {match_m} and {min_pass_m}")
        self.segments = tuple(segments)
        self.by_id = {s.id: s for s in self.segments}
        self.match_m, self.min_pass_m = float(match_m), float(min_pass_m)
        wgs84 = [LineString(s.coords) for s in self.segments]
        self._to_m = local_metric_transformer(wgs84)
        self._lines = [shapely.transform(line, self._project, interleaved=False) for line in wgs84]
        self._tree = STRtree(self._lines)

    def _project(self, x: Any, y: Any) -> Any:
        return self._to_m.transform(x, y)

    def passes(self, piece: Sequence[TrackSample]) -> list[SegmentPass]:
        """The segments driven along in one gap-free piece of track, in time order.

        Args:
            piece: Samples in time order with no gap between them (a gap starts a new piece).
        """
        if not piece:
            return []
        xs, ys = self._project(np.array([s.lon for s in piece]), np.array([s.lat for s in piece]))
        points = shapely.points(np.asarray(xs), np.asarray(ys))
        matched = [self._match(i, points) for i in range(len(points))]
        runs: list[SegmentPass] = []
        start = 0
        for i in range(1, len(piece) + 1):
            if i < len(piece) and matched[i] == matched[start]:
                continue
            index = matched[start]
            if index is not None:
                line = self._lines[index]
                along = [float(line.project(points[j])) for j in range(start, i)]
                covered = max(along) - min(along)
                if covered >= min(self.min_pass_m, 0.5 * float(line.length)):
                    runs.append(SegmentPass(self.segments[index].id, piece[start].t, piece[i - 1].t, covered))
            start = i
        return runs

    def _match(self, i: int, points: Any) -> int | None:
        """The index of the segment sample ``i`` is driving along, or None."""
        point = points[i]
        candidates = self._tree.query(point, predicate="dwithin", distance=self.match_m)
        if len(candidates) == 0:
            return None
        heading = _direction(points[max(i - 1, 0)], points[min(i + 1, len(points) - 1)])
        best: tuple[float, int] | None = None
        for index in candidates.tolist():
            line = self._lines[index]
            distance = float(line.distance(point))
            if heading is not None:
                at = float(line.project(point))
                road = _direction(line.interpolate(max(at - ROAD_WINDOW_M, 0.0)),
                                  line.interpolate(min(at + ROAD_WINDOW_M, line.length)), min_m=0.1)
                if road is not None and _axis_difference_deg(heading, road) > MAX_HEADING_DIFF_DEG:
                    continue
            if best is None or distance < best[0]:
                best = (distance, index)
        return None if best is None else best[1]


def _direction(a: Any, b: Any, min_m: float = MIN_MOVE_M) -> float | None:
    """The direction from point a to point b in degrees (atan2 of the plane), None when they nearly coincide."""
    dx, dy = float(b.x - a.x), float(b.y - a.y)
    if math.hypot(dx, dy) < min_m:
        return None
    return math.degrees(math.atan2(dy, dx))


def _axis_difference_deg(a: float, b: float) -> float:
    """The angle between two directions, ignoring which way along the road (0..90)."""
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


# --- files ------------------------------------------------------------------------------------


def load_road_network(path: Path | str, match_m: float = DEFAULT_MATCH_M,
                      min_pass_m: float = DEFAULT_MIN_PASS_M) -> RoadNetwork:
    """Read a road network GeoJSON file (see the module docstring).

    Raises:
        RoadNetworkError: If the file is missing, not GeoJSON, or a feature is not a usable segment.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RoadNetworkError(f"road network {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RoadNetworkError(f"road network {path}: not a readable GeoJSON file: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
            data.get("features"), list):
        raise RoadNetworkError(f"road network {path}: expected a GeoJSON FeatureCollection with a 'features' list")
    segments = list(_segments(path, data["features"]))
    return RoadNetwork(segments, match_m=match_m, min_pass_m=min_pass_m)


def _segments(path: Path, features: Iterable[Any]) -> Iterable[RoadSegment]:
    seen: set[str] = set()
    for n, feature in enumerate(features):
        where = f"road network {path}, feature {n}"
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            raise RoadNetworkError(f"{where}: expected a Feature with 'properties'")
        props = feature["properties"]
        segment_id = props.get("id")
        if not isinstance(segment_id, str | int) or isinstance(segment_id, bool) or str(segment_id) == "":
            raise RoadNetworkError(f"{where}: properties.id must be a non-empty string or number, got {segment_id!r}")
        segment_id = str(segment_id)
        if segment_id in seen:
            raise RoadNetworkError(f"{where}: duplicate id {segment_id!r}")
        seen.add(segment_id)
        try:
            geometry = shape(feature.get("geometry"))
        except Exception as exc:  # shapely raises several kinds for bad geometry
            raise RoadNetworkError(f"{where} ({segment_id}): bad geometry: {exc}") from None
        lines = (list(geometry.geoms) if isinstance(geometry, MultiLineString)
                 else [geometry] if isinstance(geometry, LineString) else None)
        if lines is None:
            raise RoadNetworkError(f"{where} ({segment_id}): expected a LineString or MultiLineString, "
                                   f"got {geometry.geom_type}")
        for k, line in enumerate(lines):
            coords = tuple((float(x), float(y)) for x, y, *_ in line.coords)
            if len(coords) < 2 or any(not (-180 <= x <= 180 and -90 <= y <= 90) for x, y in coords):
                raise RoadNetworkError(f"{where} ({segment_id}): a line needs 2+ [lon, lat] positions in range")
            yield RoadSegment(
                id=segment_id if len(lines) == 1 else f"{segment_id}#{k + 1}",
                name=str(props.get("name") or ""), road_class=str(props.get("road_class") or "unclassified"),
                road_chief=_text(props.get("road_chief")), unit=_text(props.get("unit")),
                coords=coords, length_m=_length_m(coords))


def _text(value: object) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _length_m(coords: Sequence[tuple[float, float]]) -> float:
    return sum(haversine_m(a[1], a[0], b[1], b[0]) for a, b in itertools.pairwise(coords))
