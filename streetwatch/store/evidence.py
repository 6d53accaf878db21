"""Evidence images on disk, addressed by the sha256 of their bytes.

A file's name is its hash, so writing the same image twice is harmless, two workers can
write it at the same time, and a file never changes once written. Files are written to a
temporary name in the target folder and renamed into place, so a reader never sees half
a file, even when a worker dies mid-write.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from streetwatch.core.errors import ProcessingError
from streetwatch.core.types import EvidenceImage

JPEG_MEDIA_TYPE = "image/jpeg"
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


class EvidenceIntegrityError(ProcessingError, ValueError):
    """The bytes of an evidence image do not hash to the sha256 it claims."""


def sha256_hex(data: bytes) -> str:
    """The lowercase hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def encode_jpeg(image: npt.NDArray[np.uint8], quality: int = 90) -> EvidenceImage:
    """Encode a BGR (or grey) image as JPEG evidence.

    Args:
        image: ``uint8`` array shaped ``(H, W, 3)`` in BGR order, or ``(H, W)`` grey.
        quality: JPEG quality, 1 to 100.

    Returns:
        The encoded image with its sha256, size and dimensions.

    Raises:
        ValueError: If the array is not an 8-bit image, the quality is out of range, or
            OpenCV cannot encode it.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be within [1, 100], got {quality}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape[:2]:
        raise ValueError(f"expected an image shaped (H, W, 3) or (H, W) with H, W > 0, got {image.shape}")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode an image shaped {image.shape} as JPEG")
    data = buffer.tobytes()
    height, width = image.shape[:2]
    return EvidenceImage(
        sha256=sha256_hex(data), data=data, media_type=JPEG_MEDIA_TYPE, width=int(width), height=int(height)
    )


class EvidenceStore:
    """A folder of evidence JPEGs laid out as ``root/ab/cd/<sha256>.jpg``.

    Two levels of two hex digits keep any one folder to a few thousand files even with
    tens of millions of images.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the image with this sha256 lives (whether or not it exists yet).

        Raises:
            ValueError: If ``sha256`` is not 64 lowercase hex digits (it is used in a path).
        """
        if not _SHA256_PATTERN.fullmatch(sha256):
            raise ValueError(f"expected a sha256 as 64 lowercase hex digits, got {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"

    def exists(self, sha256: str) -> bool:
        """Whether the image with this sha256 is stored."""
        return self.path_for(sha256).is_file()

    def put(self, image: EvidenceImage) -> Path:
        """Store an image, atomically and idempotently.

        Args:
            image: A JPEG evidence image whose ``sha256`` is the hash of its ``data``.

        Returns:
            The path of the stored file.

        Raises:
            EvidenceIntegrityError: If the bytes do not hash to ``image.sha256``.
            ValueError: If the image is not a JPEG.
        """
        if image.media_type != JPEG_MEDIA_TYPE:
            raise ValueError(f"the evidence store keeps {JPEG_MEDIA_TYPE} only, got {image.media_type!r}")
        target = self.path_for(image.sha256)
        actual = sha256_hex(image.data)
        if actual != image.sha256:
            raise EvidenceIntegrityError(
                f"evidence bytes hash to {actual}, but the image claims sha256 {image.sha256}"
            )
        # A file of the right size under its own hash is the same file: content addressing.
        if target.is_file() and target.stat().st_size == len(image.data):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{image.sha256[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(image.data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; the API may run as another user
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target

    def open(self, sha256: str) -> bytes:
        """The bytes of a stored image.

        Raises:
            FileNotFoundError: If no image with this sha256 is stored.
        """
        path = self.path_for(sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no evidence image {sha256} under {self.root} (looked for {path})"
            ) from None
