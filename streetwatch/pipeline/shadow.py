"""A candidate detector run in shadow: on the same sampled frames as the active one, its detections kept apart.

The run orchestrator hands each batch of frames to both detectors. The active model's detections go on
to tracking, rules and cases as always; :class:`ShadowRecorder` keeps, per frame, the candidate's
detections beside the active model's (both in the taxonomy's class names), and they are committed with
the video as ``shadow_frames`` rows. Nothing the shadow model sees is ever filed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streetwatch.core.taxonomy import Taxonomy
from streetwatch.store.shadow import ShadowFrameDetections, ShadowRun, StoredDetection
from streetwatch.vision.detections import Detections
from streetwatch.vision.detector import Detector
from streetwatch.vision.types import Frame


@dataclass(frozen=True, slots=True)
class ShadowModel:
    """The candidate to run in shadow, and its registry version if it has one."""

    detector: Detector
    version: int | None = None


def stored_detections(detections: Detections, names: dict[int, str]) -> list[StoredDetection]:
    """Detections as ``[x1, y1, x2, y2, confidence, class]`` rows, for the classes in ``names`` (id -> taxonomy)."""
    if detections.class_id is None or len(detections) == 0:
        return []
    confidence = detections.confidence if detections.confidence is not None else [1.0] * len(detections)
    rows: list[StoredDetection] = []
    for box, score, class_id in zip(detections.xyxy, confidence, detections.class_id, strict=True):
        name = names.get(int(class_id))
        if name is not None:
            rows.append([*(round(float(v), 1) for v in box), round(float(score), 4), name])
    return rows


@dataclass(slots=True)
class ShadowRecorder:
    """Collects one video's shadow frames."""

    shadow: ShadowModel
    taxonomy: Taxonomy
    active_names: dict[int, str]
    active_model: str
    frames: list[ShadowFrameDetections] = field(default_factory=list)
    _shadow_names: dict[int, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # The shadow model's class ids -> taxonomy names; classes the taxonomy does not know are ignored.
        self._shadow_names = {i: spec.name for i, name in self.shadow.detector.names.items()
                              if (spec := self.taxonomy.lookup(name)) is not None}

    def add_batch(self, frames: list[Frame], active: list[Detections]) -> None:
        """Run the shadow model on a batch and keep its detections beside the active model's (raw, per frame)."""
        shadowed = self.shadow.detector.detect([f.image for f in frames])
        for frame, mine, theirs in zip(frames, active, shadowed, strict=True):
            self.frames.append(ShadowFrameDetections(frame.index, round(frame.pts_s, 3),
                                                     stored_detections(theirs, self._shadow_names),
                                                     stored_detections(mine, self.active_names)))

    def run(self) -> ShadowRun:
        """What to commit with the video."""
        return ShadowRun(self.shadow.detector.model_name, self.shadow.version, self.active_model, list(self.frames))
