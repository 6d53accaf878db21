"""What the OCR read, through the API: plates shown to case roles and masked wherever they leave;
violations found by the phone number an ad carried."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.api.auth import SESSION_COOKIE
from streetwatch.casework.dispatch.outbox import enqueue
from streetwatch.core.dedup import cell_of
from streetwatch.core.privacy import mask_plate, mask_plates_in
from streetwatch.store import queries
from streetwatch.store.models import Case, Observation, Violation
from streetwatch.store.models_outbox import OutboxEvent
from tests.api.auth_support import TestUser

PLATE, MASKED = "京A12345", "京*·***45"
PHONE = "13812345678"


@pytest.fixture
def read_violation(session: Session) -> int:
    """A violation (with a case) whose observation has a plate, ad text and a phone number."""
    violation = session.scalars(select(Violation).where(Violation.lat.is_not(None)).order_by(Violation.id)).first()
    assert violation is not None
    observation = session.get(Observation, violation.observation_id)
    assert observation is not None
    observation.attributes = {"plate": PLATE, "text": f"疏通下水道 {PHONE}", "phones": f"{PHONE},4001234567"}
    violation.reason += f"; plate {PLATE}"
    now = datetime.now(UTC)
    case = Case(family=violation.family, event_code=violation.event_code, status="open", lat=violation.lat,
                lon=violation.lon, h3_cell=cell_of(violation.lat, violation.lon), sightings=1, recurrence_count=0,
                created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    violation.case_id = case.id
    session.commit()
    return violation.id


def test_masking_keeps_the_province_and_the_last_two() -> None:
    assert mask_plate(PLATE) == MASKED
    assert mask_plate("沪AD12345") == "沪*·****45"
    assert mask_plates_in(f"car parked 40 s; plate {PLATE}, 3 m") == f"car parked 40 s; plate {MASKED}, 3 m"
    assert mask_plates_in("no plate here: 京东 13812345678") == "no plate here: 京东 13812345678"


def test_case_roles_see_the_plate_and_the_text(client: TestClient, read_violation: int) -> None:
    body = client.get(f"/violations/{read_violation}").json()
    assert (body["plate"], body["phones"]) == (PLATE, [PHONE, "4001234567"])
    assert PHONE in body["text"]


@pytest.mark.parametrize("path", ["/exports/violations.csv", "/exports/violations.geojson"])
def test_exports_carry_only_the_masked_plate(client: TestClient, read_violation: int, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert PLATE not in response.text
    assert response.text.count(MASKED) == 2     # the plate column and the reason
    if path.endswith(".geojson"):
        (feature,) = [f for f in response.json()["features"] if f["id"] == read_violation]
        assert feature["properties"]["plate"] == MASKED
        assert feature["properties"]["reason"].endswith(f"plate {MASKED}")


def test_open311_requests_carry_only_the_masked_plate(client: TestClient, session: Session,
                                                      read_violation: int) -> None:
    violation = session.get(Violation, read_violation)
    assert violation is not None
    response = client.get(f"/open311/v2/requests/{violation.case_id}.json")
    assert response.status_code == 200, response.text
    (request,) = response.json()
    assert PLATE not in response.text
    assert request["description"].endswith(f"plate {MASKED}")


def test_outbox_events_for_webhooks_carry_only_the_masked_plate(session: Session) -> None:
    event_id = enqueue(session, event_type="case.filed", aggregate_id=1,
                       payload={"case": {"id": 1}, "note": f"owner of {PLATE} called", "reasons": [PLATE]})
    session.commit()
    stored = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == event_id)).one()
    text = json.dumps(stored.payload, ensure_ascii=False)
    assert PLATE not in text and text.count(MASKED) == 2


@pytest.mark.parametrize("phone", [PHONE, "138-1234-5678", "138 1234 5678", "+86 138 1234 5678", "4001234567"])
def test_violations_are_found_by_phone_number(client: TestClient, read_violation: int, phone: str) -> None:
    response = client.get("/violations", params={"phone": phone})
    assert response.status_code == 200, response.text
    assert [v["id"] for v in response.json()["items"]] == [read_violation]


def test_an_unknown_or_partial_number_finds_nothing(client: TestClient, read_violation: int) -> None:
    for phone in ("13900000000", "1234567"):   # a part of a number is not the number
        response = client.get("/violations", params={"phone": phone})
        assert response.status_code == 200 and response.json()["items"] == []


@pytest.mark.parametrize("phone", ["call me", "12", "1" * 20])
def test_a_phone_that_is_not_a_number_is_refused(client: TestClient, phone: str) -> None:
    assert client.get("/violations", params={"phone": phone}).status_code in (400, 422)


def test_the_phone_filter_works_on_both_backends(write_session: Session) -> None:
    """The store's read query, on SQLite and PostgreSQL (JSON attributes read the same way)."""
    violations = write_session.scalars(select(Violation).order_by(Violation.id).limit(2)).all()
    for violation, phones in zip(violations, (f"{PHONE}", f"4001234567,{PHONE}"), strict=True):
        observation = write_session.get(Observation, violation.observation_id)
        assert observation is not None
        observation.attributes = {"phones": phones}
    write_session.commit()
    rows, _ = queries.list_violations(write_session, phone="138 1234 5678")
    assert sorted(v.id for v in rows) == sorted(v.id for v in violations)
    rows, _ = queries.list_violations(write_session, phone="400-123-4567")
    assert [v.id for v in rows] == [violations[1].id]


def test_the_review_page_shows_what_was_read(client: TestClient, session: Session,
                                             users: dict[str, TestUser]) -> None:
    cookie = {"Cookie": f"{SESSION_COOKIE}={users['admin'].token()}"}
    first = client.get("/ui/queue/item", headers=cookie)
    assert first.status_code == 200, first.text
    (held,) = set(re.findall(r"/ui/queue/(\d+)/decision", first.text))
    violation = session.get(Violation, int(held))
    assert violation is not None
    observation = session.get(Observation, violation.observation_id)
    assert observation is not None
    observation.attributes = {"plate": PLATE, "text": "疏通下水道", "phones": PHONE}
    session.commit()
    page = client.get("/ui/queue/item", params={"id": held}, headers=cookie).text
    assert f"<b>Plate:</b> {PLATE}" in page and f"<b>Phone:</b> {PHONE}" in page
