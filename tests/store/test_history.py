"""Earlier sightings read from the database (the overstay rule's chalk marks), on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from streetwatch.core.geo import destination
from streetwatch.core.history import InMemorySightingHistory, PastSighting
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import Taxonomy, load_taxonomy
from streetwatch.core.types import Location, LocationStatus
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.history import DbSightingHistory
from streetwatch.store.writes import Claimed, claim_video, commit_video_results
from tests.store.builders import observation, results, video_meta, violation
from tests.store.sightings import HOUR, ORIGIN, T0, SessionFactory


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored observation: ``metres_north`` of ORIGIN, ``hours`` after T0."""

    name: str
    class_name: str = "car"
    metres_north: float = 0.0
    hours: float = 0.0
    status: LocationStatus = LocationStatus.GEOLOCATED
    filed_as: str | None = None    # the family of a violation filed for it, if any

    def point(self) -> tuple[float, float]:
        return destination(ORIGIN[0], ORIGIN[1], 0.0, self.metres_north)


STORED = [
    Stored("car-3m-earlier", metres_north=3.0, hours=-2.0),
    Stored("car-here-long-ago", hours=-30.0),
    Stored("car-8m-earlier", metres_north=8.0, hours=-1.0),
    Stored("car-later", metres_north=1.0, hours=1.0),
    Stored("car-same-instant", metres_north=1.0, hours=0.0),
    Stored("truck-earlier", class_name="truck", metres_north=-4.0, hours=-1.5),
    Stored("umbrella-earlier", class_name="umbrella", metres_north=1.0, hours=-1.25, filed_as="stall"),
    Stored("car-camera-only", metres_north=1.0, hours=-0.75, status=LocationStatus.CAMERA),
    Stored("car-unplaced", hours=-0.5, status=LocationStatus.UNKNOWN),
    Stored("car-filed-parking", metres_north=-2.0, hours=-3.0, filed_as="parking"),
]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(DEFAULT_TAXONOMY)


@pytest.fixture
def stored(db_session_factory: SessionFactory, tmp_path: Path) -> dict[tuple[float, str], int]:
    """Commits STORED, one video per row; returns (t_utc, class_name) -> video id."""
    store = EvidenceStore(tmp_path)
    videos: dict[tuple[float, str], int] = {}
    for index, row in enumerate(STORED):
        claim = claim_video(db_session_factory, video_meta(f"{row.name}.mp4"), "worker-h")
        assert isinstance(claim, Claimed)
        lat, lon = row.point()
        location = (Location(row.status) if row.status is LocationStatus.UNKNOWN
                    else Location(row.status, lat=lat, lon=lon))
        t_utc = T0 + row.hours * HOUR
        obs = observation(1, seed=300 + index, location=location, time_utc=t_utc, class_name=row.class_name)
        filed = violation(row.filed_as) if row.filed_as else None
        commit_video_results(db_session_factory, claim.video_id, "worker-h", results([(obs, filed)]), store)
        videos[(t_utc, row.class_name)] = claim.video_id
    return videos


def test_stored_rows_have_distinct_times() -> None:
    assert len({row.hours for row in STORED}) == len(STORED)  # _names identifies rows by time


def _names(found: list[PastSighting]) -> list[str]:
    by_key = {(T0 + row.hours * HOUR, row.class_name): row.name for row in STORED}
    return [by_key[(s.t_utc, s.class_name)] for s in found]


@pytest.mark.parametrize(
    ("family", "radius_m", "use_taxonomy", "max_age_h", "expected"),
    [
        pytest.param("parking", 5.0, True, None,
                     ["car-here-long-ago", "car-filed-parking", "car-3m-earlier", "truck-earlier"],
                     id="parking-5m"),
        pytest.param("parking", 10.0, True, None,
                     ["car-here-long-ago", "car-filed-parking", "car-3m-earlier", "truck-earlier",
                      "car-8m-earlier"], id="parking-10m"),
        pytest.param("parking", 2.5, True, None, ["car-here-long-ago", "car-filed-parking"], id="parking-2.5m"),
        pytest.param("parking", 5.0, True, 12.0, ["car-filed-parking", "car-3m-earlier", "truck-earlier"],
                     id="parking-last-12h"),
        pytest.param("parking", 5.0, False, None, ["car-filed-parking"], id="without-taxonomy-only-filed"),
        pytest.param("stall", 5.0, True, None, ["umbrella-earlier"], id="stall"),
        pytest.param("garbage", 50.0, True, None, [], id="nothing-of-that-family"),
    ],
)
def test_previous_sightings(
    db_session_factory: SessionFactory, stored: dict[tuple[float, str], int], taxonomy: Taxonomy,
    family: str, radius_m: float, use_taxonomy: bool, max_age_h: float | None, expected: list[str],
) -> None:
    history = DbSightingHistory(db_session_factory, taxonomy if use_taxonomy else None,
                                max_age_s=None if max_age_h is None else max_age_h * HOUR)

    found = history.previous_sightings(family, ORIGIN[0], ORIGIN[1], radius_m, T0)

    assert _names(found) == expected
    for sighting in found:
        assert sighting.video_id == stored[(sighting.t_utc, sighting.class_name)]
        row = next(r for r in STORED if T0 + r.hours * HOUR == sighting.t_utc)
        assert (sighting.lat, sighting.lon) == pytest.approx(row.point(), abs=1e-12)


def test_agrees_with_the_in_memory_history(
    db_session_factory: SessionFactory, stored: dict[tuple[float, str], int], taxonomy: Taxonomy
) -> None:
    placed = [r for r in STORED if r.status is LocationStatus.GEOLOCATED]
    memory = InMemorySightingHistory(
        (taxonomy.classes[r.class_name].family,
         PastSighting(T0 + r.hours * HOUR, *r.point(), r.class_name, stored[(T0 + r.hours * HOUR, r.class_name)]))
        for r in placed
    )
    database = DbSightingHistory(db_session_factory, taxonomy)
    for family in ("parking", "stall"):
        for radius in (1.0, 2.5, 4.5, 9.0, 100.0):
            for before in (T0 - 2 * HOUR, T0, T0 + 2 * HOUR):
                assert database.previous_sightings(family, *ORIGIN, radius, before) == \
                    memory.previous_sightings(family, *ORIGIN, radius, before), (family, radius, before)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((95.0, 121.0, 5.0, T0), "latitude in"),
        ((31.0, 200.0, 5.0, T0), "longitude in"),
        ((31.0, 121.0, -1.0, T0), "radius_m must be"),
        ((31.0, 121.0, math.nan, T0), "radius_m must be"),
        ((31.0, 121.0, 5.0, math.inf), "before_utc must be"),
    ],
)
def test_bad_queries_say_what_is_wrong(
    db_session_factory: SessionFactory, args: tuple[float, float, float, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DbSightingHistory(db_session_factory).previous_sightings("parking", *args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_age_s": 0.0}, "max_age_s must be"), ({"max_age_s": -5.0}, "max_age_s must be"),
     ({"location_statuses": ()}, "location_statuses must name")],
)
def test_bad_settings_say_what_is_wrong(
    db_session_factory: SessionFactory, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DbSightingHistory(db_session_factory, **kwargs)  # type: ignore[arg-type]


def test_camera_positions_count_when_asked(
    db_session_factory: SessionFactory, stored: dict[tuple[float, str], int], taxonomy: Taxonomy
) -> None:
    history = DbSightingHistory(db_session_factory, taxonomy, location_statuses=("geolocated", "camera"))

    found = history.previous_sightings("parking", *ORIGIN, 1.5, T0)

    assert _names(found) == ["car-here-long-ago", "car-camera-only"]
