"""Batches and crashes: a database locked past its busy timeout, a run killed with -9, a file cut at 60 %.

The database is SQLite in WAL mode, as by default; another connection holding its write lock
(``BEGIN EXCLUSIVE``) for longer than a small busy timeout stands in for a long lock in the field.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from streetwatch.datasets import synthetic
from streetwatch.pipeline.run import Failed, Processed, Skipped, process_videos
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.models import Observation, Video, utcnow
from tests.pipeline.run_helpers import (
    cli_command,
    cli_env,
    fetch_rows,
    one_line,
    run_settings,
    shared_detector,
    shared_street_clip,
    sqlite_url,
    start_cli,
    table_counts,
    wait_for_processing_row,
    write_straight_gpx,
)

BUSY_TIMEOUT_S = "0.5"
CLI_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def street_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_street_clip(tmp_path_factory)


@pytest.fixture(scope="module")
def square_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, different clip (a sliding square: cheap, few detections)."""
    path = tmp_path_factory.mktemp("square") / "square.mp4"
    return synthetic.write_video(path, lambda i, t: synthetic.moving_square(i, t, 320, 192), 10.0, n_frames=30)


@contextmanager
def write_lock(db_file: Path) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock from another connection until the block ends (or it is rolled back)."""
    conn = sqlite3.connect(db_file, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def run_cli(*args: str, **env: str) -> tuple[int, str]:
    import subprocess

    done = subprocess.run(cli_command(*args), cwd=Path(__file__).resolve().parents[2], env=cli_env(**env),
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False)
    return done.returncode, one_line(done.stdout + done.stderr)


# --- a database locked past the busy timeout ------------------------------------------------------

def test_a_lock_past_the_busy_timeout_fails_each_video_clearly_and_a_rerun_completes(
    street_clip: Path, square_clip: Path, tmp_path: Path
) -> None:
    db_file = tmp_path / "city.db"
    url = sqlite_url(db_file)
    upgrade(url)
    args = ("process", str(street_clip), str(square_clip), "--db", url, "--evidence", str(tmp_path / "evidence"),
            "--sample-fps", "2", "--no-progress")
    with write_lock(db_file):
        code, output = run_cli(*args, STREETWATCH_DB_BUSY_TIMEOUT_S=BUSY_TIMEOUT_S)

    assert code == 1, output
    assert "Traceback" not in output and "OperationalError" not in output, output
    for name in (street_clip.name, square_clip.name):  # the batch went on: each video has its own clear error
        assert (f"failed {name}: the database stayed locked by another connection for longer than the busy "
                f"timeout ({BUSY_TIMEOUT_S} s, STREETWATCH_DB_BUSY_TIMEOUT_S) while claiming it; nothing was "
                "written for this video") in output, output
    assert table_counts(url) == {"videos": 0, "observations": 0, "violations": 0, "evidence": 0}

    code, output = run_cli(*args, STREETWATCH_DB_BUSY_TIMEOUT_S=BUSY_TIMEOUT_S)  # the lock is gone: it completes
    assert code == 0, output
    assert fetch_rows(url, select(Video.status)) == [{"status": "done"}, {"status": "done"}]


class LockingDetector:
    """The shared detector, which takes the database's write lock from another connection on its first call."""

    def __init__(self, db_file: Path) -> None:
        self.inner = shared_detector()
        self.db_file = db_file
        self.lock: sqlite3.Connection | None = None
        self.names, self.model_name = self.inner.names, self.inner.model_name

    def detect(self, images: list[object]) -> list[object]:
        if self.lock is None:
            self.lock = sqlite3.connect(self.db_file, isolation_level=None, timeout=0)
            self.lock.execute("BEGIN EXCLUSIVE")
        return self.inner.detect(images)  # type: ignore[arg-type]

    def release(self) -> None:
        if self.lock is not None and self.lock.in_transaction:
            self.lock.execute("ROLLBACK")


def test_a_lock_during_the_commit_writes_nothing_releases_the_claim_and_the_batch_goes_on(
    street_clip: Path, square_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_file = tmp_path / "city.db"
    url = sqlite_url(db_file)
    monkeypatch.setenv("STREETWATCH_DB_BUSY_TIMEOUT_S", BUSY_TIMEOUT_S)
    settings = run_settings(url, tmp_path)
    detector = LockingDetector(db_file)
    try:
        # The lock is taken while the first video is analysed and let go once its outcome is in.
        summary = process_videos([street_clip, square_clip], settings, progress=False,
                                 detector=detector, on_outcome=lambda _: detector.release())  # type: ignore[arg-type]
    finally:
        detector.release()
        if detector.lock is not None:
            detector.lock.close()

    first, second = summary.outcomes
    assert isinstance(first, Failed), first
    assert "the database stayed locked by another connection" in first.message
    assert "while storing its results; nothing of its results was written" in first.message
    assert "tried again at the end of the batch" in first.message
    assert isinstance(second, Processed), second  # the batch went on
    assert summary.notes == ["video #1 marked failed at the end of the batch: a re-run takes it up"]
    rows = fetch_rows(url, select(Video.id, Video.status, Video.error).order_by(Video.id))
    assert [(r["id"], r["status"]) for r in rows] == [(1, "failed"), (2, "done")]  # not stuck in processing
    assert "stayed locked" in rows[0]["error"]
    assert fetch_rows(url, select(Observation.id).where(Observation.video_id == 1)) == []  # nothing half-written

    rerun = process_videos([street_clip, square_clip], settings, progress=False, detector=shared_detector())
    again, done = rerun.outcomes
    assert isinstance(again, Processed) and again.resumed and again.observations > 0, again
    assert isinstance(done, Skipped), done
    assert fetch_rows(url, select(Video.status).order_by(Video.id)) == [{"status": "done"}, {"status": "done"}]


# --- held by a stopped worker -------------------------------------------------------------------

def claim_as(url: str, clip: Path, worker: str, heartbeat_age_s: float) -> None:
    """A processing row for ``clip`` claimed by ``worker``, whose last heartbeat is that old."""
    from streetwatch.pipeline.ingest import VideoInfo, probe_video

    info = probe_video(clip)
    assert isinstance(info, VideoInfo)
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            session.add(Video(sha256=info.sha256, filename=clip.name, size_bytes=info.size_bytes, container="mp4",
                              codec="h264", width=info.width, height=info.height, duration_s=info.duration_s,
                              status="processing", worker=worker,
                              heartbeat_at=utcnow() - timedelta(seconds=heartbeat_age_s)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(("worker", "age_s", "held", "why"), [
    ("another-host:4242:00ff", 60.0, True, r"no heartbeat for 6\d s; a live worker beats every 10 s"),
    ("another-host:4242:00ff", 2.0, False, r"last heartbeat \d s ago"),
], ids=["overdue", "alive"])
def test_a_claim_of_a_stopped_worker_is_reported_with_its_takeover_time(
    square_clip: Path, tmp_path: Path, worker: str, age_s: float, held: bool, why: str
) -> None:
    from streetwatch.pipeline.run import Held

    url = sqlite_url(tmp_path / "city.db")
    upgrade(url)
    claim_as(url, square_clip, worker, age_s)

    summary = process_videos([square_clip], run_settings(url, tmp_path), progress=False,
                             detector=shared_detector())

    (outcome,) = summary.outcomes
    assert isinstance(outcome, Held if held else Skipped), outcome
    assert summary.held is held
    assert re.search(why, outcome.message) and worker in outcome.message, outcome.message
    takeover = re.search(r"UTC \(in (\d+) s; claim_stale_after_s = 120\)", outcome.message)
    assert takeover and 120 - age_s - 10 <= int(takeover.group(1)) <= 120 - age_s, outcome.message
    if held:
        assert outcome.message.startswith(f"held by a stale worker {worker}")


def test_a_worker_of_this_host_whose_process_is_gone_has_stopped() -> None:
    import socket
    import subprocess
    import sys

    from streetwatch.pipeline.outcomes import worker_is_gone

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True, timeout=30)
    dead = int(child.stdout)
    here = socket.gethostname()
    assert worker_is_gone(f"{here}:{dead}:abcd") == f"its process {dead} is no longer running on this host"
    assert worker_is_gone(f"{here}:{os.getpid()}:abcd") is None       # alive
    assert worker_is_gone(f"elsewhere:{dead}:abcd") is None           # cannot tell for another host
    assert worker_is_gone(None) is None and worker_is_gone("odd") is None


def test_after_a_kill_an_immediate_rerun_says_the_video_is_held_and_exits_non_zero(
    street_clip: Path, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "city.db")
    upgrade(url)
    args = ("process", str(street_clip), "--db", url, "--evidence", str(tmp_path / "evidence"),
            "--sample-fps", "10", "--no-progress")
    proc = start_cli(*args)
    try:
        wait_for_processing_row(url, proc.poll, timeout_s=CLI_TIMEOUT_S)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)

    code, output = run_cli(*args)

    assert code == 4, output  # not 0: the video was not processed
    assert f"held {street_clip.name}: held by a stale worker" in output, output
    assert f"its process {proc.pid} is no longer running on this host" in output
    assert "it will be taken over at" in output and "claim_stale_after_s = 120" in output
    assert "videos held by a stopped worker │ 1" in output, output
    # Once the claim is stale, a run takes it over.
    time.sleep(1.0)
    code, output = run_cli(*args[:-3], "--sample-fps", "2", "--no-progress", STREETWATCH_CLAIM_STALE_AFTER_S="1")
    assert code == 0, output
    assert fetch_rows(url, select(Video.status)) == [{"status": "done"}]


# --- a faststart MP4 cut at 60 % -----------------------------------------------------------------

def test_a_faststart_mp4_cut_at_60_percent_is_flagged_truncated(tmp_path: Path) -> None:
    whole = synthetic.write_video(tmp_path / "whole.mp4", lambda i, t: synthetic.moving_square(i, t, 320, 192),
                                  10.0, n_frames=100, container_options={"movflags": "+faststart"})
    data = whole.read_bytes()
    assert data[4:8] == b"ftyp" and data.find(b"moov") < data.find(b"mdat")  # faststart: the index comes first
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    write_straight_gpx(tmp_path / "cut.gpx", seconds=11.0)
    url = sqlite_url(tmp_path / "city.db")

    code, output = run_cli("process", str(cut), "--db", url, "--evidence", str(tmp_path / "evidence"),
                           "--sample-fps", "2", "--no-progress")

    assert code == 0, output
    assert "done cut.mp4" in output and "truncated cut.mp4: the file ends inside its 'mdat' box after" in output
    assert "videos truncated (partly analysed) │ 1: cut.mp4" in output, output
    (row,) = fetch_rows(url, select(Video.status, Video.truncated, Video.analysed_s, Video.duration_s,
                                    Video.decode_note))
    assert row["status"] == "done" and row["truncated"] is True and row["duration_s"] == 10.0
    assert 3.0 < row["analysed_s"] < 8.0, row  # about 60 % of the bytes: about half the footage
    assert f"truncated: {row['analysed_s']:.1f} s of the declared 10.0 s analysed" in row["decode_note"]


def test_a_whole_faststart_mp4_is_not_flagged(tmp_path: Path) -> None:
    whole = synthetic.write_video(tmp_path / "whole.mp4", lambda i, t: synthetic.moving_square(i, t, 320, 192),
                                  10.0, n_frames=30, container_options={"movflags": "+faststart"})
    url = sqlite_url(tmp_path / "city.db")
    summary = process_videos([whole], run_settings(url, tmp_path), progress=False, detector=shared_detector())
    (outcome,) = summary.outcomes
    assert isinstance(outcome, Processed) and outcome.truncated_note is None, outcome
    (row,) = fetch_rows(url, select(Video.truncated, Video.analysed_s, Video.decode_note))
    assert row["truncated"] is False and row["decode_note"] is None and row["analysed_s"] == pytest.approx(2.9)
