"""One case per real problem: violations attach to cases on commit, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from streetwatch.core.dedup import cell_of
from streetwatch.core.geo import haversine_m
from streetwatch.store.cases import CaseTally
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case
from streetwatch.store.writes import CommitSummary
from tests.store.sightings import (
    HOUR,
    T0,
    SessionFactory,
    Sighting,
    all_cases,
    as_utc,
    case_ids_of_violations,
    commit_sightings,
    utc,
)


@dataclass(frozen=True, slots=True)
class PatrolCase:
    """Videos (each a list of sightings) committed in order, and the cases they must leave."""

    id: str
    videos: tuple[tuple[Sighting, ...], ...]
    sightings_per_case: tuple[int, ...]       # in case creation order
    radius_m: float = 10.0


PATROL_CASES = [
    PatrolCase("same-problem-3m-two-patrols",
               ((Sighting(),), (Sighting(metres_east=3.0, t_utc=T0 + HOUR),)), (2,)),
    PatrolCase("same-problem-8m-diagonal",
               ((Sighting(),), (Sighting(metres_east=5.6, metres_north=5.6, t_utc=T0 + HOUR),)), (2,)),
    PatrolCase("different-family-same-spot",
               ((Sighting("parking"),), (Sighting("stall", t_utc=T0 + HOUR),)), (1, 1)),
    PatrolCase("50m-apart", ((Sighting(),), (Sighting(metres_east=50.0, t_utc=T0 + HOUR),)), (1, 1)),
    PatrolCase("15m-apart", ((Sighting(),), (Sighting(metres_north=15.0, t_utc=T0 + HOUR),)), (1, 1)),
    PatrolCase("15m-apart-wider-radius",
               ((Sighting(),), (Sighting(metres_north=15.0, t_utc=T0 + HOUR),)), (2,), radius_m=20.0),
    PatrolCase("id-switch-in-one-video", ((Sighting(), Sighting(metres_east=2.0)),), (2,)),
    PatrolCase("three-patrols-two-problems",
               ((Sighting(), Sighting("garbage", metres_east=30.0)),
                (Sighting(metres_east=1.0, t_utc=T0 + HOUR), Sighting("garbage", metres_east=31.0, t_utc=T0 + HOUR)),
                (Sighting(metres_north=1.0, t_utc=T0 + 2 * HOUR),)),
               (3, 2)),
]


@pytest.mark.parametrize("patrols", PATROL_CASES, ids=lambda c: c.id)
def test_sightings_of_one_problem_make_one_case(
    db_session_factory: SessionFactory, tmp_path: Path, patrols: PatrolCase
) -> None:
    store = EvidenceStore(tmp_path)
    for index, sightings in enumerate(patrols.videos):
        commit_sightings(db_session_factory, store, f"patrol-{index}.mp4", sightings, case_radius_m=patrols.radius_m)

    cases = all_cases(db_session_factory)
    assert [c.sightings for c in cases] == list(patrols.sightings_per_case)
    case_ids = case_ids_of_violations(db_session_factory)
    assert sorted(case_ids.count(c.id) for c in cases) == sorted(patrols.sightings_per_case)
    points = [(s.family, s.lat_lon(), s.t_utc) for video in patrols.videos for s in video]
    for case in cases:
        mine = [p for p, cid in zip(points, case_ids, strict=True) if cid == case.id]
        assert {family for family, _, _ in mine} == {case.family}
        # The case sits at the mean of its sightings, its cell follows, its times span them.
        assert case.lat == pytest.approx(sum(ll[0] for _, ll, _ in mine) / len(mine), abs=1e-9)
        assert case.lon == pytest.approx(sum(ll[1] for _, ll, _ in mine) / len(mine), abs=1e-9)
        assert (case.status, case.recurrence_count) == ("open", 0)
        assert (as_utc(case.first_seen), as_utc(case.last_seen)) == (
            utc(min(t for *_, t in mine)), utc(max(t for *_, t in mine)))
        assert case.h3_cell == cell_of(case.lat, case.lon)


def test_commit_reports_what_it_did_to_cases(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    first = commit_sightings(db_session_factory, store, "a.mp4",
                             [Sighting(), Sighting(metres_east=1.0), Sighting(metres_east=None)])
    second = commit_sightings(db_session_factory, store, "b.mp4",
                              [Sighting(metres_east=2.0, t_utc=T0 + HOUR), Sighting("ads", t_utc=T0 + HOUR)])

    assert first == CommitSummary(first.video_id, 3, 3, CaseTally(created=1, updated=0, unlocated=1))
    assert second == CommitSummary(second.video_id, 2, 2, CaseTally(created=1, updated=1, unlocated=0))


def test_violation_without_position_gets_no_case(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    commit_sightings(db_session_factory, EvidenceStore(tmp_path), "a.mp4",
                     [Sighting(metres_east=None), Sighting(metres_east=None, t_utc=None)])

    assert case_ids_of_violations(db_session_factory) == [None, None]
    assert all_cases(db_session_factory) == []


def test_case_without_time_then_with_time(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    commit_sightings(db_session_factory, store, "a.mp4", [Sighting(t_utc=None)])
    commit_sightings(db_session_factory, store, "b.mp4", [Sighting(metres_east=1.0)])

    (case,) = all_cases(db_session_factory)
    assert (case.sightings, as_utc(case.first_seen), as_utc(case.last_seen)) == (2, utc(T0), utc(T0))


@pytest.mark.parametrize(
    ("hours", "expected_recurrences"),
    [
        pytest.param((0, 1), 0, id="an-hour-later"),
        pytest.param((0, 24), 0, id="exactly-the-gap"),
        pytest.param((0, 25), 1, id="next-day"),
        pytest.param((0, 30, 31), 1, id="next-day-twice"),
        pytest.param((0, 30, 60), 2, id="two-gaps"),
        pytest.param((30, 0), 0, id="older-footage-later-is-no-recurrence"),
        pytest.param((30, 0, 60), 1, id="out-of-order-then-gap"),
    ],
)
def test_recurrence_after_a_gap(
    db_session_factory: SessionFactory, tmp_path: Path, hours: tuple[int, ...], expected_recurrences: int
) -> None:
    store = EvidenceStore(tmp_path)
    for index, hour in enumerate(hours):
        commit_sightings(db_session_factory, store, f"patrol-{index}.mp4",
                         [Sighting(metres_east=0.5 * index, t_utc=T0 + hour * HOUR)])

    (case,) = all_cases(db_session_factory)
    assert (case.sightings, case.recurrence_count) == (len(hours), expected_recurrences)
    assert (as_utc(case.first_seen), as_utc(case.last_seen)) == (
        utc(T0 + min(hours) * HOUR), utc(T0 + max(hours) * HOUR))


@pytest.mark.parametrize(("gap_s", "expected"), [(HOUR / 2, 1), (2 * HOUR, 0)])
def test_recurrence_gap_is_a_parameter(
    db_session_factory: SessionFactory, tmp_path: Path, gap_s: float, expected: int
) -> None:
    store = EvidenceStore(tmp_path)
    commit_sightings(db_session_factory, store, "a.mp4", [Sighting()], recurrence_gap_s=gap_s)
    commit_sightings(db_session_factory, store, "b.mp4", [Sighting(t_utc=T0 + HOUR)], recurrence_gap_s=gap_s)

    (case,) = all_cases(db_session_factory)
    assert case.recurrence_count == expected


def test_sighting_of_a_closed_case_reopens_it_as_a_recurrence(
    db_session_factory: SessionFactory, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path)
    commit_sightings(db_session_factory, store, "a.mp4", [Sighting()])
    with db_session_factory.begin() as session:
        session.execute(update(Case).values(status="closed"))

    commit_sightings(db_session_factory, store, "b.mp4", [Sighting(metres_east=2.0, t_utc=T0 + HOUR)])

    (case,) = all_cases(db_session_factory)
    assert (case.status, case.sightings, case.recurrence_count) == ("open", 2, 1)


def test_an_open_case_wins_over_a_nearer_closed_one(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    commit_sightings(db_session_factory, store, "a.mp4", [Sighting()])
    with db_session_factory.begin() as session:
        session.execute(update(Case).values(status="closed"))
    commit_sightings(db_session_factory, store, "b.mp4", [Sighting(metres_east=25.0)], case_radius_m=20.0)

    commit_sightings(db_session_factory, store, "c.mp4", [Sighting(metres_east=11.0)], case_radius_m=20.0)

    closed, opened = all_cases(db_session_factory)
    assert (closed.status, closed.sightings, opened.status, opened.sightings) == ("closed", 1, "open", 2)


def test_the_nearest_case_wins(db_session_factory: SessionFactory, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    commit_sightings(db_session_factory, store, "a.mp4", [Sighting(), Sighting(metres_east=25.0)],
                     case_radius_m=15.0)
    west, east = all_cases(db_session_factory)

    commit_sightings(db_session_factory, store, "b.mp4", [Sighting(metres_east=14.0)], case_radius_m=15.0)

    after = {c.id: c.sightings for c in all_cases(db_session_factory)}
    assert after == {west.id: 1, east.id: 2}
    assert haversine_m(west.lat, west.lon, east.lat, east.lon) == pytest.approx(25.0, rel=0.005)  # sphere vs ellipsoid


def test_case_takes_grid_and_unit_from_its_first_sighting(
    db_session_factory: SessionFactory, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path)
    commit_sightings(db_session_factory, store, "a.mp4",
                     [Sighting("stall", extra=(("grid_id", "G-0417"), ("unit", "人民路街道")))])
    commit_sightings(db_session_factory, store, "b.mp4", [Sighting("stall", extra=(("grid_id", "G-9"),))])

    (case,) = all_cases(db_session_factory)
    assert (case.grid_id, case.unit, case.event_code, case.sightings) == ("G-0417", "人民路街道", "0502", 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"case_radius_m": 0.0}, "case_radius_m"), ({"case_radius_m": -5.0}, "case_radius_m"),
     ({"recurrence_gap_s": -1.0}, "recurrence_gap_s")],
)
def test_bad_case_parameters_write_nothing(
    db_session_factory: SessionFactory, tmp_path: Path, options: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        commit_sightings(db_session_factory, EvidenceStore(tmp_path), "a.mp4", [Sighting()], **options)
    assert all_cases(db_session_factory) == []
    assert case_ids_of_violations(db_session_factory) == []


@pytest.mark.parametrize("videos", [6])
def test_concurrent_commits_do_not_duplicate_cases(
    db_session_factory: SessionFactory, tmp_path: Path, videos: int
) -> None:
    """Patrols committing sightings of one new problem at once make one case, not several."""
    store = EvidenceStore(tmp_path)
    start = threading.Barrier(videos)
    errors: list[BaseException] = []

    def patrol(index: int) -> None:
        try:
            start.wait(timeout=60)
            # Two problems per video, so every transaction needs locks for both.
            commit_sightings(db_session_factory, store, f"patrol-{index}.mp4",
                             [Sighting(metres_east=0.4 * index), Sighting("garbage", metres_north=40 + 0.3 * index)])
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=patrol, args=(i,)) for i in range(videos)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    cases = all_cases(db_session_factory)
    assert sorted((c.family, c.sightings) for c in cases) == [("garbage", videos), ("parking", videos)]


@pytest.mark.parametrize(
    ("metres_east", "uncertainty_m", "same_case"),
    [
        pytest.param(12.0, None, False, id="12m-exact-position"),
        pytest.param(12.0, 1.0, False, id="12m-1m-uncertain"),
        pytest.param(12.0, 3.0, True, id="12m-3m-uncertain"),
        pytest.param(14.5, 100.0, True, id="allowance-capped-at-half-radius-inside"),
        pytest.param(15.5, 100.0, False, id="allowance-capped-at-half-radius-outside"),
    ],
)
def test_uncertain_positions_reach_further(
    db_session_factory: SessionFactory, tmp_path: Path, metres_east: float, uncertainty_m: float | None,
    same_case: bool,
) -> None:
    store = EvidenceStore(tmp_path)
    commit_sightings(db_session_factory, store, "a.mp4", [Sighting()])
    commit_sightings(db_session_factory, store, "b.mp4",
                     [Sighting(metres_east=metres_east, uncertainty_m=uncertainty_m, t_utc=T0 + HOUR)])

    assert len(all_cases(db_session_factory)) == (1 if same_case else 2)
