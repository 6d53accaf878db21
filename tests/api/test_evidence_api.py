"""GET /evidence/{sha256}: bytes, caching headers, and paths that must never escape the folder."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from streetwatch.store.evidence import EvidenceStore
from tests.api.seed import SeedData

SECRET = b"not evidence: must never be served"


@pytest.mark.parametrize("kind", ["frame", "crop"])
@pytest.mark.parametrize("index", [0, 5, -1])
def test_serves_the_stored_jpeg(client: TestClient, seed: SeedData, kind: str, index: int) -> None:
    obs = seed.observations[index]
    sha = obs.frame_sha256 if kind == "frame" else obs.crop_sha256
    response = client.get(f"/evidence/{sha}")
    assert response.status_code == 200
    assert response.content == seed.evidence_bytes(sha)
    assert hashlib.sha256(response.content).hexdigest() == sha
    assert response.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"] == f'"{sha}"'
    assert "immutable" in response.headers["cache-control"]


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [("{etag}", 304), ("W/{etag}", 304), ('"other", {etag}', 304), ("*", 304), ('"other"', 200)],
)
def test_conditional_get(client: TestClient, seed: SeedData, if_none_match: str, status: int) -> None:
    sha = seed.observations[1].frame_sha256
    header = if_none_match.format(etag=f'"{sha}"')
    response = client.get(f"/evidence/{sha}", headers={"If-None-Match": header})
    assert response.status_code == status
    assert response.headers["etag"] == f'"{sha}"'
    assert (response.content == b"") == (status == 304)


def test_unknown_hash_is_404(client: TestClient) -> None:
    response = client.get(f"/evidence/{'ab' * 32}")
    assert response.status_code == 404 and "not found" in response.json()["detail"]


def test_recorded_but_missing_file_is_404(client: TestClient, seed: SeedData) -> None:
    sha = seed.observations[2].crop_sha256
    EvidenceStore(seed.evidence_dir).path_for(sha).unlink()
    response = client.get(f"/evidence/{sha}")
    assert response.status_code == 404 and "missing" in response.json()["detail"]


def _traversals(seed: SeedData) -> list[tuple[str, int]]:
    sha = seed.observations[0].frame_sha256
    return [
        ("/evidence/abc", 422),  # short
        (f"/evidence/{sha[:-1]}", 422),  # 63 digits
        (f"/evidence/{sha}0", 422),  # 65 digits
        (f"/evidence/{sha.upper()}", 422),  # not lowercase
        (f"/evidence/{sha}.jpg", 422),
        (f"/evidence/{'g' * 64}", 422),  # not hex
        ("/evidence/..%2f..%2fsecret.txt", 404),  # decoded to slashes: no route
        ("/evidence/..%2F..%2Fsecret.txt", 404),
        ("/evidence/%2e%2e%2f%2e%2e%2fsecret.txt", 404),
        ("/evidence/..%5c..%5csecret.txt", 422),  # backslashes are one segment
        (f"/evidence/{sha[:2]}%2f{sha[2:4]}%2f{sha}.jpg", 404),  # the on-disk layout, smuggled in
        ("/evidence/%00" + "a" * 63, 422),
    ]


@pytest.mark.parametrize("case_index", range(12))
def test_malformed_hashes_and_traversal_are_rejected(
    client: TestClient, seed: SeedData, case_index: int
) -> None:
    (seed.evidence_dir.parent / "secret.txt").write_bytes(SECRET)
    path, status = _traversals(seed)[case_index]
    response = client.get(path)
    assert response.status_code == status, (path, response.text)
    assert SECRET not in response.content
    assert response.headers["content-type"] == "application/json"
