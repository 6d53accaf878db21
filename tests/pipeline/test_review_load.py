"""The review queue on real footage: moving traffic never becomes parking items, and a fixed camera
files a still object once.

Runs ``streetwatch process`` (the pipeline: no zones, no permits) over a real
dashcam clip in Beijing traffic from ../shared/data/street_clips (hand labels for it are in
datasets/labels/street_clips_motion.yaml: every vehicle moves).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from streetwatch.core.rule_params import RuleParams
from streetwatch.core.settings import get_settings
from streetwatch.pipeline.resighting import SAME_PLACE_IOU
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Observation, Violation
from streetwatch.vision.geometry import box_iou
from tests.pipeline.run_helpers import shared_detector

CLIPS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "street_clips" / "video"


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("clip", ["beijing_dashcam_traffic_1.mp4", "beijing_dashcam_traffic_2.mp4"])
def test_moving_traffic_files_no_parking_item(clip: str, tmp_path: Path) -> None:
    path = CLIPS / clip
    if not path.is_file():
        pytest.skip(f"real street clips not here ({path} absent; ../shared/data beside the checkout)")
    db_url = f"sqlite:///{tmp_path / 'sw.db'}"
    # Every parking candidate is queued (threshold 0): only the motion state keeps traffic out.
    settings = get_settings(db_url=db_url, evidence_dir=tmp_path / "evidence",
                            rules=RuleParams(queue_thresholds={"parking": 0.0}))
    summary = process_videos([path], settings, progress=False, detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        parking = session.scalars(select(Violation).where(Violation.family == "parking")).all()
        vehicles = session.scalars(select(Observation).where(Observation.motion_state.is_not(None))).all()
    engine.dispose()
    assert [v.reason for v in parking] == []
    # the clip's vehicles were measured, and the motion meter saw traffic move
    assert len(vehicles) >= 5
    assert sum(v.motion_state == "moving" for v in vehicles) >= 3
    assert all(v.motion_state != "parked" for v in vehicles)


@pytest.mark.shared_data
@pytest.mark.slow
def test_a_fixed_camera_files_each_still_object_once(tmp_path: Path) -> None:
    """korea_cctv_no_parking_zone: a fixed camera, 20 s. A pile of tyres and planters there scores near the
    detector's threshold, and its track breaks when the detections drop out; the pieces are one object
    (pipeline/resighting.py), so no two still objects of one class share a place in the view."""
    path = CLIPS / "korea_cctv_no_parking_zone.mp4"
    if not path.is_file():
        pytest.skip(f"real street clips not here ({path} absent; ../shared/data beside the checkout)")
    db_url = f"sqlite:///{tmp_path / 'sw.db'}"
    settings = get_settings(db_url=db_url, evidence_dir=tmp_path / "evidence")
    summary = process_videos([path], settings, progress=False, detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        still = session.scalars(select(Observation).where(Observation.motion_state.is_(None),
                                                          Observation.class_name != "person")).all()
        boxes = [(o.class_name, o.bbox) for o in still]
    engine.dispose()
    assert still, "the clip's still objects were not seen at all"
    for i, (name, box) in enumerate(boxes):
        for other_name, other in boxes[i + 1:]:
            assert name != other_name or box_iou(box, other) < SAME_PLACE_IOU, (name, box, other)
