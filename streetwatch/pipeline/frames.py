"""Decode a video into upright BGR frames, sampled by presentation time.

Decoding is sequential (no seeking: seeking is slow and inexact on long-GOP dashcam H.264)
and every frame keeps its real presentation time from the decoder, so variable-frame-rate
footage (phones, dashcams that drop frames when the card is slow) lines up with GPS time.

Sampling is by time, not by frame count: at ``sample_fps = f`` the sampling instants are
``0, 1/f, 2/f, ...`` seconds after the first frame, and each instant is served by the first
frame whose time is at or after it. One frame may serve several instants when the footage
has a gap, and it is yielded once; an instant is never served twice.

Corrupt data mid-file: a packet the decoder rejects is skipped and counted in
:class:`DecodeStats` (``bad_packets``), with a warning in the log; past ``max_bad_packets``
the iterator raises :class:`VideoDecodeError`. A demuxer failure (the container itself
cannot be read further) raises :class:`VideoDecodeError` at once, after every frame decoded
before it was yielded. Some demuxers (Matroska) stop silently at corrupt data instead: then
``DecodeStats.ended_early`` is true and a warning is logged.

Speed: only sampled frames are converted to arrays; with ``skip_nonref`` the decoder drops
non-reference frames (B-frames no other frame is predicted from: about half the frames of a
typical H.264 file with B-frames) when sampling at most half the frame rate, so an instant is
then served by the next decoded frame, one or two frames later, with its own true time.
:func:`decode_ahead` runs the decoding in a thread of its own (PyAV releases the GIL while
decoding and converting), so the next frames are ready while the detector works. That thread decodes
on its own (``decode_threads=1``, the default): FFmpeg's frame threads decode the same frames (bit for
bit) for 15-20 % more CPU, and on two cores the detector and the OCR keep the other core busy anyway
(docs/benchmarks.md); ``decode_threads=0`` lets FFmpeg choose, for one video on many idle cores. On a CUDA machine
``nvdec_device`` moves the decoding itself to the GPU's NVDEC (FFmpeg's ``cuda`` hwaccel through
PyAV), with the CPU as the fallback.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import av.container
import av.error
import numpy as np
from av.codec.hwaccel import HWAccel

from streetwatch.core.errors import ProcessingError
from streetwatch.vision.device import FrameDecoder
from streetwatch.vision.types import Frame

logger = logging.getLogger(__name__)

DEFAULT_MAX_BAD_PACKETS = 100
DEFAULT_DECODE_THREADS = 1   # FFmpeg threads per decoder; 0 = FFmpeg's own choice (frame threads, one per core + 1)
# Skip non-reference frames only when sampling at most this share of the frame rate.
SKIP_NONREF_MAX_SHARE = 0.5
T = TypeVar("T")


@dataclass(slots=True)
class DecodeStats:
    """What happened while decoding one file; filled in as :func:`iter_frames` runs.

    Attributes:
        decoded_frames: Frames that came out of the decoder.
        yielded_frames: Frames handed to the caller after sampling.
        bad_packets: Packets the decoder rejected (skipped).
        first_error: The decoder's message for the first rejected packet.
        last_pts_s: Time of the last decoded frame, relative to the first.
        declared_duration_s: Duration the container declares, if any.
        decoder: What decoded the file: PyAV on the CPU, or NVDEC (an NVIDIA GPU through PyAV).
        decoder_note: Why the CPU decoded a file that NVDEC was asked to decode.
    """

    decoded_frames: int = 0
    yielded_frames: int = 0
    bad_packets: int = 0
    first_error: str | None = None
    last_pts_s: float | None = None
    declared_duration_s: float | None = None
    decoder: FrameDecoder = FrameDecoder.PYAV
    decoder_note: str | None = None

    @property
    def ended_early(self) -> bool:
        """Whether decoding stopped well before the declared duration (over 1 s and 10% short)."""
        if self.declared_duration_s is None or self.last_pts_s is None:
            return False
        missing = self.declared_duration_s - self.last_pts_s
        return missing > max(1.0, 0.1 * self.declared_duration_s)


class VideoDecodeError(ProcessingError, RuntimeError):
    """A video could not be decoded (further): unopenable, no video stream, too corrupt.

    Attributes:
        path: The file.
        stats: Counters up to the failure.
    """

    def __init__(self, path: Path, message: str, stats: DecodeStats) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.stats = stats


def iter_frames(
    path: str | Path,
    video_id: str,
    sample_fps: float | None = 5.0,
    max_side: int | None = None,
    *,
    stats: DecodeStats | None = None,
    max_bad_packets: int | None = DEFAULT_MAX_BAD_PACKETS,
    skip_nonref: bool = False,
    nvdec_device: int | None = None,
    decode_threads: int = DEFAULT_DECODE_THREADS,
) -> Generator[Frame, None, None]:
    """Yield upright BGR frames of a video, sampled by presentation time.

    Args:
        path: The video file.
        video_id: Identity stamped on every frame (the file's sha256).
        sample_fps: Sampling rate in frames per second of video time; None = every frame.
        max_side: Downscale so the longer side is at most this many pixels (never upscales).
        stats: A :class:`DecodeStats` to fill in (counters, bad packets), if the caller wants it.
        max_bad_packets: Raise :class:`VideoDecodeError` once more packets than this are
            rejected by the decoder; None = skip any number.
        skip_nonref: Let the decoder drop non-reference frames when ``sample_fps`` is at most
            half the stream's frame rate (faster; a sampled instant may then be served a frame
            or two later than with every frame decoded).
        nvdec_device: Decode on this CUDA device with NVIDIA's NVDEC (FFmpeg's ``cuda`` hwaccel in
            PyAV; frames come back to memory for conversion). When the device cannot be opened the
            CPU decodes, ``stats.decoder_note`` says why and a warning is logged once per process;
            a codec NVDEC does not know is decoded on the CPU by FFmpeg itself.
        decode_threads: Threads of FFmpeg's CPU decoder and of its conversion to BGR: 1 (the default) does
            both in the calling thread, the cheapest in CPU; 0 lets FFmpeg choose (frame and slice threads),
            faster in wall time when cores are idle; a larger number asks for that many. The frames are the same
            either way.

    Yields:
        :class:`streetwatch.vision.types.Frame` with ``index`` = position among the decoded frames and
        ``pts_s`` = presentation time relative to the first decoded frame.

    Raises:
        ValueError: At once, on a non-positive ``sample_fps`` or ``max_side``, or a negative ``decode_threads``.
        VideoDecodeError: While iterating, when the file cannot be opened, has no video
            stream, is too corrupt, or its container cannot be read to the end.
    """
    if sample_fps is not None and not sample_fps > 0:
        raise ValueError(f"sample_fps must be positive or None, got {sample_fps}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be positive (pixels) or None, got {max_side}")
    if decode_threads < 0:
        raise ValueError(f"decode_threads must be 0 (FFmpeg chooses) or more, got {decode_threads}")
    # Arguments are checked now; the file is opened on the first next(), and closed when the
    # iterator is exhausted or closed.
    return _generate_frames(
        Path(path),
        video_id,
        sample_fps,
        max_side,
        stats if stats is not None else DecodeStats(),
        max_bad_packets,
        skip_nonref,
        nvdec_device,
        decode_threads,
    )


def _generate_frames(
    path: Path,
    video_id: str,
    sample_fps: float | None,
    max_side: int | None,
    stats: DecodeStats,
    max_bad_packets: int | None,
    skip_nonref: bool,
    nvdec_device: int | None,
    decode_threads: int,
) -> Generator[Frame, None, None]:
    try:
        container = _open(path, nvdec_device, stats)
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoDecodeError(path, f"cannot open as a video: {exc}", stats) from exc
    with container:
        stream = _video_stream(container, path, stats)
        if stats.decoder is FrameDecoder.PYAV:
            stream.codec_context.thread_count = decode_threads
            if decode_threads != 1:
                stream.thread_type = "AUTO"   # frame and slice threads, as many as asked (0: FFmpeg's choice)
        rate = stream.average_rate or stream.guessed_rate
        if skip_nonref and sample_fps is not None and rate and sample_fps <= SKIP_NONREF_MAX_SHARE * float(rate):
            stream.codec_context.skip_frame = "NONREF"
        if stream.duration and stream.time_base:
            stats.declared_duration_s = float(stream.duration * stream.time_base)
        elif container.duration:
            stats.declared_duration_s = container.duration / av.time_base
        sampler = TimeSampler(sample_fps) if sample_fps is not None else None
        clock = _FrameClock(stream)
        for frame in _decode(container, stream, path, stats, max_bad_packets):
            index = stats.decoded_frames
            stats.decoded_frames += 1
            t = clock.time_of(frame)
            stats.last_pts_s = float(t)
            if sampler is not None and not sampler.take(t):
                continue
            stats.yielded_frames += 1
            image = to_upright_bgr(frame, max_side, threads=decode_threads)
            yield Frame(video_id=video_id, index=index, pts_s=float(t), image=image)
    if stats.bad_packets:
        logger.warning(
            "%s: skipped %d corrupt packet(s) (first: %s)", path, stats.bad_packets, stats.first_error
        )
    if stats.ended_early:
        logger.warning(
            "%s: decoding stopped at %.2f s of a declared %.2f s; the file is probably corrupt or cut",
            path,
            stats.last_pts_s,
            stats.declared_duration_s,
        )


def _open(path: Path, nvdec_device: int | None, stats: DecodeStats) -> av.container.InputContainer:
    """Open ``path`` for decoding on NVDEC (``nvdec_device``) when asked and possible, else on the CPU."""
    if nvdec_device is not None:
        try:
            hwaccel = HWAccel(device_type="cuda", device=str(nvdec_device), allow_software_fallback=True)
            container = av.open(str(path), metadata_errors="ignore", hwaccel=hwaccel)
        except (av.error.FFmpegError, OSError) as exc:
            stats.decoder_note = f"NVDEC could not be used on CUDA device {nvdec_device} ({exc}): decoded on the CPU"
            if not _nvdec_warned.is_set():
                _nvdec_warned.set()
                logger.warning("%s: %s", path, stats.decoder_note)
        else:
            stats.decoder = FrameDecoder.NVDEC
            return container
    return av.open(str(path), metadata_errors="ignore")


_nvdec_warned = threading.Event()   # the fallback to the CPU is logged once per process


def decode_ahead(items: Iterable[T], depth: int) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead of the consumer.

    Exceptions raised by ``items`` are raised to the consumer, in order, after the items
    before them. Closing the returned iterator (or dropping it) stops the thread.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    ready: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(("end", None))
        except BaseException as exc:  # handed to the consumer, who re-raises it
            ready.put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and callable(close):
                close()

    worker = threading.Thread(target=produce, name="streetwatch-decode", daemon=True)
    worker.start()
    return _consume(ready, stop, worker)


def _consume(ready: queue.Queue[tuple[str, object]], stop: threading.Event,
             worker: threading.Thread) -> Generator[T, None, None]:
    try:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]  # the producer only puts T items with kind "item"
    finally:
        stop.set()
        while worker.is_alive():   # unblock a producer waiting on a full queue
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


class TimeSampler:
    """Picks frames for sampling instants ``0, 1/f, 2/f, ...``: the first frame at or after each.

    Times are compared as exact fractions, so a 30 fps frame at 6/30 s serves the 5 fps
    instant 1/5 s exactly, without float rounding deciding.
    """

    def __init__(self, sample_fps: float) -> None:
        # repr() keeps the decimal the caller wrote: 2.997 -> 2997/1000, not the binary double.
        self.rate = Fraction(repr(float(sample_fps)))
        self.next_instant = 0  # index k of the next instant k / rate

    def take(self, t: Fraction) -> bool:
        """Whether a frame at time ``t`` (seconds) is the one for the next pending instant(s)."""
        position = t * self.rate
        if position < self.next_instant:
            return False
        # All instants up to t are served by this frame: a gap never yields duplicates.
        self.next_instant = math.floor(position) + 1
        return True


def to_upright_bgr(frame: av.VideoFrame, max_side: int | None = None,
                   threads: int = DEFAULT_DECODE_THREADS) -> np.ndarray:
    """Convert a decoded frame to a contiguous BGR uint8 image, scaled and rotated upright.

    ``frame.rotation`` is the counter-clockwise turn FFmpeg's display matrix asks for;
    ``np.rot90`` with positive ``k`` turns counter-clockwise too. ``threads``: swscale's threads for the
    conversion (1: in the calling thread; 0: as many as FFmpeg likes).
    """
    width, height = frame.width, frame.height
    scale = 1.0 if max_side is None else min(1.0, max_side / max(width, height))
    if scale < 1.0:
        size = max(1, round(width * scale)), max(1, round(height * scale))
        image = frame.to_ndarray(format="bgr24", width=size[0], height=size[1], interpolation="AREA",
                                  threads=threads)
    else:
        image = frame.to_ndarray(format="bgr24", threads=threads)
    quarter_turns = round(frame.rotation / 90) % 4
    if quarter_turns:
        image = np.rot90(image, k=quarter_turns)
    return np.ascontiguousarray(image)


class _FrameClock:
    """Presentation times relative to the first frame, as exact fractions of a second."""

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        self.time_base = stream.time_base or Fraction(1, 90_000)
        rate = stream.average_rate or stream.guessed_rate
        self.frame_duration = 1 / Fraction(rate) if rate and 0 < rate < 1000 else Fraction(1, 30)
        self.first: Fraction | None = None
        self.last: Fraction | None = None

    def time_of(self, frame: av.VideoFrame) -> Fraction:
        if frame.pts is None:  # rare (raw streams): continue from the previous frame at the nominal rate
            absolute = Fraction(0) if self.last is None else self.last + self.frame_duration
        else:
            absolute = frame.pts * (frame.time_base or self.time_base)
        if self.first is None:
            self.first = absolute
        self.last = absolute
        return absolute - self.first


def _video_stream(
    container: av.container.InputContainer, path: Path, stats: DecodeStats
) -> av.video.stream.VideoStream:
    video = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not video:
        kinds = ", ".join(s.type for s in container.streams) or "none"
        raise VideoDecodeError(path, f"no video stream (streams: {kinds})", stats)
    return max(video, key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0))


def _decode(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    stats: DecodeStats,
    max_bad_packets: int | None,
) -> Iterator[av.VideoFrame]:
    packets = container.demux(stream)  # ends with an empty packet that flushes the decoder
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(
                path, f"the container could not be read after {stats.decoded_frames} frames: {exc}", stats
            ) from exc
        try:
            decoded = packet.decode()
        except av.error.FFmpegError as exc:
            stats.bad_packets += 1
            if stats.first_error is None:
                stats.first_error = f"packet at pts {packet.pts}: {exc.strerror or exc}"
                logger.warning("%s: skipping a corrupt packet (%s)", path, stats.first_error)
            if max_bad_packets is not None and stats.bad_packets > max_bad_packets:
                raise VideoDecodeError(
                    path,
                    f"too corrupt: {stats.bad_packets} packets rejected by the decoder "
                    f"(limit {max_bad_packets}; first: {stats.first_error})",
                    stats,
                ) from exc
            continue
        yield from decoded
