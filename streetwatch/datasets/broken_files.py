"""The broken files a night of dashcam footage really contains, written on purpose for tests:
zero bytes, random bytes, an MP4 cut off before its ``moov`` box, a text file or a PNG with an
``.mp4`` name, an audio-only file, a file whose media payload is scrambled, a corrupt middle.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from streetwatch.datasets.synthetic import Image, checkerboard


def write_zero_byte(path: str | Path) -> Path:
    """An empty file, as left by a camera that lost power before writing anything."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_random_bytes(path: str | Path, n: int = 4096, seed: int = 0) -> Path:
    """``n`` seeded random bytes (no container signature)."""
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def write_truncated_mp4(src: str | Path, dst: str | Path, keep_fraction: float = 0.5) -> Path:
    """Copy an MP4/MOV and cut it so that its ``moov`` box is missing.

    PyAV/FFmpeg write ``moov`` after ``mdat`` (unless ``+faststart``), so cutting the tail
    loses it -- exactly what happens when a dashcam loses power mid-recording.

    Args:
        src: A complete MP4/MOV with ``moov`` after ``mdat``.
        dst: Output file.
        keep_fraction: Fraction of the file to keep (capped so ``moov`` is always cut).

    Returns:
        The path written.
    """
    data = Path(src).read_bytes()
    boxes = {box_type: offset for box_type, offset, _ in _top_level_boxes(data)}
    if "moov" not in boxes or "mdat" not in boxes:
        raise ValueError(f"{src}: expected top-level 'moov' and 'mdat' boxes, found {sorted(boxes)}")
    if boxes["moov"] < boxes["mdat"]:
        raise ValueError(f"{src}: 'moov' comes before 'mdat' (faststart); cutting the tail would keep it")
    cut = min(int(len(data) * keep_fraction), boxes["moov"])
    cut = max(cut, boxes["mdat"] + 16)  # keep the mdat header so the file still looks like an MP4
    dst = Path(dst)
    dst.write_bytes(data[:cut])
    return dst


def write_text_file_as_mp4(path: str | Path, text: str = "camera log\nno video here\n") -> Path:
    """A text file with a video's name."""
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


def write_image_as_video(path: str | Path, image: Image | None = None, ext: str = ".png") -> Path:
    """An encoded still image (PNG by default) under a video's name."""
    if image is None:
        image = checkerboard(64, 48)
    ok, encoded = cv2.imencode(ext, image)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {ext} image")
    path = Path(path)
    path.write_bytes(encoded.tobytes())
    return path


def write_audio_only(path: str | Path, seconds: float = 1.0, sample_rate: int = 16_000) -> Path:
    """A real MP4 (or other container) holding one AAC audio track and no video."""
    path = Path(path)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        chunk = 1024
        for start in range(0, len(samples), chunk):
            block = samples[start : start + chunk].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_scrambled_payload(src: str | Path, dst: str | Path, seed: int = 0, fill: str = "random") -> Path:
    """Copy an MP4/MOV keeping its boxes intact but replacing the ``mdat`` payload.

    The container still opens and lists a video stream, but no picture can be decoded --
    like the stripped dashcam shells whose video data was zeroed.

    Args:
        src: A complete MP4/MOV.
        dst: Output file.
        seed: Seed for the random payload.
        fill: ``"random"`` bytes or ``"zeros"``.

    Returns:
        The path written.
    """
    data = bytearray(Path(src).read_bytes())
    for box_type, offset, size in _top_level_boxes(bytes(data)):
        if box_type == "mdat":
            start, end = offset + 8, offset + size
            if fill == "zeros":
                data[start:end] = bytes(end - start)
            else:
                rng = np.random.default_rng(seed)
                data[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    dst = Path(dst)
    dst.write_bytes(bytes(data))
    return dst


def corrupt_middle(
    src: str | Path, dst: str | Path, start: float = 0.3, end: float = 0.5, seed: int = 1
) -> Path:
    """Copy a file and overwrite the byte range ``[start, end)`` (fractions of its size) with noise."""
    data = bytearray(Path(src).read_bytes())
    a, b = int(len(data) * start), int(len(data) * end)
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    dst = Path(dst)
    dst.write_bytes(bytes(data))
    return dst


def _top_level_boxes(data: bytes) -> Iterator[tuple[str, int, int]]:
    """Yield ``(type, offset, size)`` of the top-level ISO-BMFF boxes in ``data``."""
    offset = 0
    while offset + 8 <= len(data):
        size, raw_type = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1 and offset + 16 <= len(data):
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        if size < 8:
            return
        yield raw_type.decode("latin-1"), offset, min(size, len(data) - offset)
        offset += size
