"""What a commit stores about GPS quality, clock trust and geolocation quality (schema 0002)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from streetwatch.core.types import Location, LocationStatus
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Observation
from streetwatch.store.writes import VideoResults, commit_video_results
from tests.store.builders import observation, results, violation
from tests.store.test_claims import load_video
from tests.store.test_commit import SessionFactory, claimed, count


@pytest.mark.parametrize(
    ("extra_fields", "expected"),
    [
        pytest.param({}, ({}, "unverified", None), id="defaults-for-older-callers"),
        pytest.param({"gps_dropped": {"hdop": 3, "zero_island": 1, "jump": 2}, "time_status": "verified",
                      "gps_kind": "gpmf"},
                     ({"hdop": 3, "zero_island": 1, "jump": 2}, "verified", "gpmf"), id="gpmf-verified"),
        pytest.param({"time_status": "configured", "gps_kind": "srt"}, ({}, "configured", "srt"),
                     id="srt-configured"),
    ],
)
def test_video_gps_quality_is_stored(
    db_session_factory: SessionFactory, tmp_path: Path, extra_fields: dict[str, Any],
    expected: tuple[dict[str, int], str, str | None],
) -> None:
    video_id = claimed(db_session_factory)

    commit_video_results(db_session_factory, video_id, "worker-a", replace(results([]), **extra_fields),
                         EvidenceStore(tmp_path))

    video = load_video(db_session_factory, video_id)
    assert (video.gps_dropped, video.time_status, video.gps_kind) == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        pytest.param(Location(LocationStatus.GEOLOCATED, lat=31.2, lon=121.4, uncertainty_m=2.75, n_views=6),
                     (2.75, 6), id="triangulated"),
        pytest.param(Location(LocationStatus.GEOLOCATED, lat=31.2, lon=121.4), (None, 1), id="single-view"),
        pytest.param(Location(LocationStatus.UNKNOWN), (None, 1), id="unknown"),
    ],
)
def test_observation_geolocation_quality_is_stored(
    db_session_factory: SessionFactory, tmp_path: Path, location: Location, expected: tuple[float | None, int]
) -> None:
    video_id = claimed(db_session_factory)

    commit_video_results(db_session_factory, video_id, "worker-a",
                         results([(observation(1, location=location), violation())]), EvidenceStore(tmp_path))

    with db_session_factory() as session:
        row = session.scalars(select(Observation)).one()
    assert (row.uncertainty_m, row.n_views) == expected


def _time_status(value: str) -> Callable[[VideoResults], VideoResults]:
    return lambda r: replace(r, time_status=value)


def _dropped(value: dict[Any, Any]) -> Callable[[VideoResults], VideoResults]:
    return lambda r: replace(r, gps_dropped=value)


@pytest.mark.parametrize(("spoil", "message"), [
    pytest.param(_time_status("trusted"), "time_status must be one of verified, configured, unverified; "
                 "got 'trusted'", id="unknown-time-status"),
    pytest.param(_time_status("Verified"), "got 'Verified'", id="time-status-is-case-sensitive"),
    pytest.param(_dropped({"hdop": -1}), r"gps_dropped\['hdop'\] must be a count", id="negative-count"),
    pytest.param(_dropped({"hdop": 1.5}), r"gps_dropped\['hdop'\] must be a count", id="fractional-count"),
    pytest.param(_dropped({"hdop": True}), r"gps_dropped\['hdop'\] must be a count", id="bool-count"),
    pytest.param(_dropped({"": 2}), "gps_dropped keys must be non-empty reason names", id="blank-reason"),
    pytest.param(_dropped({3: 2}), "gps_dropped keys must be non-empty reason names", id="numeric-reason"),
])
def test_bad_quality_fields_are_refused_before_any_row(
    db_session_factory: SessionFactory, tmp_path: Path, spoil: Callable[[VideoResults], VideoResults],
    message: str,
) -> None:
    video_id = claimed(db_session_factory)

    with pytest.raises(ValueError, match=message):
        commit_video_results(db_session_factory, video_id, "worker-a",
                             spoil(results([(observation(1), violation())])), EvidenceStore(tmp_path))

    assert count(db_session_factory, Observation) == 0
    assert load_video(db_session_factory, video_id).status == "processing"


def test_a_commit_that_fails_after_creating_a_case_leaves_nothing(
    db_session_factory: SessionFactory, tmp_path: Path
) -> None:
    video_id = claimed(db_session_factory)
    # The first violation starts a case; the second's latitude is off the globe, so placing it fails.
    off_the_globe = Location(LocationStatus.GEOLOCATED, lat=95.0, lon=121.4)
    items = [(observation(1), violation()), (observation(2, location=off_the_globe), violation())]

    with pytest.raises(ValueError, match="latitude must be within"):
        commit_video_results(db_session_factory, video_id, "worker-a", results(items), EvidenceStore(tmp_path))

    assert count(db_session_factory, Case) == count(db_session_factory, Observation) == 0
    assert load_video(db_session_factory, video_id).status == "processing"
