"""Vehicle agreement's matching: greedy, one-to-one, same class, IoU threshold."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streetwatch.datasets.measure_detector import Agreement, contact_sheet, format_agreement, iou, match_counts


def box(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    return np.array([x1, y1, x2, y2], np.float64)


def test_iou() -> None:
    assert iou(box(0, 0, 10, 10), box(0, 0, 10, 10)) == pytest.approx(1.0)
    assert iou(box(0, 0, 10, 10), box(5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou(box(0, 0, 10, 10), box(20, 20, 30, 30)) == 0.0


def test_matching_is_one_to_one_per_class() -> None:
    base = {"car": [(0.9, box(0, 0, 10, 10)), (0.8, box(1, 0, 11, 10))], "bus": [(0.7, box(50, 50, 90, 90))]}
    candidate = {"car": [(0.5, box(0, 0, 10, 10))],            # one car box cannot match two base cars
                 "truck": [(0.6, box(50, 50, 90, 90))]}         # a bus found as a truck is not a bus
    counts = match_counts(base, candidate)
    assert counts["car"] == (1, 2) and counts["bus"] == (0, 1) and counts["person"] == (0, 0)


def test_a_shifted_box_below_the_iou_threshold_is_missed() -> None:
    base = {"person": [(0.9, box(0, 0, 10, 10))]}
    assert match_counts(base, {"person": [(0.9, box(3, 0, 13, 10))]})["person"] == (1, 1)   # IoU 0.54
    assert match_counts(base, {"person": [(0.9, box(4, 0, 14, 10))]})["person"] == (0, 1)   # IoU 0.43


def test_report_lines() -> None:
    text = format_agreement("held out", [Agreement("car", 9, 10), Agreement("bicycle", 0, 0)])
    assert "car             9/10     0.900" in text and "n/a" in text


def test_contact_sheet_draws_evenly_spaced_hits(tmp_path: Path) -> None:
    paths = []
    for i in range(5):
        path = tmp_path / f"p{i}.jpg"
        cv2.imwrite(str(path), np.full((300, 400, 3), 40 * i, np.uint8))
        paths.append(path)
    hits = [(p, {"bin": [(0.6, box(10, 10, 100, 100))]}) for p in paths]
    shown = contact_sheet(hits, tmp_path / "sheet.png", count=3, width=200)
    assert shown == [paths[0], paths[2], paths[4]]
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape == (2 * 150, 2 * 200, 3)         # two rows of two tiles (the last one blank)
    assert (sheet[:150, :200] != 0).any()               # the first photo's box is drawn on black
