"""Open311 GeoReport v2 endpoints, in JSON and XML, against the spec's field names.

Cases are made per test in the seeded SQLite copy; expectations are computed from them.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.api.app import create_app
from streetwatch.casework.dispatch.config import DispatchSettings, Open311Destination
from streetwatch.casework.dispatch.outbox import enqueue
from streetwatch.casework.dispatch.worker import DispatchWorker
from streetwatch.core.dedup import cell_of
from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import DeliveryStatus
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Case, Observation, Violation
from streetwatch.store.models_outbox import Open311Request, OutboxDelivery, OutboxEvent
from streetwatch.store.users import create_api_key, get_user
from tests.api.auth_support import UNIT_A, UNIT_B, TestUser
from tests.live_server import serve_on_loopback

# Field names as in the GeoReport v2 spec's examples.
SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")
POST_FIELDS = ("service_request_id", "service_notice", "account_id")
FORMATS = ["json", "xml"]
NOW = datetime.now(UTC).replace(microsecond=0)
FAMILY_OF = {"0502": "stall", "0508": "parking", "0102": "garbage", "0204": "ads"}


@dataclass(frozen=True, slots=True)
class MadeCase:
    id: int
    event_code: str
    status: str
    unit: str | None
    created_at: datetime
    close_due: datetime | None
    frame_sha256: str | None


def _xml_items(text: str, root: str, item: str) -> list[dict[str, Any]]:
    tree = ET.fromstring(text)
    assert tree.tag == root, f"expected root <{root}>, got <{tree.tag}>"
    return [{child.tag: child.text for child in element} for element in tree.findall(item)]


def items(client: TestClient, path: str, fmt: str, root: str, item: str, **kwargs: Any) -> list[dict[str, Any]]:
    response = client.get(f"/open311/v2/{path}.{fmt}", **kwargs)
    assert response.status_code == 200, response.text
    if fmt == "json":
        assert response.headers["content-type"].startswith("application/json")
        found: list[dict[str, Any]] = response.json()
        return found
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return _xml_items(response.text, root, item)


def spec_error(response: Any, fmt: str) -> tuple[int, str]:
    """The (code, description) of a spec-format error, checking the shape on the way."""
    if fmt == "xml":
        errors = _xml_items(response.text, "errors", "error")
    else:
        errors = response.json()
    assert isinstance(errors, list) and len(errors) == 1, response.text
    assert int(errors[0]["code"]) == response.status_code
    return int(errors[0]["code"]), str(errors[0]["description"])


@pytest.fixture
def made_cases(session: Session) -> list[MadeCase]:
    """Cases of several codes, states, units and ages; one with a real violation and its evidence."""
    specs = [  # event code, status, unit, age in days, close_due in days (None: not dispatched)
        ("0502", "open", None, 1, None),
        ("0508", "dispatched", UNIT_A, 2, 3),
        ("0102", "closed", UNIT_A, 10, None),
        ("0204", "filed", UNIT_B, 20, None),
        ("0502", "closed", UNIT_B, 200, None),   # older than the default 90-day window
    ]
    violation = session.scalars(select(Violation).where(Violation.lat.is_not(None)).order_by(Violation.id)).first()
    assert violation is not None
    made = []
    for index, (code, status, unit, age, due) in enumerate(specs):
        created = NOW - timedelta(days=age)
        case = Case(family=FAMILY_OF[code], event_code=code, status=status, lat=39.9 + index / 1000, lon=116.3,
                    unit=unit, h3_cell=cell_of(39.9, 116.3), sightings=1, recurrence_count=0, created_at=created,
                    updated_at=created + timedelta(hours=1),
                    close_due=None if due is None else created + timedelta(days=due))
        session.add(case)
        session.flush()
        sha = None
        if index == 1:
            violation.case_id = case.id
            sha = session.get(Observation, violation.observation_id).frame_sha256  # type: ignore[union-attr]
        made.append(MadeCase(case.id, code, status, unit, created, case.close_due, sha))
    session.commit()
    return made


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_are_the_taxonomy_events(client: TestClient, taxonomy: Taxonomy, fmt: str) -> None:
    found = items(client, "services", fmt, "services", "service")
    assert [s["service_code"] for s in found] == sorted(taxonomy.events)
    for service in found:
        assert tuple(service) == SERVICE_FIELDS
        event = taxonomy.events[service["service_code"]]
        assert event.name_zh in service["service_name"] and event.name_en in service["service_name"]
        assert service["group"] == event.family
        assert service["type"] == "realtime"
        assert service["metadata"] in (False, "false")
        assert event.name_en in service["keywords"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("code", "status"), [("0502", 200), ("0101", 200), ("9999", 404)])
def test_service_definition(client: TestClient, fmt: str, code: str, status: int) -> None:
    response = client.get(f"/open311/v2/services/{code}.{fmt}")
    assert response.status_code == status, response.text
    if status != 200:
        assert code in spec_error(response, fmt)[1]
        return
    if fmt == "json":
        assert response.json() == {"service_code": code, "attributes": []}
    else:
        root = ET.fromstring(response.text)
        assert root.tag == "service_definition"
        assert root.findtext("service_code") == code and root.find("attributes") is not None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_request_maps_the_case(client: TestClient, made_cases: list[MadeCase], fmt: str) -> None:
    case = made_cases[1]
    (found,) = items(client, f"requests/{case.id}", fmt, "service_requests", "request")
    assert tuple(found) == REQUEST_FIELDS
    assert found["service_request_id"] == str(case.id)
    assert found["status"] == "open" and "dispatched" in found["status_notes"]
    assert found["service_code"] == case.event_code
    assert found["agency_responsible"] == case.unit
    assert found["requested_datetime"] == _iso(case.created_at)
    assert found["updated_datetime"] == _iso(case.created_at + timedelta(hours=1))
    assert found["expected_datetime"] == _iso(case.close_due)
    assert found["media_url"] == f"http://testserver/evidence/{case.frame_sha256}/blurred"
    assert float(found["lat"]) == pytest.approx(39.901) and float(found["long"]) == pytest.approx(116.3)
    closed = items(client, f"requests/{made_cases[2].id}", fmt, "service_requests", "request")[0]
    assert closed["status"] == "closed" and closed["media_url"] in (None, "")


def _window(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


# (query, cases asked for by id (indexes into made_cases), cases expected, newest first)
FILTERS: list[tuple[dict[str, str], tuple[int, ...], list[int]]] = [
    ({}, (), [0, 1, 2, 3]),                                              # default: last 90 days
    ({"status": "open"}, (), [0, 1, 3]),
    ({"status": "closed"}, (), [2]),
    ({"status": "open,closed"}, (), [0, 1, 2, 3]),
    ({"service_code": "0502"}, (), [0]),
    ({"service_code": "0502,0508"}, (), [0, 1]),
    ({"start_date": _window(365)}, (), [0, 1, 2, 3, 4]),
    ({"start_date": _window(15), "end_date": _window(1.5)}, (), [1, 2]),
    ({"end_date": _window(5)}, (), [2, 3]),                               # 90 days before end_date
    ({"status": "open"}, (4, 1), [1, 4]),                                 # ids override the other filters
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("params", "by_id", "expected"), FILTERS)
def test_request_filters(client: TestClient, made_cases: list[MadeCase], fmt: str, params: dict[str, str],
                         by_id: tuple[int, ...], expected: list[int]) -> None:
    if by_id:
        params = {**params, "service_request_id": ",".join(str(made_cases[i].id) for i in by_id)}
    found = items(client, "requests", fmt, "service_requests", "request", params=params)
    assert [r["service_request_id"] for r in found] == [str(made_cases[i].id) for i in expected]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("requests", {"start_date": "yesterday"}, 400, "start_date must be a W3C datetime"),
        ("requests", {"end_date": "2026-05-01T08:00:00"}, 400, "needs a timezone"),
        ("requests", {"start_date": "2026-05-02T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, 400, "after"),
        ("requests", {"status": "pending"}, 400, "status must be open and/or closed"),
        ("requests", {"service_request_id": "abc"}, 400, "integers"),
        ("requests/999999", {}, 404, "not found"),
        ("requests/abc", {}, 404, "not found"),
        ("services/nope", {}, 404, "not found"),
    ],
)
def test_errors_use_the_spec_format(client: TestClient, made_cases: list[MadeCase], fmt: str, path: str,
                                    params: dict[str, str], status: int, message: str) -> None:
    response = client.get(f"/open311/v2/{path}.{fmt}", params=params)
    assert response.status_code == status, response.text
    assert message in spec_error(response, fmt)[1]


def test_unknown_format_is_a_json_404(client: TestClient) -> None:
    response = client.get("/open311/v2/services.yaml")
    assert response.status_code == 404
    assert "unknown format" in spec_error(response, "json")[1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reading_needs_credentials(client: TestClient, fmt: str) -> None:
    client.headers.pop("Authorization")
    response = client.get(f"/open311/v2/requests.{fmt}")
    assert response.status_code == 401
    assert "not authenticated" in spec_error(response, fmt)[1]


def test_a_unit_scoped_user_sees_only_their_unit(client: TestClient, made_cases: list[MadeCase],
                                                 users: dict[str, TestUser]) -> None:
    client.headers.update(users["dispatcher"].headers())  # unit A
    found = items(client, "requests", "json", "service_requests", "request", params={"start_date": _window(365)})
    assert {r["service_request_id"] for r in found} == {str(c.id) for c in made_cases if c.unit == UNIT_A}
    other = next(c for c in made_cases if c.unit == UNIT_B)
    response = client.get(f"/open311/v2/requests/{other.id}.json")
    assert response.status_code == 404


def _api_key(session: Session, username: str) -> str:
    user = get_user(session, username)
    assert user is not None
    new = create_api_key(session, user, "311 system")
    session.commit()
    return new.secret


POST_FORM = {"service_code": "0101", "lat": "39.95", "long": "116.35", "description": "垃圾堆在路边",
             "media_url": "https://311.example.gov/photos/1.jpg", "address_string": "东城区 1 号",
             "attribute[severity]": "high", "email": "someone@example.com", "jurisdiction_id": "example.gov"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_311_system_posts_a_request(client: TestClient, session: Session, fmt: str) -> None:
    client.headers.pop("Authorization")
    form = {**POST_FORM, "api_key": _api_key(session, "supervisor")}
    response = client.post(f"/open311/v2/requests.{fmt}", data=form)
    assert response.status_code == 201, response.text
    if fmt == "json":
        (answer,) = response.json()
    else:
        (answer,) = _xml_items(response.text, "service_requests", "request")
    assert tuple(answer) == POST_FIELDS
    case_id = int(answer["service_request_id"])
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None
    assert (case.event_code, case.family, case.status, case.lat, case.lon) == ("0101", "garbage", "open", 39.95, 116.35)
    stored = session.scalars(select(Open311Request).where(Open311Request.case_id == case_id)).one()
    assert (stored.description, stored.attributes, stored.submitted_by) == ("垃圾堆在路边", {"severity": "high"},
                                                                            "supervisor")
    assert "someone@example.com" not in repr(vars(stored))  # contact details are not kept
    event = session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == case_id)).one()
    assert event.event_type == "case.reported" and event.payload["source"] == "open311"
    assert (event.payload["case_id"], event.payload["service_code"], event.payload["lat"]) == (case_id, "0101", 39.95)
    # ... and it reads back as a request, with the reporter's text, photo and address.
    client.headers["X-API-Key"] = form["api_key"]
    (found,) = items(client, f"requests/{case_id}", fmt, "service_requests", "request")
    assert (found["description"], found["media_url"], found["address"]) == (
        POST_FORM["description"], POST_FORM["media_url"], POST_FORM["address_string"])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("who", "change", "status", "message"),
    [
        ("nobody", {}, 401, "not authenticated"),
        ("bad-key", {}, 401, "invalid or revoked api_key"),
        ("reviewer", {}, 403, "needs role dispatcher or supervisor"),
        ("supervisor", {"service_code": ""}, 400, "service_code is required"),
        ("supervisor", {"service_code": "0999"}, 400, "not found"),
        ("supervisor", {"lat": ""}, 400, "lat is required"),
        ("supervisor", {"long": "east"}, 400, "long must be a number"),
        ("supervisor", {"lat": "91"}, 400, "within ±90"),
        ("supervisor", {"description": "x" * 4001}, 400, "longer than 4000"),
    ],
)
def test_bad_posts(client: TestClient, session: Session, fmt: str, who: str, change: dict[str, str], status: int,
                   message: str) -> None:
    client.headers.pop("Authorization")
    form = {**POST_FORM, **change}
    if who == "bad-key":
        form["api_key"] = "sw_not-a-real-key"
    elif who != "nobody":
        form["api_key"] = _api_key(session, who)
    before = len(session.scalars(select(Case.id)).all())
    response = client.post(f"/open311/v2/requests.{fmt}", data=form)
    assert response.status_code == status, response.text
    assert message in spec_error(response, fmt)[1]
    session.expire_all()
    assert len(session.scalars(select(Case.id)).all()) == before  # nothing half-made


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (a socket we bind, so no race for the port)."""
    with serve_on_loopback(create_app(settings)) as url:
        yield url


def test_the_outbox_pushes_a_filed_case_to_an_open311_server(live_url: str, settings: Settings,
                                                             session: Session) -> None:
    """Our Open311 client against our Open311 server, over TCP: the push and the pull agree."""
    key = _api_key(session, "supervisor")
    snapshot = {"id": 77, "event_code": "0508", "family": "parking", "status": "filed", "lat": 39.93, "lon": 116.39}
    event_id = enqueue(session, event_type="case.filed", aggregate_id=77, payload={"case": snapshot})
    session.commit()
    destination = Open311Destination(kind="open311", name="city311", endpoint=live_url + "/open311/v2", api_key=key,
                                     event_id_attribute="streetwatch_event_id", timeout_s=5)
    engine = make_engine(settings.db_url)
    try:
        worker = DispatchWorker(make_session_factory(engine), [destination], DispatchSettings(),
                                rng=random.Random(3))
        stats = worker.run(once=True, max_seconds=20)
    finally:
        engine.dispose()
    assert (stats.delivered, stats.dead) == (1, 0)
    session.expire_all()
    delivery = session.scalars(select(OutboxDelivery).where(OutboxDelivery.event_id == event_id)).one()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.remote_ref is not None
    received = session.scalars(select(Open311Request).where(Open311Request.case_id == int(delivery.remote_ref))).one()
    assert received.attributes == {"streetwatch_event_id": event_id}
    with httpx.Client(base_url=live_url, timeout=10, headers={"X-API-Key": key}) as http:
        (pulled,) = http.get(f"/open311/v2/requests/{delivery.remote_ref}.json").json()
    assert (pulled["service_code"], pulled["lat"], pulled["long"]) == ("0508", 39.93, 116.39)
    # The report came back as case.reported, which the Open311 destination does not take: no echo.
    session.expire_all()
    assert session.scalars(select(OutboxDelivery.event_id)).all() == [event_id]
