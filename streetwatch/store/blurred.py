"""Blurred copies of evidence images: what leaves the system instead of the raw frame.

The raw evidence stays sealed (addressed and verified by its sha256, never altered). Its blurred
copy (faces and the text on vehicles, :mod:`streetwatch.vision.blur`) is derived on first use and
cached, content-addressed, beside the evidence:

    <evidence root>/derived/blur-v<BLUR_VERSION>/ab/cd/<raw sha256>-<blurred sha256>.jpg

so an export, an Open311 media fetch or a notice never blurs the same frame twice, a new blur
recipe (a new version) never serves an old copy, and a cached copy is checked against its own
hash before it is used (a damaged one is made again). The raw file is verified before it is
blurred, as it is before it is served.

:func:`blurred_evidence` is the one call everything that sends an image out uses (the API's
evidence route for roles without raw access, PDF notices).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.store.evidence import EvidenceBackend, EvidenceStore, encode_jpeg, sha256_hex
from streetwatch.store.models import Observation
from streetwatch.vision.blur import BLUR_VERSION, PLATE_BEARING_CLASSES, PersonalDataBlur
from streetwatch.vision.ocr import BoxXyxy

DERIVED_DIR: Final = "derived"
BLURRED_QUALITY: Final = 90


def blur_cache_dir(store: EvidenceStore) -> Path:
    """The folder of this blur version's cached copies."""
    return store.root / DERIVED_DIR / f"blur-v{BLUR_VERSION}"


@functools.lru_cache(maxsize=1)
def default_blur() -> PersonalDataBlur:
    """CenterFace, the OCR stage's text detector and the bundled detector for vehicles, built once per process."""
    from streetwatch.core.settings import DEFAULT_MODEL
    from streetwatch.vision.detector import OnnxConfig, build_detector

    return PersonalDataBlur(vehicles=build_detector(OnnxConfig(weights=DEFAULT_MODEL, intra_op_threads=1)))


def vehicle_boxes_on(session: Session, sha256: str) -> list[BoxXyxy]:
    """Vehicles the database knows on an evidence image: the boxes of plate-bearing observations on a
    frame, and the whole image for a vehicle's crop (width and height come from the evidence row)."""
    boxes: list[BoxXyxy] = []
    rows = session.execute(
        select(Observation.bbox, Observation.frame_sha256, Observation.crop_sha256)
        .where(Observation.class_name.in_(PLATE_BEARING_CLASSES))
        .where((Observation.frame_sha256 == sha256) | (Observation.crop_sha256 == sha256))
    )
    for bbox, frame_sha, crop_sha in rows:
        if frame_sha == sha256 and bbox and len(bbox) == 4:
            boxes.append((float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])))
        if crop_sha == sha256:
            boxes.append((0.0, 0.0, float("inf"), float("inf")))
    return boxes


def cached_blurred(store: EvidenceStore, sha256: str) -> bytes | None:
    """The cached blurred copy of an image, if there is one that still hashes to its name."""
    folder = blur_cache_dir(store) / sha256[:2] / sha256[2:4]
    for path in sorted(folder.glob(f"{sha256}-*.jpg")):
        data = path.read_bytes()
        if sha256_hex(data) == path.stem.split("-", 1)[1]:
            return data
        path.unlink(missing_ok=True)  # damaged: made again below
    return None


def blurred_evidence(store: EvidenceBackend, sha256: str, vehicle_boxes: Iterable[BoxXyxy] = (),
                     blur: PersonalDataBlur | None = None) -> bytes:
    """The JPEG bytes of an evidence image with faces and plates blurred, from the cache or made now.

    Args:
        store: The evidence store. Blurred copies are cached in a local folder's ``derived/``; from
            object storage they are made on each call (no cache).
        sha256: The raw image's hash.
        vehicle_boxes: Vehicles known on the image (:func:`vehicle_boxes_on`); the detector's are added.
        blur: The blur to use (default: :func:`default_blur`).

    Raises:
        FileNotFoundError: No raw image has this hash.
        EvidenceMismatchError: The raw file no longer hashes to ``sha256`` (nothing is blurred from it).
    """
    store.where(sha256)  # validates the hash before it becomes a path or a key
    local = store if isinstance(store, EvidenceStore) else None
    cached = cached_blurred(local, sha256) if local is not None else None
    if cached is not None:
        return cached
    import cv2

    raw = store.read_verified(sha256)
    decoded = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError(f"evidence {sha256} is not an image OpenCV can decode")
    image = np.asarray(decoded, dtype=np.uint8)
    height, width = image.shape[:2]
    boxes = [(max(b[0], 0.0), max(b[1], 0.0), min(b[2], width), min(b[3], height)) for b in vehicle_boxes]
    report = (blur or default_blur())(image, boxes)
    encoded = encode_jpeg(report.image, BLURRED_QUALITY)
    if local is not None:
        _write_atomic(blur_cache_dir(local) / sha256[:2] / sha256[2:4] / f"{sha256}-{encoded.sha256}.jpg",
                      encoded.data)
    return encoded.data


def drop_blurred(store: EvidenceStore, sha256: str) -> int:
    """Remove every cached blurred copy of an image (all blur versions); how many files went."""
    removed = 0
    for path in (store.root / DERIVED_DIR).glob(f"blur-v*/{sha256[:2]}/{sha256[2:4]}/{sha256}-*.jpg"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".blur.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
