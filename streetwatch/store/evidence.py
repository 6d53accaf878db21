"""Evidence images, addressed by the sha256 of their bytes: on disk, or in S3-compatible storage.

A file's name is its hash, so writing the same image twice is harmless, two workers can
write it at the same time, and a file never changes once written. Files are written to a
temporary name in the target folder and renamed into place, so a reader never sees half
a file, even when a worker dies mid-write.

A file that does change afterwards (a flipped bit on disk, someone editing an image) no
longer hashes to its name, and everything that relies on it checks: :meth:`EvidenceStore.read_verified`
(the API serves only verified bytes), :meth:`EvidenceStore.check` (dispatch refuses a case whose
evidence fails), :meth:`EvidenceStore.put` (writing an image again repairs a damaged copy) and
:meth:`EvidenceStore.scan` (``streetwatch audit verify`` hashes every file).

Two backends keep the same names and the same checks behind :class:`EvidenceBackend`: this
module's :class:`EvidenceStore` (a local folder) and :class:`streetwatch.store.evidence_s3.S3EvidenceStore`
(a bucket, the same relative keys ``ab/cd/<sha256>.jpg`` under a prefix). Build one with
:func:`streetwatch.store.evidence_backends.open_evidence_store` (from a location) or
:func:`~streetwatch.store.evidence_backends.evidence_store_for` (from the settings): every caller does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from streetwatch.core.errors import ConflictError, ProcessingError
from streetwatch.core.types import EvidenceImage
from streetwatch.core.vocab import EvidenceFault

JPEG_MEDIA_TYPE = "image/jpeg"
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_HASH_CHUNK = 1 << 20
log = logging.getLogger(__name__)


class EvidenceIntegrityError(ProcessingError, ValueError):
    """The bytes of an evidence image do not hash to the sha256 it claims."""


class EvidenceMismatchError(ConflictError, ValueError):
    """A stored evidence file no longer hashes to its name: it was damaged or tampered with (HTTP 409).

    Attributes:
        sha256: The hash the file is stored (and recorded) under.
        actual_sha256: What its bytes hash to now.
        path: The file (a path, or an ``s3://`` URL).
    """

    def __init__(self, sha256: str, actual_sha256: str, path: Path | str) -> None:
        self.sha256, self.actual_sha256, self.path = sha256, actual_sha256, path
        super().__init__(f"evidence {sha256} failed its integrity check: the stored file now hashes to "
                         f"{actual_sha256} (damaged or tampered with); it cannot be used as evidence")


@dataclass(frozen=True, slots=True)
class EvidenceProblem:
    """One evidence file that cannot be stood behind.

    Attributes:
        sha256: The hash it is recorded (or named) under.
        fault: ``missing`` or ``mismatch`` (see :class:`~streetwatch.core.vocab.EvidenceFault`).
        path: Where the file is (or should be): a path, or an ``s3://`` URL.
        actual_sha256: What the file hashes to, for a mismatch.
    """

    sha256: str
    fault: EvidenceFault
    path: Path | str
    actual_sha256: str | None = None

    def describe(self) -> str:
        """The problem in words, e.g. ``"evidence 3f2a... is missing (looked for /ev/3f/2a/...jpg)"``."""
        if self.fault == EvidenceFault.MISSING:
            return f"evidence {self.sha256} is missing (looked for {self.path})"
        return f"evidence {self.sha256} is damaged or tampered with: {self.path} hashes to {self.actual_sha256}"


def file_sha256(path: Path) -> str:
    """The lowercase hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
    import cv2  # here, not at import: the API and the checks read evidence without OpenCV

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


def evidence_key(sha256: str) -> str:
    """The relative name of an image: ``ab/cd/<sha256>.jpg``, the same in every backend.

    Raises:
        ValueError: If ``sha256`` is not 64 lowercase hex digits (it is used in a path or key).
    """
    if not _SHA256_PATTERN.fullmatch(sha256):
        raise ValueError(f"expected a sha256 as 64 lowercase hex digits, got {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def is_evidence_key(key: str) -> bool:
    """Whether ``key`` is an image's own relative name (not a temporary file, not anything else)."""
    name = key.rsplit("/", 1)[-1].removesuffix(".jpg")
    return bool(_SHA256_PATTERN.fullmatch(name)) and key == evidence_key(name)


class EvidenceBackend(Protocol):
    """Where evidence images are kept, content-addressed: what serving, dispatch and the audit use.

    ``location`` names the store in messages (a folder, or ``s3://bucket/prefix``); :meth:`where`
    gives one image's place, whether or not it exists. The methods mean what :class:`EvidenceStore`'s do.
    """

    @property
    def location(self) -> str: ...

    def where(self, sha256: str) -> Path | str: ...

    def exists(self, sha256: str) -> bool: ...

    def put(self, image: EvidenceImage) -> Path | str: ...

    def open(self, sha256: str) -> bytes: ...

    def read_verified(self, sha256: str) -> bytes: ...

    def check(self, sha256: str) -> EvidenceProblem | None: ...

    def files(self) -> Iterator[tuple[str, Path | str]]: ...

    def scan(self, recorded: Iterable[str]) -> list[EvidenceProblem]: ...


def check_image_data(image: EvidenceImage) -> None:
    """Refuse an image a store must not keep: not a JPEG, or bytes that do not hash to its sha256.

    Raises:
        EvidenceIntegrityError: If the bytes do not hash to ``image.sha256``.
        ValueError: If the image is not a JPEG.
    """
    if image.media_type != JPEG_MEDIA_TYPE:
        raise ValueError(f"the evidence store keeps {JPEG_MEDIA_TYPE} only, got {image.media_type!r}")
    actual = sha256_hex(image.data)
    if actual != image.sha256:
        raise EvidenceIntegrityError(
            f"evidence bytes hash to {actual}, but the image claims sha256 {image.sha256}"
        )


def scan_store(store: EvidenceBackend, recorded: Iterable[str],
               hash_of: Callable[[Path | str], str]) -> list[EvidenceProblem]:
    """Check every recorded image and every stored file of ``store`` (see :meth:`EvidenceStore.scan`).

    Args:
        store: The backend.
        recorded: The sha256 of every evidence row in the database.
        hash_of: What a stored file (as :meth:`EvidenceBackend.files` names it) hashes to.
    """
    problems: dict[str, EvidenceProblem] = {}
    stored: set[str] = set()
    for name, where in store.files():
        stored.add(name)
        actual = hash_of(where)
        if actual != name:
            problems[name] = EvidenceProblem(name, EvidenceFault.MISMATCH, where, actual)
    for sha in recorded:
        if sha not in stored and sha not in problems:
            problems[sha] = EvidenceProblem(sha, EvidenceFault.MISSING, store.where(sha))
    return [problems[sha] for sha in sorted(problems)]


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
        return self.root / evidence_key(sha256)

    @property
    def location(self) -> str:
        """The folder, for messages."""
        return str(self.root)

    def where(self, sha256: str) -> Path:
        """Same as :meth:`path_for` (the :class:`EvidenceBackend` name)."""
        return self.path_for(sha256)

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
        check_image_data(image)
        target = self.path_for(image.sha256)
        # A file under its own hash that still hashes to it is the same file: content addressing.
        # Its hash, not just its size, is checked, so writing an image again repairs a damaged copy.
        if target.is_file():
            found = file_sha256(target)
            if found == image.sha256:
                return target
            log.warning("evidence %s was damaged or tampered with (its file hashed to %s); rewriting it",
                        image.sha256, found)
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

    def read_verified(self, sha256: str) -> bytes:
        """The bytes of a stored image, after checking that they still hash to ``sha256``.

        Raises:
            FileNotFoundError: If no image with this sha256 is stored.
            EvidenceMismatchError: If the file's bytes hash to something else.
        """
        data = self.open(sha256)
        actual = sha256_hex(data)
        if actual != sha256:
            raise EvidenceMismatchError(sha256, actual, self.path_for(sha256))
        return data

    def check(self, sha256: str) -> EvidenceProblem | None:
        """What is wrong with the stored image of this sha256, or None when it is present and intact."""
        path = self.path_for(sha256)
        try:
            actual = file_sha256(path)
        except FileNotFoundError:
            return EvidenceProblem(sha256, EvidenceFault.MISSING, path)
        if actual != sha256:
            return EvidenceProblem(sha256, EvidenceFault.MISMATCH, path, actual)
        return None

    def files(self) -> Iterator[tuple[str, Path | str]]:
        """Every evidence file under the root as ``(name's sha256, path)``, in sorted order.

        Only files at the place their name gives (``ab/cd/abcd....jpg``) are evidence; temporary
        files of writes in progress (``.*.tmp``) and anything else are left out.
        """
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/??/*.jpg")):
            if _SHA256_PATTERN.fullmatch(path.stem) and path == self.path_for(path.stem):
                yield path.stem, path

    def scan(self, recorded: Iterable[str]) -> list[EvidenceProblem]:
        """Check every recorded image and every file on disk.

        Args:
            recorded: The sha256 of every evidence row in the database.

        Returns:
            The problems, sorted by sha256: recorded images without a file (``missing``), and any
            file, recorded or not, whose bytes do not hash to its name (``mismatch``).
        """
        return scan_store(self, recorded, lambda where: file_sha256(Path(where)))
