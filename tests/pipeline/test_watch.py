"""The depot watcher: complete copies only, each video once, failures reported once, restarts remember."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.core.vocab import WatchOutcome
from streetwatch.pipeline.run import Failed, Outcome, Processed
from streetwatch.pipeline.watch import DepotWatcher, WatchState, WatchStateError
from tests.video_fixtures import make_bad_file, make_clip

runner = CliRunner()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Stands in for the video processor: records what it was given; fails on names with 'bad'."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, video: Path) -> Outcome:
        self.calls.append(video.name)
        if "bad" in video.name:
            return Failed(video, "broken on purpose")
        return Processed(video, len(self.calls), 10, 20, 1, {}, 0.1)


def fresh(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def watcher(root: Path, tmp_path: Path, recorder: Recorder, clock: FakeClock, stable_s: float = 30.0) -> DepotWatcher:
    return DepotWatcher(root, recorder, WatchState(tmp_path / "state.json"), stable_s=stable_s, clock=clock)


def test_a_video_still_being_copied_waits_until_it_holds_still(tmp_path: Path) -> None:
    depot, clock, recorder = tmp_path / "depot", FakeClock(), Recorder()
    video = fresh(depot / "car-07" / "a.mp4", b"x" * 100)
    w = watcher(depot, tmp_path, recorder, clock)
    assert w.poll_once() == []                     # just written: not touched
    clock.now += 20
    with video.open("ab") as out:                  # the copy goes on
        out.write(b"y" * 100)
    assert w.poll_once() == []
    clock.now += 29
    assert w.poll_once() == []                     # 29 s unchanged: not yet
    clock.now += 2
    assert [v.name for v, _ in w.poll_once()] == ["a.mp4"]
    clock.now += 100
    assert w.poll_once() == [] and recorder.calls == ["a.mp4"]   # once


def test_a_growing_gps_sidecar_holds_its_video_back(tmp_path: Path) -> None:
    depot, clock, recorder = tmp_path / "depot", FakeClock(), Recorder()
    video = fresh(depot / "b.mp4", b"v" * 50)
    age(video, 3600)
    sidecar = fresh(depot / "b.gpx", b"<gpx>")        # arriving now
    w = watcher(depot, tmp_path, recorder, clock)
    assert w.poll_once() == []
    clock.now += 31
    with sidecar.open("ab") as out:
        out.write(b"<trk/>")
    assert w.poll_once() == []
    clock.now += 31
    assert [v.name for v, _ in w.poll_once()] == ["b.mp4"]


def test_old_files_are_taken_at_once_hidden_ones_never(tmp_path: Path) -> None:
    depot, clock, recorder = tmp_path / "depot", FakeClock(), Recorder()
    for name in ("c.mp4", ".c.mp4.Xy12ab", "notes.txt", ".hidden/d.mp4"):
        age(fresh(depot / name, b"z" * 10), 3600)
    w = watcher(depot, tmp_path, recorder, clock)
    assert [v.name for v, _ in w.poll_once()] == ["c.mp4"]


def test_photos_arriving_with_videos_are_footage_too(tmp_path: Path) -> None:
    depot, clock, recorder = tmp_path / "depot", FakeClock(), Recorder()
    for name in ("a.mp4", "inspector/b.JPG", "hotline/c.heic", "d.png", "e.jpeg", "notes.txt", "f.gpx"):
        age(fresh(depot / name, b"z" * 10), 3600)
    w = watcher(depot, tmp_path, recorder, clock)
    assert sorted(v.name for v, _ in w.poll_once()) == ["a.mp4", "b.JPG", "c.heic", "d.png", "e.jpeg"]


def test_failures_are_reported_once_and_retried_only_when_the_file_changes(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    depot, clock, recorder = tmp_path / "depot", FakeClock(), Recorder()
    bad = fresh(depot / "bad.mp4", b"b" * 10)
    age(bad, 3600)
    w = watcher(depot, tmp_path, recorder, clock)
    ((_, outcome),) = w.poll_once()
    assert isinstance(outcome, Failed)
    for _ in range(5):
        clock.now += 60
        assert w.poll_once() == []
    assert recorder.calls == ["bad.mp4"]
    assert sum("not retried until the file changes" in r.message for r in caplog.records) == 1
    fresh(bad, b"c" * 20)                           # a new copy over it
    age(bad, 3600)
    assert [v.name for v, _ in w.poll_once()] == ["bad.mp4"] and recorder.calls == ["bad.mp4", "bad.mp4"]


def test_a_restart_remembers_what_was_done(tmp_path: Path) -> None:
    depot, clock, recorder = tmp_path / "depot", FakeClock(), Recorder()
    for name in ("e.mp4", "f.mp4", "bad.mp4"):
        age(fresh(depot / name, name.encode()), 3600)
    assert len(watcher(depot, tmp_path, recorder, clock).poll_once()) == 3
    state = WatchState(tmp_path / "state.json")
    assert {Path(k).name: h.outcome for k, h in state.handled.items()} == {
        "e.mp4": WatchOutcome.PROCESSED, "f.mp4": WatchOutcome.PROCESSED, "bad.mp4": WatchOutcome.FAILED}
    again = Recorder()
    assert watcher(depot, tmp_path, again, clock).poll_once() == [] and again.calls == []
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(WatchStateError, match="not a streetwatch watch state file"):
        WatchState(tmp_path / "state.json")
    with pytest.raises(NotADirectoryError, match="depot folder not found"):
        DepotWatcher(tmp_path / "absent", again, state)


@pytest.mark.slow
def test_watch_once_processes_a_depot_with_the_real_pipeline(tmp_path: Path) -> None:
    depot = tmp_path / "depot"
    (depot / "car-01").mkdir(parents=True)
    (depot / "car-02").mkdir()
    clip = make_clip(depot / "car-01" / "morning.mp4", seconds=1.0, size=(320, 192))
    shutil.copyfile(clip, depot / "car-01" / "morning-copy.mp4")     # same content, another name
    make_bad_file("random_bytes", depot / "car-02")
    for path in depot.rglob("*"):
        if path.is_file():
            age(path, 3600)
    args = ["watch", str(depot), "--db", f"sqlite:///{tmp_path / 'sw.db'}", "--evidence", str(tmp_path / "ev"),
            "--once", "--stable-s", "5"]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output                       # the bad file was rejected
    out = " ".join(first.output.split())
    assert "done morning" in out and "skipped morning" in out and "rejected random.mp4" in out, out
    assert "3 video(s) handled, 1 rejected or failed" in out
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "0 video(s) handled" in " ".join(second.output.split()), second.output
    assert (depot / ".streetwatch" / "watch-state.json").is_file()
    missing = runner.invoke(app, ["watch", str(tmp_path / "nowhere"), "--once"])
    assert missing.exit_code == 2 and "depot folder not found" in missing.output
