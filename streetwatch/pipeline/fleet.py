"""The Ray backend: each video a Ray task, on the cores (and GPUs) of one machine or a cluster.

``process --ray local|ADDRESS`` and ``watch --ray ...`` hand each video to a Ray task that runs the
same per-video path as the single-process run (:meth:`VideoProcessor.process`: fingerprint, claim,
analyse, commit in one transaction). Each Ray worker process keeps one ``VideoProcessor`` (its own
detector, database engine and evidence store) for all the videos it is given, so the model loads
once per worker. Nothing new guards the database: the claim/heartbeat/commit protocol of
:mod:`streetwatch.store.writes` already makes any number of workers safe.

A worker killed mid-video (OOM, a lost node, ``kill -9``) leaves nothing written: its results were
to be committed in one transaction. Ray runs the task again (``max_retries``); the retry finds the
video claimed by the dead worker and is told when the claim goes stale (``Held``). The driver, not a
worker, waits: it submits the video again at that time, and the compare-and-set takeover lets
exactly one task have it. The same goes for a video another live worker holds (``Skipped`` with
``in_progress``, e.g. the same content under two names in one batch): it is looked at again later
and ends as "already processed". A video is given up after ``hold_wait_s`` of such waiting.

Ray is an optional extra (``pip install 'streetwatch[ray]'``); without it this module imports, and
starting a fleet says what to install.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streetwatch.core.errors import StreetwatchError
from streetwatch.core.settings import Settings
from streetwatch.pipeline.outcomes import Failed, Held, Outcome, RunSummary, Skipped
from streetwatch.pipeline.run import (
    VideoProcessor,
    detector_config,
    device_plan,
    nvdec_device_of,
    planned_detector_config,
)
from streetwatch.store.db import upgrade
from streetwatch.vision.detector import OnnxConfig, build_detector

log = logging.getLogger(__name__)

LOCAL = ("local", "auto")   # --ray values that start a Ray instance on this machine
RAY_MISSING = "Ray is not installed: pip install 'streetwatch[ray]' (or run without --ray)"
# Ray runs a task again this many times when its worker process dies.
TASK_RETRIES = 3
# A video another live worker holds is looked at again this often.
RECHECK_IN_PROGRESS_S = 5.0


class RayUnavailableError(StreetwatchError, RuntimeError):
    """Ray is not installed, or its cluster cannot be reached."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class TaskReport:
    """What one Ray task did with one video.

    Attributes:
        outcome: The video's outcome, as the single-process run has it.
        batches: Each detector call's frames and seconds (the driver's metrics observe them).
        notes: Claims released late (the database was locked), in words.
        worker_pid: The Ray worker process that ran it.
    """

    outcome: Outcome
    batches: list[tuple[int, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    worker_pid: int = 0


# One processor per Ray worker process and settings: the model and the engine load once per worker.
_PROCESSORS: dict[str, VideoProcessor] = {}


def _worker_processor(settings: Settings, threads: int, actor: Any = None) -> VideoProcessor:
    key = f"{threads}:{settings.model_dump_json()}:{actor._actor_id.hex() if actor is not None else ''}"
    processor = _PROCESSORS.get(key)
    if processor is None:
        backend, plan = device_plan(settings)
        config = planned_detector_config(settings, backend, plan)
        if isinstance(config, OnnxConfig):   # a task's CPU share, not every core of the machine
            config = config.model_copy(update={"intra_op_threads": threads})
        if actor is not None:   # the machine's shared detector: frames of every video in flight batched together
            from streetwatch.pipeline.fleet_detector import RemoteDetector

            processor = VideoProcessor(settings, RemoteDetector(actor), progress=False)
        else:
            # the task's own detector, on the device its plan names: NVDEC decodes there too when it can
            processor = VideoProcessor(settings, build_detector(config), progress=False,
                                       nvdec_device=nvdec_device_of(plan))
        processor.batch_size = config.batch_size
        _PROCESSORS[key] = processor
    return processor


def process_in_worker(settings: Settings, path: str, gps: str | None, threads: int, actor: Any = None) -> TaskReport:
    """The body of a video's Ray task: the single-process path on one video, in a Ray worker (its
    detector calls going to ``actor``, a shared detector, when one is given)."""
    processor = _worker_processor(settings, threads, actor)
    batches: list[tuple[int, float]] = []
    processor.on_detect = lambda frames, seconds: batches.append((frames, seconds))
    marker = os.environ.get("STREETWATCH_RAY_TASK_MARKER_DIR")
    if marker:  # tests: say which worker process runs which video, so one can be killed mid-video
        Path(marker, f"{Path(path).name}.{os.getpid()}").touch()
    try:
        outcome = processor.process(Path(path), Path(gps) if gps else None)
    finally:
        processor.on_detect = None
    return TaskReport(outcome, batches, processor.release_pending(), os.getpid())


@dataclass(slots=True)
class _Pending:
    index: int
    path: Path
    not_before: float = 0.0      # monotonic time before which it is not submitted again
    waited_since: float | None = None


class RayFleet:
    """Processes videos as Ray tasks; one instance per driver (``process`` or ``watch``).

    Args:
        settings: As for the single-process run (each worker builds its own processor from them).
        address: ``local`` (or ``auto``) starts Ray on this machine; anything else is a cluster's address
            (``ray start --head`` prints it: ``10.0.0.5:6379``).
        num_cpus: Cores of a local Ray instance (default: all); ignored for a cluster.
        cpus_per_video: Cores each video's task takes (and its detector's threads).
        gpus_per_video: GPU share of each task (e.g. 0.25: four videos per GPU); 0 on the CPU.
        hold_wait_s: How long a video held by a stopped or another worker is waited for (default:
            the claim staleness window plus a minute).
        on_report: Called with each finished task's report (metrics, progress lines).
        detector_actors: Shared detectors (Ray actors, one GPU each with ``--device cuda``) that batch the
            frames of all videos in flight (``streetwatch.pipeline.fleet_detector``); 0: each task its own.
    """

    def __init__(self, settings: Settings, address: str = "local", *, num_cpus: int | None = None,
                 cpus_per_video: int = 1, gpus_per_video: float = 0.0, hold_wait_s: float | None = None,
                 on_report: Callable[[TaskReport], None] | None = None, detector_actors: int = 0) -> None:
        self.settings = settings
        self.cpus_per_video = cpus_per_video
        self.hold_wait_s = hold_wait_s if hold_wait_s is not None else settings.claim_stale_after_s + 60.0
        self.on_report = on_report
        config = detector_config(settings)   # an unusable --device fails here, not in every task
        # Migrated once, here: workers that all migrate a fresh database at once would race.
        upgrade(settings.db_url)
        self._ray = start_ray(address, num_cpus)
        self.actors: list[Any] = []
        if detector_actors > 0:
            from streetwatch.pipeline.fleet_detector import start_detector_actors

            on_gpu = settings.device.startswith("cuda")
            self.actors = start_detector_actors(self._ray, config, detector_actors, num_gpus=1.0 if on_gpu else 0.0,
                                                num_cpus=0.0 if on_gpu else float(cpus_per_video))
            gpus_per_video = 0.0   # the actors hold the GPUs; the tasks decode, track and judge
        self._submitted = 0
        self._task = self._ray.remote(process_in_worker).options(
            num_cpus=cpus_per_video, num_gpus=gpus_per_video, max_retries=TASK_RETRIES, retry_exceptions=False)

    def process(self, paths: Sequence[Path], gps_path: Path | None = None) -> list[Outcome]:
        """Every video's outcome, in the order given; one video's trouble never stops the others."""
        outcomes: list[Outcome | None] = [None] * len(paths)
        waiting = [_Pending(i, Path(p)) for i, p in enumerate(paths)]
        running: dict[Any, _Pending] = {}
        while waiting or running:
            now = time.monotonic()
            for item in [w for w in waiting if w.not_before <= now]:
                waiting.remove(item)
                actor = self.actors[self._submitted % len(self.actors)] if self.actors else None
                self._submitted += 1
                ref = self._task.remote(self.settings, str(item.path), str(gps_path) if gps_path else None,
                                        self.cpus_per_video, actor)
                running[ref] = item
            if not running:
                time.sleep(max(0.05, min(w.not_before for w in waiting) - now))
                continue
            done, _ = self._ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in done:
                item = running.pop(ref)
                report = self._result(ref, item.path)
                again = self._again_at(report.outcome, item)
                if again is not None:
                    item.not_before = again
                    waiting.append(item)
                    continue
                outcomes[item.index] = report.outcome
                if self.on_report is not None:
                    self.on_report(report)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    def batch_stats(self) -> list[Any]:
        """Each shared detector's :class:`~streetwatch.pipeline.fleet_detector.BatchStats` (none without actors)."""
        return [self._ray.get(actor.batch_stats.remote()) for actor in self.actors]

    def run(self, paths: Sequence[Path], gps_path: Path | None = None) -> RunSummary:
        """As :func:`streetwatch.pipeline.run.process_videos`, on Ray."""
        started = time.monotonic()
        notes: list[str] = []
        previous = self.on_report

        def collect(report: TaskReport) -> None:
            notes.extend(report.notes)
            if previous is not None:
                previous(report)

        self.on_report = collect
        try:
            outcomes = self.process(paths, gps_path)
        finally:
            self.on_report = previous
        return RunSummary(outcomes=list(outcomes), seconds=time.monotonic() - started, notes=notes)

    def _result(self, ref: Any, path: Path) -> TaskReport:
        try:
            report = self._ray.get(ref)
        except Exception as exc:   # the task's worker died more often than Ray retries, or Ray itself broke
            cause = getattr(exc, "cause", None) or exc   # a RayTaskError carries the task's own exception
            return TaskReport(Failed(path, f"Ray task failed: {type(cause).__name__}: {cause}".strip()))
        assert isinstance(report, TaskReport)
        return report

    def _again_at(self, outcome: Outcome, item: _Pending) -> float | None:
        """When to submit a held video again (monotonic time), or None when its outcome is final."""
        if not (isinstance(outcome, Held) or (isinstance(outcome, Skipped) and outcome.in_progress)):
            return None
        now = time.monotonic()
        item.waited_since = item.waited_since if item.waited_since is not None else now
        if now - item.waited_since > self.hold_wait_s:
            return None
        if isinstance(outcome, Held) and outcome.stale_at is not None:
            until_stale = (outcome.stale_at - datetime.now(UTC)).total_seconds()
            log.info("%s: held by a stopped worker; taken over in %.0f s", item.path.name, until_stale)
            return now + max(0.0, until_stale) + 0.5
        return now + RECHECK_IN_PROGRESS_S


def start_ray(address: str, num_cpus: int | None = None) -> Any:
    """Connect to Ray (``local``/``auto``: start it on this machine); returns the ``ray`` module.

    Raises:
        RayUnavailableError: Ray is not installed, or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(RAY_MISSING) from None
    if ray.is_initialized():
        return ray
    try:
        if address in LOCAL:
            ray.init(address=None, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailableError(f"cannot start or reach Ray at {address!r}: {exc}") from exc
    return ray
