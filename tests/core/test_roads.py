"""The road network file and map matching: a car driving a street is on it, a car crossing it is not,
a car off every road is on none; a bad file says what is wrong with which feature."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from streetwatch.core.coverage import StaleRules, cell_passes, coverage_status, load_stale_rules, network_cells
from streetwatch.core.geo import destination
from streetwatch.core.roads import RoadNetwork, RoadNetworkError, TrackSample, load_road_network
from streetwatch.core.vocab import CoverageStatus
from streetwatch.datasets.road_network import junction, segment_ids, write_sample_roads

SPEED_MPS = 10.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    return load_road_network(write_sample_roads(tmp_path_factory.mktemp("roads") / "roads.geojson"))


def drive(points: Sequence[tuple[float, float]], t0: float = 1_000_000.0, offset_m: float = 0.0
          ) -> list[TrackSample]:
    """Samples every second along straight legs between (lat, lon) points, ``offset_m`` to the north."""
    from streetwatch.core.geo import haversine_m, initial_bearing_deg

    samples: list[TrackSample] = []
    t = t0
    for a, b in itertools.pairwise(points):
        length, bearing = haversine_m(*a, *b), initial_bearing_deg(*a, *b)
        d = 0.0
        while d < length:
            lat, lon = destination(*destination(*a, bearing, d), 0.0, offset_m)
            samples.append(TrackSample(t, lat, lon))
            t += 1.0
            d += SPEED_MPS
    lat, lon = destination(*points[-1], 0.0, offset_m)
    samples.append(TrackSample(t, lat, lon))
    return samples


@pytest.mark.parametrize(("route", "offset_m", "expected"), [
    pytest.param([(0, 0), (0, 2)], 0.0, ["renmin-1", "renmin-2"], id="along-a-street"),
    pytest.param([(0, 2), (0, 0)], 0.0, ["renmin-2", "renmin-1"], id="the-other-way"),
    pytest.param([(0, 0), (0, 1), (2, 1)], 0.0, ["renmin-1", "jianshe-1", "jianshe-2"], id="turning"),
    pytest.param([(0, 0), (0, 2)], 12.0, ["renmin-1", "renmin-2"], id="gps-off-by-12m"),
    pytest.param([(0, 0), (0, 2)], 40.0, [], id="a-parallel-road-40m-away"),
    # Straight across Jiefang Rd and Heping St at their junctions with Jianshe Rd: only Jianshe counts.
    pytest.param([(0, 1), (2, 1)], 0.0, ["jianshe-1", "jianshe-2"], id="crossing-at-junctions"),
])
def test_a_track_is_matched_to_the_streets_it_drove(
    network: RoadNetwork, route: list[tuple[int, int]], offset_m: float, expected: list[str]
) -> None:
    passes = network.passes(drive([junction(*j) for j in route], offset_m=offset_m))
    assert [p.segment_id for p in passes] == expected
    for p in passes:
        assert p.covered_m > 90.0 and p.left_t - p.entered_t > 9.0


def test_a_car_standing_at_a_junction_drives_no_street(network: RoadNetwork) -> None:
    at = junction(1, 1)
    assert network.passes([TrackSample(float(t), *at) for t in range(30)]) == []


def test_the_sample_network_reads_back_with_its_people(network: RoadNetwork) -> None:
    assert sorted(s.id for s in network.segments) == sorted(segment_ids())
    renmin = network.by_id["renmin-1"]
    assert (renmin.name, renmin.road_class, renmin.road_chief, renmin.unit) == (
        "人民路", "primary", "张伟", "城管执法一中队")
    assert renmin.length_m == pytest.approx(150.0, abs=0.5)


def _file(tmp_path: Path, features: object) -> Path:
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


LINE = {"type": "LineString", "coordinates": [[121.47, 31.23], [121.48, 31.23]]}


@pytest.mark.parametrize(("features", "message"), [
    pytest.param([], "at least one segment", id="empty"),
    pytest.param([{"type": "Feature", "properties": {"name": "x"}, "geometry": LINE}], "properties.id", id="no-id"),
    pytest.param([{"type": "Feature", "properties": {"id": "a"}, "geometry": LINE}] * 2, "duplicate id 'a'",
                 id="duplicate"),
    pytest.param([{"type": "Feature", "properties": {"id": "a"},
                   "geometry": {"type": "Point", "coordinates": [121.47, 31.23]}}], "got Point", id="a-point"),
    pytest.param([{"type": "Feature", "properties": {"id": "a"},
                   "geometry": {"type": "LineString", "coordinates": [[31.23, 221.47], [31.24, 221.47]]}}],
                 "in range", id="lat-lon-swapped"),
])
def test_a_bad_road_file_says_what_is_wrong(tmp_path: Path, features: object, message: str) -> None:
    with pytest.raises(RoadNetworkError, match=message):
        load_road_network(_file(tmp_path, features))


def test_a_missing_road_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(RoadNetworkError, match="no such file"):
        load_road_network(tmp_path / "nowhere.geojson")


def test_cells_follow_the_track_and_the_roads(network: RoadNetwork) -> None:
    samples = drive([junction(0, 0), junction(0, 2)])
    passes = cell_passes(samples, 10)
    assert len(passes) >= 2 and passes[0].entered_t == samples[0].t and passes[-1].left_t == samples[-1].t
    along = network_cells(network, 10)
    assert {p.ref for p in passes} <= set(along)
    assert all("renmin-1" in along[p.ref] or "renmin-2" in along[p.ref] for p in passes)


def test_stale_after_days_per_road_class() -> None:
    from datetime import UTC, datetime, timedelta

    rules = load_stale_rules(REPO / "models" / "workflow" / "coverage.yaml")
    assert rules == StaleRules()  # the sample file lists the defaults
    assert (rules.days_for("primary"), rules.days_for("residential"), rules.days_for("footway")) == (1.0, 7.0, 7.0)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert coverage_status(now - timedelta(hours=23), now, 1.0) == CoverageStatus.COVERED
    assert coverage_status(now - timedelta(hours=25), now, 1.0) == CoverageStatus.STALE
    assert coverage_status(None, now, 1.0) == CoverageStatus.NEVER
