"""Footage arrives by itself: watch a depot folder and process each video once its copy is complete.

Photos (``.jpg``, ``.jpeg``, ``.heic``, ``.heif``, ``.png``) are footage too: picked up, made ready and
remembered as videos are, and processed as ``streetwatch process`` processes a photo.

Patrol cars offload at the depot onto a shared folder, often a network share (SMB, NFS) where
file-change notifications do not arrive; the watcher therefore polls. A video (and any GPS
sidecar with its name: ``.gpx``, ``.nmea``, ``.csv``, ``.srt``) is ready when its size and
modification time have not changed for ``stable_s`` seconds, or when it was last modified at least
``stable_s`` ago (so one pass, ``--once``, handles a folder copied earlier): a file still being
copied grows and carries a fresh modification time, and is not touched. Hidden files (rsync's
``.name.XXXXXX`` while it copies) are not looked at. Each ready video goes to the same processor
as ``streetwatch process`` (fingerprint, claim, analyse, commit), so the same content under
another name is skipped by the database.

What happened to each file is kept in a small JSON state file, keyed by path with the size and
modification time it had: a restart does not re-hash what is done, and a file that was rejected or
failed is reported once and not retried until it changes (a corrected copy, a re-offload).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from streetwatch.core.vocab import WatchOutcome
from streetwatch.pipeline.gps.media import VIDEO_SUFFIXES
from streetwatch.pipeline.gps.source import SIDECAR_SUFFIXES
from streetwatch.pipeline.photo_ingest import PHOTO_SUFFIXES
from streetwatch.pipeline.run import Failed, Held, Outcome, Processed, Rejected, Skipped

logger = logging.getLogger(__name__)

# Footage the watcher picks up: videos, and photos (JPEG, HEIC, PNG), each processed once.
FOOTAGE_SUFFIXES = frozenset(VIDEO_SUFFIXES) | PHOTO_SUFFIXES
DEFAULT_STABLE_S = 30.0
DEFAULT_POLL_S = 10.0
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Stamp:
    """A file's size and modification time: it changes while the file is written."""

    size: int
    mtime_ns: int

    @staticmethod
    def of(path: Path) -> Stamp | None:
        try:
            stat = path.stat()
        except OSError:   # removed between the listing and now
            return None
        return Stamp(stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class Handled:
    """What the watcher did with one file, and the stamp the file had then."""

    size: int
    mtime_ns: int
    outcome: WatchOutcome
    message: str
    at: float   # Unix time

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.size, self.mtime_ns)


class WatchStateError(RuntimeError):
    """The state file exists but cannot be read as the watcher's state."""


class WatchState:
    """The watcher's memory, one JSON file, written atomically after every handled video."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handled: dict[str, Handled] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("version") != STATE_VERSION:
                    raise ValueError(f"version {data.get('version')!r}, expected {STATE_VERSION}")
                self.handled = {name: Handled(**{**row, "outcome": WatchOutcome(row["outcome"])})
                                for name, row in data["files"].items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise WatchStateError(f"{path}: not a streetwatch watch state file ({exc}); "
                                      "move it away to start afresh") from exc

    def record(self, video: Path, handled: Handled) -> None:
        self.handled[str(video)] = handled
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": STATE_VERSION,
                   "files": {name: {**asdict(h), "outcome": str(h.outcome)} for name, h in self.handled.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".watch-state-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def done_with(self, video: Path, stamp: Stamp) -> bool:
        """Whether this file, as it is now, was handled already (any outcome: failures are not retried)."""
        handled = self.handled.get(str(video))
        return handled is not None and handled.stamp == stamp


def outcome_kind(outcome: Outcome) -> WatchOutcome:
    if isinstance(outcome, Processed):
        return WatchOutcome.PROCESSED
    if isinstance(outcome, Skipped):
        return WatchOutcome.SKIPPED
    if isinstance(outcome, Rejected):
        return WatchOutcome.REJECTED
    if isinstance(outcome, Held):
        return WatchOutcome.HELD
    assert isinstance(outcome, Failed)
    return WatchOutcome.FAILED


def outcome_message(outcome: Outcome) -> str:
    if isinstance(outcome, Processed):
        return f"{outcome.frames} frames, {outcome.observations} objects, video #{outcome.video_id}"
    return outcome.message


def depot_videos(root: Path) -> Iterator[Path]:
    """Video and photo files under a depot folder, in name order (hidden files and folders skipped)."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in FOOTAGE_SUFFIXES:
                yield Path(folder) / name


class DepotWatcher:
    """Polls ``root`` (recursively) and hands each video to ``process`` once its copy is complete.

    Args:
        root: The depot folder.
        process: Processes one video, returning its outcome (``VideoProcessor.process``).
        state: Where the watcher remembers what it did.
        stable_s: A file is complete when its size and modification time held this long.
        on_outcome: Called with each video and its outcome (reporting).
        clock: Monotonic seconds (tests pass a fake one).
        wall: Unix time, to age modification times.
        process_batch: Processes all of a poll's ready videos together, returning their outcomes in
            order (the Ray backend: ``streetwatch.pipeline.fleet.RayFleet.process``); used instead of
            ``process`` when given.
    """

    def __init__(self, root: Path, process: Callable[[Path], Outcome], state: WatchState, *,
                 stable_s: float = DEFAULT_STABLE_S, on_outcome: Callable[[Path, Outcome], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 process_batch: Callable[[list[Path]], list[Outcome]] | None = None) -> None:
        if not root.is_dir():
            raise NotADirectoryError(f"depot folder not found: {root}")
        if stable_s < 0:
            raise ValueError(f"stable_s must not be negative, got {stable_s}")
        self.root = root
        self.process = process
        self.state = state
        self.stable_s = stable_s
        self.on_outcome = on_outcome
        self.clock = clock
        self.wall = wall
        self.process_batch = process_batch
        # path -> (stamp, first seen with that stamp): a file is ready when its stamp held stable_s
        self._seen: dict[Path, tuple[Stamp, float]] = {}

    def videos(self) -> Iterator[Path]:
        """Video and photo files under the root, in name order (hidden files and folders skipped)."""
        return depot_videos(self.root)

    def ready(self) -> list[Path]:
        """Videos whose copy is complete (with their sidecars) and that were not handled as they are."""
        now = self.clock()
        found: list[Path] = []
        for video in self.videos():
            stamps = [Stamp.of(video), *(Stamp.of(s) for s in self._sidecars(video))]
            stamp = stamps[0]
            if stamp is None or self.state.done_with(video, stamp):
                self._seen.pop(video, None)
                continue
            key = Stamp(sum(s.size for s in stamps if s), max(s.mtime_ns for s in stamps if s))
            untouched_for = self.wall() - key.mtime_ns / 1e9
            previous = self._seen.get(video)
            if previous is None or previous[0] != key:
                self._seen[video] = (key, now)   # new, or still being written
                if untouched_for >= self.stable_s:
                    found.append(video)
                continue
            if now - previous[1] >= self.stable_s or untouched_for >= self.stable_s:
                found.append(video)
        return found

    def poll_once(self) -> list[tuple[Path, Outcome]]:
        """Process every ready video, in name order (all at once with ``process_batch``); returns what happened."""
        ready = self.ready()
        if self.process_batch is not None:
            stamped = [(video, stamp) for video in ready if (stamp := Stamp.of(video)) is not None]
            outcomes = self.process_batch([video for video, _ in stamped]) if stamped else []
            return [self._handled(video, stamp, outcome)
                    for (video, stamp), outcome in zip(stamped, outcomes, strict=True)]
        results: list[tuple[Path, Outcome]] = []
        for video in ready:
            stamp = Stamp.of(video)
            if stamp is None:
                continue
            results.append(self._handled(video, stamp, self.process(video)))
        return results

    def _handled(self, video: Path, stamp: Stamp, outcome: Outcome) -> tuple[Path, Outcome]:
        """Remember what happened to a video (as it was when handed over) and report it."""
        kind = outcome_kind(outcome)
        self._seen.pop(video, None)
        if kind == WatchOutcome.HELD:   # a stopped worker's claim: not remembered, so a later poll takes it over
            logger.info("%s: %s", video, outcome_message(outcome))
            if self.on_outcome is not None:
                self.on_outcome(video, outcome)
            return video, outcome
        self.state.record(video, Handled(stamp.size, stamp.mtime_ns, kind, outcome_message(outcome), time.time()))
        if kind in (WatchOutcome.REJECTED, WatchOutcome.FAILED):
            logger.warning("%s: %s (%s); not retried until the file changes", video, kind, outcome_message(outcome))
        if self.on_outcome is not None:
            self.on_outcome(video, outcome)
        return video, outcome

    def run(self, poll_s: float = DEFAULT_POLL_S, stop: threading.Event | None = None,
            max_polls: int | None = None) -> None:
        """Poll until ``stop`` is set (or ``max_polls`` polls): the long-running depot service."""
        stop = stop or threading.Event()
        polls = 0
        while not stop.is_set():
            self.poll_once()
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return
            stop.wait(poll_s)

    def _sidecars(self, video: Path) -> list[Path]:
        return [video.with_suffix(suffix) for suffix in SIDECAR_SUFFIXES
                if video.with_suffix(suffix).exists()]
