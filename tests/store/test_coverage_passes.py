"""Patrol passes are committed with their video, in its transaction, and read back per segment, on
SQLite and PostgreSQL: all of them or none, the last pass up to a time, the passes within a period."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.coverage import PatrolPass
from streetwatch.core.vocab import CoverageKind
from streetwatch.store.coverage import PatrolPassRow, pass_stats, passes_of
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.writes import ResultsRejectedError, commit_video_results, mark_failed
from tests.store.builders import observation, results, violation
from tests.store.test_commit import claimed

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def road(ref: str, start: datetime, seconds: float, metres: float = 100.0) -> PatrolPass:
    return PatrolPass(CoverageKind.ROAD, ref, start.timestamp(), start.timestamp() + seconds, metres)


def passes_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(PatrolPassRow)) or 0)


def test_passes_are_stored_with_the_video_and_aggregated(db_session_factory: sessionmaker[Session],
                                                         tmp_path: Path) -> None:
    first, second = claimed(db_session_factory, "a.mp4"), claimed(db_session_factory, "b.mp4")
    store = EvidenceStore(tmp_path)
    commit_video_results(db_session_factory, first, "worker-a", replace(results([]), passes=[
        road("renmin-1", T0, 14), road("renmin-2", T0 + timedelta(seconds=15), 14),
        PatrolPass(CoverageKind.CELL, "89309959d73ffff", T0.timestamp(), T0.timestamp() + 13, 130.0)]), store)
    later = T0 + timedelta(days=9)
    commit_video_results(db_session_factory, second, "worker-a",
                         replace(results([]), passes=[road("renmin-1", later, 12)]), store)

    with db_session_factory() as session:
        everything = pass_stats(session, CoverageKind.ROAD, T0 - timedelta(days=1), later + timedelta(hours=1))
        assert {ref: (s.last_patrolled, s.passes, s.first_in_period) for ref, s in everything.items()} == {
            "renmin-1": (later + timedelta(seconds=12), 2, T0),
            "renmin-2": (T0 + timedelta(seconds=29), 1, T0 + timedelta(seconds=15)),
        }
        # A period after the first video: renmin-2 keeps its last pass but has none in the period.
        recent = pass_stats(session, CoverageKind.ROAD, T0 + timedelta(days=5), later + timedelta(hours=1))
        assert (recent["renmin-2"].passes, recent["renmin-2"].first_in_period) == (0, None)
        assert recent["renmin-2"].last_patrolled == T0 + timedelta(seconds=29)
        assert recent["renmin-1"].passes == 1
        # Judged before the second video: only the first one's passes exist yet.
        before = pass_stats(session, CoverageKind.ROAD, T0 - timedelta(days=1), T0 + timedelta(days=1))
        assert before["renmin-1"].last_patrolled == T0 + timedelta(seconds=14)
        assert set(pass_stats(session, CoverageKind.CELL, T0, later)) == {"89309959d73ffff"}
        listed = passes_of(session, CoverageKind.ROAD, "renmin-1", T0 - timedelta(days=1), later + timedelta(days=1))
        assert [(p.video_id, p.entered_at, p.left_at) for p in listed] == [
            (second, later, later + timedelta(seconds=12)), (first, T0, T0 + timedelta(seconds=14))]


def test_a_commit_that_fails_leaves_no_pass(db_session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    video_id = claimed(db_session_factory)
    # Track 2 twice breaks UNIQUE(video_id, track_id) after the passes may have gone in.
    items = [(observation(1), violation()), (observation(2), None), (observation(2, seed=9), None)]
    spoilt = replace(results(items), passes=[road("renmin-1", T0, 14)])
    with pytest.raises(ResultsRejectedError):
        commit_video_results(db_session_factory, video_id, "worker-a", spoilt, EvidenceStore(tmp_path))
    assert passes_count(db_session_factory) == 0


def test_a_worker_that_lost_its_claim_writes_no_pass(db_session_factory: sessionmaker[Session],
                                                     tmp_path: Path) -> None:
    video_id = claimed(db_session_factory)
    assert mark_failed(db_session_factory, video_id, "worker-a", "killed")
    with pytest.raises(Exception, match="nothing was written"):
        commit_video_results(db_session_factory, video_id, "worker-a",
                             replace(results([]), passes=[road("renmin-1", T0, 14)]), EvidenceStore(tmp_path))
    assert passes_count(db_session_factory) == 0
