"""GET /cases and /cases/{id}, and the case / quality fields on violations, observations and videos.

The database is filled the way production fills it: videos claimed and committed through
``streetwatch.store.writes``, which attaches violations to cases. Expectations are computed from
the rows in the database, never hard-coded ids. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Violation
from tests.api.auth_support import TEST_AUTH_SECRET, UserSpec, add_users_at
from tests.db_fixtures import PostgresServer
from tests.store.sightings import HOUR, T0, Sighting, as_utc, commit_sightings, utc

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
GPS_QUALITY = {"gps_dropped": {"hdop": 4, "jump": 1}, "time_status": "verified", "gps_kind": "nmea"}

# Three patrols over one street; every problem below is seen once or more.
PATROLS: list[tuple[list[Sighting], dict[str, Any]]] = [
    ([Sighting("parking"), Sighting("stall", metres_east=100.0), Sighting("garbage", metres_east=200.0),
      Sighting("ads", metres_east=None)], {}),
    ([Sighting("parking", metres_east=2.0, t_utc=T0 + HOUR, uncertainty_m=1.5, n_views=4),
      Sighting("stall", metres_east=101.0, t_utc=T0 + HOUR)], GPS_QUALITY),
    ([Sighting("parking", metres_east=1.0, t_utc=T0 + 30 * HOUR),
      Sighting("garbage", metres_east=300.0, t_utc=T0 + 30 * HOUR),
      Sighting("ads", metres_east=400.0, metres_north=50.0, t_utc=T0 + 31 * HOUR)], {}),
]


@dataclass(frozen=True, slots=True)
class CasesStore:
    client: TestClient
    session_factory: sessionmaker[Session]

    def cases(self) -> list[Case]:
        with self.session_factory() as session:
            return list(session.scalars(select(Case).order_by(Case.id.desc())))

    def violations(self) -> list[Violation]:
        with self.session_factory() as session:
            return list(session.scalars(select(Violation).order_by(Violation.id)))


def _fill(url: str, evidence_dir: Path) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    store = EvidenceStore(evidence_dir)
    for index, (sightings, video_fields) in enumerate(PATROLS):
        commit_sightings(factory, store, f"patrol-{index}.mp4", sightings, video_fields)
    with factory.begin() as session:
        # The first garbage pile was cleared and its case closed; reviewers decided two sightings.
        first_garbage = session.scalars(select(Case).where(Case.family == "garbage").order_by(Case.id)).first()
        assert first_garbage is not None
        first_garbage.status = "closed"
        parking = session.scalars(select(Violation).where(Violation.family == "parking").order_by(Violation.id))
        first, second, *_ = parking.all()
        session.execute(update(Violation).where(Violation.id == first.id).values(status="approved"))
        session.execute(update(Violation).where(Violation.id == second.id).values(status="rejected"))
    engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def cases_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CasesStore]:
    root = tmp_path_factory.mktemp("cases-api")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{root / 'streetwatch.db'}", None
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"cases_{uuid.uuid4().hex[:16]}"
        server.create_database(name)
        url, drop = server.url(name), name
    try:
        upgrade(url)
        _fill(url, root / "evidence")
        admin = add_users_at(url, [UserSpec("admin", (Role.ADMIN,))])["admin"]
        engine = make_engine(url)
        settings = Settings(db_url=url, evidence_dir=root / "evidence", auth_secret=TEST_AUTH_SECRET)
        with TestClient(create_app(settings), headers=admin.headers()) as client:
            yield CasesStore(client, make_session_factory(engine))
        engine.dispose()
    finally:
        if drop is not None:
            server.drop_database(drop)


def _ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_the_seed_has_what_the_tests_need(cases_store: CasesStore) -> None:
    cases = cases_store.cases()
    assert sorted((c.family, c.sightings, c.recurrence_count, c.status) for c in cases) == [
        ("ads", 1, 0, "open"), ("garbage", 1, 0, "closed"), ("garbage", 1, 0, "open"),
        ("parking", 3, 1, "open"), ("stall", 2, 0, "open"),
    ]


def test_list_returns_every_case_with_its_fields(cases_store: CasesStore) -> None:
    page = cases_store.client.get("/cases").json()

    cases = cases_store.cases()
    assert _ids(page) == [c.id for c in cases]
    assert page["next_cursor"] is None
    for item, case in zip(page["items"], cases, strict=True):
        assert (item["family"], item["event_code"], item["status"], item["sightings"],
                item["recurrence_count"], item["h3_cell"]) == (
            case.family, case.event_code, case.status, case.sightings, case.recurrence_count, case.h3_cell)
        assert (item["lat"], item["lon"]) == pytest.approx((case.lat, case.lon), abs=1e-12)
        assert datetime.fromisoformat(item["last_seen"]) == as_utc(case.last_seen)
        assert datetime.fromisoformat(item["first_seen"]) == as_utc(case.first_seen)
        assert item["name_zh"] and item["name_en"]  # every seeded event code is in the taxonomy


@dataclass(frozen=True, slots=True)
class CaseFilter:
    id: str
    params: dict[str, str]
    matches: Callable[[Case], bool]


def _box_around(metres_east_min: float, metres_east_max: float) -> str:
    west, east = Sighting(metres_east=metres_east_min).lat_lon(), Sighting(metres_east=metres_east_max).lat_lon()
    assert west is not None and east is not None
    return f"{west[1]},{west[0] - 0.0001},{east[1]},{east[0] + 0.0001}"


def _box_contains(box: str, case: Case) -> bool:
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in box.split(","))
    return min_lon <= case.lon <= max_lon and min_lat <= case.lat <= max_lat


STREET_MIDDLE = _box_around(50.0, 250.0)
SINCE = utc(T0 + 2 * HOUR)
CASE_FILTERS = [
    CaseFilter("family", {"family": "parking"}, lambda c: c.family == "parking"),
    CaseFilter("status-closed", {"status": "closed"}, lambda c: c.status == "closed"),
    CaseFilter("family+status", {"family": "garbage", "status": "open"},
               lambda c: c.family == "garbage" and c.status == "open"),
    CaseFilter("since-last-seen", {"since": SINCE.isoformat()}, lambda c: as_utc(c.last_seen) >= SINCE),
    CaseFilter("until-last-seen", {"until": SINCE.isoformat()}, lambda c: as_utc(c.last_seen) < SINCE),
    CaseFilter("bbox", {"bbox": STREET_MIDDLE}, lambda c: _box_contains(STREET_MIDDLE, c)),
    CaseFilter("bbox+family", {"bbox": STREET_MIDDLE, "family": "stall"},
               lambda c: _box_contains(STREET_MIDDLE, c) and c.family == "stall"),
]


@pytest.mark.parametrize("case_filter", CASE_FILTERS, ids=lambda f: f.id)
def test_list_filters(cases_store: CasesStore, case_filter: CaseFilter) -> None:
    expected = [c.id for c in cases_store.cases() if case_filter.matches(c)]
    assert expected, f"filter {case_filter.id} matches no seeded case: the seed no longer covers it"
    assert len(expected) < len(cases_store.cases()), f"filter {case_filter.id} filters nothing out"

    response = cases_store.client.get("/cases", params=case_filter.params)

    assert response.status_code == 200, response.text
    assert _ids(response.json()) == expected


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_pages_cover_every_case_once(cases_store: CasesStore, limit: int) -> None:
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = cases_store.client.get("/cases", params=params).json()
        assert len(page["items"]) <= limit
        seen += _ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c.id for c in cases_store.cases()]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"cursor": "bm90LWEtY3Vyc29y"}, 400, "invalid cursor"),
        ({"family": "spaceships"}, 422, "unknown family 'spaceships'"),
        ({"status": "pending"}, 422, "open"),
        ({"bbox": "1,2,3"}, 422, "bbox must be 4"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422, "must be before"),
        ({"limit": "0"}, 422, "greater than or equal to 1"),
        ({"colour": "red"}, 422, "Extra inputs are not permitted"),
    ],
)
def test_bad_list_queries(cases_store: CasesStore, params: dict[str, str], status: int, message: str) -> None:
    response = cases_store.client.get("/cases", params=params)

    assert response.status_code == status, response.text
    assert message in response.text


def test_detail_summarises_the_violations(cases_store: CasesStore) -> None:
    parking = next(c for c in cases_store.cases() if c.family == "parking")
    mine = [v for v in cases_store.violations() if v.case_id == parking.id]

    detail = cases_store.client.get(f"/cases/{parking.id}").json()

    assert (detail["id"], detail["sightings"], detail["recurrence_count"]) == (parking.id, 3, 1)
    assert [v["id"] for v in detail["recent_violations"]] == sorted((v.id for v in mine), reverse=True)
    assert {v["case_id"] for v in detail["recent_violations"]} == {parking.id}
    assert detail["violations_by_status"] == {
        status: sum(v.status == status for v in mine) for status in ("pending", "approved", "rejected")
    }
    assert detail["violations_by_status"] == {"pending": 1, "approved": 1, "rejected": 1}


@pytest.mark.parametrize(("path", "status"), [("/cases/999999", 404), ("/cases/0", 422), ("/cases/x", 422)])
def test_detail_of_a_missing_case(cases_store: CasesStore, path: str, status: int) -> None:
    assert cases_store.client.get(path).status_code == status


def test_violations_carry_their_case(cases_store: CasesStore) -> None:
    violations = cases_store.violations()
    assert any(v.case_id is None for v in violations) and any(v.case_id is not None for v in violations)

    listed = {item["id"]: item["case_id"] for item in cases_store.client.get("/violations").json()["items"]}

    assert listed == {v.id: v.case_id for v in violations}
    for violation in violations:
        detail = cases_store.client.get(f"/violations/{violation.id}").json()
        assert detail["case_id"] == violation.case_id


def test_observations_carry_geolocation_quality(cases_store: CasesStore) -> None:
    items = cases_store.client.get("/observations", params={"limit": 500}).json()["items"]

    quality = sorted((item["uncertainty_m"], item["n_views"]) for item in items
                     if item["uncertainty_m"] is not None)
    assert quality == [(1.5, 4)]
    assert {item["n_views"] for item in items if item["uncertainty_m"] is None} == {1}


def test_videos_carry_gps_quality(cases_store: CasesStore) -> None:
    items = cases_store.client.get("/videos").json()["items"]

    by_name = {item["filename"]: item for item in items}
    assert {k: by_name["patrol-1.mp4"][k] for k in GPS_QUALITY} == GPS_QUALITY
    assert {k: by_name["patrol-0.mp4"][k] for k in GPS_QUALITY} == {
        "gps_dropped": {}, "time_status": "unverified", "gps_kind": None}
