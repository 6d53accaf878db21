"""Request and response models of the labelling queue: items, claims, outcomes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from streetwatch.api.schemas import DbId, UtcDatetime, evidence_url
from streetwatch.core.vocab import LabellingReason, LabellingStatus
from streetwatch.store.labelling_queue import MAX_CLAIM, MAX_LEASE_MINUTES
from streetwatch.store.models_labels import LabellingItem


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabellingClaimCreate(_In):
    """How many items, for how long."""

    n: int = Field(10, ge=1, le=MAX_CLAIM, description="How many pending labelling items to lease.")
    lease_minutes: float = Field(15, gt=0, le=MAX_LEASE_MINUTES, description="How long the lease lasts.")


class LabellingFinishCreate(_In):
    """How an item ends: `labelled` (the frame has a label record written since the item was made) or `skipped`."""

    outcome: Literal[LabellingStatus.LABELLED, LabellingStatus.SKIPPED]


class LabellingItemPublic(BaseModel):
    """A frame the labelling queue asks to be labelled. It never files a case."""

    id: DbId
    observation_id: DbId = Field(description="Label its frame with POST /observations/{observation_id}/labels.")
    video_id: DbId
    frame_sha256: str
    frame_url: str
    reason: LabellingReason
    score: float = Field(description="How much the label is expected to teach, 0..1; the queue serves higher first.")
    note: str
    status: LabellingStatus
    lease_owner: str | None
    lease_expires_at: UtcDatetime | None
    finished_by: str | None
    finished_at: UtcDatetime | None
    created_at: UtcDatetime

    @classmethod
    def of(cls, item: LabellingItem) -> LabellingItemPublic:
        return cls(id=item.id, observation_id=item.observation_id, video_id=item.video_id,
                   frame_sha256=item.frame_sha256, frame_url=evidence_url(item.frame_sha256), reason=item.reason,
                   score=item.score, note=item.note, status=item.status, lease_owner=item.lease_owner,
                   lease_expires_at=item.lease_expires_at, finished_by=item.finished_by,
                   finished_at=item.finished_at, created_at=item.created_at)


class LabellingItemsPublic(BaseModel):
    """A page of items; `next_cursor` continues the list."""

    items: list[LabellingItemPublic]
    next_cursor: str | None = None
    counts: dict[LabellingStatus, int] = Field(description="Items in each status, the whole queue.")
