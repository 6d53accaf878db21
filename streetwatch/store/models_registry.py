"""The tables of the loop that learns: model versions and their activations, the frozen evaluation set,
shadow detections.

* ``model_versions``: one row per registered detector version (1, 2, 3, ...), its provenance and its
  files' sha256; the files themselves live under ``Settings.models_dir`` (``streetwatch.store.model_files``).
* ``model_activations``: append-only; the newest row names the active version. Each row is audited.
* ``eval_frames``: the frozen evaluation set, evidence frames held out of every training export.
* ``shadow_frames``: per sampled frame of shadow footage, a candidate's detections beside the active
  model's; they never become observations or violations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from streetwatch.core.vocab import ModelAction
from streetwatch.store.column_types import StrEnumType, UtcDateTime
from streetwatch.store.models import Base, utcnow


class ModelVersion(Base):
    """A registered detector: where it came from, what it was trained on, how it scored, its files' hashes."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128))
    parent_version: Mapped[int | None] = mapped_column(ForeignKey("model_versions.version"))
    # sha256 of the training dataset's manifest.csv (None: unknown, e.g. the bundled model).
    data_manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    train_command: Mapped[str | None] = mapped_column(Text)
    # The training run's settings (epochs, imgsz, freeze, ...) and how long it took.
    training: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # EvalReport on the frozen evaluation set as it was at registration ({} without one).
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The folder under models_dir that holds the files below.
    folder: Mapped[str] = mapped_column(String(255))
    weights_file: Mapped[str] = mapped_column(String(255))
    weights_sha256: Mapped[str] = mapped_column(String(64), index=True)
    # [{"file": ..., "sha256": ...}] of the exports (ONNX, int8 ONNX).
    exports: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The file `streetwatch process` runs (the weights or one of the exports).
    runtime_file: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    @property
    def label(self) -> str:
        """The provenance name its detections carry (``videos.model_name``), e.g. ``streetwatch-v1@v1``."""
        return f"{self.name}@v{self.version}"

    def file_hashes(self) -> dict[str, str]:
        """File name -> sha256, the weights and every export."""
        hashes = {self.weights_file: self.weights_sha256}
        hashes.update({str(e["file"]): str(e["sha256"]) for e in self.exports})
        return hashes


class ModelActivation(Base):
    """One change of the active version (append-only; the newest row is the active version)."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"), index=True)
    previous_version: Mapped[int | None] = mapped_column(ForeignKey("model_versions.version"))
    action: Mapped[ModelAction] = mapped_column(StrEnumType(ModelAction, 16))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # What the promotion gate saw: both versions' family scores, the tolerance, the regressions.
    comparison: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class EvalFrame(Base):
    """An evidence frame in the frozen evaluation set: never exported for training, only measured on."""

    __tablename__ = "eval_frames"

    frame_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    added_by: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ShadowFrame(Base):
    """A sampled frame of shadow footage: the shadow model's detections and the active model's, side by side.

    Detections are ``[[x1, y1, x2, y2, confidence, class_name], ...]`` in frame pixels, taxonomy names.
    """

    __tablename__ = "shadow_frames"
    __table_args__ = (UniqueConstraint("video_id", "shadow_model", "frame_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    frame_index: Mapped[int] = mapped_column(Integer)
    pts_s: Mapped[float] = mapped_column(Float)
    shadow_model: Mapped[str] = mapped_column(String(255), index=True)
    shadow_version: Mapped[int | None] = mapped_column(ForeignKey("model_versions.version", ondelete="SET NULL"),
                                                       index=True)
    active_model: Mapped[str] = mapped_column(String(255))
    shadow_detections: Mapped[list[Any]] = mapped_column(JSON)
    active_detections: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
