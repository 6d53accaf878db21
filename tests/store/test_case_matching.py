"""The store runs the simulation's dedup per committed video: same-video rule and GPS-offset alignment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from streetwatch.core.types import Location, LocationStatus, Observation, TrackPoint
from streetwatch.core.types import Violation as ViolationData
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.writes import Claimed, claim_video, commit_video_results
from tests.store.builders import observation, results, video_meta
from tests.store.sightings import (
    FAMILY_CLASS,
    HOUR,
    T0,
    SessionFactory,
    Sighting,
    all_cases,
    case_ids_of_violations,
    violation_for,
)


@dataclass(frozen=True, slots=True)
class Track:
    """One object's track in a video: which object, where (metres from the origin), when (video seconds)."""

    obj: str
    metres_east: float
    metres_north: float = 0.0
    pts_start_s: float = 0.0
    pts_end_s: float = 10.0
    family: str = "parking"


def commit_tracks(factory: SessionFactory, store: EvidenceStore, name: str, tracks: Sequence[Track],
                  t_utc: float, seed: int) -> None:
    """Claim a new video and commit one violation per track, with the track's own time span.

    ``seed`` makes the evidence images; give each video its own.
    """
    claim = claim_video(factory, video_meta(name), "worker-matching")
    assert isinstance(claim, Claimed), claim
    items: list[tuple[Observation, ViolationData | None]] = []
    for track_id, track in enumerate(tracks, start=1):
        place = Sighting(track.family, track.metres_east, track.metres_north, t_utc)
        point = place.lat_lon()
        assert point is not None
        span = (track.pts_start_s, (track.pts_start_s + track.pts_end_s) / 2.0, track.pts_end_s)
        points = tuple(TrackPoint(frame_index=int(10 * pts), pts_s=pts, xyxy=(10.0, 20.0, 110.0, 220.0),
                                  confidence=0.8) for pts in span)
        obs = observation(track_id, seed=seed + track_id, class_name=FAMILY_CLASS[track.family][0],
                          location=Location(LocationStatus.GEOLOCATED, lat=point[0], lon=point[1]),
                          time_utc=t_utc + track.pts_start_s)
        items.append((replace(obs, points=points, best=points[1]), violation_for(place)))
    commit_video_results(factory, claim.video_id, "worker-matching", results(items), store)


def objects_per_case(videos: Sequence[Sequence[Track]], case_ids: Sequence[int | None]) -> list[list[str]]:
    """For each case (in id order), the objects its violations are sightings of, in commit order."""
    objects = [track.obj for tracks in videos for track in tracks]
    by_case: dict[int | None, list[str]] = {}
    for obj, case_id in zip(objects, case_ids, strict=True):
        by_case.setdefault(case_id, []).append(obj)
    assert None not in by_case
    return [by_case[case_id] for case_id in sorted(c for c in by_case if c is not None)]


# Three well separated objects whose unambiguous matches measure a patrol's GPS offset.
ANCHORS = (Track("anchor-1", 0.0, 40.0), Track("anchor-2", 0.0, 80.0), Track("anchor-3", 0.0, 120.0))
# Two objects 7 m apart, seen at once: one case each (same-video rule), and close enough that a
# 4 m offset brings one nearer the other's case than its own.
PAIR = (Track("a", 0.0), Track("b", 7.0))


def shifted(tracks: Sequence[Track], east_m: float) -> tuple[Track, ...]:
    return tuple(replace(t, metres_east=t.metres_east + east_m) for t in tracks)


@dataclass(frozen=True, slots=True)
class MatchingCase:
    id: str
    videos: tuple[tuple[Track, ...], ...]
    expected: tuple[tuple[str, ...], ...]  # objects per case, cases in creation order


MATCHING_CASES = [
    MatchingCase("two-tracks-same-spot-overlapping-in-time",
                 ((Track("x", 0.0, pts_end_s=10.0), Track("y", 1.0, pts_start_s=2.0, pts_end_s=12.0)),),
                 (("x",), ("y",))),
    MatchingCase("id-switch-fragments-follow-in-time",
                 ((Track("x", 0.0, pts_end_s=5.0), Track("x", 1.0, pts_start_s=5.2, pts_end_s=10.0)),),
                 (("x", "x"),)),
    MatchingCase("overlap-within-tolerance-is-a-hand-over",
                 ((Track("x", 0.0, pts_end_s=5.0), Track("x", 1.0, pts_start_s=4.6, pts_end_s=10.0)),),
                 (("x", "x"),)),
    MatchingCase("same-spot-different-families",
                 ((Track("car", 0.0), Track("stall", 0.0, family="stall")),), (("car",), ("stall",))),
    MatchingCase("second-pass-same-place",
                 ((*PAIR, *ANCHORS), (*PAIR, *ANCHORS)),
                 (("a", "a"), ("b", "b"), ("anchor-1", "anchor-1"), ("anchor-2", "anchor-2"),
                  ("anchor-3", "anchor-3"))),
    MatchingCase("second-pass-4m-east",
                 ((*PAIR, *ANCHORS), shifted((*PAIR, *ANCHORS), 4.0)),
                 (("a", "a"), ("b", "b"), ("anchor-1", "anchor-1"), ("anchor-2", "anchor-2"),
                  ("anchor-3", "anchor-3"))),
    MatchingCase("second-pass-4m-west",
                 ((*PAIR, *ANCHORS), shifted((*PAIR, *ANCHORS), -4.0)),
                 (("a", "a"), ("b", "b"), ("anchor-1", "anchor-1"), ("anchor-2", "anchor-2"),
                  ("anchor-3", "anchor-3"))),
    MatchingCase("one-pass-split-by-a-second-object-at-once",
                 ((Track("x", 0.0),), (Track("x", 0.5), Track("y", 1.0, pts_start_s=3.0))),
                 (("x", "x"), ("y",))),
]


@pytest.mark.parametrize("case", MATCHING_CASES, ids=lambda c: c.id)
def test_commits_group_sightings_like_the_simulation(
    db_session_factory: SessionFactory, tmp_path: Path, case: MatchingCase
) -> None:
    store = EvidenceStore(tmp_path)
    for index, tracks in enumerate(case.videos):
        commit_tracks(db_session_factory, store, f"patrol-{index}.mp4", tracks, t_utc=T0 + index * HOUR,
                      seed=1000 * index)

    found = objects_per_case(case.videos, case_ids_of_violations(db_session_factory))
    assert [tuple(objs) for objs in found] == list(case.expected)
    assert [c.sightings for c in all_cases(db_session_factory)] == [len(objs) for objs in case.expected]
