"""Overflowing bins judged from what the model sees: garbage on, against or around a bin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from streetwatch.core.types import Observation, TrackPoint
from streetwatch.datasets.synthetic import write_video
from streetwatch.pipeline.bin_fill import adjacent, judge_bins
from streetwatch.pipeline.rules import GarbageRule, RuleContext, RuleParams
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Violation
from streetwatch.vision.detections import Detections
from tests.pipeline.rules.builders import OPEN_STREET, TAXONOMY, local_utc, moved
from tests.pipeline.rules.builders import observation as placed
from tests.pipeline.run_helpers import run_settings, sqlite_url

AT_0942 = local_utc(2025, 6, 6, 9, 42)
BIN_BOX = (100.0, 200.0, 160.0, 300.0)


def seen(class_name: str, box: tuple[float, float, float, float], *, track_id: int,
         at: tuple[float, float] | None = OPEN_STREET, frames: range = range(3)) -> Observation:
    """An observation whose box is ``box`` in ``frames`` (the same frame indices make them co-occur)."""
    base = placed(class_name, at, time_utc=AT_0942, track_id=track_id)
    points = tuple(TrackPoint(i, 10.0 + 0.2 * i, box, 0.8) for i in frames)
    return replace(base, points=points, best=points[0])


def judge(observations: list[Observation]) -> list[tuple[str, str | None, str]]:
    """(class, event filed or None, reason) per observation, after the bin judgement and the garbage rule."""
    context = RuleContext(TAXONOMY, params=RuleParams(), nearby=tuple(observations))
    out = []
    for o in judge_bins(observations, TAXONOMY):
        found = GarbageRule().evaluate(o, context)
        out.append((o.class_name, found[0].event_code if found else None, found[0].reason if found else ""))
    return out


def test_a_bin_with_bags_beside_it_in_the_same_frames_files_an_overflowing_bin() -> None:
    bin_ = seen("bin", BIN_BOX, track_id=1, at=None)
    bag = seen("trash_bag", (165.0, 260.0, 200.0, 300.0), track_id=2, at=None)   # at its foot, right side
    pile = seen("garbage_pile", (60.0, 270.0, 105.0, 305.0), track_id=3, at=None)   # against its left side
    verdicts = judge([bin_, bag, pile])
    assert verdicts[0][:2] == ("bin", "0102")
    assert "bin overflowing: 1 garbage pile, 1 trash bag against or beside it in 3 frames" in verdicts[0][2]
    # the garbage is the bin's case, not separate exposed-garbage cases
    assert verdicts[1][1] is None and verdicts[2][1] is None


def test_garbage_placed_within_two_metres_on_the_ground_makes_the_bin_overflowing() -> None:
    bin_ = seen("bin", BIN_BOX, track_id=1, frames=range(0, 3))
    bag = seen("trash_bag", (400.0, 100.0, 440.0, 140.0), track_id=2, at=moved(OPEN_STREET, east_m=1.5),
               frames=range(5, 8))   # other frames, far in the image: only the ground says it is there
    verdicts = judge([bin_, bag])
    assert verdicts[0][1] == "0102"
    assert "1.5 m from it on the ground" in verdicts[0][2]


def test_a_bin_alone_files_nothing() -> None:
    assert judge([seen("bin", BIN_BOX, track_id=1)]) == [("bin", None, "")]


def test_garbage_elsewhere_is_exposed_garbage_and_the_bin_files_nothing() -> None:
    bin_ = seen("bin", BIN_BOX, track_id=1, frames=range(0, 3))
    far_bag = seen("trash_bag", (500.0, 200.0, 540.0, 240.0), track_id=2, at=moved(OPEN_STREET, east_m=8.0))
    verdicts = judge([bin_, far_bag])
    assert verdicts[0][1] is None
    assert verdicts[1][1] == "0101"


@pytest.mark.parametrize(("item", "expected"), [
    ((165.0, 260.0, 200.0, 300.0), True),     # beside, at its foot
    ((110.0, 180.0, 150.0, 215.0), True),     # heaped on the lid
    ((300.0, 260.0, 340.0, 300.0), False),    # two bin widths away
    ((110.0, 20.0, 150.0, 60.0), False),      # far above it (a sign, a window)
])
def test_adjacency_in_the_image(item: tuple[float, float, float, float], expected: bool) -> None:
    assert adjacent(BIN_BOX, item) is expected


# --- end to end, with a detector that sees a bin (and bags beside it) in every frame -------------------------

class BinSeer:
    """A scripted detector: a bin in every frame, with two trash bags at its foot when ``bags``."""

    model_name = "scripted-bin-seer"

    def __init__(self, bags: bool) -> None:
        self.bags = bags
        self.names = {0: "bin", 1: "trash_bag"}

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        boxes = [(300.0, 150.0, 360.0, 260.0)] + ([(365.0, 215.0, 410.0, 262.0), (250.0, 225.0, 298.0, 262.0)]
                                                  if self.bags else [])
        found = Detections(xyxy=np.array(boxes, dtype=np.float32),
                              confidence=np.array([0.9] + [0.8] * (len(boxes) - 1), dtype=np.float32),
                              class_id=np.array([0] + [1] * (len(boxes) - 1)))
        return [found for _ in images]


def _street(seed: int) -> np.ndarray:
    image = np.random.default_rng(seed).integers(60, 200, (360, 640, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.GaussianBlur(image, (9, 9), 0))


@pytest.mark.parametrize(("bags", "expected"), [(True, {"0102"}), (False, set())])
def test_a_run_files_an_overflowing_bin_only_with_bags_beside_it(tmp_path: Path, bags: bool,
                                                                  expected: set[str]) -> None:
    clip = write_video(tmp_path / "bin.mp4", [_street(int(bags))] * 15, fps=5.0)
    db_url = sqlite_url(tmp_path / "bins.db")
    summary = process_videos([clip], run_settings(db_url, tmp_path, ocr=False), progress=False,
                             detector=BinSeer(bags))  # type: ignore[arg-type]
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            violations = session.scalars(select(Violation)).all()
            assert {v.event_code for v in violations} == expected
            if bags:
                (overflowing,) = violations
                assert overflowing.class_name == "bin"
                assert "bin overflowing: 2 trash bags against or beside it" in overflowing.reason
                assert overflowing.observation.attributes["fill_level"] == "overflowing"
    finally:
        engine.dispose()
