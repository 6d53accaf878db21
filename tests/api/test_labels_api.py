"""POST/GET /observations/{id}/labels and GET /evidence/{sha256}/labels over HTTP (TestClient), and the label
records that review decisions write. Seeded frames are 48x32 pixels; detections sit at (12, 5, 32, 25)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.models_workflow import AuditEntry
from tests.api.auth_support import TestUser
from tests.api.seed import SeedData, SeedObservation

DETECTOR_BOX = [12.0, 5.0, 32.0, 25.0]


def observation(seed: SeedData, class_name: str, *, with_violation: str | None = None) -> SeedObservation:
    for obs in seed.observations:
        violation = next((v for v in seed.violations if v.id == obs.violation_id), None)
        status = violation.status if violation is not None else None
        if obs.class_name == class_name and (with_violation is None or status == with_violation):
            return obs
    raise AssertionError(f"the seed has no {class_name} with a {with_violation} violation")


def as_reviewer(client: TestClient, users: dict[str, TestUser], name: str = "reviewer") -> TestClient:
    client.headers.update(users[name].headers())
    return client


def post(client: TestClient, observation_id: int, **body: Any) -> Any:
    return client.post(f"/observations/{observation_id}/labels", json=body)


# (body, class and box of the record, objects the frame then holds as (source, class, box))
KINDS: list[tuple[dict[str, Any], str | None, list[float] | None, list[tuple[str, str, list[float]]]]] = [
    ({"kind": "confirm"}, "car", DETECTOR_BOX, [("detection", "car", DETECTOR_BOX)]),
    ({"kind": "adjust_box", "box": [10, 4, 30.5, 26]}, "car", [10, 4, 30.5, 26],
     [("detection", "car", [10, 4, 30.5, 26])]),
    ({"kind": "relabel", "class_name": "truck"}, "truck", DETECTOR_BOX, [("detection", "truck", DETECTOR_BOX)]),
    ({"kind": "add_missed", "box": [0, 0, 8, 8], "class_name": "dining table"}, "dining_table", [0, 0, 8, 8],
     [("missed", "dining_table", [0, 0, 8, 8])]),
    ({"kind": "empty_frame"}, None, None, []),
]


@pytest.mark.parametrize(("body", "class_name", "box", "objects"), KINDS, ids=[k[0]["kind"] for k in KINDS])
def test_a_reviewer_labels_each_kind(
    client: TestClient, users: dict[str, TestUser], seed: SeedData, session: Session, body: dict[str, Any],
    class_name: str | None, box: list[float] | None, objects: list[tuple[str, str, list[float]]],
) -> None:
    obs = observation(seed, "car")
    response = post(as_reviewer(client, users), obs.id, **body)
    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["kind"], record["class_name"], record["box"]) == (body["kind"], class_name, box)
    assert (record["observation_id"], record["frame_sha256"], record["reviewer"]) == (obs.id, obs.frame_sha256,
                                                                                      "reviewer")
    assert record["model_name"] == "streetwatch-v0" and record["decision_id"] is None

    listed = client.get(f"/observations/{obs.id}/labels").json()
    assert listed == client.get(f"/evidence/{obs.frame_sha256}/labels").json()
    assert [label["id"] for label in listed["labels"]] == [record["id"]]
    assert [(o["source"], o["class_name"], o["box"]) for o in listed["objects"]] == objects
    assert listed["empty"] is (body["kind"] == "empty_frame")
    assert (listed["width"], listed["height"], listed["frame_url"]) == (48, 32, f"/evidence/{obs.frame_sha256}")
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.entity_id, entry.actor) == (f"label.{body['kind']}", str(record["id"]), "reviewer")


def test_corrections_chain_into_the_audit_log_and_the_latest_word_wins(
    client: TestClient, users: dict[str, TestUser], seed: SeedData, session: Session,
) -> None:
    obs = observation(seed, "umbrella")
    as_reviewer(client, users)
    missed = post(client, obs.id, kind="add_missed", box=[1, 1, 9, 9], class_name="chair").json()
    for body in ({"kind": "adjust_box", "box": [11, 4, 33, 26]}, {"kind": "relabel", "class_name": "stall"},
                 {"kind": "adjust_box", "box": [2, 2, 10, 10], "target_label_id": missed["id"]}):
        assert post(client, obs.id, **body).status_code == 201
    listed = client.get(f"/observations/{obs.id}/labels").json()
    assert [(o["source"], o["id"], o["class_name"], o["box"]) for o in listed["objects"]] == [
        ("missed", missed["id"], "chair", [2, 2, 10, 10]), ("detection", obs.id, "stall", [11, 4, 33, 26])]
    assert [label["kind"] for label in listed["labels"]] == ["add_missed", "adjust_box", "relabel", "adjust_box"]
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["label.add_missed", "label.adjust_box", "label.relabel", "label.adjust_box"]
    assert verify_audit_chain(session).ok


def test_a_relabel_decision_writes_its_label_and_an_approval_confirms(
    client: TestClient, users: dict[str, TestUser], seed: SeedData,
) -> None:
    obs = observation(seed, "car", with_violation="pending")
    claimed = as_reviewer(client, users).post("/review/claim", json={"n": 50}).json()["items"]
    assert obs.violation_id in {item["id"] for item in claimed}
    relabel = client.post(f"/violations/{obs.violation_id}/decision", json={"action": "relabel",
                                                                             "class_name": "bus"})
    assert relabel.status_code == 200, relabel.text
    approve = client.post(f"/violations/{obs.violation_id}/decision", json={"action": "approve"})
    assert approve.status_code == 200, approve.text
    decisions = approve.json()["decisions"]
    labels = client.get(f"/observations/{obs.id}/labels").json()["labels"]
    assert [(label["kind"], label["class_name"], label["decision_id"]) for label in labels] == [
        ("relabel", "bus", decisions[-2]["id"]), ("confirm", "bus", decisions[-1]["id"])]


# (user, method, path suffix, body, expected status)
ACCESS = [
    ("dispatcher", "POST", {"kind": "confirm"}, 403),
    ("field_inspector", "POST", {"kind": "confirm"}, 403),
    ("supervisor", "POST", {"kind": "confirm"}, 201),
    ("admin", "POST", {"kind": "confirm"}, 201),
    ("dispatcher", "GET", None, 403),
    ("supervisor", "GET", None, 200),
    (None, "GET", None, 401),
    (None, "POST", {"kind": "confirm"}, 401),
]


@pytest.mark.parametrize(("user", "method", "body", "expected"), ACCESS)
def test_roles(client: TestClient, users: dict[str, TestUser], seed: SeedData, user: str | None, method: str,
               body: dict[str, Any] | None, expected: int) -> None:
    client.headers.pop("Authorization")
    if user is not None:
        client.headers.update(users[user].headers())
    obs = observation(seed, "car")
    response = client.request(method, f"/observations/{obs.id}/labels", json=body)
    assert response.status_code == expected, response.text


# (body, expected status, text in the error)
BAD = [
    ({"kind": "adjust_box"}, 422, "adjust_box needs box"),
    ({"kind": "confirm", "class_name": "car"}, 422, "class_name is not for confirm"),
    ({"kind": "add_missed", "box": [0, 0, 8, 8]}, 422, "add_missed needs class_name"),
    ({"kind": "empty_frame", "target_label_id": 3}, 422, "target_label_id is not for empty_frame"),
    ({"kind": "confirm", "reviewer": "mallory"}, 422, "Extra inputs are not permitted"),
    ({"kind": "approve"}, 422, "Input should be 'confirm'"),
    ({"kind": "adjust_box", "box": [0, 0, 8]}, 422, "box"),
    ({"kind": "relabel", "class_name": "unicorn"}, 422, "unknown class 'unicorn'"),
    ({"kind": "relabel", "class_name": "car"}, 422, "already labelled 'car'"),
    ({"kind": "adjust_box", "box": [0, 0, 49, 8]}, 422, "outside the 48x32 frame"),
    ({"kind": "confirm", "target_label_id": 12345}, 422, "not an add_missed record on this frame"),
]


@pytest.mark.parametrize(("body", "expected", "text"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_labels_are_refused(client: TestClient, seed: SeedData, body: dict[str, Any], expected: int,
                                text: str) -> None:
    response = post(client, observation(seed, "car").id, **body)
    assert response.status_code == expected and text in response.text, response.text


def test_unknown_observation_and_frame(client: TestClient) -> None:
    assert post(client, 999_999, kind="confirm").status_code == 404
    assert client.get("/observations/999999/labels").status_code == 404
    response = client.get(f"/evidence/{'a' * 64}/labels")
    assert response.status_code == 404 and "not found" in response.json()["detail"]
    assert client.get("/evidence/NOTAHASH/labels").status_code == 422


def test_openapi_documents_the_label_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post_op = spec["paths"]["/observations/{observation_id}/labels"]["post"]
    assert post_op["tags"] == ["labels"] and {"201", "403", "404", "422"} <= set(post_op["responses"])
    assert "get" in spec["paths"]["/observations/{observation_id}/labels"]
    assert "get" in spec["paths"]["/evidence/{sha256}/labels"]
    kinds = spec["components"]["schemas"]["LabelKind"]["enum"]
    assert kinds == ["confirm", "adjust_box", "relabel", "add_missed", "empty_frame"]
    assert spec["components"]["schemas"]["LabelCreate"]["additionalProperties"] is False
