"""Small PyAV helpers shared by the readers of GPS embedded in a video file.

Times of embedded records must be on the same clock as ``Frame.pts_s``, which counts from the
first decoded frame of the main video stream; :func:`video_start_s` gives that stream's start so
a packet's time can be moved onto it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import av.error

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".avi", ".ts", ".mts", ".3gp", ".lrv"})
"""Suffixes (lower case) of files that may hold embedded GPS."""


@contextmanager
def open_media(path: Path) -> Iterator[av.container.InputContainer | None]:
    """Open a media file with PyAV, yielding None (and logging why) when FFmpeg cannot open it.

    Embedded GPS is optional: a file FFmpeg cannot read is the ingest step's problem to report,
    not the GPS readers'.
    """
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        logger.info("no embedded GPS read from %s: FFmpeg cannot open it (%s)", path, exc)
        yield None
        return
    with container:
        yield container


def video_start_s(container: av.container.InputContainer) -> float:
    """Start time in seconds of the main video stream (the largest picture), 0.0 without one."""
    video = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not video:
        return 0.0
    stream = max(video, key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0))
    if stream.start_time is None or not stream.time_base:
        return 0.0
    return float(stream.start_time * stream.time_base)


def creation_utc(container: av.container.InputContainer) -> float | None:
    """The container's ``creation_time`` tag as UTC epoch seconds, if it has a believable one."""
    text = container.metadata.get("creation_time")
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when.year < 2000:  # unset camera clocks write 1904 or 1970
        return None
    return when.timestamp()
