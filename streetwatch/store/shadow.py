"""Shadow detections: a candidate model run beside the active one on new footage, stored apart.

``streetwatch process --shadow-model`` runs the candidate on every sampled frame the active model sees;
each frame's two sets of detections are committed with the video (in its results' transaction) as one
``shadow_frames`` row. They never become observations, violations or cases. ``models compare`` reads
them back to say how far the candidate agrees with the active model on footage nobody labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from streetwatch.store.models_registry import ShadowFrame

__all__ = ["ShadowFrame", "ShadowFrameDetections", "ShadowRun", "insert_shadow_run", "shadow_frames"]

# A detection as stored: x1, y1, x2, y2 (frame pixels), confidence, taxonomy class name.
StoredDetection = list[Any]


@dataclass(frozen=True, slots=True)
class ShadowFrameDetections:
    """One sampled frame's detections by both models."""

    frame_index: int
    pts_s: float
    shadow: list[StoredDetection]
    active: list[StoredDetection]


@dataclass(frozen=True, slots=True)
class ShadowRun:
    """A shadow model's run over one video, beside the active model."""

    shadow_model: str
    shadow_version: int | None
    active_model: str
    frames: Sequence[ShadowFrameDetections]


def insert_shadow_run(session: Session, video_id: int, run: ShadowRun) -> int:
    """Store a shadow run's frames for a video (replacing that model's earlier rows for it); the caller commits."""
    session.execute(delete(ShadowFrame).where(ShadowFrame.video_id == video_id,
                                              ShadowFrame.shadow_model == run.shadow_model),
                    execution_options={"synchronize_session": False})
    session.add_all(ShadowFrame(video_id=video_id, frame_index=f.frame_index, pts_s=f.pts_s,
                                shadow_model=run.shadow_model, shadow_version=run.shadow_version,
                                active_model=run.active_model, shadow_detections=f.shadow,
                                active_detections=f.active) for f in run.frames)
    return len(run.frames)


def shadow_frames(session: Session, *, shadow_model: str, shadow_version: int | None = None) -> list[ShadowFrame]:
    """The shadow frames of a model, by its provenance name or (when given) its registry version."""
    condition = ShadowFrame.shadow_model == shadow_model
    if shadow_version is not None:
        condition = or_(condition, ShadowFrame.shadow_version == shadow_version)
    return list(session.scalars(select(ShadowFrame).where(condition)
                                .order_by(ShadowFrame.video_id, ShadowFrame.frame_index)))
