"""Standing boards (落地广告) told from signs on walls by the camera model: boxes projected from
known 3-D objects through the dashcam's model, then judged as the run judges them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streetwatch.core.permits import load_permits
from streetwatch.core.types import Observation
from streetwatch.pipeline.ad_board import BOARD_CLASS, judge_boards, standing
from streetwatch.pipeline.rules import AdsRule, RuleContext, RuleParams
from streetwatch.vision.geometry import CameraModel, ObjectSize
from tests.pipeline.rules.builders import SAMPLE_PERMITS, TAXONOMY, observation

CAMERA = CameraModel()
W, H = 1280, 720
Box = tuple[float, float, float, float]


def board_box(forward_m: float, right_m: float, wide_m: float, tall_m: float) -> Box:
    """The box of a board standing on the ground (0.4 m deep) ``forward_m`` ahead, ``right_m`` right."""
    box = CAMERA.box_pixels(forward_m, right_m, ObjectSize(0.4, wide_m, tall_m), W, H)
    assert box is not None
    return box


def wall_box(forward_m: float, right_m: float, bottom_m: float, top_m: float, along_m: float = 3.0) -> Box:
    """The box of a sign on a facade ``right_m`` right of the path, from ``bottom_m`` to ``top_m`` above the road."""
    corners = [CAMERA.project(forward_m + a, right_m, z - CAMERA.mount_height_m, W, H)
               for a in (0.0, along_m) for z in (bottom_m, top_m)]
    xs, ys = [c[0] for c in corners if c], [c[1] for c in corners if c]
    return min(xs), min(ys), max(xs), max(ys)


@pytest.mark.parametrize(("forward_m", "right_m", "wide_m", "tall_m"), [
    (6.0, 4.0, 0.8, 1.6),     # an A-frame menu board on the pavement
    (12.0, 5.0, 0.8, 1.0),
    (15.0, 3.5, 0.9, 2.0),    # a roll-up banner stand (易拉宝)
])
def test_a_board_on_the_pavement_stands_on_the_ground(forward_m: float, right_m: float, wide_m: float,
                                                      tall_m: float) -> None:
    found = standing(CAMERA, board_box(forward_m, right_m, wide_m, tall_m), W, H)
    assert found is not None and found.is_board(), found
    assert found.height_m == pytest.approx(tall_m, abs=0.05)
    assert found.range_m == pytest.approx(((forward_m - 0.2) ** 2 + (right_m - wide_m / 2) ** 2) ** 0.5, rel=0.1)


@pytest.mark.parametrize(("forward_m", "right_m", "bottom_m", "top_m"), [
    (15.0, 8.0, 2.6, 3.6),    # a shop sign over the door: its bottom edge is above the horizon
    (30.0, 8.0, 2.6, 3.6),
    (8.0, 6.0, 0.8, 2.0),     # a poster in a ground-floor window: as a foot, too far and too tall
    (5.0, 5.0, 1.0, 1.6),
])
def test_a_sign_on_a_wall_does_not(forward_m: float, right_m: float, bottom_m: float, top_m: float) -> None:
    found = standing(CAMERA, wall_box(forward_m, right_m, bottom_m, top_m), W, H)
    assert found is None or not found.is_board(), found


def test_a_standing_sign_is_reclassed_and_judged_as_a_board() -> None:
    board, wall = board_box(6.0, 4.0, 0.8, 1.6), wall_box(15.0, 8.0, 2.6, 3.6)
    signs = [_seen_at(observation("shop_sign", track_id=1), board),
             _seen_at(observation("shop_sign", track_id=2), wall),
             _seen_at(observation("car", track_id=3), board)]
    judged = judge_boards(signs, CAMERA, W, H)
    assert [o.class_name for o in judged] == [BOARD_CLASS, "shop_sign", "car"]
    assert judged[0].attributes["detected_as"] == "shop_sign"
    (violation,) = AdsRule().evaluate(judged[0], RuleContext(TAXONOMY, params=RuleParams()))
    assert violation.event_code == "0202" and violation.name_zh == "落地广告"
    assert "a standing board: the shop sign's box stands on the ground 7.0 m from the camera, 1.6 m tall" \
        in violation.reason, violation.reason
    # with a registry, the board is checked against licences of its own class like any ad (none near here)
    permits = load_permits(SAMPLE_PERMITS, TAXONOMY)
    with_registry = AdsRule().evaluate(judged[0], RuleContext(TAXONOMY, permits=permits, params=RuleParams()))
    (unlicensed,) = with_registry
    assert unlicensed.event_code == "0202" and "a standing board" in unlicensed.reason


def _seen_at(o: Observation, box: Box) -> Observation:
    points = tuple(replace(p, xyxy=box) for p in o.points)
    return replace(o, points=points, best=points[1])
