"""The frozen evaluation set: reviewed evidence frames held out of every training export, to compare models on.

The set is chosen once and grows only by explicit command (``streetwatch dataset freeze-eval``), never
shrinks, and is held out by video: ``dataset export`` leaves out every frame of a video that has a frame
in the set, so no model is trained on footage it is measured on. Each addition is audited
(``eval_set.add``). A frame's labels are read when the set is used, so a later correction on a frozen
frame counts (and changes the set's fingerprint: models are then measured again).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.store.audit import append_audit, take_writer_lock
from streetwatch.store.column_types import require_aware
from streetwatch.store.labels import LabelledFrame, resolved_frames
from streetwatch.store.models import utcnow
from streetwatch.store.models_registry import EvalFrame

__all__ = ["add_eval_frames", "frozen_frames", "frozen_shas", "frozen_video_ids"]


def frozen_shas(session: Session) -> set[str]:
    """The evidence hashes of the frames in the set."""
    return set(session.scalars(select(EvalFrame.frame_sha256)))


def frozen_video_ids(session: Session) -> set[int]:
    """The videos with a frame in the set: none of their frames is exported for training."""
    return set(session.scalars(select(EvalFrame.video_id).distinct()))


def frozen_frames(session: Session) -> list[LabelledFrame]:
    """The frames in the set, oldest addition first, each with its label records resolved as they are now."""
    shas = list(session.scalars(select(EvalFrame.frame_sha256).order_by(EvalFrame.added_at, EvalFrame.frame_sha256)))
    return resolved_frames(session, shas)


def add_eval_frames(session: Session, frames: Sequence[LabelledFrame], *, actor: str, how: str,
                    now: datetime | None = None) -> int:
    """Add frames to the set (those already in it are skipped) and audit the addition. The caller commits.

    Args:
        session: An open session; its first statement here is a write (the audit log's lock).
        frames: Labelled frames to hold out.
        actor: Who adds them.
        how: In words, how they were chosen (recorded in the audit entry).
        now: The time of the addition (default: now).

    Returns:
        How many frames were added.

    Raises:
        ValueError: A blank actor.
    """
    if not actor.strip():
        raise ValueError("actor must not be blank")
    now = require_aware(now or utcnow())
    take_writer_lock(session)
    present = frozen_shas(session)
    new = sorted({f.frame_sha256: f for f in frames if f.frame_sha256 not in present}.values(),
                 key=lambda f: f.frame_sha256)
    if not new:
        return 0
    session.add_all(EvalFrame(frame_sha256=f.frame_sha256, video_id=f.video_id, added_by=actor, added_at=now)
                    for f in new)
    session.flush()
    append_audit(session, actor=actor, action="eval_set.add", entity_type="eval_set", entity_id="frozen",
                 details={"how": how, "frames": [f.frame_sha256 for f in new],
                          "videos": sorted({f.video_sha256 for f in new}), "size_before": len(present),
                          "size_after": len(present) + len(new)}, now=now)
    return len(new)
