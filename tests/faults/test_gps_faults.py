"""GPS that lies: 1 km jumps are never interpolated, bad fixes at a track's start never move the video.

Generated tracks first (the GPS loading alone), then the session's street clip processed with
them: nothing is placed from a bad fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import gpxpy.gpx
import pytest
from sqlalchemy import select

from streetwatch.core.geo import destination, haversine_m
from streetwatch.pipeline.gps.source import GpsOptions, load_video_gps
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.models import Observation, Video
from tests.pipeline.gps.media_builders import plain_video
from tests.pipeline.gps.nmea_lines import rmc
from tests.pipeline.run_helpers import (
    TRACK_START_UTC,
    as_utc,
    fetch_rows,
    run_settings,
    seconds_between,
    shared_detector,
    shared_street_clip,
    sqlite_url,
    track_point,
)

T0 = TRACK_START_UTC.timestamp()
JUMP_M = 1000.0
NEAR_THE_CAR_M = 12.0  # as tests/pipeline/test_run.py: the clip's objects stand beside the car
# Placed from the sightings after a cold start only (fewer views), still far from any bad fix (1-3 km).
FEWER_VIEWS_M = 30.0


@dataclass(frozen=True, slots=True)
class Point:
    """One GPX point: seconds from the track's start, where, and how good the receiver said it was."""

    t: float
    lat: float
    lon: float
    hdop: float | None = None


def on_road(t: float) -> Point:
    return Point(t, *track_point(t))


def off_road(t: float, metres: float = JUMP_M) -> Point:
    """Where a receiver that jumped ``metres`` north of the car would put it at ``t``."""
    return Point(t, *destination(*track_point(t), 0.0, metres))


def write_gpx(path: Path, points: Sequence[Point]) -> Path:
    segment = gpxpy.gpx.GPXTrackSegment()
    for p in points:
        point = gpxpy.gpx.GPXTrackPoint(latitude=p.lat, longitude=p.lon,
                                        time=TRACK_START_UTC + timedelta(seconds=p.t))
        point.horizontal_dilution = p.hdop
        segment.points.append(point)
    track = gpxpy.gpx.GPXTrack()
    track.segments.append(segment)
    gpx = gpxpy.gpx.GPX()
    gpx.tracks.append(track)
    path.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")
    return path


def loaded(tmp_path: Path, points: Sequence[Point], **options: float):  # type: ignore[no-untyped-def]
    video = plain_video(tmp_path / "clip.mp4")
    return load_video_gps(video, write_gpx(tmp_path / "track.gpx", points), GpsOptions(**options))


# A receiver still without a lock for the first 3 s: (0, 0), a huge HDOP, a wild position.
COLD_START = [Point(0.0, 0.0, 0.0), Point(1.0, *track_point(1.0), hdop=50.0), off_road(2.0, 3000.0)]
GOOD_FROM_3_S = [on_road(float(t)) for t in range(3, 9)]


# --- the GPS alone -------------------------------------------------------------------------------

def test_a_jump_that_stays_is_never_interpolated(tmp_path: Path) -> None:
    # Receiver 1 km north of the car from 3 s on (it relocked elsewhere): confirmed, so kept, but
    # no pose between the two sides, and one object's sightings never combine them.
    points = [on_road(0.0), on_road(1.0), on_road(2.0)] + [off_road(float(t)) for t in range(3, 9)]
    gps = loaded(tmp_path, points)
    track = gps.track
    assert track is not None and len(track) == 9

    for t in (2.01, 2.5, 2.99):  # inside the jump: no made-up position half a kilometre off the road
        assert track.pose_at(T0 + t) is None, t
    assert track.pose_at(T0 + 1.5) is not None and track.pose_at(T0 + 3.5) is not None
    straddling = track.poses_at([T0 + 1.0, T0 + 1.5, T0 + 3.0, T0 + 3.5, T0 + 4.0])
    assert [p is not None for p in straddling] == [False, False, True, True, True]  # the longer side only


def test_a_detour_of_several_fixes_is_dropped(tmp_path: Path) -> None:
    # Multipath in a street canyon: 1 km off for 3 s, then back on the road the car kept driving.
    points = [on_road(0.0), on_road(1.0), *[off_road(float(t)) for t in (2, 3, 4)],
              *[on_road(float(t)) for t in range(5, 9)]]
    gps = loaded(tmp_path, points, max_gap_s=2.0)
    track = gps.track
    assert track is not None and [round(f.t - T0) for f in track.fixes] == [0, 1, 5, 6, 7, 8]
    assert gps.dropped["speed"] == 3
    for t in (2.0, 3.0, 4.0):  # a gap (4 s > max_gap_s): nothing placed, nothing made up
        assert track.pose_at(T0 + t) is None


@pytest.mark.parametrize("configured", [None, 1.5])
def test_bad_fixes_at_the_start_do_not_move_the_video(tmp_path: Path, configured: float | None) -> None:
    gps = loaded(tmp_path, COLD_START + GOOD_FROM_3_S, **({"configured_offset_s": configured} if configured else {}))

    assert gps.track is not None and gps.track.start == T0 + 3.0  # nothing placed from the cold start
    assert gps.dropped == {"null_island": 1, "hdop": 1, "satellites": 0, "speed": 1}
    assert gps.alignment is not None
    assert gps.alignment.start_utc == T0 + (configured or 0.0)  # the log's first record, not its first good fix
    assert "first 3.0 s held no usable fix" in gps.alignment.detail


def test_void_nmea_fixes_at_the_start_date_the_log(tmp_path: Path) -> None:
    lines = [rmc(f"1235{s:02d}", status="V") for s in (19, 20, 21, 22)] + [rmc(f"1235{s:02d}") for s in (23, 24)]
    video = plain_video(tmp_path / "clip.mp4")
    (tmp_path / "clip.nmea").write_text("\n".join(lines) + "\n")

    gps = load_video_gps(video)

    assert gps.track is not None and len(gps.track) == 2 and gps.dropped["void_fix"] == 4
    assert gps.alignment is not None and gps.alignment.start_utc == gps.track.start - 4.0


def test_a_record_with_a_wild_time_is_not_the_log_start(tmp_path: Path) -> None:
    stray = Point(-86_400.0 * 365, 0.0, 0.0)  # a receiver clock a year off, (0, 0)
    gps = loaded(tmp_path, [stray, *GOOD_FROM_3_S])
    assert gps.alignment is not None and gps.alignment.start_utc == T0 + 3.0


# --- a processed clip ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def street_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_street_clip(tmp_path_factory)


def process_with(clip: Path, workdir: Path, points: Sequence[Point]) -> tuple[str, list[dict[str, object]]]:
    workdir.mkdir(parents=True, exist_ok=True)
    url = sqlite_url(workdir / "db.sqlite")
    gpx = write_gpx(workdir / "track.gpx", points)
    summary = process_videos([clip], run_settings(url, workdir), gpx, progress=False, detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes[0]
    rows = fetch_rows(url, select(Observation.track_id, Observation.location_status, Observation.lat,
                                  Observation.lon, Observation.best_pts_s, Observation.seen_at,
                                  Observation.track_points)
                      .order_by(Observation.track_id))
    return url, rows


def test_a_processed_clip_places_nothing_from_a_gps_detour(street_clip: Path, tmp_path: Path) -> None:
    detour = [on_road(0.0), on_road(1.0), *[off_road(float(t)) for t in (2, 3, 4)],
              *[on_road(float(t)) for t in range(5, 9)]]
    _, rows = process_with(street_clip, tmp_path, detour)

    placed = [r for r in rows if r["lat"] is not None]
    assert placed, rows
    for row in placed:  # beside the car's true path, never out where the receiver wandered
        camera = track_point(float(row["best_pts_s"]))  # type: ignore[arg-type]
        assert haversine_m(*camera, row["lat"], row["lon"]) < NEAR_THE_CAR_M, row  # type: ignore[arg-type]


def test_a_processed_clip_is_not_shifted_by_a_cold_start(street_clip: Path, tmp_path: Path) -> None:
    url, rows = process_with(street_clip, tmp_path, COLD_START + GOOD_FROM_3_S)

    (video,) = fetch_rows(url, select(Video.start_utc, Video.gps_dropped))
    assert as_utc(video["start_utc"]) == TRACK_START_UTC  # type: ignore[arg-type]
    assert video["gps_dropped"] == {"null_island": 1, "hdop": 1, "satellites": 0, "speed": 1}
    placed = 0
    for row in rows:
        seen = [p["pts_s"] for p in row["track_points"]]  # type: ignore[attr-defined]
        expected = TRACK_START_UTC + timedelta(seconds=float(row["best_pts_s"]))  # type: ignore[arg-type]
        assert seconds_between(row["seen_at"], expected) < 1e-3, row  # type: ignore[arg-type]
        if max(seen) < 3.0:  # seen only while the receiver had no fix: no position at all
            assert (row["location_status"], row["lat"]) == ("unknown", None), row
        elif row["lat"] is not None:  # placed from the fixes after the lock only: near the car's true path
            camera = track_point(float(row["best_pts_s"]))  # type: ignore[arg-type]
            assert haversine_m(*camera, row["lat"], row["lon"]) < FEWER_VIEWS_M, row  # type: ignore[arg-type]
            placed += 1
    assert placed, rows
