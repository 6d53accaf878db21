"""A shadow model runs on every sampled frame beside the active one; its detections are stored apart and change
nothing the active model files: the same clip processed with and without a shadow gives the same observations,
violations and cases."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import select

from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.pipeline.shadow import ShadowModel
from streetwatch.store.models import Case, Observation, Video, Violation
from streetwatch.store.models_registry import ShadowFrame
from streetwatch.vision.detections import Detections
from tests.pipeline.run_helpers import (
    fetch_rows,
    run_settings,
    shared_detector,
    shared_street_clip,
    sqlite_url,
    write_straight_gpx,
)

PARKED_CAR = (40.0, 200.0, 240.0, 330.0)


class EverywhereACar:
    """A shadow detector that sees one car (and one class the taxonomy does not know) on every frame."""

    def __init__(self) -> None:
        self.names = {0: "car", 1: "flying saucer"}
        self.model_name = "everywhere-a-car@v9"
        self.frames = 0

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        self.frames += len(images)
        return [Detections(xyxy=np.array([PARKED_CAR, PARKED_CAR], dtype=np.float32),
                              confidence=np.array([0.9, 0.8], dtype=np.float32), class_id=np.array([0, 1]))
                for _ in images]


def _results(url: str, video_id: int) -> dict[str, list[tuple[object, ...]]]:
    observations = fetch_rows(url, select(Observation.track_id, Observation.class_name, Observation.bbox,
                                          Observation.frame_sha256).where(Observation.video_id == video_id)
                              .order_by(Observation.track_id))
    violations = fetch_rows(url, select(Violation.class_name, Violation.event_code, Violation.case_id)
                            .join(Observation).where(Observation.video_id == video_id).order_by(Violation.id))
    cases = fetch_rows(url, select(Case.family, Case.event_code).order_by(Case.id))
    return {"observations": [tuple(o.values()) for o in observations],
            "violations": [tuple(v.values()) for v in violations], "cases": [tuple(c.values()) for c in cases]}


@pytest.mark.slow
def test_a_shadow_model_is_stored_apart_and_files_nothing(tmp_path_factory: pytest.TempPathFactory,
                                                          tmp_path: Path) -> None:
    clip = shared_street_clip(tmp_path_factory)
    gpx = write_straight_gpx(tmp_path / "route.gpx")
    plain_url, shadow_url = sqlite_url(tmp_path / "plain.db"), sqlite_url(tmp_path / "shadow.db")
    plain = process_videos([clip], run_settings(plain_url, tmp_path / "plain", ocr=False), gpx, progress=False,
                           detector=shared_detector())
    shadow_detector = EverywhereACar()
    shadowed = process_videos([clip], run_settings(shadow_url, tmp_path / "shadow", ocr=False), gpx, progress=False,
                              detector=shared_detector(), shadow=ShadowModel(shadow_detector, version=None))
    (first,), (second,) = plain.outcomes, shadowed.outcomes
    assert isinstance(first, Processed) and isinstance(second, Processed)
    assert _results(plain_url, first.video_id) == _results(shadow_url, second.video_id)
    assert _results(plain_url, first.video_id)["observations"]

    rows = fetch_rows(shadow_url, select(ShadowFrame.__table__).order_by(ShadowFrame.frame_index))
    (video,) = fetch_rows(shadow_url, select(Video.frames_sampled, Video.detections, Video.model_name))
    assert len(rows) == video["frames_sampled"] == shadow_detector.frames == second.frames
    assert {(r["shadow_model"], r["shadow_version"], r["active_model"]) for r in rows} == {
        ("everywhere-a-car@v9", None, video["model_name"])}
    # The shadow's classes the taxonomy knows, in its names; the active model's detections as they were counted.
    assert all(r["shadow_detections"] == [[*PARKED_CAR, 0.9, "car"]] for r in rows)
    assert sum(len(r["active_detections"]) for r in rows) == video["detections"]
    assert [r["frame_index"] for r in rows] == sorted({r["frame_index"] for r in rows})
    assert fetch_rows(plain_url, select(ShadowFrame.id)) == []
