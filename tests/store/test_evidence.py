"""The content-addressed evidence store and JPEG encoding.

The store's cases run against both backends (``store``): the local folder and S3 (a real
S3-compatible server, moto's, on 127.0.0.1; see ``tests/s3_fixtures.py``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from streetwatch.store.evidence import (
    EvidenceBackend,
    EvidenceIntegrityError,
    EvidenceMismatchError,
    EvidenceStore,
    encode_jpeg,
)
from streetwatch.store.evidence_backends import open_evidence_store
from streetwatch.store.evidence_s3 import S3ConfigError, S3EvidenceStore, parse_s3_location
from tests.s3_fixtures import S3Server
from tests.store.builders import jpeg


@pytest.mark.parametrize(("shape", "quality"), [((24, 32, 3), 90), ((17, 5, 3), 1), ((40, 30), 100)])
def test_encode_jpeg_round_trips(shape: tuple[int, ...], quality: int) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)

    image = encode_jpeg(pixels, quality=quality)

    assert image.sha256 == hashlib.sha256(image.data).hexdigest()
    assert image.data[:3] == b"\xff\xd8\xff"  # JPEG start-of-image marker
    assert (image.height, image.width, image.media_type) == (shape[0], shape[1], "image/jpeg")
    decoded = cv2.imdecode(np.frombuffer(image.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.shape[:2] == shape[:2]


@pytest.mark.parametrize(("pixels", "quality", "message"), [
    (np.zeros((8, 8, 3), np.float32), 90, "expected a uint8 image, got dtype float32"),
    (np.zeros((8, 8, 4), np.uint8), 90, r"got \(8, 8, 4\)"),
    (np.zeros((0, 8, 3), np.uint8), 90, r"got \(0, 8, 3\)"),
    (np.zeros((8,), np.uint8), 90, r"got \(8,\)"),
    (np.zeros((8, 8, 3), np.uint8), 0, "quality must be within"),
    (np.zeros((8, 8, 3), np.uint8), 101, "quality must be within"),
])
def test_encode_jpeg_rejects(pixels: np.ndarray, quality: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_jpeg(pixels, quality=quality)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EvidenceBackend:
    """An empty evidence store: a folder, or a prefix of a fresh bucket on a real S3 server."""
    if request.param == "local":
        return open_evidence_store(tmp_path / "evidence")
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return open_evidence_store(f"s3://{bucket}/city/evidence", endpoint_url=server.endpoint_url)


def raw_write(store: EvidenceBackend, sha: str, data: bytes) -> None:
    """Put bytes under an image's name behind the store's back (damage, tampering)."""
    if isinstance(store, S3EvidenceStore):
        store.client.put_object(Bucket=store.bucket, Key=store.key_for(sha), Body=data)
    else:
        assert isinstance(store, EvidenceStore)
        store.path_for(sha).parent.mkdir(parents=True, exist_ok=True)
        store.path_for(sha).write_bytes(data)


def raw_names(store: EvidenceBackend) -> list[str]:
    """Every file or object name under the store, evidence or not."""
    if isinstance(store, S3EvidenceStore):
        listed: Any = store.client.list_objects_v2(Bucket=store.bucket)
        return sorted(item["Key"] for item in listed.get("Contents", ()))
    assert isinstance(store, EvidenceStore)
    root = store.root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def test_put_writes_a_content_addressed_file(store: EvidenceBackend) -> None:
    image = jpeg(1)

    where = store.put(image)

    sha = image.sha256
    assert where == store.where(sha)
    assert str(where).endswith(f"/{sha[:2]}/{sha[2:4]}/{sha}.jpg")
    assert store.open(sha) == image.data == store.read_verified(sha)
    assert store.exists(sha)
    assert store.check(sha) is None
    prefix = "city/evidence/" if isinstance(store, S3EvidenceStore) else ""
    assert raw_names(store) == [f"{prefix}{sha[:2]}/{sha[2:4]}/{sha}.jpg"]  # no temporary file left behind
    assert list(store.files()) == [(sha, where)]


def test_local_paths_are_unchanged(tmp_path: Path) -> None:
    store, image = EvidenceStore(tmp_path), jpeg(1)

    path = store.put(image)

    sha = image.sha256
    assert path == tmp_path / sha[:2] / sha[2:4] / f"{sha}.jpg" == store.path_for(sha)
    assert path.read_bytes() == image.data


def test_s3_keys_are_the_local_relative_paths(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    image = jpeg(1)
    local = EvidenceStore(tmp_path)
    remote = open_evidence_store(f"s3://{s3_bucket}", endpoint_url=s3_server.endpoint_url)

    local_path, url = local.put(image), remote.put(image)

    assert url == f"s3://{s3_bucket}/{local_path.relative_to(tmp_path)}"
    body = s3_server.client().get_object(Bucket=s3_bucket, Key=str(local_path.relative_to(tmp_path)))["Body"]
    assert hashlib.sha256(body.read()).hexdigest() == image.sha256


def test_put_is_idempotent(store: EvidenceBackend) -> None:
    image = jpeg(2)
    first = store.put(image)
    stamp = first.stat().st_mtime_ns if isinstance(first, Path) else None

    assert store.put(image) == first
    assert store.open(image.sha256) == image.data
    assert len(raw_names(store)) == 1
    if isinstance(first, Path):
        assert first.stat().st_mtime_ns == stamp  # not rewritten


def test_put_repairs_a_truncated_file(store: EvidenceBackend) -> None:
    image = jpeg(3)
    store.put(image)
    raw_write(store, image.sha256, image.data[:10])
    assert store.check(image.sha256) is not None

    store.put(image)

    assert store.open(image.sha256) == image.data
    assert store.check(image.sha256) is None


def test_concurrent_puts_of_one_image(store: EvidenceBackend) -> None:
    image = jpeg(4, 200, 200)
    barrier, errors = threading.Barrier(8), []

    def put() -> None:
        barrier.wait()
        try:
            store.put(image)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.read_verified(image.sha256) == image.data
    assert [name.rsplit("/", 1)[1] for name in raw_names(store)] == [f"{image.sha256}.jpg"]


def test_put_refuses_bytes_that_do_not_match_their_hash(store: EvidenceBackend) -> None:
    image = jpeg(5)
    forged = replace(image, data=image.data + b"\x00")

    with pytest.raises(EvidenceIntegrityError, match=f"claims sha256 {image.sha256}"):
        store.put(forged)

    assert not store.exists(image.sha256)
    assert raw_names(store) == []


def test_put_refuses_other_media_types(store: EvidenceBackend) -> None:
    with pytest.raises(ValueError, match="keeps image/jpeg only, got 'image/png'"):
        store.put(replace(jpeg(6), media_type="image/png"))


@pytest.mark.parametrize("sha", ["ab" * 31, "AB" * 32, "g" * 64, "../" * 21 + "a", "", "a" * 65])
def test_where_refuses_anything_but_a_sha256(store: EvidenceBackend, sha: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        store.where(sha)
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        store.open(sha)


def test_open_of_a_missing_image(store: EvidenceBackend) -> None:
    missing = "0" * 64

    assert not store.exists(missing)
    with pytest.raises(FileNotFoundError, match=f"no evidence image {missing}"):
        store.open(missing)
    problem = store.check(missing)
    assert problem is not None and problem.fault == "missing" and problem.path == store.where(missing)


def test_a_tampered_image_is_never_read_as_verified(store: EvidenceBackend) -> None:
    image, other = jpeg(7), jpeg(8)
    store.put(image)
    raw_write(store, image.sha256, other.data)  # a whole, valid JPEG, but not the one recorded

    assert store.open(image.sha256) == other.data  # unverified reads see it ...
    with pytest.raises(EvidenceMismatchError, match=f"now hashes to {other.sha256}") as raised:
        store.read_verified(image.sha256)  # ... verified ones refuse it
    assert raised.value.path == store.where(image.sha256)
    problem = store.check(image.sha256)
    assert problem is not None and (problem.fault, problem.actual_sha256) == ("mismatch", other.sha256)


def test_scan_finds_missing_and_tampered_images_and_skips_other_files(store: EvidenceBackend) -> None:
    intact, tampered, missing = jpeg(9), jpeg(10), jpeg(11)
    store.put(intact)
    store.put(tampered)
    raw_write(store, tampered.sha256, tampered.data[:-1])
    if isinstance(store, S3EvidenceStore):  # not evidence: a note beside it, an object outside the prefix
        store.client.put_object(Bucket=store.bucket, Key=store.prefix + "README.txt", Body=b"hello")
        store.client.put_object(Bucket=store.bucket, Key="elsewhere/" + intact.sha256 + ".jpg", Body=b"x")
    else:
        assert isinstance(store, EvidenceStore)
        (store.root / "README.txt").write_text("hello")

    problems = store.scan([intact.sha256, tampered.sha256, missing.sha256])

    assert sorted((p.sha256, p.fault) for p in problems) == sorted(
        [(tampered.sha256, "mismatch"), (missing.sha256, "missing")])
    assert {p.sha256: p.path for p in problems} == {tampered.sha256: store.where(tampered.sha256),
                                                    missing.sha256: store.where(missing.sha256)}
    assert [name for name, _ in store.files()] == sorted([intact.sha256, tampered.sha256])


@pytest.mark.parametrize(("location", "expected"), [
    ("s3://bucket", ("bucket", "")),
    ("s3://bucket/", ("bucket", "")),
    ("s3://bucket/a/b/", ("bucket", "a/b/")),
    ("s3://bucket/a", ("bucket", "a/")),
    ("s3:///prefix", S3ConfigError),
    ("/srv/evidence", S3ConfigError),
])
def test_parse_s3_location(location: str, expected: tuple[str, str] | type[Exception]) -> None:
    if isinstance(expected, tuple):
        assert parse_s3_location(location) == expected
    else:
        with pytest.raises(expected):
            parse_s3_location(location)


def test_the_evidence_setting_takes_an_s3_url_from_a_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from streetwatch.core.settings import Settings
    from streetwatch.store.evidence_backends import evidence_store_for

    # A command's --evidence is a Path: Path("s3://b/p") is "s3:/b/p", and still means the bucket.
    assert Settings(evidence_dir=Path("s3://city-bucket/evidence")).evidence_dir == "s3://city-bucket/evidence"
    monkeypatch.setenv("STREETWATCH_EVIDENCE_DIR", "s3://city-bucket/ev")
    monkeypatch.setenv("STREETWATCH_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    settings = Settings()
    store = evidence_store_for(settings)
    assert isinstance(store, S3EvidenceStore)
    assert (store.bucket, store.prefix, store.location) == ("city-bucket", "ev/", "s3://city-bucket/ev")
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert isinstance(evidence_store_for(Settings(evidence_dir=tmp_path)), EvidenceStore)
