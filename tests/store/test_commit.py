"""Committing a processed video: all rows and files at once, or nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.types import Observation as ObservationData
from streetwatch.core.types import Violation as ViolationData
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Evidence, Observation, Video, Violation
from streetwatch.store.writes import (
    Claimed,
    OwnershipLostError,
    ResultsRejectedError,
    VideoResults,
    claim_video,
    commit_video_results,
    mark_failed,
)
from tests.store.builders import (
    CAMERA_ONLY,
    NOWHERE,
    jpeg,
    observation,
    results,
    video_meta,
    violation,
)
from tests.store.test_claims import as_utc, load_video

SessionFactory = sessionmaker[Session]


def count(session_factory: SessionFactory, model: type) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def claimed(session_factory: SessionFactory, name: str = "patrol-0001.mp4", worker: str = "worker-a") -> int:
    result = claim_video(session_factory, video_meta(name), worker)
    assert isinstance(result, Claimed)
    return result.video_id


def three_items() -> list[tuple[ObservationData, ViolationData | None]]:
    """A parked car (violation), a person next to it in the same frame (evidence), an ungeolocated car."""
    car = observation(1)
    person = observation(2, frame=car.frame, location=CAMERA_ONLY, class_name="person")
    lost_car = observation(3, location=NOWHERE, time_utc=None)
    return [(car, violation()), (person, None), (lost_car, violation())]


def test_commit_writes_every_row_and_file(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    video_id = claimed(db_session_factory)
    store = EvidenceStore(tmp_path / "evidence")
    items = three_items()
    video_results = results(items)

    commit_video_results(db_session_factory, video_id, "worker-a", video_results, store)

    video = load_video(db_session_factory, video_id)
    assert (video.status, video.error, video.worker) == ("done", None, "worker-a")
    assert (video.frames_sampled, video.detections, video.gps_source, video.gps_fixes, video.gps_offset_s,
            video.model_name) == (123, 456, "patrol-0001.gpx", 61, -1.5, "yolo11n-streetwatch")
    assert as_utc(video.start_utc) == video_results.start_utc
    assert video.processed_at is not None

    images = {im.sha256: im for obs, _ in items for im in (obs.frame, obs.crop)}
    assert len(images) == 5  # the person shares the car's frame
    for sha, image in images.items():
        assert hashlib.sha256(store.open(sha)).hexdigest() == sha
        assert store.open(sha) == image.data
    with db_session_factory() as session:
        rows = {e.sha256: e for e in session.scalars(select(Evidence))}
        assert set(rows) == set(images)
        assert all((rows[s].size_bytes, rows[s].width, rows[s].height, rows[s].media_type)
                   == (len(im.data), im.width, im.height, "image/jpeg") for s, im in images.items())

        query = select(Observation).where(Observation.video_id == video_id)
        stored = {o.track_id: o for o in session.scalars(query)}
        assert sorted(stored) == [1, 2, 3]
        for obs, vio in items:
            row = stored[obs.track_id]
            assert (row.class_name, row.confidence, row.location_status) == (
                obs.class_name, obs.confidence, obs.location.status.value)
            assert (row.lat, row.lon, row.bearing_deg, row.range_m) == (
                obs.location.lat, obs.location.lon, obs.location.bearing_deg, obs.location.range_m)
            assert (row.pts_start_s, row.pts_end_s, row.best_pts_s) == (
                obs.points[0].pts_s, obs.points[-1].pts_s, obs.best.pts_s)
            expected_seen = None if obs.time_utc is None else datetime.fromtimestamp(obs.time_utc, UTC)
            assert as_utc(row.seen_at) == expected_seen
            assert row.bbox == list(obs.best.xyxy)
            assert row.track_points == [
                {"frame_index": p.frame_index, "pts_s": p.pts_s, "xyxy": list(p.xyxy),
                 "confidence": p.confidence} for p in obs.points
            ]
            assert (row.frame_sha256, row.crop_sha256) == (obs.frame.sha256, obs.crop.sha256)
            assert row.family == (vio.family if vio is not None else None)

        violations = {v.observation_id: v for v in session.scalars(select(Violation))}
        assert len(violations) == 2
        for track_id in (1, 3):
            vio_row = violations[stored[track_id].id]
            assert (vio_row.status, vio_row.family, vio_row.event_code, vio_row.class_name) == (
                "pending", "parking", "0508", "car")
            assert (vio_row.rule, vio_row.rule_version, vio_row.extra) == (
                "parking.pavement", "2", {"zone": "pavement-17"})
            assert (as_utc(vio_row.seen_at), vio_row.lat, vio_row.lon) == (
                as_utc(stored[track_id].seen_at), stored[track_id].lat, stored[track_id].lon)


def test_commit_of_a_video_with_nothing_seen(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    video_id = claimed(db_session_factory)

    commit_video_results(db_session_factory, video_id, "worker-a",
                         replace(results([]), start_utc=None, gps_source=None), EvidenceStore(tmp_path))

    video = load_video(db_session_factory, video_id)
    assert (video.status, video.start_utc, video.gps_source) == ("done", None, None)
    assert count(db_session_factory, Observation) == 0


def test_evidence_shared_between_videos_is_stored_once(
    db_session_factory: SessionFactory, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path)
    shared_frame = jpeg(99, 48, 64)
    first, second = claimed(db_session_factory, "a.mp4"), claimed(db_session_factory, "b.mp4")

    commit_video_results(db_session_factory, first, "worker-a",
                         results([(observation(1, frame=shared_frame), None)]), store)
    commit_video_results(db_session_factory, second, "worker-a",
                         results([(observation(1, seed=7, frame=shared_frame), violation())]), store)

    assert count(db_session_factory, Evidence) == 3  # one shared frame, two crops
    assert count(db_session_factory, Observation) == 2


@pytest.mark.parametrize("videos", [4])
def test_concurrent_commits_sharing_evidence(
    db_session_factory: SessionFactory, tmp_path: Path, videos: int
) -> None:
    store = EvidenceStore(tmp_path)
    shared = [jpeg(500 + i, 40, 40) for i in range(6)]
    video_ids = [claimed(db_session_factory, f"v{i}.mp4", f"worker-{i}") for i in range(videos)]
    # Every video holds every shared frame, in a different order, so inserts overlap as much as possible.
    batches = [
        results([(observation(t, seed=100 * i + t, frame=shared[(t + i) % len(shared)]), violation())
                 for t in range(len(shared))])
        for i in range(videos)
    ]
    barrier = threading.Barrier(videos)
    errors: list[BaseException] = []

    def commit(i: int) -> None:
        barrier.wait()
        try:
            commit_video_results(db_session_factory, video_ids[i], f"worker-{i}", batches[i], store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(videos)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert count(db_session_factory, Evidence) == len(shared) + videos * len(shared)
    assert count(db_session_factory, Violation) == videos * len(shared)
    assert {load_video(db_session_factory, v).status for v in video_ids} == {"done"}


def _take_over(session_factory: SessionFactory, video_id: int) -> None:
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    set_heartbeat = update(Video).where(Video.id == video_id).values(heartbeat_at=long_ago)
    with session_factory.begin() as session:
        session.execute(set_heartbeat)
    assert claim_video(session_factory, video_meta(), "worker-b") == Claimed(video_id, resumed=True)


def _fail(session_factory: SessionFactory, video_id: int) -> None:
    assert mark_failed(session_factory, video_id, "worker-a", "out of memory")


def _commit_first(session_factory: SessionFactory, video_id: int) -> None:
    no_files = EvidenceStore(Path("/nonexistent"))  # nothing to store: an empty result
    commit_video_results(session_factory, video_id, "worker-a", results([]), no_files)


# what happened to the claim -> (status, worker) found by the late commit
LOST_CASES = [
    pytest.param(_take_over, ("processing", "worker-b"), id="taken-over"),
    pytest.param(_fail, ("failed", "worker-a"), id="marked-failed"),
    pytest.param(_commit_first, ("done", "worker-a"), id="already-committed"),
]


@pytest.mark.parametrize(("lose", "found"), LOST_CASES)
def test_commit_after_losing_the_claim_writes_nothing(
    db_session_factory: SessionFactory,
    tmp_path: Path,
    lose: Callable[[SessionFactory, int], None],
    found: tuple[str, str],
) -> None:
    video_id = claimed(db_session_factory)
    lose(db_session_factory, video_id)
    before = load_video(db_session_factory, video_id)

    expected_message = rf"found status '{found[0]}', worker '{found[1]}'"
    with pytest.raises(OwnershipLostError, match=expected_message) as caught:
        commit_video_results(db_session_factory, video_id, "worker-a", results(three_items()),
                             EvidenceStore(tmp_path))

    assert (caught.value.found_status, caught.value.found_worker) == found
    assert count(db_session_factory, Observation) == count(db_session_factory, Violation) == 0
    assert count(db_session_factory, Evidence) == 0
    after = load_video(db_session_factory, video_id)
    assert (after.status, after.worker, after.heartbeat_at, after.frames_sampled) == (
        before.status, before.worker, before.heartbeat_at, before.frames_sampled)


def test_a_commit_that_fails_midway_leaves_nothing(
    db_session_factory: SessionFactory, tmp_path: Path
) -> None:
    video_id = claimed(db_session_factory)
    store = EvidenceStore(tmp_path)
    # Track 2 twice breaks UNIQUE(video_id, track_id) after other rows went in.
    items = [(observation(1), violation()), (observation(2), violation()), (observation(2, seed=9), None)]

    with pytest.raises(ResultsRejectedError, match=rf"video {video_id}: the database rejected"):
        commit_video_results(db_session_factory, video_id, "worker-a", results(items), store)

    assert count(db_session_factory, Observation) == count(db_session_factory, Violation) == 0
    assert count(db_session_factory, Evidence) == 0
    video = load_video(db_session_factory, video_id)
    assert (video.status, video.worker, video.frames_sampled, video.processed_at) == (
        "processing", "worker-a", 0, None)

    # The same worker may still commit good results afterwards.
    commit_video_results(db_session_factory, video_id, "worker-a", results(items[:2]), store)
    assert count(db_session_factory, Observation) == 2
    assert load_video(db_session_factory, video_id).status == "done"


def _naive_start(r: VideoResults) -> VideoResults:
    return replace(r, start_utc=datetime(2025, 12, 29, 9, 20))


def _no_points(r: VideoResults) -> VideoResults:
    obs, vio = r.items[0]
    return replace(r, items=[(replace(obs, points=()), vio)])


def _forged_crop(r: VideoResults) -> VideoResults:
    obs, vio = r.items[0]
    return replace(r, items=[(replace(obs, crop=replace(obs.crop, data=obs.crop.data + b"x")), vio)])


@pytest.mark.parametrize(("spoil", "error", "message"), [
    pytest.param(_naive_start, ValueError, "start_utc must be timezone-aware", id="naive-start"),
    pytest.param(_no_points, ValueError, "has no track points", id="no-track-points"),
    pytest.param(_forged_crop, ValueError, "evidence bytes hash to", id="forged-evidence"),
])
def test_malformed_results_are_refused_before_any_row(
    db_session_factory: SessionFactory,
    tmp_path: Path,
    spoil: Callable[[VideoResults], VideoResults],
    error: type[Exception],
    message: str,
) -> None:
    video_id = claimed(db_session_factory)
    bad = spoil(results([(observation(1), violation())]))

    with pytest.raises(error, match=message):
        commit_video_results(db_session_factory, video_id, "worker-a", bad, EvidenceStore(tmp_path))

    assert count(db_session_factory, Observation) == count(db_session_factory, Evidence) == 0
    assert load_video(db_session_factory, video_id).status == "processing"
