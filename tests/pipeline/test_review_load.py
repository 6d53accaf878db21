"""The review queue on real footage: moving traffic never becomes parking items.

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
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Observation, Violation
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
