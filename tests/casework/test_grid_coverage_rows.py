"""The monthly report's coverage per grid: a grid's road segments patrolled in the period, from stored passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.coverage import CoverageConfig, GridArea, grid_coverage_rows
from streetwatch.core.coverage import PatrolPass, StaleRules
from streetwatch.core.roads import load_road_network
from streetwatch.core.vocab import CoverageKind
from streetwatch.store.coverage import insert_passes
from streetwatch.store.models import Video

SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
IN_NOVEMBER = datetime(2026, 11, 10, 9, tzinfo=UTC).timestamp()
IN_OCTOBER = datetime(2026, 10, 10, 9, tzinfo=UTC).timestamp()


def _square(lon: float, lat: float, size: float) -> dict[str, object]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _network(tmp_path: Path) -> Path:
    """Three east-west streets: two inside grid A (one driven in November, one in October), one in grid B."""
    lines = {"a1": 31.2001, "a2": 31.2005, "b1": 31.2105}
    features = [{"type": "Feature", "properties": {"id": ref, "name": ref, "road_class": "residential"},
                 "geometry": {"type": "LineString", "coordinates": [[121.4002, lat], [121.4008, lat]]}}
                for ref, lat in lines.items()]
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_grid_rows_count_the_segments_driven_in_the_period(db_session_factory: sessionmaker[Session],
                                                           tmp_path: Path) -> None:
    config = CoverageConfig(
        network=load_road_network(_network(tmp_path)), rules=StaleRules(), h3_resolution=9,
        grids=(GridArea("A", "grid A", "unit-a", _square(121.4, 31.2, 0.001)),
               GridArea("B", "grid B", "unit-b", _square(121.4, 31.21, 0.001)),
               GridArea("C", "grid C (no roads)", None, _square(121.5, 31.3, 0.001))))
    with db_session_factory() as session:
        video = Video(sha256="0" * 64, filename="p.mp4", size_bytes=1, container="mp4", codec="h264", width=1,
                      height=1, duration_s=1.0, status="done")
        session.add(video)
        session.flush()
        insert_passes(session, video.id, [
            PatrolPass(CoverageKind.ROAD, "a1", IN_NOVEMBER, IN_NOVEMBER + 30, 60.0),
            PatrolPass(CoverageKind.ROAD, "a2", IN_OCTOBER, IN_OCTOBER + 30, 60.0),
            PatrolPass(CoverageKind.GRID, "A", IN_NOVEMBER, IN_NOVEMBER + 60, 120.0),
            PatrolPass(CoverageKind.GRID, "C", IN_NOVEMBER, IN_NOVEMBER + 60, 120.0),
        ])
        session.commit()
        rows = {r.grid_id: r for r in grid_coverage_rows(session, config, SINCE, UNTIL)}
    assert (rows["A"].patrolled, rows["A"].total, rows["A"].share_covered) == (1, 2, 0.5)
    assert rows["A"].last_patrolled is not None and rows["A"].last_patrolled.timestamp() == IN_NOVEMBER + 60
    assert (rows["B"].patrolled, rows["B"].total, rows["B"].last_patrolled) == (0, 1, None)
    assert (rows["C"].patrolled, rows["C"].total) == (1, 1)  # no road in it: the grid's own pass counts


def test_no_grids_no_rows(db_session_factory: sessionmaker[Session]) -> None:
    config = CoverageConfig(network=None, rules=StaleRules(), h3_resolution=9)
    with db_session_factory() as session:
        assert grid_coverage_rows(session, config, SINCE, UNTIL) == []
