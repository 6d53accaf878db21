"""GET /observations, GET /videos and GET /videos/{id} over HTTP (TestClient)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.cases import OBSERVATION_CASES, FilterCase, expected_ids
from tests.api.seed import SeedData
from tests.api.test_violations_api import walk


@pytest.mark.parametrize("limit", [1, 6, 500])
def test_pages_walk_every_observation_once(client: TestClient, seed: SeedData, limit: int) -> None:
    items = walk(client, "/observations", limit)
    assert [o["id"] for o in items] == sorted((o.id for o in seed.observations), reverse=True)
    by_id = {o.id: o for o in seed.observations}
    for item in items:
        want = by_id[item["id"]]
        assert (item["class_name"], item["location_status"], item["lat"], item["lon"], item["video_id"]) == (
            want.class_name,
            want.location_status,
            want.lat,
            want.lon,
            want.video_id,
        )
        assert item["violation_id"] == want.violation_id
        assert item["frame_url"] == f"/evidence/{want.frame_sha256}"


@pytest.mark.parametrize("case", OBSERVATION_CASES, ids=lambda c: c.id)
def test_observation_filters(client: TestClient, seed: SeedData, case: FilterCase) -> None:
    ids = [item["id"] for item in walk(client, "/observations", 5, **case.params)]
    assert ids == expected_ids(seed.observations, case)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"location_status": "gps"}, 422),
        ({"video_id": "x"}, 422),
        ({"cursor": "nope"}, 400),
        ({"family": "graffiti"}, 422),
        ({"status": "pending"}, 422),
    ],
)
def test_bad_observation_requests(client: TestClient, params: dict[str, str], status: int) -> None:
    assert client.get("/observations", params=params).status_code == status


@pytest.mark.parametrize("status", [None, "processing", "done", "failed"])
def test_videos_with_status_and_counts(client: TestClient, seed: SeedData, status: str | None) -> None:
    items = walk(client, "/videos", 2, **({"status": status} if status else {}))
    expected = [v for v in seed.videos if status is None or v.status == status]
    assert [v["id"] for v in items] == sorted((v.id for v in expected), reverse=True)
    for item in items:
        assert item["observations"] == sum(o.video_id == item["id"] for o in seed.observations)
        assert item["violations"] == sum(v.video_id == item["id"] for v in seed.violations)
        want = next(v for v in seed.videos if v.id == item["id"])
        assert (item["status"], item["error"], item["sha256"]) == (want.status, want.error, want.sha256)


def test_one_video(client: TestClient, seed: SeedData) -> None:
    failed = next(v for v in seed.videos if v.status == "failed")
    body = client.get(f"/videos/{failed.id}").json()
    assert (body["id"], body["status"], body["error"]) == (failed.id, "failed", failed.error)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/videos/999", 404), ("/videos/0", 422), ("/videos?status=pending", 422), ("/videos?cursor=%%", 400)],
)
def test_video_errors(client: TestClient, path: str, status: int) -> None:
    assert client.get(path).status_code == status
