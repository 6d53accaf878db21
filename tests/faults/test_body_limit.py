"""Oversized request bodies are refused with 413 before they are parsed, at a configurable limit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from streetwatch.api.app import create_app
from streetwatch.core.settings import Settings
from tests.api.auth_support import TestUser

TEN_MB_OF_IDS = json.dumps({"violation_ids": [1] * (5 * 1024 * 1024)}).encode()  # 15 MB, five million ids


@pytest.fixture
def small_limit(settings: Settings, users: dict[str, TestUser]) -> Iterator[TestClient]:
    """A reviewer's client on an app whose body limit is 4 KiB."""
    limited = settings.model_copy(update={"api_max_body_bytes": 4096})
    with TestClient(create_app(limited)) as client:
        client.headers.update(users["reviewer"].headers())
        yield client


def test_a_ten_megabyte_id_list_is_refused_cheaply(client: TestClient) -> None:
    started = time.perf_counter()
    response = client.post("/review/release", content=TEN_MB_OF_IDS, headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text[:300]
    detail = response.json()["detail"]
    assert f"has {len(TEN_MB_OF_IDS)} bytes" in detail and "1048576" in detail
    assert "STREETWATCH_API_MAX_BODY_BYTES" in detail
    assert elapsed < 1.0, f"took {elapsed:.2f} s: the body was read or parsed"


def test_a_chunked_body_over_the_limit_is_refused(small_limit: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the middleware counts
        yield b'{"violation_ids": ['
        for _ in range(3000):
            yield b"1,"
        yield b"1]}"

    response = small_limit.post("/review/release", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text[:300]
    assert "is larger than the limit of 4096 bytes" in response.json()["detail"]


def test_a_chunked_body_under_the_limit_is_handed_on_whole(small_limit: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"violation_ids": '
        yield b"[1, 2, 3]}"

    response = small_limit.post("/review/release", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"released": 0}


@pytest.mark.parametrize(("note_chars", "status"), [(1000, 422), (5000, 413)])
def test_the_limit_is_configurable(small_limit: TestClient, note_chars: int, status: int) -> None:
    # Under the limit the decision is parsed (and refused for want of a lease's violation: 422 or 404
    # say the body was read); over it, 413 before anything is read.
    response = small_limit.post("/violations/1/decision", json={"action": "reject", "reason": "x" * note_chars,
                                                                "reason_code": "nonsense"})
    assert response.status_code == status, response.text[:300]


def test_a_form_over_the_limit_is_refused(small_limit: TestClient) -> None:
    response = small_limit.post("/open311/v2/requests.json", data={"description": "x" * 5000, "lat": "1"})
    assert response.status_code == 413, response.text[:300]
