"""Request and response models of label records on evidence frames (``streetwatch.core.labels``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streetwatch.api.schemas import DbId, UtcDatetime, evidence_url
from streetwatch.core.labels import LabelledObject, check_kind_fields
from streetwatch.core.vocab import LabelKind
from streetwatch.store.labels import FrameRead, ReviewLabel

BoxField = tuple[float, float, float, float]
_BOX_HELP = "x1, y1, x2, y2 in the evidence frame's pixels."


class LabelCreate(BaseModel):
    """One label record on an observation's evidence frame."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: LabelKind = Field(description="confirm: the detection is right; adjust_box: its box is `box`; relabel: "
                            "its class is `class_name`; add_missed: an object the detector missed, at `box`, of "
                            "`class_name`; empty_frame: nothing to find on this frame (a hard negative).")
    box: BoxField | None = Field(None, description="adjust_box, add_missed: " + _BOX_HELP)
    class_name: str | None = Field(None, min_length=1, max_length=64,
                                   description="relabel, add_missed: a class (or alias) of models/taxonomy.yaml.")
    target_label_id: DbId | None = Field(None, description="confirm, adjust_box, relabel of an object a "
                                        "reviewer drew: the id of its add_missed record (default: the "
                                        "observation's own detection).")

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> LabelCreate:
        # The store checks the same (streetwatch.core.labels.KIND_FIELDS); here it is a 422 before any work.
        check_kind_fields(self.kind, box=self.box is not None, class_name=self.class_name is not None,
                          target=self.target_label_id is not None)
        return self


class LabelPublic(BaseModel):
    """A stored label record (records are never changed or deleted)."""

    id: int
    kind: LabelKind
    observation_id: int = Field(description="The observation whose evidence frame was labelled.")
    target_label_id: int | None = Field(description="The add_missed record of the drawn object this record "
                                        "corrects, if any.")
    frame_sha256: str
    video_id: int
    model_name: str | None = Field(description="The detector whose output was reviewed.")
    class_name: str | None = Field(description="The object's class after this record; null for empty_frame.")
    box: BoxField | None = Field(description="The object's box after this record; null for empty_frame. "
                                 + _BOX_HELP)
    decision_id: int | None = Field(description="The review decision that wrote it (approve, relabel), if any.")
    reviewer: str
    created_at: UtcDatetime

    @classmethod
    def from_row(cls, row: ReviewLabel) -> LabelPublic:
        return cls(id=row.id, kind=row.kind, observation_id=row.observation_id, target_label_id=row.target_label_id,
                   frame_sha256=row.frame_sha256, video_id=row.video_id, model_name=row.model_name,
                   class_name=row.class_name, box=row.box, decision_id=row.decision_id, reviewer=row.reviewer,
                   created_at=row.created_at)


class FrameObjectPublic(BaseModel):
    """An object on a frame as its latest record has it."""

    source: Literal["detection", "missed"] = Field(description="detection: found by the detector; missed: drawn "
                                                   "by a reviewer.")
    id: int = Field(description="detection: its observation's id; missed: its add_missed record's id.")
    class_name: str
    box: BoxField = Field(description=_BOX_HELP)
    label_id: int = Field(description="The latest record about it.")
    kind: LabelKind = Field(description="That record's kind.")

    @classmethod
    def of(cls, labelled: LabelledObject) -> FrameObjectPublic:
        return cls(source=labelled.ref.kind, id=labelled.ref.id, class_name=labelled.class_name, box=labelled.box,
                   label_id=labelled.label_id, kind=labelled.kind)


class FrameLabelsPublic(BaseModel):
    """An evidence frame's label records and what they add up to: what a dataset export writes for it."""

    frame_sha256: str
    frame_url: str
    width: int = Field(description="The frame's width in pixels (0 if not recorded).")
    height: int
    empty: bool = Field(description="Marked empty (nothing here) and nothing labelled on it since.")
    objects: list[FrameObjectPublic] = Field(description="The labelled objects: an exported label file's boxes.")
    labels: list[LabelPublic] = Field(description="Every record on the frame, oldest first.")

    @classmethod
    def of(cls, read: FrameRead) -> FrameLabelsPublic:
        return cls(frame_sha256=read.frame.sha256, frame_url=evidence_url(read.frame.sha256), width=read.frame.width,
                   height=read.frame.height, empty=read.labels.empty,
                   objects=[FrameObjectPublic.of(o) for o in read.labels.objects],
                   labels=[LabelPublic.from_row(r) for r in read.records])
