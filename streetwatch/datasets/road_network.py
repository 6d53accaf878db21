"""A small sample road network and patrol routes along it: GPS that follows known streets.

Three east-west and three north-south streets around the demo street in Shanghai make a 3 x 3 grid of
junctions, 150 m apart east-west and 120 m north-south; each street between two junctions is one
segment (12 in all), with a road class, a road chief (路长) and a unit. :func:`write_route_gpx` writes a
GPX track of a car driving from junction to junction at constant speed, for patrol clips whose
coverage is known (tests, the coverage page's screenshot, ``streetwatch coverage sample``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from streetwatch.core.geo import destination, haversine_m, initial_bearing_deg

ORIGIN = (31.2304, 121.4737)      # the south-west junction (the demo street's start)
EAST_SPACING_M = 150.0
NORTH_SPACING_M = 120.0


@dataclass(frozen=True, slots=True)
class Street:
    """A street of the sample grid: a row (east-west, ``row`` set) or a column (north-south, ``col`` set)."""

    key: str
    name: str
    road_class: str
    road_chief: str
    unit: str
    row: int | None = None
    col: int | None = None


STREETS: tuple[Street, ...] = (
    Street("renmin", "人民路", "primary", "张伟", "城管执法一中队", row=0),
    Street("jiefang", "解放路", "secondary", "李娜", "城管执法一中队", row=1),
    Street("heping", "和平街", "residential", "王芳", "城管执法二中队", row=2),
    Street("zhongshan", "中山路", "primary", "刘洋", "城管执法二中队", col=0),
    Street("jianshe", "建设路", "tertiary", "陈静", "城管执法一中队", col=1),
    Street("wenhua", "文化巷", "residential", "赵磊", "城管执法二中队", col=2),
)


def junction(row: float, col: float) -> tuple[float, float]:
    """(lat, lon) of the junction ``row`` blocks north and ``col`` blocks east of the origin (fractions too)."""
    lat, lon = destination(*ORIGIN, 0.0, row * NORTH_SPACING_M)
    return destination(lat, lon, 90.0, col * EAST_SPACING_M)


def segment_ends(segment_id: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The junctions (row, col) a segment such as ``renmin-2`` runs between (west to east, south to north)."""
    key, number = segment_id.rsplit("-", 1)
    street = next(s for s in STREETS if s.key == key)
    k = int(number) - 1
    if street.row is not None:
        return (street.row, k), (street.row, k + 1)
    assert street.col is not None
    return (k, street.col), (k + 1, street.col)


def segment_ids() -> list[str]:
    """Every segment id of the sample network."""
    return [f"{s.key}-{k}" for s in STREETS for k in (1, 2)]


def write_sample_roads(path: Path | str) -> Path:
    """Write the sample network as GeoJSON (the format of ``streetwatch.core.roads``)."""
    features = []
    for street in STREETS:
        for segment_id in (f"{street.key}-1", f"{street.key}-2"):
            ends = [junction(*end) for end in segment_ends(segment_id)]
            features.append({
                "type": "Feature",
                "properties": {"id": segment_id, "name": street.name, "road_class": street.road_class,
                               "road_chief": street.road_chief, "unit": street.unit},
                "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ends]},
            })
    path = Path(path)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    return path


# The sample city grid (网格): three strips of the network, west to east, and one north of it no road reaches.
# (grid_id, name, unit, rows from-to, cols from-to), in blocks.
SAMPLE_GRIDS: tuple[tuple[str, str, str, tuple[float, float], tuple[float, float]], ...] = (
    ("G-01", "中山路网格", "城管执法二中队", (-0.4, 2.4), (-0.4, 0.5)),
    ("G-02", "建设路网格", "城管执法一中队", (-0.4, 2.4), (0.5, 1.5)),
    ("G-03", "文化巷网格", "城管执法二中队", (-0.4, 2.4), (1.5, 2.4)),
    ("G-04", "北区网格", "城管执法一中队", (2.6, 4.0), (-0.4, 2.4)),
)


def write_sample_grids(path: Path | str) -> Path:
    """Write the sample city grid cells as a zones file (kind ``grid``, see ``docs/rules.md``)."""
    features = []
    for grid_id, name, unit, (row1, row2), (col1, col2) in SAMPLE_GRIDS:
        corners = [junction(row1, col1), junction(row1, col2), junction(row2, col2), junction(row2, col1)]
        ring = [[lon, lat] for lat, lon in [*corners, corners[0]]]
        features.append({"type": "Feature",
                         "properties": {"kind": "grid", "id": f"grid-{grid_id}", "name": name, "grid_id": grid_id,
                                        "unit": unit},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    path = Path(path)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    return path


def route_length_m(junctions: Sequence[tuple[int, int]]) -> float:
    """The length of a route through the given junctions, in metres."""
    points = [junction(*j) for j in junctions]
    return sum(haversine_m(*a, *b) for a, b in itertools.pairwise(points))


def write_route_gpx(path: Path | str, start_utc: datetime, junctions: Sequence[tuple[int, int]],
                    speed_mps: float, hz: float = 1.0, extra_s: float = 1.0) -> Path:
    """A GPX track of a car driving through ``junctions`` (row, col) at ``speed_mps``, a fix every 1/hz s.

    The car waits at the last junction for ``extra_s`` seconds, so the track outlasts a clip of the
    route's driving time.
    """
    import gpxpy.gpx

    if start_utc.tzinfo is None:
        raise ValueError(f"start_utc must be timezone-aware, got {start_utc.isoformat()}")
    if len(junctions) < 2 or speed_mps <= 0 or hz <= 0:
        raise ValueError("need two junctions or more, speed_mps > 0 and hz > 0")
    points = [junction(*j) for j in junctions]
    legs = [haversine_m(*a, *b) for a, b in itertools.pairwise(points)]
    total_s = sum(legs) / speed_mps + extra_s
    segment = gpxpy.gpx.GPXTrackSegment()
    for i in range(math.floor(total_s * hz + 1e-9) + 1):
        t = i / hz
        lat, lon = _along(points, legs, speed_mps * t)
        segment.points.append(gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon,
                                                      time=start_utc + timedelta(seconds=t)))
    track = gpxpy.gpx.GPXTrack(name="patrol route")
    track.segments.append(segment)
    gpx = gpxpy.gpx.GPX()
    gpx.tracks.append(track)
    path = Path(path)
    path.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")
    return path


def _along(points: Sequence[tuple[float, float]], legs: Sequence[float], distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` along the route (its end beyond it)."""
    for (a, b), leg in zip(itertools.pairwise(points), legs, strict=True):
        if distance_m <= leg:
            return destination(*a, initial_bearing_deg(*a, *b), distance_m)
        distance_m -= leg
    return points[-1]


@dataclass(frozen=True, slots=True)
class SamplePatrol:
    """A patrol of the sample network: its clip's name, how long before "now" it started, its route."""

    name: str
    before_now: timedelta
    route: tuple[tuple[int, int], ...]


# Renmin Rd end to end ten days ago; Zhongshan Rd northwards half a day ago; the first block of Renmin
# Rd then Jianshe Rd's first block two hours ago. Seven segments are never driven.
SAMPLE_PATROLS: tuple[SamplePatrol, ...] = (
    SamplePatrol("patrol-renmin", timedelta(days=10), ((0, 0), (0, 2))),
    SamplePatrol("patrol-zhongshan", timedelta(hours=12), ((0, 0), (2, 0))),
    SamplePatrol("patrol-renmin-jianshe", timedelta(hours=2), ((0, 0), (0, 1), (1, 1))),
)
SAMPLE_SPEED_MPS = 10.0


def make_sample_patrols(workdir: Path | str, now: datetime, *, fps: float = 2.0,
                        size: tuple[int, int] = (160, 96)) -> list[Path]:
    """Write the sample patrols' clips (a small moving-square picture, as long as each drive) with GPX sidecars.

    Returns:
        The clips, each with ``<name>.gpx`` beside it (found by ``streetwatch process`` without flags).
    """
    from streetwatch.datasets import synthetic

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    clips = []
    width, height = size

    def draw(index: int, t: float) -> synthetic.Image:
        return synthetic.moving_square(index, t, width, height)

    for patrol in SAMPLE_PATROLS:
        seconds = math.floor(route_length_m(patrol.route) / SAMPLE_SPEED_MPS)
        clip = workdir / f"{patrol.name}.mp4"
        synthetic.write_video(clip, draw, fps, "libx264", n_frames=max(1, round(seconds * fps)))
        write_route_gpx(clip.with_suffix(".gpx"), now - patrol.before_now, patrol.route, SAMPLE_SPEED_MPS)
        clips.append(clip)
    return clips
