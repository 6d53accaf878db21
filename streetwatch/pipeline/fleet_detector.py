"""A detector shared by the Ray tasks of a machine: frames of several videos batched into one call.

On a GPU a video's own batches (8 to 32 frames every few hundred milliseconds) leave the device idle
most of the time; one detector per GPU that gathers the frames of every video in flight fills its
batches (``streetwatch process --ray local --device cuda --detector-actors 1``). On a CPU each task's
own detector is the better default (no copying of frames between processes), so actors are off
unless asked for.

:class:`BatchingDetector` is the batching itself, plain asyncio and testable without Ray: requests
(one video's frames each) wait at most ``max_wait_s`` for others until ``max_batch`` frames are
gathered, then go to the detector in one call, and each caller gets its own detections back in
order. :func:`start_detector_actors` runs it as Ray actors (pinned to a GPU with ``num_gpus``);
:class:`RemoteDetector` is what a task's :class:`~streetwatch.pipeline.run.VideoProcessor` calls
instead of a local detector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streetwatch.vision.detections import Detections
from streetwatch.vision.detector import Detector, OnnxConfig, UltralyticsConfig, build_detector

DEFAULT_MAX_BATCH = 64      # frames per detector call at most (the GPU path's batch ceiling)
DEFAULT_MAX_WAIT_S = 0.02   # how long a request waits for others before its batch runs


@dataclass(slots=True)
class BatchStats:
    """What the shared detector did: calls, frames, and the most requests (videos' batches) one call held."""

    calls: int = 0
    frames: int = 0
    requests: int = 0
    most_requests_in_a_call: int = 0


class BatchingDetector:
    """Gathers concurrent requests into detector calls of at most ``max_batch`` frames.

    Args:
        detector: The detector the batches go to (called from one worker thread, one batch at a time).
        max_batch: Frames per call at most (a single larger request is split).
        max_wait_s: How long the first request of a batch waits for more.
    """

    def __init__(self, detector: Detector, max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.detector = detector
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self._queue: asyncio.Queue[tuple[list[npt.NDArray[np.uint8]], asyncio.Future[list[Detections]]]] | None
        self._queue = None
        self._runner: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="streetwatch-shared-detector")

    def info(self) -> tuple[dict[int, str], str]:
        """The detector's class names and provenance name (what a :class:`RemoteDetector` reports)."""
        return dict(self.detector.names), self.detector.model_name

    def batch_stats(self) -> BatchStats:
        return self.stats

    async def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """One caller's frames in, their detections out (in order), batched with other callers' frames."""
        if not images:
            return []
        loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        done: asyncio.Future[list[Detections]] = loop.create_future()
        await self._queue.put((list(images), done))
        return await done

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            frames = len(batch[0][0])
            deadline = loop.time() + self.max_wait_s
            while frames < self.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
                batch.append(item)
                frames += len(item[0])
            images = [image for request, _ in batch for image in request]
            try:
                found: list[Detections] = []
                for start in range(0, len(images), self.max_batch):
                    chunk = images[start:start + self.max_batch]
                    found += await loop.run_in_executor(self._pool, self.detector.detect, chunk)
                    self._count(len(chunk), len(batch))
            except Exception as exc:  # every caller of this batch hears of it; the next batch runs
                for _, waiting in batch:
                    if not waiting.done():
                        waiting.set_exception(exc)
                continue
            at = 0
            for request, waiting in batch:
                if not waiting.done():
                    waiting.set_result(found[at:at + len(request)])
                at += len(request)

    def _count(self, frames: int, requests: int) -> None:
        self.stats.calls += 1
        self.stats.frames += frames
        self.stats.requests += requests
        self.stats.most_requests_in_a_call = max(self.stats.most_requests_in_a_call, requests)


class RemoteDetector:
    """A :class:`~streetwatch.vision.detector.Detector` whose calls go to a shared detector actor."""

    def __init__(self, actor: Any) -> None:
        import ray

        self._ray = ray
        self._actor = actor
        self._names, self._model_name = ray.get(actor.info.remote())

    @property
    def names(self) -> dict[int, str]:
        return self._names

    @property
    def model_name(self) -> str:
        return self._model_name

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        found: list[Detections] = self._ray.get(self._actor.detect.remote(list(images)))
        return found


class _ActorBody(BatchingDetector):
    """The actor's constructor: builds the detector in the actor's own process (on its GPU, if it has one)."""

    def __init__(self, config: OnnxConfig | UltralyticsConfig, max_batch: int, max_wait_s: float) -> None:
        super().__init__(build_detector(config), max_batch, max_wait_s)


def start_detector_actors(ray: Any, config: OnnxConfig | UltralyticsConfig, count: int, *, num_gpus: float,
                          num_cpus: float = 1.0, max_batch: int = DEFAULT_MAX_BATCH,
                          max_wait_s: float = DEFAULT_MAX_WAIT_S) -> list[Any]:
    """``count`` shared detector actors (each on ``num_gpus`` of a GPU and ``num_cpus`` cores)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    actor = ray.remote(_ActorBody).options(num_gpus=num_gpus, num_cpus=num_cpus, max_concurrency=256)
    return [actor.remote(config, max_batch, max_wait_s) for _ in range(count)]
