"""Recognise, fingerprint and decode one photo, with errors as values (as :mod:`.ingest` for videos).

Inspectors and citizens (the 12345 hotline, apps) send geotagged photos: JPEG, HEIC from iPhones,
now and then PNG. A photo is a one-frame footage item: it gets the same sha256 identity, claim and
commit as a video. :func:`is_photo` tells the two apart (by extension, and by content for files of
no known extension); :func:`probe_photo` returns a :class:`PhotoInfo` with the upright picture and
its EXIF, or an :class:`~streetwatch.pipeline.ingest.IngestError` saying what is wrong.

HEIC is read through pillow-heif, whose opener is registered with Pillow the first time it is
needed (nothing heavy at import time).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from streetwatch.pipeline.gps.media import VIDEO_SUFFIXES
from streetwatch.pipeline.ingest import IngestError, read_footage_file, sniff_signature
from streetwatch.pipeline.photo_exif import PhotoExif, read_exif

logger = logging.getLogger(__name__)

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".heic", ".heif"})
# ISO-BMFF brands of HEIF still images (HEIC is HEVC-coded HEIF).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
# Pillow's guard against decompression bombs is kept; this is the largest picture we decode.
MAX_PIXELS = 120_000_000
# A phone's 12-50 MP picture is analysed at most this size (the longer side), as 1080p video is:
# the detector sees 640 px anyway, and the evidence JPEGs stay the size of a video frame's.
ANALYSIS_MAX_SIDE = 1920

_heif_registered = False


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    """A usable photo.

    Attributes:
        path: The file.
        sha256: Hex digest of the whole file; its identity, as a video's.
        size_bytes: File size.
        format: ``jpeg``, ``png`` or ``heic``.
        width: Width upright (after the EXIF orientation is applied), as stored in the file.
        height: Height upright.
        rotation: Clockwise degrees the EXIF orientation turned the stored picture (0/90/180/270).
        image: HxWx3 uint8 BGR pixels, upright, the longer side at most ``ANALYSIS_MAX_SIDE``.
        exif: Position, direction, time and field of view from its EXIF.
    """

    path: Path
    sha256: str
    size_bytes: int
    format: str
    width: int
    height: int
    rotation: int
    image: npt.NDArray[np.uint8]
    exif: PhotoExif


def photo_kind(head: bytes) -> str | None:
    """The photo format a file's first bytes show (``jpeg``, ``png``, ``heic``), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[4:8] == b"ftyp" and (head[8:12] in HEIF_BRANDS):
        return "heic"
    return None


def is_photo(path: Path) -> bool:
    """Whether ``path`` is to be processed as a photo: a photo extension, or (for a file of no known
    video or photo extension) a photo's signature. A file named as a video stays a video, so an
    image saved as ``.mp4`` is reported as not a video."""
    suffix = path.suffix.lower()
    if suffix in PHOTO_SUFFIXES:
        return True
    if suffix in VIDEO_SUFFIXES:
        return False
    try:
        with open(path, "rb") as handle:
            return photo_kind(handle.read(32)) is not None
    except OSError:
        return False


def register_heif_opener() -> None:
    """Let Pillow open HEIC/HEIF (pillow-heif), once per process."""
    global _heif_registered
    if not _heif_registered:
        from pillow_heif import register_heif_opener as register

        register()
        _heif_registered = True


def probe_photo(path: str | Path, local_tz: dt.tzinfo) -> PhotoInfo | IngestError:
    """Fingerprint, decode and read the EXIF of one photo.

    Args:
        path: The photo.
        local_tz: The zone of an EXIF time written without an offset.

    Returns:
        A :class:`PhotoInfo`, or an :class:`IngestError` (``not_found``, ``unreadable``, ``empty``,
        ``undecodable``) saying what is wrong; never raises for a bad file.
    """
    path = Path(path)
    read = read_footage_file(path, empty="zero bytes: nothing was written to this file")
    if isinstance(read, IngestError):
        return read
    sha256, size, head = read
    kind = photo_kind(head)
    if kind is None:
        found = sniff_signature(head)
        return IngestError(path, "undecodable", f"not a photo (JPEG, HEIC or PNG): looks like {found.name}")
    if kind == "heic":
        register_heif_opener()
    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                return IngestError(path, "undecodable", f"a {opened.width}x{opened.height} picture is larger "
                                                        f"than the {MAX_PIXELS // 1_000_000} megapixels decoded")
            exif = read_exif(opened, local_tz)
            orientation = opened.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(opened).convert("RGB")
            width, height = upright.size
            if max(width, height) > ANALYSIS_MAX_SIDE:
                upright.thumbnail((ANALYSIS_MAX_SIDE, ANALYSIS_MAX_SIDE), Image.Resampling.LANCZOS)
            rgb = np.asarray(upright, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return IngestError(path, "undecodable", f"the {kind.upper()} picture cannot be decoded: {exc}")
    image = np.ascontiguousarray(rgb[:, :, ::-1])   # RGB -> BGR, as decoded video frames
    return PhotoInfo(path=path, sha256=sha256, size_bytes=size, format=kind, width=width, height=height,
                     rotation=_ROTATION.get(int(orientation) if isinstance(orientation, int) else 1, 0),
                     image=image, exif=exif)


# EXIF orientation -> the clockwise turn that shows the picture upright (mirrored ones as their turn).
_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}

