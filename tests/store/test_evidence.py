"""The content-addressed evidence store and JPEG encoding."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from streetwatch.store.evidence import EvidenceIntegrityError, EvidenceStore, encode_jpeg
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


def test_put_writes_a_content_addressed_file(tmp_path: Path) -> None:
    store, image = EvidenceStore(tmp_path), jpeg(1)

    path = store.put(image)

    sha = image.sha256
    assert path == tmp_path / sha[:2] / sha[2:4] / f"{sha}.jpg" == store.path_for(sha)
    assert path.read_bytes() == image.data == store.open(sha)
    assert store.exists(sha)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_put_is_idempotent(tmp_path: Path) -> None:
    store, image = EvidenceStore(tmp_path), jpeg(2)
    first = store.put(image)
    stamp = first.stat().st_mtime_ns

    assert store.put(image) == first
    assert first.stat().st_mtime_ns == stamp  # not rewritten


def test_put_repairs_a_truncated_file(tmp_path: Path) -> None:
    store, image = EvidenceStore(tmp_path), jpeg(3)
    store.put(image).write_bytes(image.data[:10])

    store.put(image)

    assert store.open(image.sha256) == image.data


def test_concurrent_puts_of_one_image(tmp_path: Path) -> None:
    store, image = EvidenceStore(tmp_path), jpeg(4, 200, 200)
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
    assert store.open(image.sha256) == image.data
    assert [p.name for p in store.path_for(image.sha256).parent.iterdir()] == [f"{image.sha256}.jpg"]


def test_put_refuses_bytes_that_do_not_match_their_hash(tmp_path: Path) -> None:
    store, image = EvidenceStore(tmp_path), jpeg(5)
    forged = replace(image, data=image.data + b"\x00")

    with pytest.raises(EvidenceIntegrityError, match=f"claims sha256 {image.sha256}"):
        store.put(forged)

    assert not store.exists(image.sha256)
    assert list(tmp_path.iterdir()) == []


def test_put_refuses_other_media_types(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keeps image/jpeg only, got 'image/png'"):
        EvidenceStore(tmp_path).put(replace(jpeg(6), media_type="image/png"))


@pytest.mark.parametrize("sha", ["ab" * 31, "AB" * 32, "g" * 64, "../" * 21 + "a", "", "a" * 65])
def test_path_for_refuses_anything_but_a_sha256(tmp_path: Path, sha: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        EvidenceStore(tmp_path).path_for(sha)


def test_open_of_a_missing_image(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    missing = "0" * 64

    assert not store.exists(missing)
    with pytest.raises(FileNotFoundError, match=f"no evidence image {missing}"):
        store.open(missing)
