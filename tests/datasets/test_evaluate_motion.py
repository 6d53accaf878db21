"""Matching hand labels to stored observations by time and box overlap."""

from __future__ import annotations

import pytest

from streetwatch.datasets.evaluate_motion import MatchCounts, iou, match_label

POINTS = [{"pts_s": 1.0, "xyxy": [10, 10, 50, 50]}, {"pts_s": 1.2, "xyxy": [12, 10, 52, 50]}]


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


@pytest.mark.parametrize(("t", "box", "expected"), [
    (1.0, [10, 10, 50, 50], "parked"),     # same time, same box
    (1.15, [12, 10, 52, 50], "parked"),    # nearest sampled frame
    (2.0, [10, 10, 50, 50], None),         # no sighting near that time
    (1.0, [200, 200, 240, 240], None),     # no overlap
])
def test_match_label(t: float, box: list[float], expected: str | None) -> None:
    observations = [("parked", POINTS), ("moving", [{"pts_s": 1.0, "xyxy": [300, 300, 340, 340]}])]
    assert match_label({"t": t, "box": box}, observations, 0.1, 0.3) == expected


def test_precision_and_recall() -> None:
    counts = MatchCounts(labels=5, matched=5, true_parked=3, false_parked=1, missed_parked=1)
    assert counts.precision == pytest.approx(0.75) and counts.recall == pytest.approx(0.75)
    assert MatchCounts().precision is None
