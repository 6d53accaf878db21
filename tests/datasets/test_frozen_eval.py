"""Scores on the frozen set and agreement on shadow footage, from supervision's metrics, checked by hand on tiny
cases; and how the frozen set is chosen and grown (by video, only when told)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from streetwatch.core.labels import Box, LabelRecord, resolve_frame
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.core.vocab import LabelKind
from streetwatch.datasets.eval_freeze import FreezeError, choose_frames, eval_score
from streetwatch.datasets.frozen_eval import eval_set_fingerprint, evaluate_detector, shadow_agreement
from streetwatch.datasets.yolo_layout import DatasetError
from streetwatch.store.evidence import EvidenceStore, encode_jpeg
from streetwatch.store.labels import LabelledFrame
from streetwatch.vision.detections import Detections

TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)
PERSON: Box = (10.0, 10.0, 50.0, 90.0)
CAR: Box = (100.0, 40.0, 180.0, 90.0)
ELSEWHERE: Box = (200.0, 10.0, 230.0, 40.0)


class StubDetector:
    """Answers each image with the next detections of a script: (box, confidence, class id) per image."""

    def __init__(self, script: Sequence[Sequence[tuple[tuple[float, ...], float, int]]]) -> None:
        self._script = list(script)
        self.names = {0: "person", 1: "car", 2: "a class the taxonomy does not know"}
        self.model_name = "stub"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        found = []
        for _ in images:
            rows = self._script.pop(0)
            if not rows:
                found.append(Detections.empty())
                continue
            found.append(Detections(xyxy=np.array([r[0] for r in rows], dtype=np.float32),
                                       confidence=np.array([r[1] for r in rows], dtype=np.float32),
                                       class_id=np.array([r[2] for r in rows], dtype=int)))
        return found


def frame(evidence: EvidenceStore, seed: int, objects: Sequence[tuple[str, Box]],
          video: str = "v1") -> LabelledFrame:
    image = encode_jpeg(np.full((120, 240, 3), seed, dtype=np.uint8))
    evidence.put(image)
    records = [LabelRecord(i + 1, LabelKind.ADD_MISSED, 1, None, name, box) for i, (name, box) in enumerate(objects)]
    if not objects:
        records = [LabelRecord(1, LabelKind.EMPTY_FRAME, 1, None, None, None)]
    return LabelledFrame(image.sha256, 240, 120, 1, video, 0.0, datetime(2026, 1, 1, tzinfo=UTC), ("m",),
                         resolve_frame(records))


@pytest.fixture
def evidence(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence")


def test_scores_per_class_family_and_overall(evidence: EvidenceStore) -> None:
    frames = [frame(evidence, 10, [("person", PERSON), ("car", CAR)]),
              frame(evidence, 20, [("person", PERSON)]),
              frame(evidence, 30, [])]  # marked empty: anything found there is a false detection
    detector = StubDetector([
        [(PERSON, 0.9, 0), (CAR, 0.8, 1), (ELSEWHERE, 0.95, 2)],   # both right; an unknown class is ignored
        [(PERSON, 0.1, 0)],                                       # right, but below the deployment confidence
        [(ELSEWHERE, 0.7, 1)],                                    # a car where there is nothing
    ])
    report = evaluate_detector(detector, frames, evidence, TAXONOMY, conf=0.25)
    person, car = report.classes["person"], report.classes["car"]
    assert (person.instances, person.detections, person.precision, person.recall) == (2, 1, 1.0, 0.5)
    assert person.map50 == pytest.approx(1.0, abs=0.02)    # both found, above every false one, at some confidence
    assert (car.instances, car.detections, car.precision, car.recall) == (1, 2, 0.5, 1.0)
    assert car.map50 == pytest.approx(1.0, abs=0.02)       # the true car outranks the false one
    assert set(report.classes) == {"person", "car"} and set(report.families) == {"stall", "parking"}
    assert report.families["stall"] == person.model_copy(update={"map50": report.families["stall"].map50})
    assert (report.overall.instances, report.overall.detections) == (3, 3)
    assert report.overall.precision == pytest.approx(2 / 3) and report.overall.recall == pytest.approx(2 / 3)
    assert report.frames == 3 and report.model == "stub" and report.eval_set_sha256 == eval_set_fingerprint(frames)


def test_a_class_never_found_scores_zero_and_one_never_labelled_has_no_recall(evidence: EvidenceStore) -> None:
    frames = [frame(evidence, 40, [("bus", CAR)])]
    report = evaluate_detector(StubDetector([[(PERSON, 0.9, 0)]]), frames, evidence, TAXONOMY,
                               conf=0.25)
    assert report.classes["bus"].model_dump() == {"instances": 1, "detections": 0, "precision": None, "recall": 0.0,
                                                  "map50": 0.0}
    assert report.classes["person"].model_dump() == {"instances": 0, "detections": 1, "precision": 0.0,
                                                     "recall": None, "map50": None}


def test_the_fingerprint_follows_the_labels_and_a_missing_image_is_named(evidence: EvidenceStore,
                                                                         tmp_path: Path) -> None:
    one = frame(evidence, 50, [("person", PERSON)])
    moved = frame(evidence, 50, [("person", (11.0, 10.0, 50.0, 90.0))])
    assert eval_set_fingerprint([one]) != eval_set_fingerprint([moved])
    assert eval_set_fingerprint([one, moved]) == eval_set_fingerprint([moved, one])
    with pytest.raises(DatasetError, match="missing or unreadable"):
        evaluate_detector(StubDetector([[]]), [one], EvidenceStore(tmp_path / "elsewhere"), TAXONOMY,
                          conf=0.25)


def shadow_row(video: int, shadow: list[list[Any]], active: list[list[Any]]) -> Any:
    return SimpleNamespace(video_id=video, shadow_detections=shadow, active_detections=active,
                           active_model="streetwatch-v1@v1")


def test_agreement_counts_what_the_shadow_also_found_and_what_it_alone_found() -> None:
    rows = [shadow_row(1, [[*PERSON, 0.8, "person"], [*CAR, 0.6, "bus"]],
                       [[*PERSON, 0.9, "person"], [*CAR, 0.9, "car"]]),
            shadow_row(2, [[*ELSEWHERE, 0.5, "person"]], [])]
    report = shadow_agreement(rows, "city@v2")
    assert report is not None and (report.videos, report.frames) == (2, 2)
    assert report.classes["person"].model_dump() == {"active": 1, "shadow": 2, "found": 1.0, "confirmed": 0.5}
    assert report.classes["car"].model_dump() == {"active": 1, "shadow": 0, "found": 0.0, "confirmed": None}
    assert report.classes["bus"].model_dump() == {"active": 0, "shadow": 1, "found": None, "confirmed": 0.0}
    assert report.overall.found == pytest.approx(0.5) and report.overall.confirmed == pytest.approx(1 / 3)
    assert shadow_agreement([], "city@v2") is None


def labelled(video: str, n: int) -> list[LabelledFrame]:
    return [LabelledFrame(f"{video}-{i}", 1, 1, 1, video, 0.0, None, (), resolve_frame([])) for i in range(n)]


VIDEOS = [f"{i:02d}" * 32 for i in range(8)]   # eight videos' hashes


def test_the_first_freeze_takes_whole_videos_never_all_and_then_only_grows_when_told() -> None:
    frames = [f for v in VIDEOS for f in labelled(v, 2)]
    first = choose_frames(frames, set(), share=0.3, grow=False)
    chosen = {f.video_sha256 for f in first}
    assert chosen and chosen < set(VIDEOS)
    assert all(len([f for f in first if f.video_sha256 == v]) == 2 for v in chosen)  # whole videos
    assert chosen == {v for v in VIDEOS if eval_score(v) < 0.3} or chosen == {min(VIDEOS, key=eval_score)}
    frozen = {f.frame_sha256 for f in first}
    with pytest.raises(FreezeError, match="grows only by explicit command"):
        choose_frames(frames, frozen, share=0.3, grow=False)
    later = [*frames, *labelled(next(iter(chosen)), 3)[2:]]   # a new frame labelled on a frozen video
    grown = choose_frames(later, frozen, share=0.3, grow=True)
    grown_shas = {f.frame_sha256 for f in grown}
    assert f"{next(iter(chosen))}-2" in grown_shas and not grown_shas & frozen
    explicit = choose_frames(frames, frozen, share=0.3, grow=False, videos=[max(VIDEOS, key=eval_score)[:10]])
    assert {f.video_sha256 for f in explicit} == {max(VIDEOS, key=eval_score)}


@pytest.mark.parametrize(("frames", "kwargs", "message"), [
    (labelled(VIDEOS[0], 3), {}, "one must stay for training"),
    (labelled(VIDEOS[0], 1) + labelled(VIDEOS[1], 1), {"share": 1.0}, "--share"),
    (labelled(VIDEOS[0], 1) + labelled(VIDEOS[1], 1), {"videos": ["abc"]}, "8 or more characters"),
    (labelled(VIDEOS[0], 1) + labelled(VIDEOS[1], 1), {"videos": ["ffffffffff"]}, "matches 0 videos"),
])
def test_freeze_refuses_what_it_cannot_do(frames: list[LabelledFrame], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FreezeError, match=message):
        choose_frames(frames, set(), **{"share": 0.2, "grow": False, **kwargs})


def test_two_videos_freeze_exactly_one() -> None:
    frames = labelled(VIDEOS[0], 2) + labelled(VIDEOS[1], 3)
    assert len({f.video_sha256 for f in choose_frames(frames, set(), share=0.99, grow=False)}) == 1
