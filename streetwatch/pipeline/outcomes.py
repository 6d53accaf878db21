"""What processing a video can come to (outcomes as values), and the facts they are judged on.

``Processed``, ``Skipped``, ``Held``, ``Rejected`` and ``Failed`` are what :mod:`streetwatch.pipeline.run`
returns per video; ``RunSummary`` gathers a batch's. :func:`footage_note` says whether a file was cut
short; :func:`worker_is_gone` whether the worker holding a claim has certainly stopped.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from streetwatch.pipeline.frames import DecodeStats
from streetwatch.pipeline.ingest import VideoInfo


@dataclass(frozen=True, slots=True)
class Processed:
    """The video's results are committed.

    Attributes:
        truncated_note: Set when the file was cut short: what is missing and how much was analysed.
    """

    path: Path
    video_id: int
    frames: int
    detections: int
    observations: int
    violations_by_family: dict[str, int]
    seconds: float
    resumed: bool = False
    truncated_note: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """Already processed, or being processed by another worker: nothing new written.

    Attributes:
        in_progress: Another live worker holds the video (not done yet): a scheduler may look again later.
    """

    path: Path
    video_id: int
    message: str
    in_progress: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """Claimed by a worker that has stopped: taken over once its claim goes stale, not before.

    Attributes:
        stale_at: When the claim goes stale; a run from then on takes the video over.
    """

    path: Path
    video_id: int
    message: str
    stale_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The file is not a usable video, or its GPS is unusable: nothing written."""

    path: Path
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Processing broke part-way: the video is marked failed, nothing else written."""

    path: Path
    message: str


Outcome = Processed | Skipped | Held | Rejected | Failed


@dataclass(slots=True)
class RunSummary:
    """Every video's outcome, and what the run has to say beyond them.

    Attributes:
        notes: Claims released at the end of the batch, or that could not be (a database that
            stayed locked), in words.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(isinstance(o, Rejected | Failed) for o in self.outcomes)

    @property
    def held(self) -> bool:
        """Whether a video was left alone because a stopped worker still holds its claim."""
        return any(isinstance(o, Held) for o in self.outcomes)

    def truncated(self) -> list[Processed]:
        """The processed videos whose files were cut short."""
        return [o for o in self.processed() if o.truncated_note is not None]

    def processed(self) -> list[Processed]:
        return [o for o in self.outcomes if isinstance(o, Processed)]


def footage_note(info: VideoInfo, stats: DecodeStats) -> tuple[bool, str | None]:
    """Whether a file was cut short, and what decoding found, in words (None when all went well).

    Cut short: the container's boxes end mid-``mdat`` (``VideoInfo.truncated_note``), or decoding
    stopped well before the declared duration (``DecodeStats.ended_early``).
    """
    truncated = info.truncated_note is not None or stats.ended_early
    parts = [info.truncated_note] if info.truncated_note else []
    declared = info.duration_s or stats.declared_duration_s or 0.0
    analysed = stats.last_pts_s or 0.0
    if truncated:
        share = f" ({100 * analysed / declared:.0f} %)" if declared > 0 else ""
        parts.append(f"truncated: {analysed:.1f} s of the declared {declared:.1f} s analysed{share}")
    if stats.bad_packets:
        parts.append(f"{stats.bad_packets} corrupt packet(s) skipped (first: {stats.first_error})")
    return truncated, "; ".join(parts) or None


def worker_is_gone(worker: str | None) -> str | None:
    """Why a worker (``host:pid:random``) has certainly stopped, or None when it may be alive.

    Only a worker of this host can be checked: its process no longer exists.
    """
    host, _, rest = (worker or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return f"its process {pid_text} is no longer running on this host"
    except OSError:
        return None  # it exists, as another user's process
    return None
