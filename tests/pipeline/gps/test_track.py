"""GpsTrack: interpolation, heading from motion, gaps, range, shifting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streetwatch.core.geo import haversine_m, initial_bearing_deg
from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.track import MIN_MOTION_M, GpsTrack

T0 = 1_700_000_000.0
LAT, LON = 31.2304, 121.4737  # Shanghai


def fix(dt: float, lat: float = LAT, lon: float = LON, **extra: float | int | None) -> GpsFix:
    return GpsFix(t=T0 + dt, lat=lat, lon=lon, **extra)  # type: ignore[arg-type]


def test_position_halfway_is_the_midpoint() -> None:
    track = GpsTrack([fix(0, lat=LAT, lon=LON, alt=10.0), fix(2, lat=LAT + 0.001, lon=LON + 0.002, alt=20.0)])
    pose = track.pose_at(T0 + 1)
    assert pose is not None
    assert pose.t == T0 + 1
    assert pose.lat == pytest.approx(LAT + 0.0005, abs=1e-12)
    assert pose.lon == pytest.approx(LON + 0.001, abs=1e-12)
    assert pose.alt == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("d_lat", "d_lon", "expected_heading"),
    [
        (0.0, 0.0002, 90.0),    # east
        (0.0002, 0.0, 0.0),     # north
        (-0.0002, 0.0, 180.0),  # south
        (0.0, -0.0002, 270.0),  # west
    ],
)
def test_heading_comes_from_motion(d_lat: float, d_lon: float, expected_heading: float) -> None:
    # the receiver claims a different heading: motion wins
    track = GpsTrack([fix(0, heading=123.0), fix(1, lat=LAT + d_lat, lon=LON + d_lon, heading=123.0)])
    pose = track.pose_at(T0 + 0.3)
    assert pose is not None and pose.heading is not None
    assert pose.heading == pytest.approx(expected_heading, abs=0.01)


@pytest.mark.parametrize(
    ("heading_a", "heading_b", "expected"),
    [
        (350.0, 10.0, 0.0),    # interpolated the short way round
        (40.0, 60.0, 50.0),
        (None, 75.0, 75.0),    # only one fix reports a heading
        (75.0, None, 75.0),
        (None, None, None),    # stationary, no receiver heading: unknown
    ],
)
def test_stationary_uses_receiver_heading_or_none(
    heading_a: float | None, heading_b: float | None, expected: float | None
) -> None:
    nudge = 0.5 * MIN_MOTION_M / 111_000  # half the motion threshold, in degrees of latitude
    track = GpsTrack([fix(0, heading=heading_a), fix(1, lat=LAT + nudge, heading=heading_b)])
    pose = track.pose_at(T0 + 0.5)
    assert pose is not None
    if expected is None:
        assert pose.heading is None
    else:
        assert pose.heading is not None
        off_by = abs(pose.heading - expected)
        assert min(off_by, 360 - off_by) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(
    ("speed_a", "speed_b", "use_receiver"),
    [(10.0, 20.0, True), (None, 20.0, False), (10.0, None, False), (None, None, False)],
)
def test_speed_from_receiver_else_distance_over_time(
    speed_a: float | None, speed_b: float | None, use_receiver: bool
) -> None:
    track = GpsTrack([fix(0, speed=speed_a), fix(4, lon=LON + 0.001, speed=speed_b)])
    pose = track.pose_at(T0 + 2)
    assert pose is not None
    expected = 15.0 if use_receiver else haversine_m(LAT, LON, LAT, LON + 0.001) / 4
    assert pose.speed == pytest.approx(expected)


@pytest.mark.parametrize(
    ("gap_s", "max_gap_s", "has_position"),
    [
        (5.0, 5.0, True),     # exactly max_gap_s apart is not a gap
        (5.01, 5.0, False),
        (6.0, 5.0, False),
        (30.0, 60.0, True),
        (0.2, 0.1, False),
    ],
)
def test_gap_gives_no_position(gap_s: float, max_gap_s: float, has_position: bool) -> None:
    track = GpsTrack([fix(0), fix(gap_s, lon=LON + 0.001)], max_gap_s=max_gap_s)
    pose = track.pose_at(T0 + gap_s / 2)
    assert (pose is not None) == has_position
    if pose is not None:
        assert pose.lon == pytest.approx(LON + 0.0005)


def test_fixes_on_both_sides_of_a_gap_keep_their_positions() -> None:
    track = GpsTrack(
        [fix(0), fix(1, lon=LON + 0.0001), fix(20, lon=LON + 0.01, heading=200.0, speed=3.0)], max_gap_s=5
    )
    before = track.pose_at(T0 + 1)   # end of a good segment: heading from that segment
    assert before is not None and before.lon == LON + 0.0001
    assert before.heading == pytest.approx(90.0, abs=0.01)
    assert track.pose_at(T0 + 10) is None
    lone = track.pose_at(T0 + 20)    # a fix alone after a gap: only the receiver's word
    assert lone is not None and (lone.lon, lone.heading, lone.speed) == (LON + 0.01, 200.0, 3.0)


@pytest.mark.parametrize("t", [T0 - 0.001, T0 + 2.001, T0 - 1e6, math.nan, math.inf, -math.inf])
def test_outside_the_track_is_none(t: float) -> None:
    track = GpsTrack([fix(0), fix(1, lon=LON + 0.0001), fix(2, lon=LON + 0.0002)])
    assert track.pose_at(t) is None


@pytest.mark.parametrize(("t", "has_position"), [(T0, True), (T0 + 1e-6, False), (T0 - 1e-6, False)])
def test_single_fix_track_answers_only_at_its_time(t: float, has_position: bool) -> None:
    track = GpsTrack([fix(0, heading=45.0, speed=2.0, alt=3.0)])
    pose = track.pose_at(t)
    assert (pose is not None) == has_position
    if pose is not None:
        assert (pose.lat, pose.lon, pose.heading, pose.speed, pose.alt) == (LAT, LON, 45.0, 2.0, 3.0)


def test_end_points_are_exact() -> None:
    track = GpsTrack([fix(0), fix(1, lon=LON + 0.0001), fix(2, lon=LON + 0.0003)])
    first, last = track.pose_at(track.start), track.pose_at(track.end)
    assert first is not None and (first.lat, first.lon) == (LAT, LON)
    assert last is not None and (last.lat, last.lon) == (LAT, LON + 0.0003)


def test_sorts_and_drops_duplicate_times_keeping_the_first() -> None:
    first_at_1 = fix(1, lon=LON + 0.001)
    track = GpsTrack([fix(2, lon=LON + 0.002), first_at_1, fix(0), fix(1, lon=LON + 0.999)], source="x.nmea")
    assert len(track) == 3
    assert [f.t for f in track.fixes] == [T0, T0 + 1, T0 + 2]
    assert track.fixes[1] is first_at_1
    assert (track.start, track.end, track.source) == (T0, T0 + 2, "x.nmea")


def test_across_the_antimeridian_interpolates_the_short_way() -> None:
    track = GpsTrack([fix(0, lat=0.0, lon=179.9999), fix(1, lat=0.0, lon=-179.9999)])
    pose = track.pose_at(T0 + 0.25)
    assert pose is not None
    assert pose.lon == pytest.approx(179.99995, abs=1e-9)
    assert pose.heading == pytest.approx(90.0, abs=0.01)


@pytest.mark.parametrize(
    ("fixes", "max_gap_s", "message"),
    [
        ([], 5.0, "at least one fix"),
        ([fix(0)], 0.0, "max_gap_s"),
        ([fix(0)], -1.0, "max_gap_s"),
        ([fix(0)], math.nan, "max_gap_s"),
        ([fix(0), GpsFix(t=math.nan, lat=0, lon=0)], 5.0, "finite"),
    ],
)
def test_rejects_invalid_input(fixes: list[GpsFix], max_gap_s: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GpsTrack(fixes, max_gap_s=max_gap_s)


@pytest.mark.parametrize("offset_s", [10.0, -3.5, 0.0])
def test_shifted_moves_every_fix_in_time(offset_s: float) -> None:
    fixes = [fix(0), fix(1, lon=LON + 0.0001), fix(9, lon=LON + 0.0002)]
    track = GpsTrack(fixes, max_gap_s=2.0, source="a.gpx")
    moved = track.shifted(offset_s)
    assert (moved.start, moved.end) == (track.start + offset_s, track.end + offset_s)
    assert (moved.max_gap_s, moved.source, len(moved)) == (2.0, "a.gpx", 3)
    original_pose, moved_pose = track.pose_at(T0 + 0.5), moved.pose_at(T0 + 0.5 + offset_s)
    assert original_pose is not None and moved_pose is not None
    assert (moved_pose.lat, moved_pose.lon) == pytest.approx((original_pose.lat, original_pose.lon))
    assert moved.pose_at(T0 + 5 + offset_s) is None  # the gap moves with it
    assert track.start == T0  # the original is untouched


def test_shifted_rejects_non_finite_offset() -> None:
    with pytest.raises(ValueError, match="finite"):
        GpsTrack([fix(0)]).shifted(math.nan)


@given(
    lat=st.floats(-60, 60),
    lon=st.floats(-170, 170),
    d_lat=st.floats(-0.01, 0.01),
    d_lon=st.floats(-0.01, 0.01),
    duration=st.floats(0.05, 5.0),
    weight=st.floats(0.0, 1.0),
)
def test_pose_stays_on_the_segment_between_its_fixes(
    lat: float, lon: float, d_lat: float, d_lon: float, duration: float, weight: float
) -> None:
    a, b = fix(0, lat=lat, lon=lon), fix(duration, lat=lat + d_lat, lon=lon + d_lon)
    pose = GpsTrack([a, b]).pose_at(T0 + weight * duration)
    assert pose is not None
    assert min(a.lat, b.lat) - 1e-9 <= pose.lat <= max(a.lat, b.lat) + 1e-9
    assert min(a.lon, b.lon) - 1e-9 <= pose.lon <= max(a.lon, b.lon) + 1e-9
    along = haversine_m(a.lat, a.lon, pose.lat, pose.lon) + haversine_m(pose.lat, pose.lon, b.lat, b.lon)
    assert along == pytest.approx(haversine_m(a.lat, a.lon, b.lat, b.lon), rel=1e-3, abs=1e-3)
    if haversine_m(a.lat, a.lon, b.lat, b.lon) > MIN_MOTION_M:
        # a millionth of a degree: the pose's bearing is taken at its own point, not at the first fix
        assert pose.heading == pytest.approx(initial_bearing_deg(a.lat, a.lon, b.lat, b.lon), abs=1e-6)
