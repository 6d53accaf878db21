"""Hostile input gets a 4xx with a clear message, never a 500: ids beyond the database's range, negative
ids, odd Open311 ids, cursors that name such ids, and times at or past the ends of the calendar.

Run against a seeded app on SQLite and on PostgreSQL (``backend_settings``): the two fail differently
on the same input (SQLite cannot bind an integer of 2^63, PostgreSQL's INTEGER ends at 2^31 - 1).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streetwatch.api.app import create_app
from streetwatch.core.settings import Settings
from tests.api.auth_support import TestUser

BEYOND_INT64 = 2**63
BEYOND_INT32 = 2**31  # PostgreSQL's INTEGER ends one below
HOSTILE_IDS = [BEYOND_INT64, BEYOND_INT32, -1, 0]

# (method, path with {id}, JSON body with {id} in it): every route that takes a database id.
ID_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/videos/{id}", None),
    ("GET", "/violations/{id}", None),
    ("POST", "/violations/{id}/decision", {"action": "approve"}),
    ("GET", "/cases/{id}", None),
    ("GET", "/cases/{id}/events", None),
    ("POST", "/cases/{id}/transition", {"action": "dispatch"}),
    ("GET", "/observations/{id}/labels", None),
    ("POST", "/observations/{id}/labels", {"kind": "confirm"}),
    ("POST", "/observations/1/labels", {"kind": "confirm", "target_label_id": "{id}"}),
    ("POST", "/review/release", {"violation_ids": ["{id}"]}),
    ("GET", "/observations?video_id={id}", None),
]


@pytest.fixture(scope="module")
def api(backend_settings: tuple[Settings, dict[str, TestUser]]) -> Iterator[TestClient]:
    """An admin's client that answers a server error with a 500, as a real server does."""
    settings, users = backend_settings
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(users["admin"].headers())
        yield client


def _with_id(value: Any, hostile: int) -> Any:
    if isinstance(value, str):
        return hostile if value == "{id}" else value.replace("{id}", str(hostile))
    if isinstance(value, list):
        return [_with_id(v, hostile) for v in value]
    if isinstance(value, dict):
        return {k: _with_id(v, hostile) for k, v in value.items()}
    return value


def _assert_validation_error(response: Any, *words: str) -> None:
    assert response.status_code == 422, f"{response.status_code}: {response.text[:300]}"
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail  # FastAPI's shape, as every 422 of the API
    text = " ".join(str(item["msg"]) for item in detail)
    assert all(word in text for word in words), detail


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
@pytest.mark.parametrize(("method", "path", "body"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _ in ID_ROUTES])
def test_ids_outside_the_database_range_are_a_422(api: TestClient, method: str, path: str, body: Any,
                                                    hostile: int) -> None:
    response = api.request(method, _with_id(path, hostile), json=_with_id(body, hostile))
    _assert_validation_error(response)
    message = " ".join(item["msg"] for item in response.json()["detail"])
    assert ("2147483647" in message) if hostile > 0 else ("greater than or equal to 1" in message), message


def _cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/violations", "/cases", "/observations", "/videos"])
@pytest.mark.parametrize("hostile", [BEYOND_INT64, BEYOND_INT32])
def test_a_cursor_beyond_the_database_range_is_a_400(api: TestClient, path: str, hostile: int) -> None:
    response = api.get(path, params={"cursor": _cursor(hostile)})
    assert response.status_code == 400, response.text[:300]
    assert "not a cursor returned by this API" in response.json()["detail"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("request_id", ["²", "١٢", str(BEYOND_INT64), str(BEYOND_INT32), "-1", "0"])
def test_odd_open311_ids_are_not_found(api: TestClient, fmt: str, request_id: str) -> None:
    response = api.get(f"/open311/v2/requests/{request_id}.{fmt}")
    assert response.status_code == 404, response.text[:300]
    assert "not found" in response.text
    assert response.headers["content-type"].startswith("application/json" if fmt == "json" else "text/xml")


@pytest.mark.parametrize("request_ids", ["²", "1,²", str(BEYOND_INT64), f"1,{BEYOND_INT32}", "-1"])
def test_odd_open311_id_lists_are_a_400(api: TestClient, request_ids: str) -> None:
    response = api.get("/open311/v2/requests.json", params={"service_request_id": request_ids})
    assert response.status_code == 400, response.text[:300]
    assert "service_request_id" in response.json()[0]["description"]


# --- times ---------------------------------------------------------------------------------------

EXTREME_TIMES = [
    "0001-01-01T00:00:00+05:00",   # before year 1 once in UTC
    "0001-01-01T00:00:00",         # naive: UTC, or the calendar's zone on /kpis
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-05:00",   # after year 9999 once in UTC
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59Z",
    "1000-06-01T00:00:00Z",
    "2026-02-30T00:00:00Z",        # no such day
    "2026-01-01T24:01:00Z",        # no such time
    "0.5",                         # a Unix time: pydantic reads it, the schema says date-time
    "2026-05-01",                  # a date alone
]
TIME_ROUTES = ["/violations", "/cases", "/observations", "/exports/violations.csv", "/exports/cases.geojson",
               "/kpis", "/hotspots", "/hotspots/recurring"]


@pytest.mark.parametrize("value", EXTREME_TIMES)
@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("path", TIME_ROUTES)
def test_times_outside_the_supported_range_are_a_422(api: TestClient, path: str, name: str, value: str) -> None:
    response = api.get(path, params={name: value})
    _assert_validation_error(response)
    assert any(item["loc"] == ["query", name] for item in response.json()["detail"]), response.json()


@pytest.mark.parametrize("path", TIME_ROUTES)
def test_times_inside_the_range_still_work(api: TestClient, path: str) -> None:
    response = api.get(path, params={"since": "1970-01-01T00:00:00Z", "until": "2999-12-31T00:00:00"})
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1000-01-01T00:00:00Z"])
@pytest.mark.parametrize("name", ["start_date", "end_date"])
def test_open311_times_outside_the_range_are_a_400(api: TestClient, name: str, value: str) -> None:
    response = api.get("/open311/v2/requests.json", params={name: value})
    assert response.status_code == 400, response.text[:300]
    assert name in response.json()[0]["description"]
