"""One error -> one HTTP status (the app's handler); settings fixed when the app is created."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streetwatch.api.app import create_app
from streetwatch.casework.case_workflow import CaseNotFoundError, TransitionInputError
from streetwatch.casework.states import IllegalTransitionError, NotPermittedError
from streetwatch.core.errors import StreetwatchError
from streetwatch.core.settings import Settings
from streetwatch.store.queries import DecisionConflictError, InvalidCursorError, InvalidDecisionError, NotFoundError
from streetwatch.store.users import UserError
from tests.api.auth_support import TestUser

# Each error class with the status the API answered it with before the handler (and answers now).
ERRORS = [
    pytest.param(InvalidCursorError("bad cursor"), 400, id="query"),
    pytest.param(InvalidDecisionError("a rejection needs a reason"), 422, id="invalid-decision"),
    pytest.param(TransitionInputError("extend needs a note saying why"), 422, id="transition-input"),
    pytest.param(UserError("unknown role"), 422, id="user"),
    pytest.param(NotFoundError("violation 9 not found"), 404, id="not-found"),
    pytest.param(CaseNotFoundError("case 9 not found"), 404, id="case-not-found"),
    pytest.param(DecisionConflictError("violation 9 is already approved"), 409, id="conflict"),
    pytest.param(IllegalTransitionError("filed", "handle", 9), 409, id="illegal-transition"),
    pytest.param(NotPermittedError("dispatch needs role dispatcher"), 403, id="not-permitted"),
]


@pytest.mark.parametrize(("error", "status"), ERRORS)
def test_each_error_is_answered_with_its_own_status(settings: Settings, error: StreetwatchError,
                                                    status: int) -> None:
    assert error.http_status == status
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise error

    with TestClient(app) as client:
        response = client.get("/boom")
    assert response.status_code == status
    if status == 422:  # every 422 in FastAPI's list shape, ours included
        assert response.json() == {"detail": [{"type": "value_error", "loc": ["query"], "msg": str(error),
                                               "input": None}]}
    else:
        assert response.json() == {"detail": str(error)}


@pytest.mark.parametrize(
    ("path", "loc", "words"),
    [
        ("/violations?family=spaceships", ["query", "family"], "unknown family 'spaceships'"),
        ("/kpis?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", ["query", "since"], "must be before"),
        ("/reports/monthly?month=2026-13", ["query", "month"], "YYYY-MM"),
        ("/reports/monthly?month=0001-01", ["query", "month"], "1900-01"),
        ("/violations?status=maybe", ["query", "status"], "pending"),
    ],
)
def test_every_422_has_fastapis_list_shape(client: TestClient, path: str, loc: list[str], words: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == loc and words in item["msg"], item


def test_a_decision_refused_after_validation_is_a_list_shaped_422(client: TestClient) -> None:
    # A relabel to a class the taxonomy does not know: refused by the store, not by the schema.
    claimed = client.post("/review/claim", json={"n": 1})
    violation_id = claimed.json()["items"][0]["id"]
    response = client.post(f"/violations/{violation_id}/decision", json={"action": "relabel", "class_name": "unicorn"})
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body"] and "unicorn" in item["msg"], item


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/open311/v2/requests.json", "GET, POST"),  # a GET route and a POST route
        ("PUT", "/ui/login", "GET, POST"),
        ("DELETE", "/violations/1", "GET"),
        ("HEAD", "/violations", "GET"),  # FastAPI answers HEAD only where a route says so
        ("GET", "/review/claim", "POST"),
        ("PATCH", "/cases/1/transition", "POST"),
    ],
)
def test_405_allows_every_method_of_the_path(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


def test_an_unknown_status_in_a_request_is_a_clear_422(client: TestClient) -> None:
    response = client.get("/violations", params={"status": "maybe"})
    assert response.status_code == 422
    assert "pending" in response.text and "approved" in response.text and "rejected" in response.text


def test_settings_are_not_read_again_after_create_app(
    settings: Settings, users: dict[str, TestUser], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("STREETWATCH_TILE_URL", "https://tiles.before.example/{z}/{x}/{y}.png")
    settings = Settings(**settings.model_dump(exclude={"web"}))  # built (and the environment read) now
    app = create_app(settings)
    # After start-up, the environment changes: nothing the app does may notice.
    monkeypatch.setenv("STREETWATCH_TILE_URL", "https://tiles.after.example/{z}/{x}/{y}.png")
    monkeypatch.setenv("STREETWATCH_WORKFLOW_DEADLINES_PATH", str(tmp_path / "missing-deadlines.yaml"))
    monkeypatch.setenv("STREETWATCH_WORKFLOW_UNITS_PATH", str(tmp_path / "missing-units.yaml"))
    with TestClient(app) as client:
        page = client.get("/ui/login")
        client.headers.update(users["admin"].headers())
        kpis = client.get("/kpis")  # loads the workflow config on first use
    assert page.status_code == 200
    assert "tiles.before.example" in page.text and "tiles.after.example" not in page.text
    assert kpis.status_code == 200, kpis.text  # deadlines from the settings, not the changed environment
