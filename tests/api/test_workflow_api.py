"""The review and dispatch workflow over HTTP, on SQLite and PostgreSQL: claim, decide, dispatch ... close,
KPIs, the monthly report and the exports, each as the role that does it in a city."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from streetwatch.api.app import create_app
from streetwatch.api.auth import SESSION_COOKIE
from streetwatch.core.dedup import cell_of
from streetwatch.core.settings import Settings
from streetwatch.store.cases import attach_violations, lock_case_areas
from streetwatch.store.models import Case, Violation
from tests.api.auth_support import STANDARD_USERS, TEST_AUTH_SECRET, UNIT_A, TestUser, add_users_at
from tests.api.conftest import SeededStore
from tests.casework.store_builders import BASE, add_violations


@dataclass(frozen=True, slots=True)
class Api:
    client: TestClient
    users: dict[str, TestUser]
    store: SeededStore
    evidence_dir: Path

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, headers=self.users[who].headers(), **kwargs)


@pytest.fixture
def api(write_store: SeededStore, seeded_template: tuple[Path, object], tmp_path: Path) -> Iterator[Api]:
    with write_store.session_factory.begin() as session:  # as ingest does: located violations join cases
        located = session.scalars(select(Violation).where(Violation.lat.is_not(None))).all()
        lock_case_areas(session, located, 10.0)
        attach_violations(session, located)
    users = add_users_at(write_store.url, STANDARD_USERS)
    evidence = Path(shutil.copytree(seeded_template[0] / "evidence", tmp_path / "evidence"))  # tests may add some
    settings = Settings(db_url=write_store.url, evidence_dir=evidence, auth_secret=TEST_AUTH_SECRET)
    with TestClient(create_app(settings)) as client:
        yield Api(client, users, write_store, evidence)


def pending_located(api: Api) -> list[int]:
    with api.store.session_factory() as session:
        return list(session.scalars(select(Violation.id).where(Violation.status == "pending",
                                                               Violation.case_id.is_not(None)).order_by(Violation.id)))


def test_review_loop_with_leases(api: Api) -> None:
    claimed = api.call("reviewer", "POST", "/review/claim", json={"n": 40, "lease_minutes": 5})
    assert claimed.status_code == 200, claimed.text
    items = claimed.json()["items"]
    ids = [i["id"] for i in items]
    assert ids == sorted(ids) and all(i["status"] == "pending" and i["lease_expires_at"] for i in items)
    located = [i["id"] for i in items if i["case_id"] is not None]
    first, second = located[:2]
    # Nobody else gets them; the supervisor's claim finds an empty queue.
    assert api.call("supervisor", "POST", "/review/claim", json={"n": 5}).json()["items"] == []
    approved = api.call("reviewer", "POST", f"/violations/{first}/decision", json={"action": "approve"})
    assert approved.status_code == 200, approved.text
    case_id = approved.json()["case_id"]
    case = api.call("reviewer", "GET", f"/cases/{case_id}").json()
    assert case["status"] == "filed" and case["unit"] and case["filed_at"]
    rejected = api.call("reviewer", "POST", f"/violations/{second}/decision",
                        json={"action": "reject", "reason_code": "compliant", "reason": "licensed"})
    body = rejected.json()
    assert (body["status"], body["decisions"][-1]["reason_code"], body["decisions"][-1]["reason"]) == (
        "rejected", "compliant", "licensed")
    # Released items go back to the queue, and deciding on one without a lease is 409.
    released = api.call("reviewer", "POST", "/review/release", json={"violation_ids": [ids[-1]]})
    assert released.json() == {"released": 1}
    stale = api.call("reviewer", "POST", f"/violations/{ids[-1]}/decision", json={"action": "approve"})
    assert stale.status_code == 409 and "claim it first" in stale.json()["detail"]
    # A supervisor may override the lease; the reviewer then finds it decided.
    override = api.call("supervisor", "POST", f"/violations/{ids[-2]}/decision", json={"action": "approve"})
    assert override.status_code == 200
    late = api.call("reviewer", "POST", f"/violations/{ids[-2]}/decision", json={"action": "approve"})
    assert late.status_code == 409 and "already approved" in late.json()["detail"]
    leases = api.call("reviewer", "GET", "/review/leases").json()["items"]
    assert [i["id"] for i in leases] == [i for i in ids if i not in (first, second, ids[-1], ids[-2])]


@pytest.mark.parametrize(
    ("body", "message"),
    [({"n": 0}, "greater than or equal"), ({"n": 1, "owner": "bob"}, "Extra inputs"),
     ({"lease_minutes": 1000}, "less than or equal")],
)
def test_claim_rejects_bad_bodies(api: Api, body: dict[str, object], message: str) -> None:
    response = api.call("reviewer", "POST", "/review/claim", json=body)
    assert response.status_code == 422 and message in response.text


def _step(api: Api, who: str, case_id: int, body: dict[str, str], status: int = 200) -> dict[str, Any]:
    response = api.call(who, "POST", f"/cases/{case_id}/transition", json=body)
    assert response.status_code == status, f"{who} {body}: {response.text}"
    result: dict[str, Any] = response.json()
    return result


def filed_case(api: Api) -> int:
    vid = pending_located(api)[0]
    decided = api.call("supervisor", "POST", f"/violations/{vid}/decision", json={"action": "approve"})
    return int(decided.json()["case_id"])


def test_a_case_from_filing_to_closure(api: Api) -> None:
    case_id = filed_case(api)
    unit_before = api.call("supervisor", "GET", f"/cases/{case_id}").json()["unit"]
    assert unit_before != UNIT_A
    _step(api, "dispatcher", case_id, {"action": "dispatch"}, 403)            # not their unit
    _step(api, "reviewer", case_id, {"action": "dispatch"}, 403)              # not their role
    sent = _step(api, "supervisor", case_id, {"action": "dispatch", "unit": UNIT_A})
    assert sent["case"]["unit"] == UNIT_A and sent["case"]["handle_due"]
    _step(api, "dispatcher", case_id, {"action": "return"}, 422)             # a return says why
    _step(api, "dispatcher", case_id, {"action": "return", "note": "wrong street", "unit": "x"}, 403)
    _step(api, "dispatcher", case_id, {"action": "return", "note": "needs a ladder"})
    _step(api, "dispatcher", case_id, {"action": "dispatch"})
    _step(api, "dispatcher", case_id, {"action": "extend", "note": "x", "extend_by": "1d"}, 403)
    _step(api, "supervisor", case_id, {"action": "extend", "note": "holiday market", "extend_by": "4h"})
    _step(api, "dispatcher", case_id, {"action": "handle"}, 403)
    _step(api, "field_inspector", case_id, {"action": "handle"})
    _step(api, "field_inspector", case_id, {"action": "rework", "note": "still there"})
    _step(api, "field_inspector", case_id, {"action": "handle"})
    _step(api, "field_inspector", case_id, {"action": "close"}, 403)
    _step(api, "field_inspector", case_id, {"action": "check"})
    _step(api, "supervisor", case_id, {"action": "handle"}, 409)              # not from checked
    closed = _step(api, "supervisor", case_id, {"action": "close", "note": "cleared"})
    assert closed["case"]["status"] == "closed" and closed["event"]["to_status"] == "closed"
    events = api.call("field_inspector", "GET", f"/cases/{case_id}/events").json()
    assert [e["action"] for e in events] == ["file", "dispatch", "return", "dispatch", "extend", "handle", "rework",
                                             "handle", "check", "close"]
    assert api.call("dispatcher_b", "GET", f"/cases/{case_id}/events").status_code == 403
    assert _step(api, "supervisor", case_id, {"action": "dispatch", "status": "open"}, 422)

    kpis = api.call("supervisor", "GET", "/kpis").json()
    total = kpis["total"]
    assert (total["filed"], total["dispatched"], total["handled"], total["closed"], total["reworked"],
            total["extended"]) == (1, 1, 1, 1, 1, 1)
    assert total["closure_rate"] == 1.0 and total["rework_rate"] == 1.0
    scoped = api.call("field_inspector", "GET", "/kpis").json()
    assert scoped["unit"] == UNIT_A and [r["key"] for r in scoped["by_unit"]] == [UNIT_A]
    assert api.call("dispatcher_b", "GET", "/kpis", params={"unit": UNIT_A}).status_code == 403

    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    markdown = api.call("supervisor", "GET", "/reports/monthly", params={"month": month})
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    text = markdown.text
    assert "城市管理问题处置情况通报" in text and f"| {UNIT_A} | 1 | 1 | 1 |" in text
    table = list(csv.DictReader(io.StringIO(api.call("supervisor", "GET", "/reports/monthly",
                                                       params={"month": month, "format": "csv"}).text)))
    assert [(r["scope"], r["key"], r["closed"]) for r in table if r["scope"] != "grid"] == [
        ("total", "", "1"), ("unit", UNIT_A, "1")]
    assert api.call("supervisor", "GET", "/reports/monthly", params={"month": "2026-13"}).status_code == 422
    assert api.call("dispatcher", "GET", "/reports/monthly", params={"month": month}).status_code == 403


def test_exports(api: Api) -> None:
    case_id = filed_case(api)
    _step(api, "supervisor", case_id, {"action": "dispatch", "unit": UNIT_A})
    collection = api.call("reviewer", "GET", "/exports/violations.geojson").json()
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(api.store.seed.violations)
    unlocated = [f for f in collection["features"] if f["geometry"] is None]
    assert unlocated and all(f["properties"]["lat"] is None for f in unlocated)
    point = next(f for f in collection["features"] if f["geometry"] is not None)
    assert point["geometry"]["coordinates"] == [point["properties"]["lon"], point["properties"]["lat"]]

    approved = api.call("reviewer", "GET", "/exports/violations.csv", params={"status": "approved"})
    rows = list(csv.DictReader(io.StringIO(approved.text)))
    assert rows and {r["status"] for r in rows} == {"approved"}

    mine = api.call("dispatcher", "GET", "/exports/cases.csv").text
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(mine))] == [case_id]  # only unit A's
    assert api.call("dispatcher", "GET", "/exports/cases.csv", params={"unit": "其他"}).status_code == 403

    def overdue_ids(flag: str) -> list[int]:
        body = api.call("supervisor", "GET", "/exports/cases.geojson", params={"overdue": flag}).json()
        return [f["id"] for f in body["features"]]

    assert case_id in overdue_ids("false") and case_id not in overdue_ids("true")
    with api.store.session_factory.begin() as session:  # the deadline passes
        session.execute(update(Case).where(Case.id == case_id)
                        .values(handle_due=datetime.now(UTC) - timedelta(minutes=1)))
    assert overdue_ids("true") == [case_id]

    for params, status in [({"bbox": "1,2,3"}, 422), ({"family": "spaceships"}, 422), ({"color": "red"}, 422),
                           ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, 422)]:
        assert api.call("reviewer", "GET", "/exports/cases.csv", params=params).status_code == status, params


# --- one "overdue" for the page, the API and the exports; the page pages on ---------------------------------

CASE_ROW = re.compile(r'<tr id="case-(\d+)" class="([^"]*)"')


def _page_rows(api: Api, **params: Any) -> dict[int, bool]:
    """Case id -> shown as overdue, over every page of /ui/cases (following "next page")."""
    rows: dict[int, bool] = {}
    url: str | None = "/ui/cases"
    for _ in range(100):
        if url is None:
            return rows
        cookie = {"Cookie": f"{SESSION_COOKIE}={api.users['supervisor'].token()}"}  # pages sign in by cookie
        page = api.client.get(url, params=params if url == "/ui/cases" else None, headers=cookie,
                              follow_redirects=False)
        assert page.status_code == 200, page.text
        rows |= {int(i): "overdue" in cls for i, cls in CASE_ROW.findall(page.text)}
        found = re.search(r'id="next-page" href="([^"]+)"', page.text)
        url = None if found is None else html.unescape(found.group(1))
    raise AssertionError("the pages never ended")


def _api_ids(api: Api, **params: Any) -> set[int]:
    ids: set[int] = set()
    cursor: dict[str, str] = {}
    while True:
        body = api.call("supervisor", "GET", "/cases", params={**params, "limit": 500, **cursor}).json()
        ids |= {c["id"] for c in body["items"]}
        if body["next_cursor"] is None:
            return ids
        cursor = {"cursor": body["next_cursor"]}


def _export_ids(api: Api, **params: Any) -> set[int]:
    text = api.call("supervisor", "GET", "/exports/cases.csv", params=params).text
    return {int(r["id"]) for r in csv.DictReader(io.StringIO(text))}


def test_a_reopened_case_is_overdue_nowhere(api: Api) -> None:
    factory = api.store.session_factory
    (vid,) = add_violations(factory, [BASE], name="first", evidence_dir=api.evidence_dir)
    case_id = int(api.call("supervisor", "POST", f"/violations/{vid}/decision", json={"action": "approve"})
                  .json()["case_id"])
    _step(api, "supervisor", case_id, {"action": "dispatch", "unit": UNIT_A})
    for step in ("handle", "check"):
        _step(api, "field_inspector", case_id, {"action": step})
    _step(api, "supervisor", case_id, {"action": "close", "note": "cleared"})
    past = datetime.now(UTC) - timedelta(days=1)
    with factory.begin() as session:  # the deadlines of the closed cycle pass
        session.execute(update(Case).where(Case.id == case_id).values(handle_due=past, close_due=past))
    add_violations(factory, [BASE], name="later")  # a later sighting reopens it
    assert api.call("supervisor", "GET", f"/cases/{case_id}").json()["status"] == "open"

    page = _page_rows(api)
    assert page[case_id] is False
    assert case_id not in _page_rows(api, overdue="true")
    assert case_id not in _api_ids(api, overdue="true") and case_id in _api_ids(api, overdue="false")
    assert case_id not in _export_ids(api, overdue="true") and case_id in _export_ids(api, overdue="false")
    overdue = {i for i, late in page.items() if late}
    assert set(_page_rows(api, overdue="true")) == overdue == _api_ids(api, overdue="true") \
        == _export_ids(api, overdue="true")


def test_the_cases_page_reaches_every_case_past_500(api: Api) -> None:
    with api.store.session_factory.begin() as session:
        made = [Case(family="parking", event_code="0508", status="open", lat=31.0 + i * 1e-4, lon=121.0,
                     h3_cell=cell_of(31.0 + i * 1e-4, 121.0), sightings=1, recurrence_count=0) for i in range(620)]
        session.add_all(made)
        session.flush()
        ids = {c.id for c in made}
    shown = _page_rows(api, family="parking")
    assert ids <= set(shown) and len(shown) == len(set(shown))
    assert sorted(ids)[:100] and min(ids) in shown  # the oldest ones, past row 500, are reached
