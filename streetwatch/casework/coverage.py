"""The patrol coverage report: per road segment and per grid cell, when last patrolled, how often, and the gaps.

For a period [since, until]: each segment of the city's road network (``settings.roads_path``) and
each H3 cell its roads cross (or, without a network, each cell a patrol drove through) and each grid
cell (网格) of the zones files (``settings.zones_paths``, kind ``grid``) gets its last
pass up to ``until``, its passes within the period, and a status against its road class's stale-after
days (``settings.workflow.coverage_path``; defaults as in ``models/workflow/coverage.yaml``): covered,
stale, or never patrolled. The stale and never patrolled ones are the gaps. Rendered as rows (API, CLI),
GeoJSON (the map, the export) and CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import h3
from shapely.geometry import LineString, mapping, shape

from streetwatch.casework.report_data import CoverageRow
from streetwatch.core.coverage import (
    StaleRules,
    cell_outline,
    coverage_status,
    load_stale_rules,
    network_cells,
)
from streetwatch.core.roads import RoadNetwork, RoadSegment, load_road_network
from streetwatch.core.vocab import CoverageKind, CoverageStatus
from streetwatch.core.zones import GridCell, load_zones
from streetwatch.store.coverage import PassStats, pass_stats
from streetwatch.store.db import Session

CSV_COLUMNS = ("kind", "id", "name", "road_class", "road_chief", "unit", "status", "last_patrolled", "passes",
               "first_in_period", "stale_after_days", "length_m")


@dataclass(frozen=True, slots=True)
class GridArea:
    """A grid cell (网格) of the city's zones files: its grid id, name, unit and outline (GeoJSON geometry)."""

    grid_id: str
    name: str
    unit: str | None
    geometry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CoverageConfig:
    """What the report needs besides the passes: the network (if any), the stale-after days, the grids."""

    network: RoadNetwork | None
    rules: StaleRules
    h3_resolution: int
    grids: tuple[GridArea, ...] = ()


def load_coverage_config(roads_path: Path | None, coverage_path: Path | None, h3_resolution: int,
                         match_m: float, zones_paths: Sequence[Path] = ()) -> CoverageConfig:
    """Read the road network, the coverage file and the zones' grid cells, when configured (the default
    stale-after days otherwise)."""
    network = load_road_network(roads_path, match_m=match_m) if roads_path else None
    rules = load_stale_rules(coverage_path) if coverage_path else StaleRules()
    grids: list[GridArea] = []
    if zones_paths:
        for zone in load_zones(zones_paths):
            props = zone.properties
            if isinstance(props, GridCell):
                grids.append(GridArea(props.grid_id, props.name, props.unit, dict(mapping(zone.geometry))))
    return CoverageConfig(network, rules, h3_resolution, tuple(grids))


@dataclass(frozen=True, slots=True)
class RoadCoverage:
    """One road segment's coverage."""

    segment: RoadSegment
    stats: PassStats | None
    stale_after_days: float
    status: CoverageStatus


@dataclass(frozen=True, slots=True)
class CellCoverage:
    """One grid cell's coverage; ``roads``: the segments crossing it."""

    cell: str
    roads: tuple[str, ...]
    stats: PassStats | None
    stale_after_days: float
    status: CoverageStatus


@dataclass(frozen=True, slots=True)
class GridCoverage:
    """One city grid cell's coverage."""

    grid: GridArea
    stats: PassStats | None
    stale_after_days: float
    status: CoverageStatus


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Coverage of every segment, H3 cell and city grid cell for the period [since, until]."""

    since: datetime
    until: datetime
    roads: list[RoadCoverage]
    cells: list[CellCoverage]
    grids: list[GridCoverage] = field(default_factory=list)

    def grid_counts(self) -> dict[str, int]:
        """City grid cells per status."""
        return {s.value: sum(g.status == s for g in self.grids) for s in CoverageStatus}

    def road_counts(self) -> dict[str, int]:
        """Segments per status."""
        return {s.value: sum(r.status == s for r in self.roads) for s in CoverageStatus}

    def cell_counts(self) -> dict[str, int]:
        """Cells per status."""
        return {s.value: sum(c.status == s for c in self.cells) for s in CoverageStatus}


def coverage_report(session: Session, config: CoverageConfig, since: datetime, until: datetime, *,
                    unit: str | None = None, status: CoverageStatus | None = None) -> CoverageReport:
    """The coverage of every segment (of ``unit``, when given) and cell, filtered by ``status`` when given.

    Raises:
        ValueError: If ``since`` is after ``until``.
    """
    if since > until:
        raise ValueError(f"since ({since.isoformat()}) must not be after until ({until.isoformat()})")
    roads: list[RoadCoverage] = []
    if config.network is not None:
        stats = pass_stats(session, CoverageKind.ROAD, since, until)
        for segment in config.network.segments:
            if unit is not None and segment.unit != unit:
                continue
            days = config.rules.days_for(segment.road_class)
            found = stats.get(segment.id)
            last = found.last_patrolled if found is not None else None
            roads.append(RoadCoverage(segment, found, days, coverage_status(last, until, days)))
    cell_stats = {ref: s for ref, s in pass_stats(session, CoverageKind.CELL, since, until).items()
                  if h3.is_valid_cell(ref) and h3.get_resolution(ref) == config.h3_resolution}
    along = network_cells(config.network, config.h3_resolution) if config.network is not None else {}
    cells = [CellCoverage(cell, tuple(along.get(cell, ())), cell_stats.get(cell), config.rules.cell_days,
                          coverage_status(cell_stats[cell].last_patrolled if cell in cell_stats else None,
                                          until, config.rules.cell_days))
             for cell in sorted(set(along) | set(cell_stats))]
    grid_stats = pass_stats(session, CoverageKind.GRID, since, until) if config.grids else {}
    grids = []
    for grid in config.grids:
        if unit is not None and grid.unit != unit:
            continue
        found = grid_stats.get(grid.grid_id)
        last = found.last_patrolled if found is not None else None
        grids.append(GridCoverage(grid, found, config.rules.cell_days,
                                  coverage_status(last, until, config.rules.cell_days)))
    if status is not None:
        roads = [r for r in roads if r.status == status]
        cells = [c for c in cells if c.status == status]
        grids = [g for g in grids if g.status == status]
    return CoverageReport(since, until, roads, cells, grids)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def road_row(road: RoadCoverage) -> dict[str, Any]:
    """A segment's coverage as plain values (the API's and the export's columns)."""
    s, stats = road.segment, road.stats
    return {"kind": CoverageKind.ROAD.value, "id": s.id, "name": s.name, "road_class": s.road_class,
            "road_chief": s.road_chief, "unit": s.unit, "status": road.status.value,
            "last_patrolled": _iso(stats.last_patrolled if stats else None), "passes": stats.passes if stats else 0,
            "first_in_period": _iso(stats.first_in_period if stats else None),
            "stale_after_days": road.stale_after_days, "length_m": round(s.length_m, 1)}


def cell_row(cell: CellCoverage) -> dict[str, Any]:
    """A cell's coverage as plain values."""
    stats = cell.stats
    return {"kind": CoverageKind.CELL.value, "id": cell.cell, "name": "", "road_class": None, "road_chief": None,
            "unit": None, "status": cell.status.value,
            "last_patrolled": _iso(stats.last_patrolled if stats else None), "passes": stats.passes if stats else 0,
            "first_in_period": _iso(stats.first_in_period if stats else None),
            "stale_after_days": cell.stale_after_days, "length_m": None, "roads": list(cell.roads)}


def grid_row(grid: GridCoverage) -> dict[str, Any]:
    """A city grid cell's coverage as plain values."""
    stats = grid.stats
    return {"kind": CoverageKind.GRID.value, "id": grid.grid.grid_id, "name": grid.grid.name, "road_class": None,
            "road_chief": None, "unit": grid.grid.unit, "status": grid.status.value,
            "last_patrolled": _iso(stats.last_patrolled if stats else None), "passes": stats.passes if stats else 0,
            "first_in_period": _iso(stats.first_in_period if stats else None),
            "stale_after_days": grid.stale_after_days, "length_m": None}


def report_geojson(report: CoverageReport, kinds: Iterable[CoverageKind] = tuple(CoverageKind)) -> dict[str, Any]:
    """The report as a GeoJSON FeatureCollection: segments as LineStrings, cells and grids as Polygons (lon, lat)."""
    wanted = set(kinds)
    features: list[dict[str, Any]] = []
    if CoverageKind.ROAD in wanted:
        features += [{"type": "Feature", "id": f"road:{r.segment.id}", "properties": road_row(r),
                      "geometry": {"type": "LineString", "coordinates": [list(c) for c in r.segment.coords]}}
                     for r in report.roads]
    if CoverageKind.CELL in wanted:
        features += [{"type": "Feature", "id": f"cell:{c.cell}", "properties": cell_row(c),
                      "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in cell_outline(c.cell)]]}}
                     for c in report.cells]
    if CoverageKind.GRID in wanted:
        features += [{"type": "Feature", "id": f"grid:{g.grid.grid_id}", "properties": grid_row(g),
                      "geometry": g.grid.geometry} for g in report.grids]
    return {"type": "FeatureCollection", "since": report.since.isoformat(), "until": report.until.isoformat(),
            "features": features}


def report_csv(report: CoverageReport) -> str:
    """The report as CSV: one row per segment, city grid cell, then H3 cell (what a spreadsheet would run is quoted)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    rows = [road_row(r) for r in report.roads] + [grid_row(g) for g in report.grids]
    for row in rows + [cell_row(c) for c in report.cells]:
        writer.writerow({k: _safe(v) for k, v in row.items()})
    return out.getvalue()


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def grid_coverage_rows(session: Session, config: CoverageConfig, since: datetime, until: datetime) -> list[CoverageRow]:
    """Coverage per city grid cell (网格) for the monthly report: its road segments patrolled in the period.

    A grid's roads are the network's segments that cross its outline; ``patrolled`` counts those with a
    pass in [since, until]. A grid without a network, or with no segment in it, counts as one unit of
    patrol: 1 of 1 when a patrol drove through it in the period, else 0 of 1. The city's grids come
    from the zones files (kind ``grid``); with none configured the list is empty.
    """
    if not config.grids:
        return []
    road_stats = pass_stats(session, CoverageKind.ROAD, since, until) if config.network is not None else {}
    grid_stats = pass_stats(session, CoverageKind.GRID, since, until)
    rows: list[CoverageRow] = []
    for grid in config.grids:
        outline = shape(grid.geometry)
        found = grid_stats.get(grid.grid_id)
        inside = ([s for s in config.network.segments if outline.intersects(LineString(s.coords))]
                  if config.network is not None else [])
        if inside:
            patrolled = sum(1 for s in inside if (st := road_stats.get(s.id)) is not None and st.passes > 0)
            total = len(inside)
        else:
            patrolled, total = (1 if found is not None and found.passes > 0 else 0), 1
        rows.append(CoverageRow(grid_id=grid.grid_id, patrolled=patrolled, total=total,
                                share_covered=patrolled / total,
                                last_patrolled=found.last_patrolled if found is not None else None))
    return rows
