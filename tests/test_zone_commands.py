"""``streetwatch zones tally``: cases and violations per zone of the sample zone file, on SQLite and PostGIS.

The expected counts are worked out here from the stored positions with shapely, zone by zone.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import shapely
from sqlalchemy import select
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.core.resources import ASSETS_DIR
from streetwatch.core.zones import load_zones
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Violation
from tests.store.sightings import T0, Sighting, commit_sightings

SAMPLE_ZONES = ASSETS_DIR / "zones" / "sample-zones.geojson"


def _inside(geometry: shapely.Geometry, points: list[tuple[float, float]]) -> int:
    return sum(bool(shapely.intersects_xy(geometry, lon, lat)) for lat, lon in points)


def test_tally_counts_cases_and_violations_per_zone(spatial_db_url: str, tmp_path: Path) -> None:
    rng = random.Random(5)
    engine = make_engine(spatial_db_url)
    try:
        factory = make_session_factory(engine)
        # Around People's Square: the sample zones' grid cells and the bus stop lie within 250 m.
        for v in range(3):
            sightings = [Sighting(rng.choice(["parking", "stall"]), rng.uniform(-250.0, 250.0),
                                  rng.uniform(-150.0, 100.0), T0 + v * 7200.0 + k) for k in range(12)]
            commit_sightings(factory, EvidenceStore(tmp_path / "evidence"), f"v{v}.mp4", sightings)
        with factory() as session:
            cases = [(c.lat, c.lon) for c in session.scalars(select(Case))]
            violations = [(v.lat, v.lon) for v in session.scalars(select(Violation)) if v.lat is not None]
    finally:
        engine.dispose()

    result = CliRunner().invoke(app, ["zones", "tally", "--zones", str(SAMPLE_ZONES), "--db", spatial_db_url],
                                env={"COLUMNS": "200"})  # one line per zone
    assert result.exit_code == 0, (result.output, result.exception)
    engine_name = "PostGIS" if spatial_db_url.startswith("postgresql") else "lat/lon"
    assert f"({engine_name})" in result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 7}
    nonzero = 0
    for zone in load_zones([SAMPLE_ZONES]):
        cells = [cell.strip() for cell in lines[zone.id].split("│")[1:-1]]
        expected_cases, expected_violations = _inside(zone.geometry, cases), _inside(zone.geometry, violations)
        # Nothing is closed or reviewed yet: "not closed" and "pending" equal the totals.
        assert cells[3:] == [str(expected_cases), str(expected_cases), str(expected_violations),
                             str(expected_violations)], (zone.id, cells)
        nonzero += expected_cases > 0
    assert nonzero >= 2   # the grid cells did hold cases


def test_tally_refuses_an_unknown_kind(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["zones", "tally", "--zones", str(SAMPLE_ZONES), "--kind", "parks",
                                      "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code != 0
    assert re.search(r"unknown zone kind 'parks'", " ".join(result.output.split()))
