"""Patrol coverage: which road segments and grid cells a patrol drove, and when they go stale.

A *pass* is one drive along a road segment (``streetwatch.core.roads``), through an H3 cell, or through
a grid cell of the city's zones files (网格, kind ``grid``):
where, when the car entered and left, how far it drove in it. Passes are recorded from each
processed video's GPS track (``streetwatch.pipeline.coverage``) and stored with the video.

How stale a segment may get is set per road class in a YAML file like ``models/workflow/coverage.yaml``
(``STREETWATCH_WORKFLOW_COVERAGE_PATH``; without one, the defaults that file lists): covered when its
last pass is at most that many days old, stale when older, never when there is none.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import h3
import yaml

from streetwatch.core.errors import ConfigurationError
from streetwatch.core.geo import haversine_m
from streetwatch.core.roads import RoadNetwork, TrackSample
from streetwatch.core.vocab import CoverageKind, CoverageStatus
from streetwatch.core.zones import ZoneIndex

DEFAULT_H3_RESOLUTION = 9  # cells of about 0.1 km², edges of about 200 m
# Road lines are walked at this step to find the cells they cross.
CELL_STEP_M = 10.0


class CoverageConfigError(ConfigurationError, ValueError):
    """The coverage file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class PatrolPass:
    """One drive along a road segment or through a grid cell.

    Attributes:
        kind: Road segment or H3 cell.
        ref: The segment's id, or the cell's H3 index.
        entered_t: When the car entered it (UTC epoch seconds).
        left_t: When it left (UTC epoch seconds).
        covered_m: How far it drove along the segment (for cells: through the cell).
    """

    kind: CoverageKind
    ref: str
    entered_t: float
    left_t: float
    covered_m: float


# The defaults, as models/workflow/coverage.yaml lists them (a test keeps the two the same).
DEFAULT_ROAD_CLASS_DAYS: Mapping[str, float] = {"primary": 1.0, "secondary": 2.0, "tertiary": 3.0,
                                                "residential": 7.0, "service": 14.0}


@dataclass(frozen=True, slots=True)
class StaleRules:
    """Days without a pass after which a road (per class) or a cell is stale."""

    default_days: float = 7.0
    cell_days: float = 3.0
    road_classes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ROAD_CLASS_DAYS))

    def days_for(self, road_class: str | None) -> float:
        """The stale-after days of a road class (``default_days`` for one not listed)."""
        return float(self.road_classes.get(road_class or "", self.default_days))


def load_stale_rules(path: Path | str) -> StaleRules:
    """Read the coverage file (see ``models/workflow/coverage.yaml``).

    Raises:
        CoverageConfigError: If it is missing, not YAML, or a number of days is not positive.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CoverageConfigError(f"coverage file {path}: no such file") from None
    except (OSError, yaml.YAMLError) as exc:
        raise CoverageConfigError(f"coverage file {path}: not readable YAML: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise CoverageConfigError(f"coverage file {path}: expected a mapping with 'version: 1'")
    classes = data.get("road_classes") or {}
    if not isinstance(classes, dict):
        raise CoverageConfigError(f"coverage file {path}: road_classes must map a class to days")
    checked = {str(k): _days(path, f"road_classes.{k}", v) for k, v in classes.items()}
    return StaleRules(default_days=_days(path, "default_days", data.get("default_days", 7)),
                      cell_days=_days(path, "cell_days", data.get("cell_days", 3)), road_classes=checked)


def _days(path: Path, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise CoverageConfigError(f"coverage file {path}: {key} must be a positive number of days, got {value!r}")
    return float(value)


def coverage_status(last_pass: datetime | None, at: datetime, stale_after_days: float) -> CoverageStatus:
    """Covered when the last pass (up to ``at``) is at most ``stale_after_days`` old, stale when older."""
    if last_pass is None:
        return CoverageStatus.NEVER
    return (CoverageStatus.COVERED if at - last_pass <= timedelta(days=stale_after_days)
            else CoverageStatus.STALE)


def cell_passes(piece: Sequence[TrackSample], resolution: int) -> list[PatrolPass]:
    """The H3 cells one gap-free piece of track drove through, in time order."""
    return _area_passes(piece, CoverageKind.CELL, lambda s: h3.latlng_to_cell(s.lat, s.lon, resolution))


def grid_passes(piece: Sequence[TrackSample], zones: ZoneIndex) -> list[PatrolPass]:
    """The city's grid cells (网格, zones of kind grid) one gap-free piece of track drove through, by grid_id."""
    def grid_id(sample: TrackSample) -> str | None:
        zone = zones.grid_at(sample.lat, sample.lon)
        return None if zone is None else str(getattr(zone.properties, "grid_id", zone.id))

    return _area_passes(piece, CoverageKind.GRID, grid_id)


def _area_passes(piece: Sequence[TrackSample], kind: CoverageKind,
                 area_of: Callable[[TrackSample], str | None]) -> list[PatrolPass]:
    """Runs of consecutive samples in one area (None: in none), as passes."""
    passes: list[PatrolPass] = []
    current: str | None = None
    entered = left = driven = 0.0
    previous: TrackSample | None = None
    for sample in piece:
        area = area_of(sample)
        if area != current:
            if current is not None:
                passes.append(PatrolPass(kind, current, entered, left, driven))
            current, entered, driven = area, sample.t, 0.0
        elif previous is not None:
            driven += haversine_m(previous.lat, previous.lon, sample.lat, sample.lon)
        left, previous = sample.t, sample
    if current is not None:
        passes.append(PatrolPass(kind, current, entered, left, driven))
    return passes


def road_passes(network: RoadNetwork, piece: Sequence[TrackSample]) -> list[PatrolPass]:
    """The road segments one gap-free piece of track drove along, as passes."""
    return [PatrolPass(CoverageKind.ROAD, p.segment_id, p.entered_t, p.left_t, p.covered_m)
            for p in network.passes(piece)]


def network_cells(network: RoadNetwork, resolution: int) -> dict[str, list[str]]:
    """The H3 cells the network's roads cross, each with the segment ids in it."""
    cells: dict[str, list[str]] = {}
    for segment in network.segments:
        for lat, lon in _walk(segment.coords):
            ids = cells.setdefault(h3.latlng_to_cell(lat, lon, resolution), [])
            if not ids or ids[-1] != segment.id:
                ids.append(segment.id)
    return {cell: sorted(set(ids)) for cell, ids in cells.items()}


def _walk(coords: Sequence[tuple[float, float]]) -> Iterable[tuple[float, float]]:
    """Points every ``CELL_STEP_M`` or closer along a (lon, lat) line, as (lat, lon)."""
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coords):
        steps = max(1, math.ceil(haversine_m(lat1, lon1, lat2, lon2) / CELL_STEP_M))
        for k in range(steps):
            w = k / steps
            yield lat1 + (lat2 - lat1) * w, lon1 + (lon2 - lon1) * w
    yield coords[-1][1], coords[-1][0]


def cell_outline(cell: str) -> list[tuple[float, float]]:
    """A cell's boundary as a closed ring of (lon, lat) pairs (GeoJSON order)."""
    ring = [(lon, lat) for lat, lon in h3.cell_to_boundary(cell)]
    return [*ring, ring[0]]


def is_cell(ref: str) -> bool:
    """Whether ``ref`` is a valid H3 cell index."""
    try:
        return bool(h3.is_valid_cell(ref))
    except (TypeError, ValueError):
        return False
