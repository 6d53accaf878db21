"""Photos through `process`: real street photos with the EXIF the test writes, the bundled detector,
real SQLite (and PostgreSQL) databases; what lands in the database is checked, not what the run says."""

from __future__ import annotations

import math
import shutil
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from streetwatch.core.geo import haversine_m, initial_bearing_deg
from streetwatch.pipeline.photo_run import DEFAULT_PHOTO_HFOV_DEG, PHOTO_SUBJECT_RANGE_M
from streetwatch.pipeline.run import Processed, Rejected, Skipped, process_videos
from streetwatch.store.models import Observation, Video, Violation
from tests.pipeline.photo_helpers import (
    PHOTO_LATLON,
    SHARED_PHOTOS,
    TAKEN_LOCAL,
    TAKEN_UTC,
    exif_block,
    write_photo,
)
from tests.pipeline.run_helpers import (
    TRACK_START_UTC,
    as_utc,
    fetch_rows,
    run_settings,
    shared_detector,
    shared_street_clip,
    sqlite_url,
    track_point,
    write_straight_gpx,
)

OBSERVATIONS = select(Observation.video_id, Observation.class_name, Observation.location_status, Observation.lat,
                      Observation.lon, Observation.range_m, Observation.bearing_deg, Observation.uncertainty_m,
                      Observation.seen_at, Observation.motion_state).order_by(Observation.video_id,
                                                                            Observation.track_id)
VIDEOS = select(Video.id, Video.media, Video.container, Video.duration_s, Video.frames_sampled, Video.gps_kind,
                Video.time_status, Video.start_utc, Video.status).order_by(Video.id)
VEHICLES = {"car", "bus", "truck", "motorcycle", "bicycle"}


def rows_of(db_url: str, statement: Any) -> list[Any]:
    """Rows of a SELECT, their columns as attributes."""
    return [SimpleNamespace(**row) for row in fetch_rows(db_url, statement)]


def run(paths: list[Path], db: str, workdir: Path, gps: Path | None = None, **settings: object) -> list[object]:
    summary = process_videos(paths, run_settings(db, workdir, ocr=False, **settings), gps, progress=False,
                             detector=shared_detector())
    return list(summary.outcomes)


def assert_placed_along(rows: list[Any], heading: float, hfov: float = DEFAULT_PHOTO_HFOV_DEG) -> None:
    """Every object stands in front of the photographer: its distance from the EXIF position is its
    range, and its bearing lies inside the field of view around the lens direction. One whose range
    cannot be measured (its foot at the horizon, past the camera's range) is at the photographer's
    position, with the bearing, and the larger uncertainty of a position without a range."""
    placed = [row for row in rows if row.location_status == "geolocated"]
    assert placed and len(placed) >= len(rows) / 2, rows
    for row in rows:
        if row.location_status == "camera":
            assert haversine_m(*PHOTO_LATLON, row.lat, row.lon) < 0.01, row
            assert abs((row.bearing_deg - heading + 180.0) % 360.0 - 180.0) <= hfov / 2 + 1.0, row
            assert row.uncertainty_m >= PHOTO_SUBJECT_RANGE_M, row
            continue
        assert row.location_status == "geolocated", row
        distance = haversine_m(*PHOTO_LATLON, row.lat, row.lon)
        assert distance == pytest.approx(row.range_m, rel=0.01, abs=0.05), row
        assert 1.0 < row.range_m < 80.0, row
        off_axis = (initial_bearing_deg(*PHOTO_LATLON, row.lat, row.lon) - heading + 180.0) % 360.0 - 180.0
        assert abs(off_axis) <= hfov / 2 + 1.0, row
        assert row.uncertainty_m is not None and 0 < row.uncertainty_m < 0.5 * row.range_m + 5, row


def test_a_geotagged_jpeg_is_observed_at_its_exif_position_and_time(db_url: str, tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "in" / "IMG_0001.jpg", exif_block(*PHOTO_LATLON, heading=90.0))
    (outcome,) = run([photo], db_url, tmp_path)
    assert isinstance(outcome, Processed), outcome
    assert outcome.frames == 1 and outcome.observations >= 2   # bus.jpg: a bus and several people
    (video,) = rows_of(db_url, VIDEOS)
    assert (video.media, video.container, video.duration_s, video.frames_sampled, video.gps_kind, video.status) == (
        "photo", "jpeg", 0.0, 1, "exif", "done")
    assert as_utc(video.start_utc) == TAKEN_UTC
    rows = rows_of(db_url, OBSERVATIONS)
    assert len(rows) == outcome.observations
    assert {r.class_name for r in rows} >= {"bus", "person"}
    assert_placed_along(rows, heading=90.0)
    assert {as_utc(r.seen_at) for r in rows} == {TAKEN_UTC}
    # One picture cannot show a vehicle parked: its motion is unknown, and nothing is filed for it.
    assert {r.motion_state for r in rows if r.class_name in VEHICLES} == {"unknown"}
    assert {r.motion_state for r in rows if r.class_name not in VEHICLES} == {None}
    assert rows_of(db_url, select(Violation.family).where(Violation.family == "parking")) == []


def test_the_lens_direction_turns_the_objects_around_the_photographer(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "sw.db")
    east = write_photo(tmp_path / "east.jpg", exif_block(*PHOTO_LATLON, heading=90.0))
    west = write_photo(tmp_path / "west.jpg", exif_block(*PHOTO_LATLON, heading=270.0, focal_35mm=50))
    assert all(isinstance(o, Processed) for o in run([east, west], db, tmp_path))
    rows = rows_of(db, OBSERVATIONS)
    assert_placed_along([r for r in rows if r.video_id == 1], heading=90.0)
    # 50 mm: 40 deg across the long side, 27 deg across this portrait picture.
    narrow = math.degrees(2 * math.atan(math.tan(math.atan(36 / 100)) * 810 / 1080))
    assert_placed_along([r for r in rows if r.video_id == 2], heading=270.0, hfov=narrow)
    bus_east, bus_west = (next(r for r in rows if r.video_id == v and r.class_name == "bus") for v in (1, 2))
    assert bus_east.lon > PHOTO_LATLON[1] > bus_west.lon
    assert bus_west.range_m > bus_east.range_m   # a longer lens: the same bus fills more of it, farther


def test_a_photo_without_exif_gps_is_stored_with_location_unknown(db_url: str, tmp_path: Path) -> None:
    with_time = write_photo(tmp_path / "no_gps.jpg", exif_block(taken=TAKEN_LOCAL, offset="+08:00"))
    bare = write_photo(tmp_path / "bare.png", None, image_format="PNG")
    outcomes = run([with_time, bare], db_url, tmp_path)
    assert all(isinstance(o, Processed) and o.observations >= 2 for o in outcomes), outcomes
    videos = rows_of(db_url, VIDEOS)
    assert [(v.media, v.container, v.gps_kind) for v in videos] == [("photo", "jpeg", None), ("photo", "png", None)]
    assert as_utc(videos[0].start_utc) == TAKEN_UTC and videos[1].start_utc is None
    rows = rows_of(db_url, OBSERVATIONS)
    assert rows and {(r.location_status, r.lat, r.lon) for r in rows} == {("unknown", None, None)}
    assert {as_utc(r.seen_at) for r in rows if r.video_id == 1} == {TAKEN_UTC}
    assert {r.seen_at for r in rows if r.video_id == 2} == {None}


def test_position_only_is_the_photographer_with_a_larger_uncertainty(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "sw.db")
    photo = write_photo(tmp_path / "p.jpg", exif_block(*PHOTO_LATLON, gps_error_m=12.0))
    assert isinstance(run([photo], db, tmp_path)[0], Processed)
    rows = rows_of(db, OBSERVATIONS)
    assert rows and {r.location_status for r in rows} == {"camera"}
    for row in rows:
        assert haversine_m(*PHOTO_LATLON, row.lat, row.lon) < 0.01
        assert row.uncertainty_m == pytest.approx(math.hypot(12.0, PHOTO_SUBJECT_RANGE_M))


def test_a_photo_without_gps_takes_the_gps_track_at_its_exif_time(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "sw.db")
    gpx = write_straight_gpx(tmp_path / "walk.gpx", seconds=20.0)
    taken = TRACK_START_UTC + timedelta(seconds=8)
    local = (taken + timedelta(hours=8)).strftime("%Y:%m:%d %H:%M:%S")
    photo = write_photo(tmp_path / "p.jpg", exif_block(taken=local, offset="+08:00"))
    late = write_photo(tmp_path / "late.jpg", exif_block(taken="2026:11:03 09:00:00", offset="+08:00"))
    outcomes = run([photo, late], db, tmp_path, gps=gpx)
    assert all(isinstance(o, Processed) for o in outcomes), outcomes
    videos = rows_of(db, VIDEOS)
    assert [v.gps_kind for v in videos] == ["gpx", "gpx"]
    rows = rows_of(db, OBSERVATIONS)
    on_track = [r for r in rows if r.video_id == 1]
    assert on_track and {r.location_status for r in on_track} == {"camera"}   # the track's heading is not the lens'
    for row in on_track:
        assert haversine_m(*track_point(8.0), row.lat, row.lon) < 0.5
        assert as_utc(row.seen_at) == taken
    # Taken a day after the track ends: no position is made up.
    assert {r.location_status for r in rows if r.video_id == 2} == {"unknown"}


@pytest.mark.slow   # builds and processes the session's street clip beside the photos (about 10 s)
def test_the_same_photo_twice_is_one_row_and_photos_mix_with_videos(tmp_path_factory: pytest.TempPathFactory,
                                                                    tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "sw.db")
    photo = write_photo(tmp_path / "a" / "IMG_0001.jpg", exif_block(*PHOTO_LATLON, heading=90.0))
    (tmp_path / "b").mkdir()
    renamed = Path(shutil.copyfile(photo, tmp_path / "b" / "hotline-12345.JPG"))
    clip = shared_street_clip(tmp_path_factory)
    outcomes = run([photo, clip, renamed], db, tmp_path)
    assert [type(o) for o in outcomes] == [Processed, Processed, Skipped], outcomes
    videos = rows_of(db, VIDEOS)
    assert [(v.media, v.container) for v in videos] == [("photo", "jpeg"), ("video", "mp4")]
    again = run([renamed], db, tmp_path)
    assert isinstance(again[0], Skipped) and "already processed (video #1)" in again[0].message


def test_a_heic_photo_round_trips(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "sw.db")
    photo = write_photo(tmp_path / "IMG_0002.HEIC", exif_block(*PHOTO_LATLON, heading=90.0), image_format="HEIF",
                        scale=0.5)
    (outcome,) = run([photo], db, tmp_path)
    assert isinstance(outcome, Processed) and outcome.observations >= 2, outcome
    (video,) = rows_of(db, VIDEOS)
    assert (video.media, video.container, video.gps_kind) == ("photo", "heic", "exif")
    rows = rows_of(db, OBSERVATIONS)
    assert_placed_along(rows, heading=90.0)
    assert {as_utc(r.seen_at) for r in rows} == {TAKEN_UTC}


BAD_PHOTOS = [
    # (file name, bytes, the reason, words in the message)
    ("empty.jpg", b"", "empty", "zero bytes"),
    ("notes.jpg", b"2026-11-02 inspector notes\nbus at the stop\n", "undecodable", "text file"),
    ("cut.jpg", None, "undecodable", "cannot be decoded"),
]


@pytest.mark.parametrize(("name", "data", "reason", "words"), BAD_PHOTOS)
def test_a_bad_photo_is_rejected_and_the_batch_goes_on(tmp_path: Path, name: str, data: bytes | None, reason: str,
                                                       words: str) -> None:
    db = sqlite_url(tmp_path / "sw.db")
    good = write_photo(tmp_path / "good.jpg", exif_block(*PHOTO_LATLON, heading=90.0))
    bad = tmp_path / name
    bad.write_bytes(data if data is not None else good.read_bytes()[: good.stat().st_size // 3])
    rejected, processed = run([bad, good], db, tmp_path)
    assert isinstance(rejected, Rejected) and rejected.reason == reason and words in rejected.message, rejected
    assert isinstance(processed, Processed)
    assert [v.container for v in rows_of(db, VIDEOS)] == ["jpeg"]


def test_two_photos_of_the_same_bus_40_minutes_apart_make_a_candidate_and_one_alone_does_not(tmp_path: Path) -> None:
    """One photo says nothing about parking; a second at the same spot 40 min later is the chalk mark,
    a candidate with one sighting and no motion evidence: held below the default parking threshold
    (0.5), filed where a city lowers it."""
    first = write_photo(tmp_path / "0930.jpg", exif_block(*PHOTO_LATLON, heading=90.0, taken="2026:11:02 09:30:00"))
    second = write_photo(tmp_path / "1010.jpg", exif_block(*PHOTO_LATLON, heading=90.0, taken="2026:11:02 10:10:00"))
    held_and_filed = []
    for threshold in (None, 0.3):
        db = sqlite_url(tmp_path / f"sw-{threshold}.db")
        rules = {} if threshold is None else {"rules": {"queue_thresholds": {"parking": threshold}}}
        assert isinstance(run([first], db, tmp_path, **rules)[0], Processed)
        assert rows_of(db, select(Violation.id)) == []
        assert all("held_event" not in r.attributes for r in rows_of(db, select(Observation.attributes)))
        assert isinstance(run([second], db, tmp_path, **rules)[0], Processed)
        buses = rows_of(db, select(Observation.attributes).where(Observation.video_id == 2,
                                                                 Observation.class_name == "bus"))
        filed = rows_of(db, select(Violation.family, Violation.class_name, Violation.reason))
        held_and_filed.append((buses, filed))
    (buses, filed), (_, filed_lowered) = held_and_filed
    assert filed == [] and len(buses) == 1
    reason = buses[0].attributes["held_reason"]
    assert buses[0].attributes["held_family"] == "parking"
    assert "bus at the same spot 40 min after the first sighting (09:30, 10:10)" in reason
    assert "bus seen once (one photo cannot show whether it moves" in reason
    assert [(v.family, v.class_name) for v in filed_lowered] == [("parking", "bus")]
    assert "at the same spot 40 min after the first sighting" in filed_lowered[0].reason


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["hefei_roadside_parking_0.jpg", "xiamen_road_00362.jpg"])
def test_real_chinese_street_photos_place_their_vehicles(tmp_path: Path, name: str) -> None:
    source = SHARED_PHOTOS / name
    if not source.is_file():
        pytest.skip(f"{source} is absent (the public data set beside the checkout)")
    db = sqlite_url(tmp_path / "sw.db")
    photo = write_photo(tmp_path / name, exif_block(*PHOTO_LATLON, heading=180.0), source=source)
    (outcome,) = run([photo], db, tmp_path)
    assert isinstance(outcome, Processed), outcome
    rows = [r for r in rows_of(db, OBSERVATIONS) if r.class_name in VEHICLES]
    assert rows, "no vehicle found in a street photo full of them"
    hfov = DEFAULT_PHOTO_HFOV_DEG
    (size,) = rows_of(db, select(Video.width, Video.height))
    width, height = size.width, size.height
    if width < height:
        hfov = math.degrees(2 * math.atan(math.tan(math.radians(hfov) / 2) * width / height))
    assert_placed_along([r for r in rows if r.location_status == "geolocated"], heading=180.0, hfov=hfov)
    assert {r.motion_state for r in rows} == {"unknown"}
    assert rows_of(db, select(Violation.id)) == []


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "plate"), [("hefei_roadside_parking_0.jpg", "皖A195K9"),
                                             ("hefei_roadside_parking_2.jpg", "皖AT022C")])
def test_an_inspectors_photo_of_a_parked_car_has_its_plate_read(tmp_path: Path, name: str, plate: str) -> None:
    """One photo cannot show parking, but the car in it is the one reported: its plate is read (OCR on)."""
    source = SHARED_PHOTOS / name
    if not source.is_file():
        pytest.skip(f"{source} is absent (the public data set beside the checkout)")
    db = sqlite_url(tmp_path / "sw.db")
    photo = write_photo(tmp_path / name, exif_block(*PHOTO_LATLON, heading=180.0), source=source)
    summary = process_videos([photo], run_settings(db, tmp_path, ocr=True), None, progress=False,
                             detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    read = {row.attributes.get("plate") for row in rows_of(db, select(Observation.class_name, Observation.attributes))
            if row.class_name in VEHICLES}
    assert plate in read, read


@pytest.mark.slow   # the CLI loads its own detector and OCR models (about 8 s)
def test_the_cli_processes_photos_and_reports_a_bad_one_with_exit_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streetwatch.cli.main import app

    good = write_photo(tmp_path / "IMG_0001.jpg", exif_block(*PHOTO_LATLON, heading=90.0))
    bad = tmp_path / "notes.jpg"
    bad.write_text("bus at the stop since 9:30\n")
    db = sqlite_url(tmp_path / "sw.db")
    result = CliRunner().invoke(app, ["process", str(good), str(bad), "--db", db, "--evidence",
                                      str(tmp_path / "evidence"), "--no-progress"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert "done IMG_0001.jpg: 1 frames" in text, text
    assert "rejected notes.jpg: not a photo (JPEG, HEIC or PNG): looks like a text file" in text, text
    assert [(v.media, v.gps_kind) for v in rows_of(db, VIDEOS)] == [("photo", "exif")]
