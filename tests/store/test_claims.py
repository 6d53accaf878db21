"""Claiming videos: fresh claims, re-runs, takeovers and races, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.store.models import Video
from streetwatch.store.writes import (
    AlreadyProcessed,
    Claimed,
    ClaimResult,
    InProgressElsewhere,
    claim_video,
    heartbeat,
    mark_failed,
)
from tests.store.builders import video_meta

REPO_ROOT = Path(__file__).resolve().parents[2]
SessionFactory = sessionmaker[Session]


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes for timezone-aware columns; they are UTC.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def load_video(session_factory: SessionFactory, video_id: int) -> Video:
    with session_factory() as session:
        video = session.get(Video, video_id)
        assert video is not None, f"video {video_id} is missing"
        return video


def set_video(session_factory: SessionFactory, video_id: int, **values: Any) -> None:
    with session_factory.begin() as session:
        session.execute(update(Video).where(Video.id == video_id).values(**values))


def run_concurrently(count: int, work: Callable[[int], ClaimResult]) -> list[ClaimResult]:
    """Run ``work(i)`` on ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)
    results: list[ClaimResult | BaseException] = [RuntimeError("thread did not run")] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"claims raised: {errors!r}"
    return [r for r in results if not isinstance(r, BaseException)]


def test_fresh_claim_inserts_a_processing_row(db_session_factory: SessionFactory) -> None:
    meta = video_meta()
    before = datetime.now(UTC)

    result = claim_video(db_session_factory, meta, "worker-a")

    assert isinstance(result, Claimed) and result.resumed is False
    video = load_video(db_session_factory, result.video_id)
    assert (video.status, video.worker, video.error) == ("processing", "worker-a", None)
    heartbeat_at = as_utc(video.heartbeat_at)
    assert heartbeat_at is not None and before <= heartbeat_at <= datetime.now(UTC)
    stored = {name: getattr(video, name) for name in asdict(meta)}
    assert stored == asdict(meta)


# (status, heartbeat age in s or None, owner) of the existing row -> what "worker-b" gets
CLAIM_CASES = [
    pytest.param("done", 1, "worker-a", AlreadyProcessed, id="done"),
    pytest.param("done", 10_000, "worker-a", AlreadyProcessed, id="done-stale-heartbeat-still-done"),
    pytest.param("processing", 1, "worker-a", InProgressElsewhere, id="processing-fresh"),
    pytest.param("processing", 110, "worker-a", InProgressElsewhere, id="processing-just-fresh"),
    pytest.param("processing", 130, "worker-a", Claimed, id="processing-stale-takeover"),
    pytest.param("processing", None, "worker-a", Claimed, id="processing-no-heartbeat-takeover"),
    pytest.param("failed", 1, "worker-a", Claimed, id="failed-takeover"),
    pytest.param("failed", 1, "worker-b", Claimed, id="failed-own-retry"),
    pytest.param("processing", 1, "worker-b", Claimed, id="processing-own-reclaim"),
]


@pytest.mark.parametrize(("status", "age_s", "owner", "expected"), CLAIM_CASES)
def test_claim_of_an_existing_video(
    db_session_factory: SessionFactory, status: str, age_s: float | None, owner: str, expected: type
) -> None:
    meta = video_meta()
    first = claim_video(db_session_factory, meta, owner)
    assert isinstance(first, Claimed)
    beat = None if age_s is None else datetime.now(UTC) - timedelta(seconds=age_s)
    error = "decoder crashed" if status == "failed" else None
    set_video(db_session_factory, first.video_id, status=status, heartbeat_at=beat, error=error)

    result = claim_video(db_session_factory, meta, "worker-b", stale_after_s=120)

    assert type(result) is expected
    assert result.video_id == first.video_id
    video = load_video(db_session_factory, first.video_id)
    if isinstance(result, Claimed):
        assert result.resumed is True
        assert (video.status, video.worker, video.error) == ("processing", "worker-b", None)
        assert as_utc(video.heartbeat_at) > datetime.now(UTC) - timedelta(seconds=10)  # type: ignore[operator]
    else:
        assert (video.status, video.worker, video.error) == (status, owner, error)
        assert as_utc(video.heartbeat_at) == beat
    if isinstance(result, InProgressElsewhere):
        assert result.worker == owner
    with db_session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Video)) == 1


@pytest.mark.parametrize("threads", [8])
def test_concurrent_fresh_claims_have_one_winner(db_session_factory: SessionFactory, threads: int) -> None:
    meta = video_meta("race.mp4")

    results = run_concurrently(threads, lambda i: claim_video(db_session_factory, meta, f"worker-{i}"))

    winners = [i for i, r in enumerate(results) if isinstance(r, Claimed)]
    assert len(winners) == 1, f"expected exactly one claim to win, got {results}"
    assert results[winners[0]] == Claimed(video_id=results[winners[0]].video_id, resumed=False)
    losers = [r for r in results if not isinstance(r, Claimed)]
    loser_sees = InProgressElsewhere(results[winners[0]].video_id, f"worker-{winners[0]}")
    assert losers == [loser_sees] * (threads - 1)


@pytest.mark.parametrize("threads", [6])
def test_concurrent_takeovers_have_one_winner(db_session_factory: SessionFactory, threads: int) -> None:
    meta = video_meta("stale.mp4")
    first = claim_video(db_session_factory, meta, "crashed-worker")
    assert isinstance(first, Claimed)
    set_video(db_session_factory, first.video_id, heartbeat_at=datetime.now(UTC) - timedelta(hours=1))

    results = run_concurrently(threads, lambda i: claim_video(db_session_factory, meta, f"taker-{i}"))

    winners = [i for i, r in enumerate(results) if isinstance(r, Claimed)]
    assert len(winners) == 1, f"expected exactly one takeover to win, got {results}"
    assert results[winners[0]] == Claimed(first.video_id, resumed=True)
    assert [r for r in results if not isinstance(r, Claimed)] == (
        [InProgressElsewhere(first.video_id, f"taker-{winners[0]}")] * (threads - 1)
    )
    assert load_video(db_session_factory, first.video_id).worker == f"taker-{winners[0]}"


_CLAIM_SCRIPT = """
import json, sys
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.writes import VideoMeta, claim_video
url, worker, meta = sys.argv[1], sys.argv[2], VideoMeta(**json.loads(sys.argv[3]))
session_factory = make_session_factory(make_engine(url))
print("ready", flush=True)
sys.stdin.readline()  # everyone imports first, then all claim at once
result = claim_video(session_factory, meta, worker)
print(json.dumps({"kind": type(result).__name__, "video_id": result.video_id,
                  "resumed": getattr(result, "resumed", None)}), flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("processes", [3])
def test_concurrent_claims_from_processes_have_one_winner(db_url: str, processes: int) -> None:
    meta = video_meta("multiprocess.mp4")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIM_SCRIPT, db_url, f"process-{i}", json.dumps(asdict(meta))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        )
        for i in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ready", f"child did not start: {line!r} {child.stderr.read()!r}"  # type: ignore[union-attr]
        outputs = [child.communicate("go\n", timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert [child.returncode for child in children] == [0] * processes, [err for _, err in outputs]

    results = [json.loads(out) for out, _ in outputs]
    kinds = sorted(r["kind"] for r in results)
    assert kinds == ["Claimed"] + ["InProgressElsewhere"] * (processes - 1), results
    assert [r["resumed"] for r in results if r["kind"] == "Claimed"] == [False]
    assert len({r["video_id"] for r in results}) == 1


# (who beats, what happened before) -> does the heartbeat land?
HEARTBEAT_CASES = [
    pytest.param("worker-a", None, True, id="owner"),
    pytest.param("worker-z", None, False, id="stranger"),
    pytest.param("worker-a", "taken-over", False, id="owner-after-takeover"),
    pytest.param("worker-a", "failed", False, id="owner-after-failure"),
    pytest.param("worker-a", "done", False, id="owner-after-done"),
]


@pytest.mark.parametrize(("beater", "before", "expected"), HEARTBEAT_CASES)
def test_heartbeat_only_lands_for_the_owner(
    db_session_factory: SessionFactory, beater: str, before: str | None, expected: bool
) -> None:
    meta = video_meta()
    claim = claim_video(db_session_factory, meta, "worker-a")
    assert isinstance(claim, Claimed)
    old_beat = datetime.now(UTC) - timedelta(minutes=10)
    set_video(db_session_factory, claim.video_id, heartbeat_at=old_beat)
    if before == "taken-over":
        assert claim_video(db_session_factory, meta, "worker-b") == Claimed(claim.video_id, resumed=True)
    elif before == "failed":
        assert mark_failed(db_session_factory, claim.video_id, "worker-a", "boom") is True
    elif before == "done":
        set_video(db_session_factory, claim.video_id, status="done")
    seen_before = as_utc(load_video(db_session_factory, claim.video_id).heartbeat_at)

    assert heartbeat(db_session_factory, claim.video_id, beater) is expected

    seen_after = as_utc(load_video(db_session_factory, claim.video_id).heartbeat_at)
    assert (seen_after != seen_before) is expected


@pytest.mark.parametrize(("who", "expected"), [("worker-a", True), ("worker-z", False)])
def test_mark_failed_only_for_the_owner(db_session_factory: SessionFactory, who: str, expected: bool) -> None:
    claim = claim_video(db_session_factory, video_meta(), "worker-a")
    assert isinstance(claim, Claimed)

    assert mark_failed(db_session_factory, claim.video_id, who, "GPS file unreadable: line 3") is expected

    video = load_video(db_session_factory, claim.video_id)
    if expected:
        assert (video.status, video.error) == ("failed", "GPS file unreadable: line 3")
    else:
        assert (video.status, video.worker, video.error) == ("processing", "worker-a", None)
