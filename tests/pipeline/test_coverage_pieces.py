"""A video's passes come from its GPS track over the video's time only, and never bridge a GPS gap or a jump."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streetwatch.core.geo import destination
from streetwatch.core.roads import RoadNetwork, load_road_network
from streetwatch.core.types import GpsFix
from streetwatch.core.vocab import CoverageKind
from streetwatch.datasets.road_network import junction, write_sample_roads
from streetwatch.pipeline.coverage import track_pieces, video_passes
from streetwatch.pipeline.gps.track import GpsTrack

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp()
SPEED = 10.0


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    return load_road_network(write_sample_roads(tmp_path_factory.mktemp("roads") / "roads.geojson"))


def east_along_renmin(seconds: range) -> list[GpsFix]:
    """Fixes of a car driving east along Renmin Rd from its west end, at the given seconds."""
    return [GpsFix(T0 + t, *destination(*junction(0, 0), 90.0, SPEED * t)) for t in seconds]


def test_only_the_videos_time_counts(network: RoadNetwork) -> None:
    track = GpsTrack(east_along_renmin(range(31)))
    # A 12 s clip starting 16 s into the track: only renmin-2 is driven while it records.
    passes = video_passes(track, T0 + 16.0, 12.0, network, 9)
    assert [p.ref for p in passes if p.kind is CoverageKind.ROAD] == ["renmin-2"]
    assert all(T0 + 16.0 <= p.entered_t <= p.left_t <= T0 + 28.0 for p in passes)


def test_a_gps_gap_splits_the_track_and_no_pass_bridges_it(network: RoadNetwork) -> None:
    # No fix from 10 s to 20 s (max_gap_s 5): the car drove 100 m unseen, half of each block.
    track = GpsTrack(east_along_renmin(range(0, 11)) + east_along_renmin(range(20, 31)), max_gap_s=5.0)
    pieces = track_pieces(track, T0, 30.0)
    assert [(round(p[0].t - T0), round(p[-1].t - T0)) for p in pieces] == [(0, 10), (20, 30)]
    roads = [p for p in video_passes(track, T0, 30.0, network, 9) if p.kind is CoverageKind.ROAD]
    assert [p.ref for p in roads] == ["renmin-1", "renmin-2"]
    assert roads[0].left_t <= T0 + 10.0 and roads[1].entered_t >= T0 + 20.0


def test_without_gps_or_a_start_time_there_is_no_pass(network: RoadNetwork) -> None:
    track = GpsTrack(east_along_renmin(range(31)))
    assert video_passes(None, T0, 30.0, network, 9) == []
    assert video_passes(track, None, 30.0, network, 9) == []
