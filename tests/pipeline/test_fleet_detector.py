"""The shared detector's batching (no Ray needed): several videos' frames in one call, each caller's own back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from streetwatch.datasets.demo import demo_image_path
from streetwatch.pipeline.fleet_detector import BatchingDetector
from streetwatch.vision.detections import Detections
from streetwatch.vision.detector import Detector
from tests.pipeline.run_helpers import shared_detector


class Counting:
    """The real bundled detector, recording the size of every call (and failing once when told to)."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.calls: list[int] = []
        self.fail_next = False

    @property
    def names(self) -> dict[int, str]:
        return self.inner.names

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        self.calls.append(len(images))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the device went away")
        return self.inner.detect(images)


def frames(count: int, seed: int) -> list[npt.NDArray[np.uint8]]:
    """Crops of the demo street scene, a different window per frame, so every frame has its own detections."""
    image = cv2.imread(str(demo_image_path()))
    assert image is not None
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        x, y = int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4))
        out.append(np.ascontiguousarray(image[y:y + 3 * h // 4, x:x + 3 * w // 4]))
    return out


@pytest.fixture(scope="module")
def detector() -> Counting:
    return Counting(shared_detector())


def test_concurrent_videos_share_one_call_and_get_their_own_detections(detector: Counting) -> None:
    videos = [frames(2, seed) for seed in (1, 2, 3)]
    expected = [detector.inner.detect(v) for v in videos]
    shared = BatchingDetector(detector, max_batch=64, max_wait_s=0.5)
    detector.calls.clear()

    async def three_videos() -> list[list[Detections]]:
        return list(await asyncio.gather(*(shared.detect(v) for v in videos)))

    got = asyncio.run(three_videos())
    assert detector.calls == [6]  # one call: the three videos' two frames each
    assert shared.stats.most_requests_in_a_call == 3 and shared.stats.frames == 6
    for mine, theirs in zip(got, expected, strict=True):
        assert len(mine) == 2
        for a, b in zip(mine, theirs, strict=True):
            assert len(a) == len(b) > 0
            np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
            assert list(a.class_id) == list(b.class_id)


def test_a_large_request_is_split_at_max_batch(detector: Counting) -> None:
    shared = BatchingDetector(detector, max_batch=4, max_wait_s=0.0)
    detector.calls.clear()
    got = asyncio.run(shared.detect(frames(10, 7)))
    assert detector.calls == [4, 4, 2] and len(got) == 10


def test_a_failed_call_reaches_its_callers_and_the_next_batch_runs(detector: Counting) -> None:
    shared = BatchingDetector(detector, max_batch=64, max_wait_s=0.2)

    async def run() -> tuple[list[object], list[Detections]]:
        detector.fail_next = True
        failed = await asyncio.gather(shared.detect(frames(1, 1)), shared.detect(frames(1, 2)),
                                      return_exceptions=True)
        return list(failed), await shared.detect(frames(1, 3))

    failed, after = asyncio.run(run())
    assert all(isinstance(f, RuntimeError) and "went away" in str(f) for f in failed)
    assert len(after) == 1


def test_no_frames_no_call(detector: Counting) -> None:
    detector.calls.clear()
    assert asyncio.run(BatchingDetector(detector).detect([])) == []
    assert detector.calls == []
    with pytest.raises(ValueError, match="max_batch"):
        BatchingDetector(detector, max_batch=0)
