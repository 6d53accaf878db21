"""GET /violations, GET /violations/{id} and POST /violations/{id}/decision over HTTP (TestClient)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streetwatch.core.taxonomy import Taxonomy
from tests.api.cases import VIOLATION_CASES, FilterCase, expected_ids
from tests.api.seed import SeedData, SeedViolation


def walk(client: TestClient, path: str, limit: int, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def pick(seed: SeedData, class_name: str, status: str) -> SeedViolation:
    return next(v for v in seed.violations if v.class_name == class_name and v.status == status)


@pytest.mark.parametrize("limit", [1, 3, 50, 500])
def test_pages_walk_every_violation_once(client: TestClient, seed: SeedData, limit: int) -> None:
    ids = [item["id"] for item in walk(client, "/violations", limit)]
    assert ids == sorted((v.id for v in seed.violations), reverse=True)
    assert len(set(ids)) == len(seed.violations)


def test_default_page_size_is_50(client: TestClient, seed: SeedData) -> None:
    page = client.get("/violations").json()
    assert len(page["items"]) == min(50, len(seed.violations))


@pytest.mark.parametrize("case", VIOLATION_CASES, ids=lambda c: c.id)
def test_filters(client: TestClient, seed: SeedData, case: FilterCase) -> None:
    ids = [item["id"] for item in walk(client, "/violations", 4, **case.params)]
    assert ids == expected_ids(seed.violations, case)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"cursor": "zzz"}, 400, "invalid cursor"),
        ({"cursor": _b64("id:abc")}, 400, "invalid cursor"),
        ({"cursor": _b64("drop table")}, 400, "invalid cursor"),
        ({"cursor": ""}, 400, "invalid cursor"),
        ({"limit": "0"}, 422, "limit"),
        ({"limit": "501"}, 422, "limit"),
        ({"limit": "ten"}, 422, "limit"),
        ({"status": "done"}, 422, "status"),
        ({"family": "stal"}, 422, "unknown family 'stal'"),
        ({"bbox": "1,2,3"}, 422, "4 comma-separated"),
        ({"bbox": "a,b,c,d"}, 422, "must be numbers"),
        ({"bbox": "10,0,5,1"}, 422, "greater than max_lon"),
        ({"bbox": "0,95,1,96"}, 422, "min_lat must be within"),
        ({"since": "yesterday"}, 422, "since"),
        ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, 422, "must be before"),
        ({"familly": "stall"}, 422, "familly"),
    ],
)
def test_bad_list_requests(client: TestClient, params: dict[str, str], status: int, detail: str) -> None:
    response = client.get("/violations", params=params)
    assert response.status_code == status, response.text
    assert detail in response.text


def test_detail(client: TestClient, seed: SeedData, taxonomy: Taxonomy) -> None:
    wanted = next(v for v in seed.violations if v.seen_at is not None and v.lat is not None)
    obs = next(o for o in seed.observations if o.id == wanted.observation_id)
    video = next(v for v in seed.videos if v.id == wanted.video_id)
    body = client.get(f"/violations/{wanted.id}").json()
    spec = taxonomy.classes[wanted.class_name]
    event = taxonomy.events[spec.event_code or ""]
    assert {
        k: body[k] for k in ("id", "status", "family", "class_name", "event_code", "name_zh", "name_en")
    } == {
        "id": wanted.id,
        "status": wanted.status,
        "family": wanted.family,
        "class_name": wanted.class_name,
        "event_code": event.code,
        "name_zh": event.name_zh,
        "name_en": event.name_en,
    }
    assert (body["lat"], body["lon"], body["location_status"]) == (
        wanted.lat,
        wanted.lon,
        obs.location_status,
    )
    assert body["seen_at"] == wanted.seen_at.isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]
    assert body["video"] == {"id": video.id, "filename": video.filename, "sha256": video.sha256}
    assert body["frame_url"] == f"/evidence/{obs.frame_sha256}"
    assert body["crop_url"] == f"/evidence/{obs.crop_sha256}"
    assert len(body["track_points"]) == 3 and set(body["track_points"][0]) == {
        "frame_index",
        "pts_s",
        "xyxy",
        "confidence",
    }
    assert len(body["bbox"]) == 4 and body["decisions"] == [] and body["reason"]
    assert 0 < body["confidence"] <= 1


@pytest.mark.parametrize(
    ("path", "status"), [("/violations/999999", 404), ("/violations/0", 422), ("/violations/abc", 422)]
)
def test_detail_errors(client: TestClient, path: str, status: int) -> None:
    assert client.get(path).status_code == status


# --- decisions ----------------------------------------------------------------------------------

DECISION_CASES = [
    # (class, start status, body without reviewer, HTTP status, status after, class after)
    ("car", "pending", {"action": "approve"}, 200, "approved", "car"),
    ("car", "pending", {"action": "reject", "reason": "a delivery, stopped briefly"}, 200, "rejected", "car"),
    ("car", "pending", {"action": "reject"}, 422, "pending", "car"),
    ("car", "pending", {"action": "reject", "reason": "   "}, 422, "pending", "car"),
    ("car", "pending", {"action": "relabel", "class_name": "truck"}, 200, "pending", "truck"),
    ("car", "pending", {"action": "relabel", "class_name": "spaceship"}, 422, "pending", "car"),
    ("car", "pending", {"action": "relabel", "class_name": "person"}, 422, "pending", "car"),
    ("car", "pending", {"action": "relabel"}, 422, "pending", "car"),
    ("car", "pending", {"action": "approve", "class_name": "truck"}, 422, "pending", "car"),
    ("car", "pending", {"action": "approve", "status": "approved"}, 422, "pending", "car"),
    ("car", "pending", {"action": "approve", "sha256": "0" * 64}, 422, "pending", "car"),
    ("car", "pending", {"action": "delete"}, 422, "pending", "car"),
    ("car", "approved", {"action": "approve"}, 409, "approved", "car"),
    ("car", "approved", {"action": "reject", "reason": "wrong"}, 409, "approved", "car"),
    ("car", "rejected", {"action": "approve"}, 409, "rejected", "car"),
    ("car", "approved", {"action": "relabel", "class_name": "bus"}, 200, "pending", "bus"),
    ("car", "rejected", {"action": "relabel", "class_name": "dining table"}, 200, "pending", "dining_table"),
]


@pytest.mark.parametrize(("class_name", "start", "body", "code", "after", "class_after"), DECISION_CASES)
def test_decisions(
    client: TestClient,
    seed: SeedData,
    class_name: str,
    start: str,
    body: dict[str, str],
    code: int,
    after: str,
    class_after: str,
) -> None:
    target = pick(seed, class_name, start)
    response = client.post(f"/violations/{target.id}/decision", json=body)
    assert response.status_code == code, response.text
    now = client.get(f"/violations/{target.id}").json()
    if code == 200:
        assert response.json() == now
        # Recorded under the signed-in user (the client is the admin).
        assert [(d["action"], d["reviewer"]) for d in now["decisions"]] == [(body["action"], "admin")]
    assert (now["status"], now["class_name"]) == (after, class_after)
    assert len(now["decisions"]) == (1 if code == 200 else 0)


@pytest.mark.parametrize(
    ("reviewer", "code"),
    [("admin", 200), ("alice", 403), ("", 422), ("x" * 256, 422)],
    ids=["self", "someone-else", "blank", "too-long"],
)
def test_reviewer_if_given_must_be_the_signed_in_user(
    client: TestClient, seed: SeedData, reviewer: str, code: int
) -> None:
    target = pick(seed, "car", "pending")
    response = client.post(f"/violations/{target.id}/decision", json={"action": "approve", "reviewer": reviewer})
    assert response.status_code == code, response.text
    decisions = client.get(f"/violations/{target.id}").json()["decisions"]
    assert [d["reviewer"] for d in decisions] == (["admin"] if code == 200 else [])


def test_decision_on_unknown_violation_is_404(client: TestClient) -> None:
    response = client.post("/violations/999999/decision", json={"action": "approve"})
    assert response.status_code == 404 and "999999" in response.json()["detail"]


def test_decisions_append_in_order(client: TestClient, seed: SeedData) -> None:
    target = pick(seed, "car", "pending")
    steps = [
        {"action": "approve"},
        {"action": "relabel", "class_name": "truck", "reason": "a truck"},
        {"action": "reject", "reason": "blocking nothing"},
    ]
    for step in steps:
        assert client.post(f"/violations/{target.id}/decision", json=step).is_success
    body = client.get(f"/violations/{target.id}").json()
    assert [d["action"] for d in body["decisions"]] == ["approve", "relabel", "reject"]
    assert (
        body["decisions"][1]["new_class_name"] == "truck" and body["decisions"][1]["new_family"] == "parking"
    )
    assert (body["status"], body["class_name"], body["detector_class_name"]) == ("rejected", "truck", "car")
