"""The Ray backend on a real local Ray instance (127.0.0.1, 2 CPUs, one per module).

The depot scenario: six videos land in a watched folder (two with the same content under different
names, one truncated without its index); one Ray worker is killed with SIGKILL in the middle of a
video. In the end every distinct readable video is committed exactly once, the duplicate is
skipped, the truncated file is rejected, and the killed worker's video was taken over once. It runs
twice: on a SQLite file with an evidence folder, and as a city's fleet runs it, on a real PostgreSQL
with PostGIS and a real S3-compatible server (moto on 127.0.0.1), where every evidence object must
be in the bucket under its sha256 and every located observation must carry its point geometry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.datasets import synthetic
from streetwatch.datasets.demo import demo_image_path
from streetwatch.pipeline.fleet import RAY_MISSING, RayFleet, RayUnavailableError, start_ray
from streetwatch.pipeline.outcomes import Processed, Rejected, Skipped
from streetwatch.pipeline.watch import DepotWatcher, WatchState
from streetwatch.store.db import make_engine
from streetwatch.store.models import Evidence, Observation, Video
from tests.pipeline.run_helpers import (
    CLIP_FPS,
    CLIP_SIZE,
    run_settings,
    shared_street_clip,
    sqlite_url,
    write_gpx_fixes,
)
from tests.s3_fixtures import S3Server
from tests.video_fixtures import make_bad_file

runner = CliRunner()
STALE_AFTER_S = 15.0  # a killed worker's claim is taken over this long after its last heartbeat (room for a loaded CI)


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ray-markers")


@pytest.fixture(scope="module")
def ray_local(markers: Path, s3_server: S3Server) -> Iterator[object]:
    """One local Ray instance for the module; its workers write a marker per video they start.

    Started after the S3 server, so that its workers inherit the (fake) AWS credentials the server set."""
    ray = pytest.importorskip("ray")
    os.environ["STREETWATCH_RAY_TASK_MARKER_DIR"] = str(markers)   # inherited by the Ray workers
    started = start_ray("local", num_cpus=2)
    yield started
    ray.shutdown()
    os.environ.pop("STREETWATCH_RAY_TASK_MARKER_DIR", None)


def street_clip(path: Path, seconds: float, pan: tuple[float, float]) -> Path:
    return synthetic.make_patrol_clip(path, demo_image_path(), seconds=seconds, fps=CLIP_FPS, size=CLIP_SIZE, pan=pan)


def kill_mid_video(markers: Path, db_url: str, name: str, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the Ray worker that runs ``name`` once the video's claim is in the database."""
    engine = make_engine(db_url)
    try:
        while not stop.is_set():
            pids = [int(p.suffix[1:]) for p in markers.glob(f"{name}.*")]
            if pids:
                with engine.connect() as conn:
                    status = conn.execute(select(Video.status).where(Video.filename == name)).scalar_one_or_none()
                if status == "processing":
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
                assert status is None, f"{name} was {status!r} before it could be killed"
            time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-folder", pytest.param("postgis-s3", marks=pytest.mark.postgres)])
def test_a_watched_depot_on_ray_survives_a_killed_worker(ray_local: object, markers: Path, tmp_path: Path,
                                                         backend: str, request: pytest.FixtureRequest) -> None:
    for marker in markers.glob("*"):  # the markers of an earlier parameter's run
        marker.unlink()
    depot = tmp_path / "depot"
    (depot / "car-2").mkdir(parents=True)
    first = street_clip(depot / "a.mp4", 3.0, (0.0, 1.0))
    shutil.copyfile(first, depot / "car-2" / "a-again.mp4")              # same content, another name
    street_clip(depot / "b.mp4", 4.0, (1.0, 0.0))
    street_clip(depot / "car-2" / "c.mp4", 3.0, (0.3, 0.7))
    street_clip(depot / "long.mp4", 14.0, (0.0, 1.0))                    # the one whose worker is killed
    shutil.move(make_bad_file("truncated_mp4", tmp_path), depot / "cut.mp4")   # no moov: rejected
    for video in ("a", "car-2/a-again", "b", "car-2/c", "long"):  # GPS beside each: objects are placed
        write_gpx_fixes(depot / f"{video}.gpx", [float(t) for t in range(16)])
    if backend == "sqlite-folder":
        db_url = sqlite_url(tmp_path / "fleet.db")
        settings = run_settings(db_url, tmp_path, claim_stale_after_s=STALE_AFTER_S)
    else:
        db_url = request.getfixturevalue("postgis_url")
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        settings = run_settings(db_url, tmp_path, claim_stale_after_s=STALE_AFTER_S,
                                evidence_dir=f"s3://{bucket}/fleet", s3_endpoint_url=server.endpoint_url)
    fleet = RayFleet(settings, "local", hold_wait_s=120.0)
    watcher = DepotWatcher(depot, lambda video: fleet.process([video])[0], WatchState(tmp_path / "state.json"),
                           stable_s=0.0, process_batch=fleet.process)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_mid_video, args=(markers, db_url, "long.mp4", killed, stop))
    killer.start()
    try:
        results = {video.name: outcome for video, outcome in watcher.poll_once()}
    finally:
        stop.set()
        killer.join()

    assert len(killed) == 1, "the worker running long.mp4 was never killed mid-video"
    long_runs = sorted(int(p.suffix[1:]) for p in markers.glob("long.mp4.*"))
    # The killed run, Ray's retry, and (when that retry came before the claim went stale and was told
    # "held") the driver's resubmission at the stale time: one of them commits (below).
    assert killed[0] in long_runs and 2 <= len(long_runs) <= 3, f"expected the killed run and its retries: {long_runs}"
    assert sorted(results) == ["a-again.mp4", "a.mp4", "b.mp4", "c.mp4", "cut.mp4", "long.mp4"]
    kinds = Counter(type(o).__name__ for o in results.values())
    assert kinds == {"Processed": 4, "Skipped": 1, "Rejected": 1}, results
    duplicate = next(o for o in results.values() if isinstance(o, Skipped))
    assert duplicate.path.name in ("a.mp4", "a-again.mp4") and "already processed" in duplicate.message
    assert isinstance(results["cut.mp4"], Rejected) and results["cut.mp4"].reason == "truncated"
    taken_over = results["long.mp4"]
    assert isinstance(taken_over, Processed) and taken_over.resumed   # the dead worker's claim, taken over once

    engine = make_engine(db_url)
    with engine.connect() as conn:
        videos = {row.filename: row for row in conn.execute(select(Video.id, Video.filename, Video.status))}
        per_video = dict(conn.execute(select(Observation.video_id, func.count()).group_by(Observation.video_id)).all())
        distinct_tracks = dict(conn.execute(select(Observation.video_id, func.count(Observation.track_id.distinct()))
                                            .group_by(Observation.video_id)).all())
    engine.dispose()
    assert len(videos) == 4 and {str(v.status) for v in videos.values()} == {"done"}
    assert {"b.mp4", "c.mp4", "long.mp4"} <= set(videos)
    for outcome in results.values():
        if isinstance(outcome, Processed):   # each video's observations stored once: as many as its run found
            assert per_video.get(outcome.video_id, 0) == outcome.observations > 0
            assert distinct_tracks[outcome.video_id] == outcome.observations
    if backend == "postgis-s3":
        check_postgis_and_s3(db_url, server, bucket)


def check_postgis_and_s3(db_url: str, server: S3Server, bucket: str) -> None:
    """Every evidence row's object is in the bucket and hashes to its sha256; located observations have geometry."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        recorded = set(conn.execute(select(Evidence.sha256)).scalars())
        off = conn.execute(text(
            "SELECT count(*) FROM observations WHERE lat IS NOT NULL AND (geom IS NULL "
            "OR abs(ST_X(geom) - lon) > 1e-9 OR abs(ST_Y(geom) - lat) > 1e-9)")).scalar_one()
        located = conn.execute(text("SELECT count(*) FROM observations WHERE geom IS NOT NULL")).scalar_one()
    engine.dispose()
    client = server.client()
    keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="fleet/")
            for item in page.get("Contents", [])]
    stored = {}
    for key in keys:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        stored[hashlib.sha256(data).hexdigest()] = key
    assert recorded and recorded <= set(stored), f"evidence rows without their object: {sorted(recorded - set(stored))}"
    assert all(Path(stored[sha]).stem == sha for sha in recorded)  # content-addressed: the key names the hash
    assert off == 0 and located > 0


@pytest.mark.slow
def test_process_cli_runs_on_ray(ray_local: object, tmp_path: Path,
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    clip = shared_street_clip(tmp_path_factory)
    db_url = sqlite_url(tmp_path / "cli.db")
    result = runner.invoke(app, ["process", str(clip), "--db", db_url, "--evidence", str(tmp_path / "ev"),
                                 "--sample-fps", "3", "--no-progress", "--ray", "local"])
    assert result.exit_code == 0, result.output
    assert "videos processed" in result.stdout and "done street.mp4" in " ".join(result.output.split())
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert [str(s) for s in conn.execute(select(Video.status)).scalars()] == ["done"]
    engine.dispose()
    depot = tmp_path / "depot"                    # the depot service on Ray: the same content again is skipped
    depot.mkdir()
    shutil.copyfile(clip, depot / "again.mp4")
    watched = runner.invoke(app, ["watch", str(depot), "--once", "--stable-s", "0", "--db", db_url, "--evidence",
                                  str(tmp_path / "ev"), "--ray", "local", "--log-format", "json"])
    assert watched.exit_code == 0, watched.output
    assert "1 video(s) handled, 0 rejected or failed" in " ".join(watched.output.split())
    state = json.loads((depot / ".streetwatch" / "watch-state.json").read_text())
    assert [row["outcome"] for row in state["files"].values()] == ["skipped"]


def test_without_ray_installed_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)   # import ray -> ImportError
    with pytest.raises(RayUnavailableError, match="pip install 'streetwatch\\[ray\\]'"):
        start_ray("local")
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"not read")
    result = runner.invoke(app, ["process", str(clip), "--db", sqlite_url(tmp_path / "x.db"), "--ray", "local"])
    assert result.exit_code == 2 and RAY_MISSING in " ".join(result.output.split())


@pytest.mark.slow
def test_a_shared_detector_actor_gives_the_same_observations(ray_local: object, tmp_path: Path) -> None:
    """--detector-actors 1: the tasks' detector calls go to one shared actor, with the same results."""
    import ray

    clips = [street_clip(tmp_path / f"{name}.mp4", 3.0, pan) for name, pan in (("p", (0.0, 1.0)), ("q", (1.0, 0.0)))]
    counts: dict[int, list[int]] = {}
    for actors in (0, 1):
        fleet = RayFleet(run_settings(sqlite_url(tmp_path / f"actors-{actors}.db"), tmp_path / f"w{actors}"),
                         "local", detector_actors=actors)
        try:
            outcomes = fleet.process(clips)
            assert all(isinstance(o, Processed) for o in outcomes), outcomes
            counts[actors] = [o.observations for o in outcomes if isinstance(o, Processed)]
            if actors:
                (stats,) = fleet.batch_stats()
                assert stats.calls > 0 and stats.frames > 0   # the frames went through the actor
        finally:
            for actor in fleet.actors:   # give its core back to the module's Ray instance
                ray.kill(actor)
    assert counts[0] == counts[1] and all(n > 0 for n in counts[0])
