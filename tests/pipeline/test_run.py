"""The run orchestrator on real clips, real GPS files and real databases (SQLite and PostgreSQL).

Every processing test runs the bundled model on the session's street clip, so each one
checks what really lands in the database, not what the orchestrator says it did.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from streetwatch.core.geo import haversine_m
from streetwatch.pipeline.frames import DecodeStats, iter_frames
from streetwatch.pipeline.run import (
    Held,
    Processed,
    Rejected,
    Skipped,
    VideoProcessor,
    process_videos,
)
from streetwatch.store.models import Observation, Video, Violation
from tests.pipeline.run_helpers import (
    TRACK_START_UTC,
    as_utc,
    fetch_rows,
    run_settings,
    seconds_between,
    shared_detector,
    shared_street_clip,
    sqlite_url,
    start_cli,
    table_counts,
    track_point,
    wait_for_processing_row,
    write_gpx_fixes,
    write_straight_gpx,
)
from tests.video_fixtures import make_bad_file

OBSERVATIONS = select(Observation.track_id, Observation.class_name, Observation.location_status,
                      Observation.lat, Observation.lon, Observation.range_m, Observation.best_pts_s,
                      Observation.seen_at).order_by(Observation.track_id)


@pytest.fixture(scope="module")
def street_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_street_clip(tmp_path_factory)


def copy_clip(clip: Path, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(clip, directory / name))


# --- GPS sidecars ---------------------------------------------------------------------------

# --- a batch with bad files -------------------------------------------------------------------

BAD_FILES = [
    # (kind made by tests.video_fixtures.make_bad_file, the reason the orchestrator must give)
    ("zero_byte", "empty"),
    ("truncated_mp4", "truncated"),
    ("random_bytes", "not_video"),
    ("text_as_mp4", "not_video"),
    ("missing", "not_found"),
]


def test_bad_files_are_rejected_one_by_one_and_the_good_clip_is_processed(
    db_url: str, street_clip: Path, tmp_path: Path
) -> None:
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = [(make_bad_file(kind, bad_dir), reason) for kind, reason in BAD_FILES]
    good = copy_clip(street_clip, tmp_path / "good", "good.mp4")
    paths = [p for p, _ in bad[:2]] + [good] + [p for p, _ in bad[2:]]  # a good file amid bad ones

    summary = process_videos(paths, run_settings(db_url, tmp_path), progress=False,
                             detector=shared_detector())

    assert [o.path for o in summary.outcomes] == paths
    by_path = {o.path: o for o in summary.outcomes}
    for path, reason in bad:
        outcome = by_path[path]
        assert isinstance(outcome, Rejected), f"{path.name}: expected Rejected({reason}), got {outcome}"
        assert outcome.reason == reason, f"{path.name}: {outcome.message}"
        assert outcome.message
    processed = by_path[good]
    assert isinstance(processed, Processed), processed
    assert processed.observations > 0 and processed.frames > 0
    assert summary.failed  # anything rejected makes the run a failure (the CLI's exit code 1)
    counts = table_counts(db_url)
    assert counts["videos"] == 1
    assert counts["observations"] == processed.observations
    assert fetch_rows(db_url, select(Video.filename, Video.status)) == [{"filename": "good.mp4",
                                                                          "status": "done"}]


BAD_GPS = [
    # (file name, content, words the message must hold)
    pytest.param("track.gpx", "this is not XML", "track.gpx", id="garbage-gpx"),
    pytest.param("track.csv", "", "track.csv", id="empty-csv"),
    pytest.param("track.kml", "<kml/>", "unknown GPS file type", id="unknown-type"),
    pytest.param("absent.gpx", None, "no such file", id="missing"),
]


@pytest.mark.parametrize(("name", "content", "expected_words"), BAD_GPS)
def test_unusable_gps_rejects_the_video_and_writes_nothing(
    street_clip: Path, tmp_path: Path, name: str, content: str | None, expected_words: str
) -> None:
    gps = tmp_path / name
    if content is not None:
        gps.write_text(content)
    url = sqlite_url(tmp_path / "db.sqlite")
    processor = VideoProcessor(run_settings(url, tmp_path), shared_detector(), progress=False)
    try:
        outcome = processor.process(street_clip, gps)
    finally:
        processor.close()
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason == "bad_gps"
    assert expected_words in outcome.message
    assert table_counts(url) == {"videos": 0, "observations": 0, "violations": 0, "evidence": 0}


# --- duplicates ------------------------------------------------------------------------------

def test_the_same_content_is_processed_once(db_url: str, street_clip: Path, tmp_path: Path) -> None:
    settings = run_settings(db_url, tmp_path)
    first = process_videos([street_clip, street_clip], settings, progress=False, detector=shared_detector())
    processed, again = first.outcomes
    assert isinstance(processed, Processed), processed
    assert isinstance(again, Skipped), again
    assert again.video_id == processed.video_id
    assert "already processed" in again.message
    assert not first.failed
    counts = table_counts(db_url)
    assert counts["videos"] == 1 and counts["observations"] == processed.observations

    renamed = copy_clip(street_clip, tmp_path / "renamed", "renamed-copy.mp4")
    second = process_videos([renamed], settings, progress=False, detector=shared_detector())
    (outcome,) = second.outcomes
    assert isinstance(outcome, Skipped), outcome
    assert outcome.video_id == processed.video_id and "already processed" in outcome.message
    assert table_counts(db_url) == counts


# --- GPS: gaps, none, sidecar -------------------------------------------------------------------

# Fixes at these seconds of GPS time, and the video starts 0.1 s after the first fix: video time
# 0 -> 2.9 s falls in a gap longer than the 2 s limit. A track seen only inside the gap has no
# position; a track also seen after it is placed from those later sightings alone.
NEAR_THE_CAR_M = 12.0
GAP_FIXES = [0.0, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0]
GAP_END_S = 3.0
VIDEO_OFFSET_S = 0.1


def test_objects_seen_inside_a_gps_gap_have_no_position(street_clip: Path, tmp_path: Path) -> None:
    gpx = write_gpx_fixes(tmp_path / "gappy.gpx", GAP_FIXES)
    url = sqlite_url(tmp_path / "db.sqlite")
    settings = run_settings(url, tmp_path, gps_max_gap_s=2.0, gps_offset_s=VIDEO_OFFSET_S)
    summary = process_videos([street_clip], settings, gpx, progress=False, detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes[0]

    rows = fetch_rows(url, select(Observation.track_id, Observation.class_name, Observation.location_status,
                                  Observation.lat, Observation.lon, Observation.seen_at, Observation.best_pts_s,
                                  Observation.track_points))

    def gps_times(row: dict) -> list[float]:
        return [p["pts_s"] + VIDEO_OFFSET_S for p in row["track_points"]]

    only_in_gap = [r for r in rows if max(gps_times(r)) < GAP_END_S]
    also_after = [r for r in rows if max(gps_times(r)) > GAP_END_S]
    assert only_in_gap and also_after, f"the clip must have objects on both sides of the gap's end: {rows}"
    for row in only_in_gap:
        assert (row["location_status"], row["lat"], row["lon"]) == ("unknown", None, None), row
    for row in also_after:
        assert row["location_status"] != "unknown" and row["lat"] is not None and row["lon"] is not None, row
    for row in rows:  # the time is known even where the position is not
        expected = TRACK_START_UTC + timedelta(seconds=row["best_pts_s"] + VIDEO_OFFSET_S)
        assert seconds_between(row["seen_at"], expected) < 1e-3


def test_without_gps_every_object_is_unplaced_and_untimed(street_clip: Path, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "db.sqlite")
    summary = process_videos([street_clip], run_settings(url, tmp_path), progress=False,
                             detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes[0]
    rows = fetch_rows(url, OBSERVATIONS)
    assert rows
    assert {(r["location_status"], r["lat"], r["lon"], r["seen_at"]) for r in rows} == {
        ("unknown", None, None, None)}
    assert fetch_rows(url, select(Video.gps_source, Video.gps_fixes, Video.start_utc)) == [
        {"gps_source": None, "gps_fixes": 0, "start_utc": None}]
    violations = fetch_rows(url, select(Violation.lat, Violation.lon, Violation.seen_at))
    assert all(v == {"lat": None, "lon": None, "seen_at": None} for v in violations)


def test_a_gps_sidecar_is_used_without_being_named(street_clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "patrol"
    video = copy_clip(street_clip, folder, "patrol-007.mp4")
    gpx = write_straight_gpx(folder / "patrol-007.gpx")
    url = sqlite_url(tmp_path / "db.sqlite")
    summary = process_videos([video], run_settings(url, tmp_path), progress=False, detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes[0]

    (video_row,) = fetch_rows(url, select(Video.gps_source, Video.gps_fixes, Video.start_utc))
    assert Path(video_row["gps_source"]) == gpx
    assert video_row["gps_fixes"] == 7
    assert as_utc(video_row["start_utc"]) == TRACK_START_UTC
    rows = fetch_rows(url, OBSERVATIONS)
    geolocated = [r for r in rows if r["location_status"] == "geolocated"]
    assert geolocated, rows
    for row in rows:
        assert seconds_between(row["seen_at"], TRACK_START_UTC + timedelta(seconds=row["best_pts_s"])) < 1e-3
    for row in geolocated:
        # Objects of this street clip stand beside the car: within a few metres of where it was
        # when the evidence frame was taken (positions come from all sightings, not that frame alone).
        camera = track_point(row["best_pts_s"])
        assert haversine_m(*camera, row["lat"], row["lon"]) < NEAR_THE_CAR_M, row
        assert row["range_m"] is not None


# --- a run killed mid-video ----------------------------------------------------------------------

def test_a_killed_run_leaves_no_results_and_a_rerun_takes_over(
    db_url: str, street_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 10 frames/s: about 50 frames to analyse, seconds of work during which the kill lands.
    proc = start_cli("process", str(street_clip), "--db", db_url, "--evidence", str(tmp_path / "evidence"),
                     "--sample-fps", "10", "--no-progress")
    try:
        wait_for_processing_row(db_url, proc.poll)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == -signal.SIGKILL, f"expected the run to be killed, it exited: {output}"
    assert table_counts(db_url) == {"videos": 1, "observations": 0, "violations": 0, "evidence": 0}
    (killed,) = fetch_rows(db_url, select(Video.id, Video.status, Video.worker))
    assert killed["status"] == "processing" and str(proc.pid) in killed["worker"]

    # While the dead worker's claim is fresh, a re-run leaves the video alone, but says that its
    # worker stopped and when the video will be taken over (the batch counts as not done).
    fresh = process_videos([street_clip], run_settings(db_url, tmp_path), progress=False,
                           detector=shared_detector())
    (outcome,) = fresh.outcomes
    assert isinstance(outcome, Held) and fresh.held, outcome
    assert f"held by a stale worker {killed['worker']}" in outcome.message
    assert f"its process {proc.pid} is no longer running" in outcome.message and "taken over at" in outcome.message
    assert table_counts(db_url)["observations"] == 0

    # Once the heartbeat is stale, the re-run takes the video over and finishes it.
    monkeypatch.setenv("STREETWATCH_CLAIM_STALE_AFTER_S", "0.5")
    settings = run_settings(db_url, tmp_path)
    assert settings.claim_stale_after_s == 0.5
    time.sleep(1.0)
    rerun = process_videos([street_clip], settings, progress=False, detector=shared_detector())
    (outcome,) = rerun.outcomes
    assert isinstance(outcome, Processed), outcome
    assert outcome.resumed and outcome.video_id == killed["id"]
    counts = table_counts(db_url)
    assert counts["videos"] == 1
    assert counts["observations"] == outcome.observations > 0
    assert counts["violations"] == sum(outcome.violations_by_family.values())
    (done,) = fetch_rows(db_url, select(Video.status, Video.worker, Video.error))
    assert done["status"] == "done" and done["error"] is None
    assert done["worker"] != killed["worker"]


def test_a_video_asked_of_nvdec_is_processed_alike_where_no_gpu_can_decode(street_clip: Path, tmp_path: Path) -> None:
    """``nvdec_device`` sends decoding to an NVIDIA GPU; where none can be opened (no GPU, or a task that
    holds none) the CPU decodes and the results are the CPU run's."""
    probe = DecodeStats()
    next(iter_frames(street_clip, "probe", stats=probe, nvdec_device=0))
    if probe.decoder == "nvdec":
        pytest.skip("a GPU decodes here: tests/pipeline/test_frames.py compares NVDEC's frames with the CPU's")
    rows = []
    for name, nvdec in (("cpu", None), ("nvdec", 0)):
        url = sqlite_url(tmp_path / f"{name}.sqlite")
        processor = VideoProcessor(run_settings(url, tmp_path / name), shared_detector(), progress=False,
                                   nvdec_device=nvdec)
        try:
            assert isinstance(processor.process(street_clip), Processed)
        finally:
            processor.close()
        rows.append(fetch_rows(url, select(Observation.track_id, Observation.class_name, Observation.best_pts_s)))
    assert rows[0] and rows[1] == rows[0]
