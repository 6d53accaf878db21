"""Request models reject unknown fields: nobody can smuggle ``status``, ``sha256`` or an identity in.

Every request body in the OpenAPI document must forbid additional properties (new endpoints
included: the test walks the document), and the decision endpoint is attacked field by field.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.auth_support import TestUser
from tests.api.seed import SeedData

# Bodies allowed to carry fields they do not name, and why.
EXTRA_FIELDS_ALLOWED = {
    ("/auth/token", "post"): "the OAuth2 password form: its fields are fixed by the standard and "
                             "anything else in the form is never read",
    ("/open311/v2/requests.{fmt}", "post"): "the GeoReport v2 form: the spec lets a 311 system send "
                                            "attribute[<code>] fields of any name, kept as the request's attributes",
}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _object_schemas(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a body may be (one, or each member of a union)."""
    schema = _resolve(spec, schema)
    members = schema.get("oneOf") or schema.get("anyOf")
    if members:
        return [s for m in members for s in _object_schemas(spec, m)]
    return [schema] if schema.get("type", "object") == "object" else []


def test_every_request_body_forbids_unknown_fields(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    bodies = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if body is None or (path, method) in EXTRA_FIELDS_ALLOWED:
                continue
            for media_type, content in body["content"].items():
                for schema in _object_schemas(spec, content["schema"]):
                    bodies += 1
                    assert schema.get("additionalProperties") is False, (
                        f"{method.upper()} {path} ({media_type}): request model {schema.get('title')} must "
                        "forbid unknown fields (model_config extra='forbid')"
                    )
    assert bodies >= 1  # the decision body at least: the test cannot pass by finding nothing


SMUGGLED: list[dict[str, Any]] = [
    {"status": "approved"},
    {"sha256": "0" * 64},
    {"id": 1},
    {"case_id": 1},
    {"family": "ads"},
    {"decisions": []},
    {"reviewer_id": 1},
    {"roles": ["admin"]},
]


@pytest.mark.parametrize("extra", SMUGGLED, ids=[next(iter(e)) for e in SMUGGLED])
@pytest.mark.parametrize("action", [{"action": "approve"}, {"action": "reject", "reason": "unclear image"}])
def test_a_reviewer_cannot_smuggle_fields_into_a_decision(
    client: TestClient, users: dict[str, TestUser], seed: SeedData, extra: dict[str, Any], action: dict[str, str]
) -> None:
    target = next(v for v in seed.violations if v.status == "pending")
    headers = users["reviewer"].headers()
    before = client.get(f"/violations/{target.id}", headers=headers).json()
    response = client.post(f"/violations/{target.id}/decision", json={**action, **extra}, headers=headers)
    assert response.status_code == 422, response.text
    field = next(iter(extra))
    assert any(err["loc"][-1] == field and err["type"] == "extra_forbidden" for err in response.json()["detail"])
    assert client.get(f"/violations/{target.id}", headers=headers).json() == before


@pytest.mark.parametrize(
    ("path", "param"),
    [("/violations", "sha256"), ("/violations", "unit"), ("/cases", "unit_scope"), ("/observations", "status"),
     ("/videos", "family")],
)
def test_unknown_query_parameters_are_rejected(client: TestClient, path: str, param: str) -> None:
    # A misspelt or invented filter would otherwise silently list everything.
    response = client.get(path, params={param: "x"})
    assert response.status_code == 422, response.text
    assert any(err["loc"][-1] == param for err in response.json()["detail"])
