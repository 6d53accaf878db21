"""Probe and fingerprint one video file, with errors as values.

A night of patrol footage always holds a few broken files: zero-byte clips, MP4s cut off
when the camera lost power (no ``moov`` box), files that are not video at all. Batch work
must not stop on them, so :func:`probe_video` returns either a :class:`VideoInfo` or an
:class:`IngestError` whose message says what is wrong in words a clerk can act on.

The file is read once, in chunks, to compute its sha256 (the video's identity everywhere
else); its first bytes are kept to recognise the format by signature. Then PyAV opens it
and decodes one frame to prove the footage is usable.

Rotation convention: :attr:`VideoInfo.rotation` is the clockwise angle (0, 90, 180, 270)
by which the stored picture must be turned to be shown upright -- the meaning of the
``rotate`` tag phones write and of OpenCV's ``CAP_PROP_ORIENTATION_META``. (FFmpeg's display
matrix, and PyAV's ``VideoFrame.rotation``, give the same turn counter-clockwise.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Literal

import av
import av.error

logger = logging.getLogger(__name__)

IngestReason = Literal[
    "empty", "not_found", "unreadable", "truncated", "not_video", "no_video_stream", "undecodable"
]

CHUNK_BYTES = 1 << 20
HEAD_BYTES = 4096
# Give up looking for a first decodable picture after this many packets: a file whose
# first 300 packets are all garbage is not worth a night's compute.
MAX_PROBE_PACKETS = 300
# When the container states no believable frame rate, estimate it from this many packet times.
RATE_SAMPLE_PACKETS = 120
MAX_PLAUSIBLE_FPS = 1000.0


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a usable video file holds.

    Attributes:
        path: The file.
        sha256: Hex digest of the whole file; the video's identity (``Frame.video_id``).
        size_bytes: File size.
        container: Container format: ``mp4``, ``mov``, ``matroska``, ``avi``, ``mpegts``...
        codec: Video codec name as FFmpeg calls it (``h264``, ``hevc``, ``mpeg4``...).
        width: Width as displayed, i.e. after rotation.
        height: Height as displayed, i.e. after rotation.
        rotation: Clockwise degrees (0/90/180/270) to turn stored pictures upright.
        duration_s: Duration from the container, in seconds (0.0 when unknown).
        frame_count_estimate: Frame count from the container, or duration x rate.
        avg_fps: Average frame rate (0.0 when unknown).
        truncated_note: Set when the file is cut short but still usable (a faststart MP4 whose
            ``mdat`` box runs past the end of the file): what is missing, in words. The footage
            before the cut is analysed; the video is flagged truncated.
    """

    path: Path
    sha256: str
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    duration_s: float
    frame_count_estimate: int
    avg_fps: float
    truncated_note: str | None = None


@dataclass(frozen=True, slots=True)
class IngestError:
    """Why a file cannot be used, as a value (batch work goes on with the next file).

    Attributes:
        path: The file.
        reason: Short machine code, one of :data:`IngestReason`.
        message: Specific, human explanation of what was found.
    """

    path: Path
    reason: IngestReason
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}: {self.message}"


@dataclass(frozen=True, slots=True)
class Signature:
    """What a file's first bytes say it is.

    Attributes:
        kind: ``video`` (a container that can hold video), ``other`` (a known non-video
            format), ``text`` or ``unknown``.
        name: The format's name: ``mp4``, ``a PNG image``, ``a text file``...
        iso_bmff: Whether the file is made of ISO-BMFF boxes (MP4, MOV, 3GP).
    """

    kind: Literal["video", "other", "text", "unknown"]
    name: str
    iso_bmff: bool = False


def sha256_file(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex sha256 of a file, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def probe_video(path: str | Path) -> VideoInfo | IngestError:
    """Fingerprint and probe one video file.

    Args:
        path: The file to probe.

    Returns:
        A :class:`VideoInfo` when the file holds a decodable video stream, otherwise an
        :class:`IngestError` (never raises for a bad file).
    """
    path = Path(path)
    read = read_footage_file(path, empty="zero bytes: the camera wrote nothing to this file")
    if isinstance(read, IngestError):
        return read
    sha256, size, head = read

    signature = sniff_signature(head)
    if signature.kind in ("other", "text"):
        return IngestError(
            path, "not_video", f"not a video: looks like {signature.name}{_preview(head, signature)}"
        )
    cut_note = None
    if signature.iso_bmff:
        problem, cut_note = _check_iso_bmff(path, size, signature.name)
        if problem is not None:
            return IngestError(path, "truncated", problem)
    try:
        probed = _probe_with_pyav(path, sha256, size, signature, head)
    except Exception as exc:  # a bug or an odd file must not stop a night's batch; the log keeps the trace
        logger.exception("unexpected failure probing %s", path)
        return IngestError(path, "undecodable", f"unexpected {type(exc).__name__} while probing: {exc}")
    if cut_note is not None and isinstance(probed, VideoInfo):
        probed = dataclasses.replace(probed, truncated_note=cut_note)
    return probed


def sniff_signature(head: bytes) -> Signature:
    """Recognise a file format from its first bytes (a few KiB are plenty)."""
    box_type = head[4:8]
    if box_type in _ISO_BMFF_FIRST_BOXES:
        brand = head[8:12] if box_type == b"ftyp" else b""
        quicktime = brand == b"qt  " or box_type in (b"wide", b"mdat", b"pnot", b"moov")
        return Signature("video", "mov" if quicktime else "mp4", iso_bmff=True)
    for magic, kind, name in _MAGIC:
        if head.startswith(magic):
            return Signature(kind, name)
    if head[:4] == b"RIFF" and len(head) >= 12:
        riff_kind, riff_name = _RIFF.get(head[8:12], ("other", "a RIFF file that is not AVI"))
        return Signature(riff_kind, riff_name)
    if _is_mpegts(head):
        return Signature("video", "mpegts")
    if head[:4] == b"\x00\x00\x00\x01" or head[:3] == b"\x00\x00\x01":
        return Signature("video", "an MPEG elementary stream")
    if _looks_like_text(head):
        return Signature("text", "a text file")
    return Signature("unknown", "random bytes" if _byte_entropy(head) > 7.0 else "unrecognised data")


# --- internals ------------------------------------------------------------------------------

_ISO_BMFF_FIRST_BOXES = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp", b"sidx", b"moof", b"uuid"}
)
_RIFF: dict[bytes, tuple[Literal["video", "other"], str]] = {
    b"AVI ": ("video", "avi"),
    b"WAVE": ("other", "a WAV audio file"),
    b"WEBP": ("other", "a WebP image"),
}
_MAGIC: tuple[tuple[bytes, Literal["video", "other"], str], ...] = (
    (b"\x1a\x45\xdf\xa3", "video", "matroska"),
    (b"\x00\x00\x01\xba", "video", "mpeg-ps"),
    (b"FLV\x01", "video", "flv"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video", "asf"),
    (b"OggS", "video", "ogg"),
    (b"\x89PNG\r\n\x1a\n", "other", "a PNG image"),
    (b"\xff\xd8\xff", "other", "a JPEG image"),
    (b"GIF87a", "other", "a GIF image"),
    (b"GIF89a", "other", "a GIF image"),
    (b"II*\x00", "other", "a TIFF image"),
    (b"MM\x00*", "other", "a TIFF image"),
    (b"%PDF", "other", "a PDF document"),
    (b"PK\x03\x04", "other", "a ZIP archive"),
    (b"\x1f\x8b", "other", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "other", "a 7-Zip archive"),
    (b"Rar!", "other", "a RAR archive"),
    (b"\x7fELF", "other", "an executable (ELF)"),
    (b"SQLite format 3\x00", "other", "an SQLite database"),
    (b"ID3", "other", "an MP3 audio file"),
    (b"fLaC", "other", "a FLAC audio file"),
)


def read_footage_file(path: Path, *, empty: str) -> tuple[str, int, bytes] | IngestError:
    """A footage file's sha256, size and first bytes, or why it cannot be read (``not_found``,
    ``unreadable``; ``empty`` with the message given, for a file of zero bytes)."""
    if not path.exists():
        return IngestError(path, "not_found", "no such file")
    if not path.is_file():
        return IngestError(path, "not_found", "expected a regular file, found a directory or device")
    try:
        sha256, size, head = _hash_and_head(path)
    except OSError as exc:
        return IngestError(path, "unreadable", f"cannot read the file: {exc.strerror or exc}")
    if size == 0:
        return IngestError(path, "empty", empty)
    return sha256, size, head


def _hash_and_head(path: Path) -> tuple[str, int, bytes]:
    digest = hashlib.sha256()
    head = b""
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size, head


def _is_mpegts(head: bytes) -> bool:
    for packet_size, offset in ((188, 0), (192, 4)):  # plain TS and Blu-ray/AVCHD M2TS
        syncs = range(offset, min(len(head), offset + 4 * packet_size), packet_size)
        if len(syncs) >= 2 and all(head[i] == 0x47 for i in syncs):
            return True
    return False


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="ignore")
    if len(text) < 0.9 * len(head.decode("latin-1")) - 3:  # many invalid UTF-8 sequences
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(1, len(text))


def _byte_entropy(data: bytes) -> float:
    if len(data) < 256:
        return 8.0 if len(set(data)) > 0.6 * len(data) else 0.0
    counts = [0] * 256
    for byte in data:
        counts[byte] += 1
    return -sum(c / len(data) * math.log2(c / len(data)) for c in counts if c)


def _preview(head: bytes, signature: Signature) -> str:
    if signature.kind != "text":
        return ""
    first_line = head.decode("utf-8", errors="replace").strip().splitlines()[0] if head.strip() else ""
    return f" starting {first_line[:40]!r}"


def _check_iso_bmff(path: Path, size: int, name: str) -> tuple[str | None, str | None]:
    """Walk the top-level boxes: ``(why the file is unusable, why it is cut short but usable)``.

    A missing ``moov`` (the power-cut failure of a recording that writes its index last) makes
    the file unusable. A ``moov`` before a ``mdat`` that runs past the end of the file (a
    faststart MP4 cut off mid-copy) leaves the footage before the cut usable: it is noted.
    """
    with open(path, "rb") as handle:
        boxes, overrun = _walk_boxes(handle, size)
    types = [box_type for box_type, _, _ in boxes]
    if "moov" in types:
        if not overrun:
            return None, None
        last_type, last_offset, last_size = boxes[-1]
        present = size - last_offset
        return None, (f"the file ends inside its '{last_type}' box after {present} of its {last_size} bytes "
                      f"({100 * present / last_size:.0f} %): it was cut short")
    if not boxes:
        return f"truncated {name.upper()}: too short to hold even one box ({size} bytes)", None
    listing = ", ".join(types)
    last_type, last_offset, last_size = boxes[-1]
    if overrun:
        present = size - last_offset
        where = f"file ends inside '{last_type}' after {present} of its {last_size} bytes"
    else:
        where = f"file ends after '{last_type}'"
    return (
        f"truncated {name.upper()}: no 'moov' atom ({where}; top-level boxes: {listing}); "
        "the recording was probably cut off"
    ), None


def _walk_boxes(handle: BinaryIO, size: int) -> tuple[list[tuple[str, int, int]], bool]:
    """Top-level ``(type, offset, declared size)`` boxes, and whether the last overruns the file."""
    boxes: list[tuple[str, int, int]] = []
    offset = 0
    while offset + 8 <= size:
        handle.seek(offset)
        header = handle.read(16)
        box_size, raw_type = struct.unpack(">I4s", header[:8])
        if box_size == 1 and len(header) == 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:  # "extends to the end of the file"
            box_size = size - offset
        if box_size < 8 or not all(32 <= ch < 127 for ch in raw_type):
            break  # not a box: garbage or padding after the last real box
        boxes.append((raw_type.decode("ascii"), offset, box_size))
        if offset + box_size > size:
            return boxes, True
        offset += box_size
    return boxes, False


def _probe_with_pyav(
    path: Path, sha256: str, size: int, signature: Signature, head: bytes
) -> VideoInfo | IngestError:
    def fail(reason: IngestReason, message: str) -> IngestError:
        if signature.kind == "unknown":  # FFmpeg could not make sense of it either
            return IngestError(
                path,
                "not_video",
                f"{signature.name}: no known container signature (first bytes {head[:8].hex(' ')}), "
                f"and {message}",
            )
        return IngestError(path, reason, message)

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        what = "it" if signature.kind == "unknown" else f"the {signature.name} container"
        return fail("undecodable", f"{what} cannot be opened by FFmpeg: {_ffmpeg_message(exc)}")
    with container:
        video = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not video:
            streams = ", ".join(_stream_label(s) for s in container.streams) or "none"
            return fail(
                "no_video_stream", f"the {signature.name} file has no video stream (streams: {streams})"
            )
        stream = max(video, key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0))
        # The guessed (base) rate is a last resort: for VFR it is the finest timestamp step, not an average.
        container_rate = _plausible_rate(stream.average_rate)
        scan = _scan_start(container, stream, want_rate=container_rate is None)
        if scan.frame is None:
            return fail(
                "undecodable",
                f"no picture could be decoded from the {stream.codec_context.name} stream of the "
                f"{signature.name} file ({scan.problem})",
            )
        rotation = round(-scan.frame.rotation / 90) % 4 * 90
        coded_w, coded_h = scan.frame.width, scan.frame.height
        width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
        duration_s = _duration_s(container, stream)
        avg_fps = container_rate or scan.packet_rate or _plausible_rate(stream.guessed_rate) or 0.0
        frame_count = stream.frames if stream.frames > 0 else round(duration_s * avg_fps)
        return VideoInfo(
            path=path,
            sha256=sha256,
            size_bytes=size,
            container=signature.name if signature.iso_bmff else container.format.name.split(",")[0],
            codec=stream.codec_context.name,
            width=width,
            height=height,
            rotation=rotation,
            duration_s=duration_s,
            frame_count_estimate=frame_count,
            avg_fps=avg_fps,
        )


@dataclass(frozen=True, slots=True)
class _StartScan:
    frame: av.VideoFrame | None
    problem: str
    packet_rate: float | None


def _scan_start(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, want_rate: bool
) -> _StartScan:
    """Decode until one picture comes out; meanwhile collect packet times to estimate the rate."""
    first: av.VideoFrame | None = None
    errors, packets, last_error = 0, 0, ""
    pts: set[int] = set()
    try:
        for packet in container.demux(stream):
            packets += 1
            if packet.pts is not None:
                pts.add(packet.pts)
            if first is None:
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as exc:
                    errors, last_error, decoded = errors + 1, _ffmpeg_message(exc), []
                first = decoded[0] if decoded else None
            enough_for_rate = not want_rate or len(pts) >= RATE_SAMPLE_PACKETS
            if (first is not None and enough_for_rate) or packets >= MAX_PROBE_PACKETS:
                break
    except av.error.FFmpegError as exc:
        if first is None:
            return _StartScan(None, f"reading packets failed after {packets}: {_ffmpeg_message(exc)}", None)
    packet_rate = None
    if len(pts) >= 2 and stream.time_base:
        span = float((max(pts) - min(pts)) * stream.time_base)
        packet_rate = _plausible_rate((len(pts) - 1) / span) if span > 0 else None
    if first is not None:
        return _StartScan(first, "", packet_rate)
    if packets == 0:
        return _StartScan(None, "the stream holds no packets", None)
    detail = f"{errors} decoder errors, last: {last_error}" if errors else "the decoder returned nothing"
    return _StartScan(None, f"{packets} packets read, {detail}", None)


def _plausible_rate(rate: Fraction | float | None) -> float | None:
    # MPEG-TS with variable frame rate reports its 90 kHz clock as the "guessed" rate.
    return float(rate) if rate and 0 < rate <= MAX_PLAUSIBLE_FPS else None


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _stream_label(stream: av.stream.Stream) -> str:
    context = stream.codec_context  # None for data streams (GPS, timecode)
    codec = context.name if context is not None else stream.metadata.get("handler_name", "no codec")
    return f"{stream.type} {codec}"


def _ffmpeg_message(exc: BaseException) -> str:
    if isinstance(exc, av.error.FFmpegError):
        return exc.strerror or str(exc)
    return str(exc)
