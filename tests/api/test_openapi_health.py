"""The OpenAPI document, the docs page and the health check."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine, make_session_factory
from tests.api.auth_support import TEST_AUTH_SECRET, UserSpec, add_users_at

EXPECTED_OPERATIONS = {
    ("/uploads", "post"),
    ("/violations", "get"),
    ("/violations/{violation_id}", "get"),
    ("/violations/{violation_id}/decision", "post"),
    ("/cases", "get"),
    ("/cases/{case_id}", "get"),
    ("/observations", "get"),
    ("/observations/{observation_id}/labels", "post"),
    ("/observations/{observation_id}/labels", "get"),
    ("/evidence/{sha256}/labels", "get"),
    ("/videos", "get"),
    ("/videos/{video_id}", "get"),
    ("/evidence/{sha256}", "get"),
    ("/evidence/{sha256}/blurred", "get"),
    ("/health", "get"),
    ("/auth/token", "post"),
    ("/auth/me", "get"),
    ("/auth/logout", "post"),
    ("/review/claim", "post"),
    ("/labelling", "get"),
    ("/labelling/claim", "post"),
    ("/labelling/{item_id}/finish", "post"),
    ("/open311/v2/services.{fmt}", "get"),
    ("/open311/v2/services/{service_code}.{fmt}", "get"),
    ("/open311/v2/requests.{fmt}", "get"),
    ("/open311/v2/requests.{fmt}", "post"),
    ("/open311/v2/requests/{service_request_id}.{fmt}", "get"),
    ("/review/release", "post"),
    ("/review/leases", "get"),
    ("/cases/{case_id}/transition", "post"),
    ("/cases/{case_id}/events", "get"),
    ("/cases/{case_id}/notice", "post"),
    ("/cases/{case_id}/notice.pdf", "get"),
    ("/kpis", "get"),
    ("/reports/monthly", "get"),
    ("/hotspots", "get"),
    ("/hotspots/recurring", "get"),
    ("/exports/violations.geojson", "get"),
    ("/exports/violations.csv", "get"),
    ("/exports/cases.geojson", "get"),
    ("/exports/cases.csv", "get"),
    ("/coverage/roads", "get"),
    ("/coverage/roads/{segment_id}", "get"),
    ("/coverage/cells", "get"),
    ("/coverage/grids", "get"),
    ("/coverage.geojson", "get"),
    ("/coverage.csv", "get"),
}


def test_openapi_lists_every_route_with_tags_and_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert operations == EXPECTED_OPERATIONS
    for path, method in operations:
        op = spec["paths"][path][method]
        assert op["tags"] and op["summary"] and op.get("description"), (path, method)
    schemas = spec["components"]["schemas"]
    for name in (
        "ViolationsPage",
        "ViolationPublic",
        "ViolationDetail",
        "CasesPage",
        "CasePublic",
        "CaseDetailPublic",
        "ObservationsPage",
        "VideosPage",
        "DecisionCreate",
        "DecisionPublic",
        "HealthPublic",
        "LabelCreate",
        "LabelPublic",
        "FrameLabelsPublic",
    ):
        assert name in schemas, name
    assert schemas["DecisionCreate"]["additionalProperties"] is False
    assert spec["info"]["title"] == "streetwatch"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and "openapi.json" in response.text


def test_health_ok(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "db": "ok"}


def test_health_reports_an_unreachable_database(client: TestClient, tmp_path: Path) -> None:
    # A corrupt database file: every connection fails when it sets its pragmas.
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not an SQLite database" * 100)
    broken = make_engine(f"sqlite:///{corrupt}")
    app = client.app
    good = app.state.session_factory  # type: ignore[attr-defined]
    app.state.session_factory = make_session_factory(broken)  # type: ignore[attr-defined]
    try:
        response = client.get("/health")
    finally:
        app.state.session_factory = good  # type: ignore[attr-defined]
        broken.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "error" and response.json()["db"] != "ok"


def test_app_is_cheap_to_create_and_migrates_on_start(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "streetwatch.db"
    app = create_app(Settings(db_url=f"sqlite:///{db}", evidence_dir=tmp_path / "evidence",
                              auth_secret=TEST_AUTH_SECRET))
    assert not db.exists()  # nothing touched before startup
    with TestClient(app) as fresh:
        assert db.exists()
        assert fresh.get("/violations").status_code == 401  # migrated, but nobody may read yet
        admin = add_users_at(f"sqlite:///{db}", [UserSpec("admin", (Role.ADMIN,))])["admin"]
        assert fresh.get("/violations", headers=admin.headers()).json() == {"items": [], "next_cursor": None}
